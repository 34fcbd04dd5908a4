"""The error the pacing raises."""

from __future__ import annotations


class LimiterWaitTooLong(Exception):
    """The next free slot in the shared rate budget is further away than the caller
    agreed to wait. No slot was taken.

    :param key: the limiter key (``notify:{service id}``; not a secret).
    :param wait: seconds until a slot would have been free.
    :param max_wait: the longest the caller would wait.
    """

    def __init__(self, key: str, wait: float, max_wait: float) -> None:
        self.key = key
        self.wait = wait
        self.max_wait = max_wait
        super().__init__(
            f"The Notify rate budget {key} is booked for the next {wait:.2f} s, longer than the "
            f"{max_wait:.2f} s this send may wait. Queue the email (queue_email: the worker waits its "
            "turn), or send it again later."
        )


class LimiterWaitCancelled(LimiterWaitTooLong):
    """The sender stopped waiting for its slot (a worker stopping: SIGTERM). A slot it had
    already booked goes unused, which only slows the others a little; nothing is sent.

    :param key: the limiter key.
    """

    def __init__(self, key: str) -> None:
        Exception.__init__(self, f"Stopped waiting for a slot in the Notify rate budget {key}.")
        self.key = key
        self.wait = 0.0
        self.max_wait = 0.0
