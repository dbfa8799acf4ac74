"""A reference DiLoCo worker: one shard of a language model trained across sites.

DiLoCo (Douillard et al., 2023, "DiLoCo: Distributed Low-Communication Training of
Language Models", arXiv:2311.08105): N workers start from the same global
parameters, each takes ``H`` local steps with its own inner optimiser (AdamW) on its
own data shard, then every worker's *pseudo-gradient* (global parameters minus its
local parameters) is averaged across the workers and applied to the global
parameters by an outer Nesterov SGD (the paper's defaults: learning rate 0.7,
momentum 0.9). The workers then continue from the new global parameters.

Here each worker is its own process (``python -m greenhop.workload.diloco``, driven
by :mod:`greenhop.runtime.diloco`). The exchange at every outer step is an
``all_gather`` of the flat pseudo-gradients with torch.distributed's gloo backend
over TCP on the loopback interface; a fresh process group is formed for every outer
step (a rendezvous through the driver's ``TCPStore`` under the prefix
``sync/<t>``), so a worker that stopped and restarted elsewhere simply joins the
next one while the others wait there. Every worker sums the N gathered tensors in
rank order itself, so the average, and hence every worker's global state, is the
same bit for bit whatever the network does.

A worker's checkpoint (the SDK's safetensors checkpoint with its manifest of
digests, written at outer-step boundaries only) holds its parameters (equal to the
global ones at a boundary), its AdamW state, the outer optimiser's momentum, its
data position and its RNG states; a resume verifies every hash and a corrupt
checkpoint is a loud failure (:class:`~greenhop.core.errors.CheckpointError`).

torch is the extra ``torch``; it is imported lazily.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import os
import random
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from greenhop.core.errors import (
    CheckpointError,
    ConfigError,
    GreenhopError,
    RuntimeFailure,
    require,
)
from greenhop.workload.sampler import ResumableSampler
from greenhop.workload.session import (
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_USAGE,
    MigrationExit,
    TrainingSession,
    migration_requests,
)

ENV_CONFIG = "GREENHOP_DILOCO_CONFIG"
"""Environment variable: the run's :class:`DilocoConfig` as a JSON object."""
ENV_RANK = "GREENHOP_DILOCO_RANK"
"""Environment variable: this worker's index in ``0 .. workers-1`` (fixed across moves)."""
ENV_STORE = "GREENHOP_DILOCO_STORE"
"""Environment variable: ``host:port`` of the driver's rendezvous store (``TCPStore``)."""

_EVAL_STREAM = 2**31 - 1
_SINGLE_STREAM = 2**31 - 2
_SAMPLER_STREAM = 2**20  # + rank: the worker's data order (its RNGs use stream ``rank``)

MAX_SEED = 2**63 - 1
"""Largest ``seed`` (torch seeds and numpy's seed sequences take it as is)."""
MAX_TIMEOUT_S = 30 * 86400.0
"""Largest ``timeout_s`` [s] (30 days; the rendezvous store counts it in milliseconds)."""
MIN_TIMEOUT_S = 1.0
"""Smallest ``timeout_s`` [s]: the rendezvous store and a worker's start take longer than
a few milliseconds, so a smaller bound could only fail the run."""
MAX_THREADS = 256
"""Largest ``threads`` (torch's intra-op threads of one worker)."""
MAX_WORKERS = 64
"""Most ``workers``: each is a process of its own on this machine (a typo of 300 started
hundreds of torch processes before anything failed)."""
MAX_LAYERS = 64
"""Largest ``layers`` of the reference LM."""
MAX_WIDTH = 4096
"""Largest ``width`` of the reference LM."""
MAX_MODEL_PARAMS = 100_000_000
"""Largest reference LM [parameters]: a worker holds about 16 B per parameter (weights,
AdamW moments, global copy and outer momentum) in memory, on CPU."""


def model_params(width: int, layers: int, context: int, vocab: int = 256) -> int:
    """Parameters of the reference LM (as ``LMConfig.n_params``, without importing torch)."""
    return (vocab * width + context * width + layers * (12 * width * width + 13 * width)
            + 2 * width + width * vocab + vocab)


