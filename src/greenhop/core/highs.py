"""One way to make a HiGHS solver object, shared by every linear program in greenhop."""

from __future__ import annotations

import os
import sys

_banner_done = False


def new_highs():
    """A ``highspy.Highs`` whose one-time start-up banner does not reach stdout (the CLI's
    ``--json`` output must stay clean). highspy is imported here, on first use."""
    global _banner_done
    import highspy

    if _banner_done:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _banner_done = True
    return h
