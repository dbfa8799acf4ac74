"""Running a sweep's tasks on Ray: a local instance on this machine's cores, or a cluster.

Ray is an extra (``greenhop[sweep]``), imported only here and only when used. A local
instance binds 127.0.0.1, has no dashboard, no usage statistics and a small object store
(the tasks return a few kB of JSON each). Tasks are spread over the nodes and at most
``workers`` (default: the cluster's CPUs) run at once; results are handed back as each
task finishes, so the caller stores cells as they come.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator

from greenhop.core.errors import ConfigError, MissingExtraError, RuntimeFailure

#: object store of a local instance [B]
OBJECT_STORE_BYTES = 100 * 1024**2
#: how long joining a cluster may take before it is reported unreachable [s]
CONNECT_TIMEOUT_S = 25.0

#: read by Ray at import: loopback addresses stay loopback (a one-machine cluster), no
#: usage statistics
_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def import_ray():
    """``ray``, or :class:`MissingExtraError` naming the ``sweep`` extra."""
    for k, v in _ENV.items():
        os.environ.setdefault(k, v)
    try:
        import ray
    except ImportError:
        raise MissingExtraError("ray", "sweep") from None
    return ray


def _check_address(address: str) -> None:
    """A quick TCP probe, so an unreachable cluster is one clear line, not a long hang."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"--address {address!r}: write HOST:PORT of the cluster's head "
                          "(e.g. 127.0.0.1:6379, as printed by `ray start --head`)")
    try:
        with socket.create_connection((host, int(port)), timeout=5.0):
            pass
    except OSError as exc:
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({exc}); start "
                          "one with `ray start --head` or drop --address for a local "
                          "instance") from None


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signal.SIGTERM)


class RayRunner:
    """A Ray connection for the length of a ``with`` block (shut down after, unless it was
    already connected when the block began)."""

    def __init__(self, *, address: str | None = None, workers: int | None = None) -> None:
        self.address = address
        self.workers = workers
        self.ray = import_ray()
        self._owned = False
        self._sigterm = None  # the SIGTERM handler before ours, while we hold Ray

    def __enter__(self) -> RayRunner:
        ray = self.ray
        if ray.is_initialized():
            return self
        if self.address is not None:
            _check_address(self.address)
            kw = {"address": self.address}
        else:
            # address="local": always a new instance of our own, even when a cluster
            # started with `ray start` is running on this machine (Ray would join it)
            kw = {"address": "local", "num_cpus": self.workers or os.cpu_count() or 1,
                  "object_store_memory": OBJECT_STORE_BYTES,
                  "_node_ip_address": "127.0.0.1",
                  # Ray starts its workers at nice 15: on a shared machine any other
                  # process would take their CPU. Run them at the command's priority, as
                  # --serial runs.
                  "_system_config": {"worker_niceness": 0}}
        opts = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
                **kw}
        if self.address is None:
            # In this thread: Ray ties the processes it starts to the thread that started
            # them (they die with it), so a local instance is never started in a helper.
            try:
                ray.init(**opts)
            except Exception as exc:
                raise RuntimeFailure(f"local Ray instance: could not start: {exc}") from None
        else:
            self._join(opts)
        self._owned = True
        if threading.current_thread() is threading.main_thread():
            # Ray's handler prints a native stack trace for a SIGTERM; stop as --serial does,
            # shutting Ray down on the way out (the cells stored so far are kept)
            self._sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self

    def _join(self, opts: dict) -> None:
        """Join a cluster, giving up after :data:`CONNECT_TIMEOUT_S` (Ray itself would retry
        for minutes). Joining starts no process, so a helper thread may wait for it."""
        error: list[BaseException] = []

        def connect() -> None:
            try:
                self.ray.init(**opts)
            except BaseException as exc:  # reported in the calling thread
                error.append(exc)

        t = threading.Thread(target=connect, daemon=True, name="ray-connect")
        t.start()
        t.join(CONNECT_TIMEOUT_S)
        if t.is_alive():
            raise ConfigError(f"--address {self.address}: the cluster did not answer within "
                              f"{CONNECT_TIMEOUT_S:g} s; check that a Ray head runs there")
        if error:
            raise ConfigError(f"--address {self.address}: could not join the cluster: "
                              f"{error[0]}") from None

    def __exit__(self, *exc) -> None:
        if self._owned:
            self.ray.shutdown()
            self._owned = False
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)
            self._sigterm = None

    def concurrency(self) -> int:
        """How many tasks may run at once: ``workers``, else the cluster's CPUs."""
        if self.workers:
            return self.workers
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        return max(cpus, 1)

    def run(self, spec, groups) -> Iterator[tuple[object, str, str, dict]]:
        """Submit ``groups`` (at most :meth:`concurrency` at once); yield ``(group, name,
        text, meta)`` for each cell as soon as it is finished (tasks stream their cells)."""
        from greenhop.sim.sweep import group_cells

        ray = self.ray
        task = ray.remote(group_cells).options(num_cpus=1, scheduling_strategy="SPREAD",
                                               num_returns="streaming", max_retries=2)
        docs = {}
        pending = list(groups)
        running: dict = {}
        limit = self.concurrency()
        while pending or running:
            while pending and len(running) < limit:
                g = pending.pop(0)
                if g.point not in docs:
                    docs[g.point] = ray.put(spec.point_document(g.point))
                gen = task.remote(docs[g.point], spec.source_label, spec.base_dir, g.seed,
                                  g.policies, g.bounds)
                running[gen] = g
            ready, _ = ray.wait(list(running), num_returns=1)
            for gen in ready:
                g = running[gen]
                try:
                    ref = next(gen)
                except StopIteration:
                    del running[gen]
                    continue
                try:
                    name, text, meta = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    if isinstance(cause, ConfigError | RuntimeFailure):
                        raise cause from None
                    raise RuntimeFailure(f"sweep task (grid point {g.point}, seed {g.seed}) "
                                         f"failed: {cause}") from None
                yield g, name, text, meta