def _is_finite_number(value: Any) -> bool:
    """True for an int or float (not a bool) that is neither infinite nor NaN."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


@functools.cache
def corpus_size() -> int:
    """Length of the reference corpus [B] (it is the same for a given Python version)."""
    from greenhop.workload.reference.corpus import corpus_bytes

    return len(corpus_bytes())


@dataclass(frozen=True)
class DilocoConfig:
    """One DiLoCo run: shape of the reference LM, data, optimisers and schedule.

    ``inner_steps`` is H (local steps between syncs), ``outer_steps`` the number of
    syncs; every worker takes ``inner_steps * outer_steps`` local steps of
    ``batch_size`` sequences. ``checkpoint_every`` is in outer steps.
    ``timeout_s`` bounds every wait for the other workers and the driver [s].
    """

    workers: int = 3
    inner_steps: int = 10
    outer_steps: int = 10
    seed: int = 0
    batch_size: int = 8
    inner_lr: float = 3e-3
    weight_decay: float = 0.01
    outer_lr: float = 0.7
    outer_momentum: float = 0.9
    width: int = 32
    layers: int = 2
    heads: int = 4
    context: int = 32
    dropout: float = 0.1
    threads: int = 1
    checkpoint_every: int = 1
    keep: int = 2
    timeout_s: float = 300.0

    def __post_init__(self) -> None:
        ints = ("workers", "inner_steps", "outer_steps", "batch_size", "width", "layers",
                "heads", "context", "threads", "checkpoint_every", "keep")
        for name in ints:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"DiLoCo {name} must be an integer >= 1; got {value!r}")
        if (not isinstance(self.seed, int) or isinstance(self.seed, bool)
                or not 0 <= self.seed <= MAX_SEED):
            raise ConfigError(f"DiLoCo seed must be an integer in 0..{MAX_SEED}; "
                              f"got {self.seed!r}")
        for name in ("inner_lr", "weight_decay", "outer_lr", "outer_momentum", "dropout",
                     "timeout_s"):
            value = getattr(self, name)
            if not _is_finite_number(value):
                raise ConfigError(f"DiLoCo {name} must be a finite number; got {value!r}")
        for name, most in (("workers", MAX_WORKERS), ("threads", MAX_THREADS),
                           ("layers", MAX_LAYERS), ("width", MAX_WIDTH)):
            if getattr(self, name) > most:
                raise ConfigError(f"DiLoCo {name} must be at most {most}; "
                                  f"got {getattr(self, name)!r}")
        if self.width % self.heads:
            raise ConfigError(f"DiLoCo width {self.width} must be a multiple of the "
                              f"{self.heads} heads")
        for name in ("inner_lr", "outer_lr", "timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"DiLoCo {name} must be > 0; got {getattr(self, name)!r}")
        if self.timeout_s > MAX_TIMEOUT_S:
            raise ConfigError(f"DiLoCo timeout_s must be at most {MAX_TIMEOUT_S:g} s; "
                              f"got {self.timeout_s!r}")
        if self.timeout_s < MIN_TIMEOUT_S:
            raise ConfigError(f"DiLoCo timeout_s must be at least {MIN_TIMEOUT_S:g} s (it "
                              f"bounds the workers' start and every rendezvous); got "
                              f"{self.timeout_s!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"DiLoCo weight_decay must be >= 0; got {self.weight_decay!r}")
        if not 0 < self.outer_momentum < 1:  # Nesterov needs a momentum
            raise ConfigError(f"DiLoCo outer_momentum must be in (0, 1); got "
                              f"{self.outer_momentum!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"DiLoCo dropout must be in [0, 1); got {self.dropout!r}")
        self._check_corpus()
        n = model_params(self.width, self.layers, self.context)
        if n > MAX_MODEL_PARAMS:
            raise ConfigError(f"DiLoCo width {self.width}, layers {self.layers} and context "
                              f"{self.context} make a model of {n:,} parameters; at most "
                              f"{MAX_MODEL_PARAMS:,} (a CPU worker holds about 16 B of state "
                              "per parameter)")

    def _check_corpus(self) -> None:
        """Refuse a ``context`` or ``batch_size`` the corpus cannot feed: every worker's
        shard must hold at least one batch of sequence starts."""
        size = corpus_size()
        if self.context > size - 2:
            raise ConfigError(f"DiLoCo context {self.context} leaves no sequence in the "
                              f"{size} B corpus; use at most {size - 2}")
        shard = (size - self.context - 1) // self.workers  # the smallest worker's shard
        if self.batch_size > shard:
            raise ConfigError(
                f"DiLoCo batch_size {self.batch_size} exceeds the {shard} sequences of the "
                f"smallest worker's data shard ({self.workers} workers, context "
                f"{self.context}, {size} B corpus); use at most {shard}"
                if shard else
                f"DiLoCo workers {self.workers} leave a worker without data (context "
                f"{self.context}, {size} B corpus); use at most {size - self.context - 1}")

    @property
    def total_inner_steps(self) -> int:
        """Local steps each worker takes over the run."""
        return self.inner_steps * self.outer_steps

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = ENV_CONFIG) -> DilocoConfig:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{where}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown DiLoCo settings {unknown}")
        try:
            return cls(**data)
        except ConfigError as exc:  # say where the bad value came from
            raise ConfigError(f"{where}: {exc}") from None


def _lm_config(cfg: DilocoConfig):
    from greenhop.workload.reference.models import LMConfig

    return LMConfig(256, cfg.width, cfg.layers, cfg.heads, cfg.context, cfg.dropout)


def _stream_seed(seed: int, stream: int) -> int:
    """A 63-bit seed for stream ``stream`` of the run seeded with ``seed``."""
    return int(np.random.SeedSequence((seed, stream)).generate_state(2, np.uint64)[0] >> 1)


@functools.cache
def _corpus_tensor():
    """The corpus as a tensor of byte values, built once per process (read only)."""
    torch = require("torch", "torch")
    from greenhop.workload.reference.corpus import corpus_bytes

    return torch.tensor(list(corpus_bytes()), dtype=torch.long)


def _corpus(cfg: DilocoConfig):
    data = _corpus_tensor()
    return data, len(data) - cfg.context - 1


def shard_items(n_items: int, workers: int, rank: int, seed: int) -> np.ndarray:
    """Worker ``rank``'s share of the ``n_items`` sequence starts: every ``workers``-th item
    of one permutation drawn from the run's seed (disjoint shards, together all items)."""
    if not 0 <= rank < workers:
        raise ConfigError(f"worker rank {rank} is outside 0..{workers - 1}")
    perm = np.random.default_rng((seed, workers)).permutation(n_items)
    return perm[rank::workers].astype(np.int64)


