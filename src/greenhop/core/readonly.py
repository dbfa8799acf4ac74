"""Read-only views of the arrays a policy is handed.

A plain ``a.view()`` with ``writeable = False`` stops a slip (``obs.job_phase[0] = 3``
raises), but not a policy that asks for more: ``setflags(write=True)`` on such a view, or a
write through its ``.base`` (the simulator's or the controller's own state), succeeded, and
the run went on with that state changed. A view over a read-only buffer of the same memory
refuses both, still without a copy: the fleet's later updates show through it.
"""

from __future__ import annotations

import numpy as np


def readonly(a: np.ndarray) -> np.ndarray:
    """A view of ``a`` (same memory, no copy) that cannot be made writeable: its base is a
    read-only buffer, so ``setflags(write=True)`` raises and ``.base`` cannot be written.
    Arrays with no buffer export (object or datetime dtypes) get a plain read-only view."""
    try:
        view = np.asarray(memoryview(a).toreadonly())
    except (TypeError, ValueError, BufferError):
        view = a.view()
        view.flags.writeable = False
        return view
    if view.dtype != a.dtype:  # a buffer format numpy reads back otherwise (rare)
        view = view.view(a.dtype)
    return view
