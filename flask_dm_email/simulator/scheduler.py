"""A tiny timer queue served by daemon worker threads.

Delivery steps and callback retries are "do this in N seconds"; one heap and a
condition variable serve them without a thread per timer.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Scheduler:
    """Run callables after a delay on ``workers`` daemon threads."""

    def __init__(self, name: str, workers: int = 1) -> None:
        self.name = name
        self.workers = workers
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopped = False

    def start(self) -> None:
        """Start the worker threads (idempotent)."""
        with self._condition:
            if self._threads:
                return
            self._stopped = False
            for index in range(self.workers):
                thread = threading.Thread(target=self._work, name=f"{self.name}-{index}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def call_later(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` about ``delay`` seconds from now."""
        with self._condition:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._counter), action))
            self._condition.notify()

    def clear(self) -> None:
        """Drop every pending action."""
        with self._condition:
            self._queue.clear()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the workers; pending actions are dropped."""
        with self._condition:
            self._stopped = True
            self._queue.clear()
            self._condition.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def _next_action(self) -> Callable[[], None] | None:
        with self._condition:
            while not self._stopped:
                if not self._queue:
                    self._condition.wait()
                    continue
                due = self._queue[0][0] - time.monotonic()
                if due > 0:
                    self._condition.wait(due)
                    continue
                return heapq.heappop(self._queue)[2]
            return None

    def _work(self) -> None:
        while (action := self._next_action()) is not None:
            try:
                action()
            except Exception:  # a failing step must not kill the worker
                logger.exception("Notify simulator: background task failed in %s", self.name)
