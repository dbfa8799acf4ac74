"""Reference models: a small causal transformer language model and a tiny MLP.

Both are deterministic on CPU (fixed seeds, deterministic algorithms, a fixed
thread count), so an interrupted and resumed run is bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from greenhop.core.errors import ConfigError, require

torch = require("torch", "torch")
nn = torch.nn
F = torch.nn.functional


@dataclass(frozen=True)
class LMConfig:
    """Shape of the reference language model. ``scale`` multiplies the width."""

    vocab: int = 256
    width: int = 256
    layers: int = 4
    heads: int = 4
    context: int = 128
    dropout: float = 0.1

    def scaled(self, scale: float) -> LMConfig:
        if not (scale > 0 and math.isfinite(scale)):
            raise ConfigError(f"scale must be positive; got {scale}")
        width = max(self.heads, round(self.width * scale / self.heads) * self.heads)
        return LMConfig(self.vocab, width, self.layers, self.heads, self.context, self.dropout)

    def n_params(self) -> int:
        d = self.width
        per_layer = 12 * d * d + 13 * d
        return (
            self.vocab * d
            + self.context * d
            + self.layers * per_layer
            + 2 * d
            + d * self.vocab
            + self.vocab
        )


class Block(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        d = cfg.width
        self.heads = cfg.heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.drop = nn.Dropout(cfg.dropout)
        self.p = cfg.dropout

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.p if self.training else 0.0
        )
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ff(self.ln2(x)))


class TinyLM(nn.Module):
    """A byte-level causal transformer (GPT-style, pre-norm)."""

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.width)
        self.pos = nn.Embedding(cfg.context, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.vocab)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.drop(self.tok(idx) + self.pos(torch.arange(t)))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


class TinyMLP(nn.Module):
    """Two hidden layers with dropout: a regression model for fast tests."""

    def __init__(self, n_in: int = 16, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x)
