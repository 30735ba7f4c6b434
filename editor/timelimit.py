"""The per-request time limit (FENCELINE_TIME_LIMIT_SECONDS): SIGALRM interrupts whatever the request is doing.

Applied to every request by editor.middleware.TimeLimitMiddleware (pages such as /d/<slug>.yaml compile too) and
again around imports and API views, which answer with their own messages; an inner limit inside an outer one
keeps the outer deadline, so the alarm of one request is armed once.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


class TimeLimitExceeded(Exception):
    pass


_armed_here = threading.local()
REPEAT_SECONDS = 0.25


def arm(seconds: float) -> Callable[[], None] | None:
    """Start the alarm; returns the function that stops it, or None when no alarm was started (not the main
    thread, no limit, or one is running already: an inner limit keeps the outer deadline)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0 or getattr(_armed_here, "on", False):
        return None
    armed = True

    def expire(signum: int, frame: Any) -> None:
        if not armed:
            return
        if _collecting or _in_finaliser(frame):
            # Python swallows an exception raised in a finaliser or a garbage collector callback (and reports it
            # as "ignored"): try again as soon as the collector is done.
            signal.setitimer(signal.ITIMER_REAL, 0.005)
            return
        # Ring again shortly in case the exception still lands somewhere that swallows it.
        signal.setitimer(signal.ITIMER_REAL, REPEAT_SECONDS)
        raise TimeLimitExceeded

    _watch_the_collector()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    _armed_here.on = True

    def disarm() -> None:
        nonlocal armed
        # An alarm that arrives while we are leaving must neither escape nor skip the clean-up (which would leave
        # this handler installed and let a late alarm raise somewhere else): disarm first, restore in any case.
        try:
            armed = False
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            _armed_here.on = False

    return disarm


_collecting = False


def _gc_starts(phase: str, info: dict[str, int]) -> None:
    global _collecting
    if phase == "start":
        _collecting = True


def _gc_stops(phase: str, info: dict[str, int]) -> None:
    global _collecting
    if phase == "stop":
        _collecting = False


def _watch_the_collector() -> None:
    """Keep `_collecting` true from the first garbage collector callback to the last, whoever added others."""
    for callback in (_gc_starts, _gc_stops):
        if callback in gc.callbacks:
            gc.callbacks.remove(callback)
    gc.callbacks.insert(0, _gc_starts)
    gc.callbacks.append(_gc_stops)


def _in_finaliser(frame: Any) -> bool:
    """Whether the interrupted code runs inside a weakref finaliser, a __del__ method or our own garbage collector
    callbacks (a few frames up)."""
    for _ in range(8):
        if frame is None:
            return False
        code = frame.f_code
        if (
            code.co_name == "__del__"
            or (code.co_name == "__call__" and code.co_filename.endswith("weakref.py"))
            or code in (_gc_starts.__code__, _gc_stops.__code__)
        ):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` of wall time (SIGALRM).

    Gunicorn's sync workers and the test client run requests in the main thread, where a timer signal can be
    used; a threaded development server cannot, and there the block runs unbounded.
    """
    disarm = arm(seconds)
    try:
        yield
    finally:
        if disarm is not None:
            disarm()
