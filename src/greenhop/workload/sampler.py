"""A data-loader position that can be saved and restored exactly (no torch needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from greenhop.core.errors import CheckpointError, ConfigError
from greenhop.workload.checkpoint_errors import IncompatibleCheckpoint


class ResumableSampler:
    """Batches of indices over ``n_items`` items, reshuffled each epoch, resumable mid-epoch.

    The order of epoch ``e`` is a permutation drawn from ``numpy.random.default_rng
    ((seed, e))``, so the position is just ``(epoch, cursor)``: :meth:`state_dict`
    and :meth:`load_state_dict` save and restore it for a checkpoint.
    """

    def __init__(
        self, n_items: int, batch_size: int, seed: int = 0, drop_last: bool = True
    ) -> None:
        if n_items < 1 or batch_size < 1:
            raise ConfigError(f"need n_items >= 1 and batch_size >= 1; got {n_items}, {batch_size}")
        if drop_last and batch_size > n_items:
            raise ConfigError(f"batch size {batch_size} exceeds the {n_items} items")
        self.n_items = int(n_items)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self.cursor = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng((self.seed, epoch)).permutation(self.n_items)

    def next_batch(self) -> np.ndarray:
        """The next batch of item indices (int64), advancing the position."""
        end = self.cursor + self.batch_size
        if end > self.n_items and (self.drop_last or self.cursor >= self.n_items):
            self.epoch += 1
            self.cursor = 0
            self._order = self._permutation(self.epoch)
            end = self.batch_size
        batch = self._order[self.cursor : min(end, self.n_items)]
        self.cursor = min(end, self.n_items)
        return batch.astype(np.int64)

    def state_dict(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "drop_last": self.drop_last,
            "epoch": self.epoch,
            "cursor": self.cursor,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        mine = self.state_dict()
        for key in ("n_items", "batch_size", "seed", "drop_last"):
            if state.get(key) != mine[key]:  # a user's mistake, not a damaged file
                raise IncompatibleCheckpoint(
                    f"data-loader state does not match this loader: {key} is {state.get(key)!r} in "
                    f"the checkpoint and {mine[key]!r} here; resume with the same data settings"
                )
        epoch, cursor = state.get("epoch"), state.get("cursor")
        if not (
            isinstance(epoch, int)
            and isinstance(cursor, int)
            and epoch >= 0
            and 0 <= cursor <= self.n_items
        ):
            raise CheckpointError(
                f"data-loader position is malformed: epoch={epoch!r} cursor={cursor!r}"
            )
        self.epoch, self.cursor = epoch, cursor
        self._order = self._permutation(epoch)