class ShardSampler(ResumableSampler):
    """A :class:`ResumableSampler` over one worker's shard: batches of corpus offsets."""

    def __init__(self, shard: np.ndarray, batch_size: int, seed: int) -> None:
        super().__init__(len(shard), batch_size, seed=seed)
        self.shard = shard

    def next_batch(self) -> np.ndarray:
        return self.shard[super().next_batch()]


def _sampler(cfg: DilocoConfig, n_items: int, rank: int) -> ShardSampler:
    return ShardSampler(shard_items(n_items, cfg.workers, rank, cfg.seed), cfg.batch_size,
                        seed=_stream_seed(cfg.seed, _SAMPLER_STREAM + rank))


def _set_deterministic(torch, mode: bool) -> None:
    """torch's deterministic-algorithms flag. ``torch.use_deterministic_algorithms`` also
    imports the compiler's configuration (about 1.5 s of CPU at every worker's start);
    nothing here is compiled, so the flag alone is set where torch offers it."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # pragma: no cover - other torch versions
        torch.use_deterministic_algorithms(mode)
    else:
        setter(mode)


def _setup(torch, cfg: DilocoConfig, rng_stream: int) -> None:
    torch.set_num_threads(cfg.threads)
    _set_deterministic(torch, True)
    seed = _stream_seed(cfg.seed, rng_stream)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def initial_model(cfg: DilocoConfig):
    """The reference LM with the run's initial weights (the same in every worker)."""
    torch = require("torch", "torch")
    from greenhop.workload.reference.models import TinyLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return TinyLM(_lm_config(cfg))


