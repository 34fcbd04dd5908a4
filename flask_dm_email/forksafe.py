"""Locks that a forked child gets back free.

``os.fork()`` copies a process with only the thread that forked. A ``threading.Lock``
that another thread held at that moment is copied *held*, and nobody in the child will
ever release it. That happens under ``gunicorn --preload`` (or any pre-forking server)
when the parent has already sent email or run a worker thread: a limiter's booking lock
held for half a second by a worker thread would leave every child unable to book a slot,
and each email would wait its ``max_wait`` and go back unsent, for ever.

:class:`Lock` is a ``threading.Lock`` that is replaced by a new, free one in the child
after every fork (``os.register_at_fork``). What it guards is in-process bookkeeping
(a booking turn, a cache), which is safe to take over as it was.
"""

from __future__ import annotations

import os
import threading
import weakref
from types import TracebackType

_locks: weakref.WeakSet[Lock] = weakref.WeakSet()


class Lock:
    """A ``threading.Lock`` (``acquire``, ``release``, ``with``) renewed in a forked child."""

    __slots__ = ("__weakref__", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        _locks.add(self)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._lock.release()

    def _renew(self) -> None:
        self._lock = threading.Lock()


def _renew_all_in_child() -> None:
    for lock in list(_locks):
        lock._renew()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_renew_all_in_child)
