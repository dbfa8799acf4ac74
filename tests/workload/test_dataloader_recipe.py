"""The documented recipe for torch's shuffling DataLoader resumes bit for bit: one
generator per epoch, seeded from the run's seed and the epoch, and the batches of the
resumed epoch before the step skipped (docs/workload.md, *torch's DataLoader*). The
advice it replaces (create the iterator before ``resume()``) did not: the first batch of
an iterator draws from torch's global RNG as well, so the resumed run silently differed."""

from __future__ import annotations

import hashlib

import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from greenhop.workload import MigrationExit, TrainingSession  # noqa: E402

SEED, STEPS, BATCH = 7, 23, 4  # 10 batches an epoch: the stops fall mid-epoch


def _train(ckpt, stop_at: int | None) -> str | None:
    """Train to STEPS (or until asked to move after step ``stop_at``); the weights' digest
    at the end, None when it stopped."""
    torch.manual_seed(SEED)
    data = TensorDataset(torch.randn(40, 6), torch.randn(40, 1))
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Dropout(0.3),
                                torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loader(epoch: int) -> DataLoader:  # the recipe: the epoch's order from its seed
        g = torch.Generator().manual_seed(SEED * 1_000_003 + epoch)
        return DataLoader(data, batch_size=BATCH, shuffle=True, generator=g)

    per_epoch = len(loader(0))
    session = TrainingSession(ckpt, model=model, optimizer=opt, every_steps=0)
    with session:
        step = session.resume()
        epoch, skip = divmod(step, per_epoch)
        try:
            while step < STEPS:
                for i, (x, y) in enumerate(loader(epoch)):
                    if i < skip:
                        continue  # batches this epoch trained before the stop
                    loss = torch.nn.functional.mse_loss(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    step += 1
                    if step == stop_at:
                        (ckpt / "MIGRATE").touch()  # as the controller asks a move
                    session.step_done(step)
                    if step == STEPS:
                        break
                epoch, skip = epoch + 1, 0
            session.finish(STEPS)
        except MigrationExit:
            return None
    return hashlib.sha256(b"".join(p.detach().numpy().tobytes()
                                   for p in model.parameters())).hexdigest()


def test_a_shuffling_dataloader_resumed_by_the_recipe_is_bit_identical(tmp_path):
    whole = _train(tmp_path / "whole", None)
    for stops in ((6,), (13, 17)):
        ckpt = tmp_path / f"stopped-{'-'.join(map(str, stops))}"
        for s in stops:
            assert _train(ckpt, s) is None
        assert _train(ckpt, None) == whole, stops