def _lm_loss(torch, model, data, starts, context: int):
    idx = starts[:, None] + torch.arange(context)[None, :]
    logits = model(data[idx])
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             data[idx + 1].reshape(-1))


def _inner_step(torch, model, optimizer, data, starts, context: int) -> float:
    loss = _lm_loss(torch, model, data, starts, context)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.item())


def _inner_optimizer(torch, cfg: DilocoConfig, model):
    return torch.optim.AdamW(model.parameters(), lr=cfg.inner_lr, weight_decay=cfg.weight_decay)


def _keep_torch_settings(fn):
    """Run ``fn(torch)`` and leave torch's thread count and determinism flag as they were
    (this also runs inside tests and other programs)."""
    torch = require("torch", "torch")
    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        return fn(torch)
    finally:
        torch.set_num_threads(saved[0])
        _set_deterministic(torch, saved[1])


def evaluate(cfg: DilocoConfig, state: dict[str, Any], batches: int = 8) -> float:
    """Mean cross-entropy [nat/byte] of the weights ``state`` on a fixed set of
    ``batches`` batches of the corpus drawn from the run's seed (dropout off)."""
    torch = require("torch", "torch")
    data, n_items = _corpus(cfg)
    model = initial_model(cfg)
    model.load_state_dict(state)
    model.eval()
    rng = np.random.default_rng((cfg.seed, _EVAL_STREAM))
    total = 0.0
    with torch.no_grad():
        for _ in range(batches):
            starts = torch.from_numpy(rng.integers(0, n_items, cfg.batch_size))
            total += float(_lm_loss(torch, model, data, starts, cfg.context))
    return total / batches


def train_single(cfg: DilocoConfig) -> tuple[dict[str, Any], list[float]]:
    """The single-process baseline: plain AdamW (the inner optimiser's settings) for
    ``inner_steps * outer_steps`` steps from the same initial weights, each step's batch
    being the N workers' batches of that step concatenated in rank order (the same
    data in the same order as the DiLoCo run). Returns (weights, loss per step)."""

    def run(torch) -> tuple[dict[str, Any], list[float]]:
        with torch.random.fork_rng(devices=[]):
            _setup(torch, cfg, _SINGLE_STREAM)
            data, n_items = _corpus(cfg)
            model = initial_model(cfg)
            model.train()
            optimizer = _inner_optimizer(torch, cfg, model)
            samplers = [_sampler(cfg, n_items, r) for r in range(cfg.workers)]
            losses = []
            for _ in range(cfg.total_inner_steps):
                starts = torch.from_numpy(np.concatenate([s.next_batch() for s in samplers]))
                losses.append(_inner_step(torch, model, optimizer, data, starts, cfg.context))
            return {k: v.detach().clone() for k, v in model.state_dict().items()}, losses

    return _keep_torch_settings(run)


def same_state(a: Any, b: Any) -> bool:
    """True when two nested states (dicts, lists, tuples, numbers, tensors) are equal,
    tensors bit for bit (same dtype, shape and bytes; NaNs compare by their bits).
    Dict key order is ignored: an optimizer's per-parameter entries are reordered
    by ``load_state_dict`` without any change to their values."""
    torch = require("torch", "torch")
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
                and a.dtype == b.dtype and a.shape == b.shape
                and torch.equal(a.contiguous().reshape(-1).view(torch.uint8),
                                b.contiguous().reshape(-1).view(torch.uint8)))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and type(a) is type(b):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------------------------
# the outer step


