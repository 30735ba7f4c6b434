"""paused_gc: no cyclic garbage collection while a large structure that stays alive is built.

CPython starts a collection every few hundred new container objects and, as the survivors pile up, full
collections that walk all of them: building a graph of 100,000 nodes spent more time collecting than
building. Nothing made in these blocks is garbage until they end, so collecting there only costs time.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector for the block; re-enable it after only if it was enabled before."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
