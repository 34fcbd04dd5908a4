"""The Limiter a sender holds: it waits for its slot, refuses a wait that is too long,
pushes back after a 429, counts the day when a daily limit is set; and the key and the
store come from the settings' values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flask_dm_email.pacing import Limiter, LimiterWaitTooLong, MemoryStore, limiter_key, open_store
from flask_dm_email.pacing.redis import RedisStore
from flask_dm_email.pacing.sql import SqlStore

from ..conftest import KEY

SERVICE = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"


class Clock:
    """Time that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def limiter(clock: Clock, rate: str | tuple[int, float] = "60/60", **options: int | None) -> Limiter:
    """A limiter at 0.98 a second (an interval of 1/0.98 s), burst 2 unless told."""
    options.setdefault("burst", 2)
    store = MemoryStore(clock=clock, wall_clock=clock)
    return Limiter(store, "notify:s", rate, sleep=clock.sleep, **options)  # type: ignore[arg-type]


INTERVAL = 1 / 0.98


def test_the_key_is_the_service_of_the_api_key_and_never_its_secret() -> None:
    assert limiter_key(KEY) == f"notify:{SERVICE}"
    assert SECRET not in limiter_key(KEY)
    assert limiter_key(KEY.upper().replace("MY_KEY", "other-name")) == f"notify:{SERVICE}"


def test_acquire_sleeps_until_its_slot_and_says_how_long(clock: Clock) -> None:
    pacer = limiter(clock)
    assert pacer.acquire(max_wait=5) == pytest.approx(2 * INTERVAL)
    assert pacer.acquire(max_wait=5) == pytest.approx(INTERVAL)
    assert clock.slept == pytest.approx([2 * INTERVAL, INTERVAL])


def test_after_a_quiet_spell_the_burst_goes_without_sleeping(clock: Clock) -> None:
    pacer = limiter(clock)
    pacer.acquire(max_wait=5)
    clock.now += 60
    clock.slept.clear()
    assert [pacer.acquire(max_wait=5) for _ in range(4)] == pytest.approx([0, 0, 0, INTERVAL])
    assert clock.slept == pytest.approx([INTERVAL])


def test_a_wait_over_max_wait_raises_sleeps_not_and_takes_no_slot(clock: Clock) -> None:
    pacer = limiter(clock)
    with pytest.raises(LimiterWaitTooLong) as raised:
        pacer.acquire(max_wait=1.5)
    assert clock.slept == []
    assert raised.value.wait == pytest.approx(2 * INTERVAL)
    message = str(raised.value)
    assert "notify:s" in message
    assert "2.04 s" in message
    assert "1.50 s" in message
    assert "queue_email" in message
    assert pacer.acquire(max_wait=5) == pytest.approx(2 * INTERVAL)


def test_with_a_horizon_a_sender_waits_before_it_books_and_books_the_same_slot(clock: Clock) -> None:
    pacer = limiter(clock)
    for _ in range(6):  # other senders booked the next few seconds
        pacer.store.reserve(pacer.key, pacer.rate, pacer.burst, 100)
    slot = 8 * INTERVAL  # a fresh key: the first slot 2 intervals away, then one per booking
    assert pacer.acquire(max_wait=30, horizon=0.5) == pytest.approx(slot, abs=0.01)
    # It slept until the slot was within the horizon (booking nothing), then until the slot.
    assert clock.slept == pytest.approx([slot - 0.495, 0.495], abs=1e-6)
    with pytest.raises(LimiterWaitTooLong) as raised:  # a slot beyond max_wait: nothing taken
        pacer.acquire(max_wait=0.6, horizon=0.5)
    assert raised.value.wait == pytest.approx(INTERVAL, abs=0.01)


def test_senders_booking_within_a_horizon_leave_a_slot_for_a_synchronous_send() -> None:
    import threading
    import time

    # 16 worker threads, each wanting 2 slots at 9.8 a second: without a horizon they
    # hold the next 1.6 s of the budget, and a send that waits at most 1 s is refused.
    pacer = Limiter(MemoryStore(), "notify:s", "600/60", burst=0)
    refused: list[float] = []
    done = threading.Event()

    def worker() -> None:
        for _ in range(2):
            pacer.acquire(max_wait=30, horizon=0.5)

    def synchronous_sender() -> None:
        while not done.wait(0.4):
            try:
                pacer.acquire(max_wait=1.0)
            except LimiterWaitTooLong as error:
                refused.append(error.wait)

    workers = [threading.Thread(target=worker) for _ in range(16)]
    sender = threading.Thread(target=synchronous_sender)
    started = time.monotonic()
    for thread in [*workers, sender]:
        thread.start()
    for thread in workers:
        thread.join(timeout=30)
    done.set()
    sender.join(timeout=5)
    assert refused == []
    assert time.monotonic() - started >= 32 / 9.8 - 0.2  # and still at the pace


def test_waiting_for_another_thread_s_booking_counts_against_max_wait() -> None:
    import threading
    import time

    # 1.96 a second: the first slot is 1.02 s away, the second 1.53 s.
    pacer = Limiter(MemoryStore(), "notify:s", "120/60", burst=0)
    first = threading.Thread(target=pacer.acquire, kwargs={"max_wait": 5, "horizon": 0.5})
    first.start()  # holds the booking about 0.52 s, until its slot is within half a second
    time.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(LimiterWaitTooLong):  # the second slot is 1.43 s from now, over 1.1 s
        pacer.acquire(max_wait=1.1, horizon=0.5)
    assert time.monotonic() - started < 1.1
    first.join()