class GlooExchange:
    """All-gather of one flat tensor per worker per outer step with the gloo backend.

    Every outer step ``t`` forms a new process group through ``store`` under the
    prefix ``sync/<t>`` and tears it down afterwards: a worker that left (to move)
    and came back joins the next group, the others wait in its rendezvous for at
    most ``timeout_s`` [s].
    """

    def __init__(self, store, rank: int, workers: int, timeout_s: float) -> None:
        self.store, self.rank, self.workers = store, rank, workers
        self.timeout = datetime.timedelta(seconds=timeout_s)

    def __call__(self, outer_step: int, flat) -> list:
        torch = require("torch", "torch")
        dist = torch.distributed
        group_store = dist.PrefixStore(f"sync/{outer_step}", self.store)
        dist.init_process_group("gloo", store=group_store, rank=self.rank,
                                world_size=self.workers, timeout=self.timeout)
        try:
            out = [torch.empty_like(flat) for _ in range(self.workers)]
            dist.all_gather(out, flat)
        finally:
            dist.destroy_process_group()
        return out


def average_in_rank_order(gathered: list):
    """The mean of the gathered tensors, summed in rank order (bit-identical everywhere)."""
    total = gathered[0].clone()
    for part in gathered[1:]:
        total.add_(part)
    return total.div_(len(gathered))


class OuterState:
    """The global parameters and the outer Nesterov SGD acting on them (one replica per
    worker; the replicas stay identical because every worker averages the same tensors
    in the same order). ``state_dict`` holds the outer optimiser's momentum only: the
    global parameters equal the worker's own at every outer-step boundary."""

    def __init__(self, torch, cfg: DilocoConfig, model) -> None:
        self.torch = torch
        self.model = model
        self.params = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
        self.optimizer = torch.optim.SGD(self.params, lr=cfg.outer_lr,
                                         momentum=cfg.outer_momentum, nesterov=True)

    def reset_from_model(self) -> None:
        """Set the global parameters to the worker's (after a resume)."""
        with self.torch.no_grad():
            for g, p in zip(self.params, self.model.parameters(), strict=True):
                g.copy_(p)

    def pseudo_gradient(self):
        """Global minus local parameters, flattened in parameter order (float32)."""
        with self.torch.no_grad():
            return self.torch.cat([(g - p).reshape(-1) for g, p in
                                   zip(self.params, self.model.parameters(), strict=True)])

    def apply(self, average) -> None:
        """One outer step with the averaged pseudo-gradient; the worker restarts from it."""
        torch = self.torch
        offset = 0
        for g in self.params:
            n = g.numel()
            g.grad = average[offset:offset + n].view_as(g).clone()
            offset += n
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for g, p in zip(self.params, self.model.parameters(), strict=True):
                p.copy_(g)

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)


# --------------------------------------------------------------------------------------------
# the worker process


class Worker:
    """One worker's training state: its model (the local parameters), inner AdamW,
    :class:`OuterState` and data shard. The process and :func:`train_sequential`
    drive the same object."""

    def __init__(self, torch, cfg: DilocoConfig, rank: int, data, n_items: int) -> None:
        if not 0 <= rank < cfg.workers:
            raise ConfigError(f"worker rank {rank} is outside 0..{cfg.workers - 1}")
        self.torch, self.cfg, self.rank, self.data = torch, cfg, rank, data
        self.model = initial_model(cfg)
        self.model.train()
        self.inner = _inner_optimizer(torch, cfg, self.model)
        self.outer = OuterState(torch, cfg, self.model)
        self.sampler = _sampler(cfg, n_items, rank)

    def local_steps(self) -> float:
        """H inner steps; returns their mean loss [nat/byte]."""
        total = 0.0
        for _ in range(self.cfg.inner_steps):
            starts = self.torch.from_numpy(self.sampler.next_batch())
            total += _inner_step(self.torch, self.model, self.inner, self.data, starts,
                                 self.cfg.context)
        return total / self.cfg.inner_steps

    def components(self) -> dict[str, Any]:
        """What a worker checkpoint holds (the SDK adds the RNG states)."""
        return {"model": self.model, "optimizer": _Canonical(self.inner),
                "loader": self.sampler, "outer": _Canonical(self.outer)}


def _canonical(obj: Any) -> Any:
    """``obj`` with every dict's keys in sorted order (values untouched)."""
    if isinstance(obj, dict):
        return {k: _canonical(obj[k]) for k in sorted(obj, key=lambda k: (str(type(k)), k))}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    return obj


class _Canonical:
    """An optimizer whose ``state_dict`` lists its keys in sorted order: torch's
    ``load_state_dict`` reorders a parameter's entries (``step`` first), so without this a
    worker that was moved or restarted would write the same state in another byte layout."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def state_dict(self) -> dict[str, Any]:
        return _canonical(self.inner.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


def train_sequential(cfg: DilocoConfig) -> list[dict[str, Any]]:
    """DiLoCo in one process with no exchange and no moves: the workers take their
    local steps one after the other (each with its own torch RNG state), then the same
    rank-order average is applied to each. Returns every worker's final state
    (``model``, ``optimizer``, ``outer``, ``loader`` state dicts and ``torch_rng``):
    the reference a live run must equal bit for bit."""

    def run(torch) -> list[dict[str, Any]]:
        data, n_items = _corpus(cfg)
        workers, rngs = [], []
        with torch.random.fork_rng(devices=[]):
            for rank in range(cfg.workers):
                _setup(torch, cfg, rank)
                workers.append(Worker(torch, cfg, rank, data, n_items))
                rngs.append(torch.get_rng_state())
            for _t in range(cfg.outer_steps):
                flats = []
                for rank, w in enumerate(workers):
                    torch.set_rng_state(rngs[rank])
                    w.local_steps()
                    rngs[rank] = torch.get_rng_state()
                    flats.append(w.outer.pseudo_gradient())
                for w in workers:
                    w.outer.apply(average_in_rank_order([f.clone() for f in flats]))
        return [{**{k: c.state_dict() for k, c in w.components().items()},
                 "torch_rng": rngs[r]} for r, w in enumerate(workers)]

    return _keep_torch_settings(run)


def run_worker(
    cfg: DilocoConfig,
    rank: int,
    exchange: Callable[[int, Any], list],
    control: Callable[[int], bool],
    ckpt_dir: str | None = None,
    *,
    out: Callable[[str], None] | None = None,
    log: Callable[[str], None] | None = None,
    stop_requested: threading.Event | None = None,
) -> int:
    """Train worker ``rank`` to the end of the run or until ``control(t)`` asks it to stop
    after outer step ``t``; return the exit code (0 finished, 75 stopped to move).
    ``stop_requested``: set by a stop request that came before the training session
    existed (:func:`~greenhop.workload.session.migration_requests`); honoured after the
    next outer step, as a later one is.

    ``exchange(t, flat)`` returns the N workers' flat pseudo-gradients in rank order;
    ``out`` receives one line per outer step: ``outer T loss L sync_bytes B``.
    Resumes from ``ckpt_dir`` (default ``$GREENHOP_CHECKPOINT_DIR``) as the SDK does,
    exactly ``$GREENHOP_RESUME_STEP`` when set.
    """
    out = out or (lambda line: print(line, flush=True))

    def run(torch) -> int:
        _setup(torch, cfg, rank)
        data, n_items = _corpus(cfg)
        w = Worker(torch, cfg, rank, data, n_items)
        parts = w.components()
        session = TrainingSession(
            ckpt_dir, model=parts.pop("model"), optimizer=parts.pop("optimizer"),
            loader=parts.pop("loader"), extra=parts,
            every_steps=cfg.checkpoint_every * cfg.inner_steps, keep=cfg.keep, log=log)
        with session:
            if stop_requested is not None and stop_requested.is_set():
                session.request_stop()  # asked while it was starting: after its next step
            try:
                return _train(cfg, session, w, exchange, control, out)
            except MigrationExit as exc:
                return int(exc.code)

    return _keep_torch_settings(run)


def _train(cfg: DilocoConfig, session: TrainingSession, w: Worker, exchange, control,
           out) -> int:
    start = session.resume()
    if start % cfg.inner_steps:
        raise CheckpointError(f"worker checkpoint of step {start} is not at an outer-step "
                              f"boundary (every {cfg.inner_steps} steps)")
    w.outer.reset_from_model()
    for t in range(start // cfg.inner_steps + 1, cfg.outer_steps + 1):
        loss = w.local_steps()
        flat = w.outer.pseudo_gradient()
        average = average_in_rank_order(exchange(t, flat))
        w.outer.apply(average)
        out(f"outer {t} loss {loss!r} sync_bytes {flat.numel() * flat.element_size()}")
        if not math.isfinite(loss) or not bool(w.torch.isfinite(average).all()):
            what = f"loss {loss!r}" if not math.isfinite(loss) else "averaged pseudo-gradient"
            raise RuntimeFailure(f"the DiLoCo training diverged at outer step {t} "
                                 f"({what} is not finite); lower inner_lr or outer_lr")
        if t < cfg.outer_steps and control(t):
            session.request_stop()
        session.step_done(t * cfg.inner_steps)
    session.finish(cfg.total_inner_steps)
    return EXIT_FINISHED


def store_control(store) -> Callable[[int], bool]:
    """``control(t)`` reading the driver's decision ``ctl/<t>`` (``{"stop": [ranks]}``)
    after announcing the arrival at ``arrived/<t>``; blocks until the driver decides."""

    def control(t: int, rank: int) -> bool:
        store.add(f"arrived/{t}", 1)
        try:
            decision = json.loads(store.get(f"ctl/{t}"))
            return rank in decision.get("stop", [])
        except (ValueError, AttributeError, TypeError):
            raise ConfigError(f"the driver's decision ctl/{t} is malformed") from None

    return control


def _connect(address: str, timeout_s: float):
    torch = require("torch", "torch")
    host, sep, port = address.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()):
        raise ConfigError(f"{ENV_STORE}={address!r}: must be host:port")
    return torch.distributed.TCPStore(host, int(port), is_master=False,
                                      timeout=datetime.timedelta(seconds=timeout_s))


WORKER_BOOT = (
    "import signal, sys\n"
    "early = []\n"
    "for s in (signal.SIGTERM, signal.SIGUSR1):\n"
    "    signal.signal(s, lambda n, f: early.append(n))\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "from greenhop.workload import diloco\n"
    "sys.exit(diloco.main(early))\n")
"""``python -c`` program of a worker process: it keeps a stop request (SIGTERM, SIGUSR1)
from its first line on, before the imports (numpy, greenhop) that take a while."""


def main(early_stops: list[int] | None = None) -> int:
    """Entry point of a worker process: reads ``GREENHOP_DILOCO_*`` and the SDK's
    ``GREENHOP_CHECKPOINT_DIR`` / ``GREENHOP_RESUME_STEP``; returns the exit code.

    SIGTERM or SIGUSR1 while it starts is a stop request as later on (it trains its next
    outer step, checkpoints and exits 75); SIGINT (Ctrl-C reaches the driver's whole
    process group) ends it at once and quietly: the driver reports the interruption.
    ``early_stops``: the list the driver's bootstrap (:data:`WORKER_BOOT`) recorded stop
    signals in before this module was imported."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with migration_requests() as requested:
        if early_stops:
            requested.set()
        return _main(requested)


def _main(requested: threading.Event) -> int:
    try:
        cfg = DilocoConfig.from_json(os.environ.get(ENV_CONFIG, "{}"))
        raw_rank = os.environ.get(ENV_RANK, "")
        if not (raw_rank.isascii() and raw_rank.isdigit()):
            raise ConfigError(f"{ENV_RANK}={raw_rank!r}: must be the worker's index")
        rank = int(raw_rank)
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        store = _connect(os.environ.get(ENV_STORE, ""), cfg.timeout_s)
        control = store_control(store)
        exchange = GlooExchange(store, rank, cfg.workers, cfg.timeout_s)
        return run_worker(cfg, rank, exchange, lambda t: control(t, rank),
                          stop_requested=requested)
    except ConfigError as exc:
        print(f"greenhop diloco worker: {exc}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    except (GreenhopError, RuntimeError, OSError) as exc:
        print(f"greenhop diloco worker: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