def test_after_a_429_every_sender_waits_two_intervals_past_its_slots(clock: Clock) -> None:
    pacer = limiter(clock)
    pacer.acquire(max_wait=5)
    clock.now += 60  # burst credit built up...
    pacer.after_429()  # ...and is gone
    assert pacer.acquire(max_wait=5) == pytest.approx(2 * INTERVAL)


def test_the_rate_is_paced_at_98_percent_of_the_configured_one(clock: Clock) -> None:
    pacer = limiter(clock, rate=(3000, 60))
    assert pacer.configured == (3000, 60.0)
    assert pacer.rate == pytest.approx(49.0)
    assert limiter(clock, rate="3000/60").rate == pacer.rate


def test_no_daily_limit_counts_nothing(clock: Clock) -> None:
    pacer = limiter(clock)
    assert all(pacer.take_daily() for _ in range(100))
    pacer.give_back_daily()
    assert pacer.snapshot()["daily_used"] == 0


def test_a_daily_limit_is_counted_in_the_store(clock: Clock) -> None:
    pacer = limiter(clock, daily_limit=2)
    assert [pacer.take_daily() for _ in range(3)] == [True, True, False]
    pacer.give_back_daily()
    assert pacer.take_daily()
    clock.now += 86_400
    assert pacer.take_daily()


def test_a_snapshot_names_the_key_and_the_daily_limit(clock: Clock) -> None:
    pacer = limiter(clock, daily_limit=5)
    pacer.acquire(max_wait=5)
    pacer.take_daily()
    assert pacer.snapshot() == {
        "key": "notify:s",
        "rate": pytest.approx(0.98),
        "burst": 2,
        "tokens": pytest.approx(0.0, abs=1e-9),
        "wait": pytest.approx(INTERVAL),
        "day": "1970-01-01",
        "daily_used": 1,
        "daily_limit": 5,
    }


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"rate": "3000 a minute"}, "REQUESTS/SECONDS"),
        ({"rate": (0, 60)}, "positive whole count"),
        ({"rate": (3000, 0)}, "positive whole count"),
        ({"rate": (3000, float("inf"))}, "positive whole count"),
        ({"burst": -1}, "burst -1"),
        ({"burst": 2.5}, "burst 2.5"),
        ({"burst": True}, "burst True"),
        ({"daily_limit": 0}, "daily limit 0"),
        ({"daily_limit": "50"}, "daily limit '50'"),
    ],
)
def test_settings_that_cannot_work_are_refused(clock: Clock, options: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=r"must be|REQUESTS") as raised:
        limiter(clock, **options)  # type: ignore[arg-type]
    assert says in str(raised.value)


def test_a_negative_max_wait_is_refused(clock: Clock) -> None:
    with pytest.raises(ValueError, match="max_wait -1 must be 0 or more"):
        limiter(clock).acquire(max_wait=-1)


# -- stores from DM_EMAIL_LIMITER_URL ------------------------------------------------


def test_open_store_makes_each_kind(tmp_path: Path) -> None:
    assert isinstance(open_store("memory"), MemoryStore)
    redis_store = open_store("redis://127.0.0.1:6379/0")  # connects on first use only
    assert isinstance(redis_store, RedisStore)
    redis_store.client.close()
    sql_store = open_store(f"sqlite:///{tmp_path / 'limits.sqlite3'}")
    assert isinstance(sql_store, SqlStore)
    assert sql_store.take_daily("notify:s", 1)  # its table exists
    sql_store.database.engine.dispose()


def test_open_store_names_the_setting_and_never_the_password() -> None:
    with pytest.raises(ValueError, match="DM_EMAIL_LIMITER_URL: 'mysql' is not a limiter store") as raised:
        open_store("mysql://user:hunter2@db/limits")
    assert "hunter2" not in str(raised.value)


def test_the_redis_package_is_needed_only_for_a_redis_store() -> None:
    script = (
        "import sys; sys.modules['redis'] = None\n"  # as if the [redis] extra were not installed
        "from flask_dm_email.pacing import open_store\n"
        "import flask_dm_email.pacing.redis\n"
        "open_store('memory')\n"
        "try:\n"
        "    open_store('redis://127.0.0.1:6379/0')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "pip install 'flask-dm-email[redis]'" in result.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+ warns of fork with threads
def test_a_child_forked_while_a_thread_holds_the_booking_turn_books_its_own_slots() -> None:
    """gunicorn --preload: the parent forks while one of its worker threads holds the
    booking turn. That thread does not exist in the child, and a turn copied held was
    never given back: every email the child tried to send waited its max_wait, unsent."""
    import threading
    import time

    holding, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        if not release.is_set():
            holding.set()  # the booking thread waits here, holding the turn
            release.wait(30)
        else:
            time.sleep(seconds)

    # 1.96 a second, no burst: a fresh key's first slot is 1.02 s away, past the horizon.
    pacer = Limiter(MemoryStore(), "notify:s", "120/60", burst=0, sleep=sleep)
    booker = threading.Thread(target=pacer.acquire, kwargs={"max_wait": 30, "horizon": 0.5})
    booker.start()
    assert holding.wait(5)
    child = os.fork()
    if child == 0:  # the child: book one slot within 3 s, as a worker thread would
        code = 1
        try:
            release.set()
            pacer.acquire(max_wait=3, horizon=0.5)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    release.set()
    booker.join(10)
    assert os.waitstatus_to_exitcode(status) == 0, "the child could not book a slot"
