"""Every store behaves the same: the same reservations, push-back, daily count and
snapshot, on memory, SQLite, PostgreSQL and Redis.

Shared stores decide with their own clock, so a slot is checked by bracketing: the
store's "now" lies between the test's clock read before and after the call. The checks
therefore hold however slow the machine is; nothing here waits.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from flask_dm_email.pacing import LimiterWaitTooLong, MemoryStore
from flask_dm_email.pacing.daily import utc_day

from .conftest import Case

RATE, BURST = 2.0, 3  # an interval of 0.5 s: every wait below is far longer than a call
INTERVAL = 1 / RATE
CLOCK_STEP = 0.002  # SQLite's clock moves in milliseconds


@dataclass
class Timed:
    """A reservation's wait, and the test's clock just before and after it was made."""

    wait: float
    before: float
    after: float


def reserve(case: Case, key: str, rate: float = RATE, burst: int = BURST, max_wait: float = 100.0) -> Timed:
    before = case.clock()
    wait = case.store.reserve(key, rate, burst, max_wait)
    return Timed(wait, before, case.clock())


def refused(case: Case, key: str, max_wait: float) -> Timed:
    """A reservation that must be refused, timed as if it had been given its slot."""
    before = case.clock()
    with pytest.raises(LimiterWaitTooLong) as raised:
        case.store.reserve(key, RATE, BURST, max_wait)
    assert raised.value.key == key
    assert raised.value.max_wait == max_wait
    return Timed(raised.value.wait, before, case.clock())


def assert_slots_apart(first: Timed, second: Timed, gap: float) -> None:
    """``second``'s slot (its "now" plus its wait) is ``gap`` seconds after ``first``'s."""
    least = (second.before + second.wait) - (first.after + first.wait)
    most = (second.after + second.wait) - (first.before + first.wait)
    assert least - CLOCK_STEP <= gap <= most + CLOCK_STEP, (least, gap, most)


# -- reservations --------------------------------------------------------------------


def test_a_new_key_waits_two_intervals_then_slots_follow_in_arrival_order(case: Case, key: str) -> None:
    first = reserve(case, key)
    assert first.wait == pytest.approx(2 * INTERVAL, abs=1e-6)
    for n in range(1, 4):
        assert_slots_apart(first, reserve(case, key), n * INTERVAL)


def test_a_refused_reservation_raises_and_takes_no_slot(case: Case, key: str) -> None:
    first = reserve(case, key)
    refusal = refused(case, key, max_wait=0.5)
    assert refusal.wait > 0.5
    assert_slots_apart(first, reserve(case, key), INTERVAL)


def test_a_refused_first_reservation_still_starts_the_key(case: Case, key: str) -> None:
    refusal = refused(case, key, max_wait=0.1)  # the first slot is 2 intervals (1 s) away
    snapshot = case.store.snapshot(key)
    assert (snapshot["rate"], snapshot["burst"], snapshot["tokens"]) == (RATE, BURST, 0.0)
    assert_slots_apart(refusal, reserve(case, key), 0.0)


def test_a_push_back_drops_the_burst_and_adds_two_intervals(case: Case, key: str) -> None:
    first = reserve(case, key)
    case.store.push_back(key, RATE, BURST)
    # Without it the next slot would be one interval on; with it, burst + 3.
    assert_slots_apart(first, reserve(case, key), (BURST + 3) * INTERVAL)


def test_a_push_back_on_a_new_key_starts_it_like_a_reservation(case: Case, key: str) -> None:
    before = case.clock()
    case.store.push_back(key, RATE, BURST)
    after = reserve(case, key)
    assert 2 * INTERVAL - (after.after - before) - CLOCK_STEP <= after.wait <= 2 * INTERVAL + CLOCK_STEP


def test_a_key_counted_daily_first_still_starts_without_burst_credit(case: Case, key: str) -> None:
    assert case.store.take_daily(key, 10)
    assert reserve(case, key).wait == pytest.approx(2 * INTERVAL, abs=1e-6)
    assert case.store.snapshot(key)["daily_used"] == 1


def test_a_key_paced_differently_elsewhere_is_warned_about_once_per_setting(
    case: Case, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="flask_dm_email.pacing")
    reserve(case, key)
    reserve(case, key)
    assert not caplog.records
    reserve(case, key, rate=2 * RATE)  # another app's setting...
    reserve(case, key)  # ...and back: each sees the other's
    reserve(case, key, rate=2 * RATE)
    reserve(case, key)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert key in messages[0]
    assert "paced at 2 requests/s with burst 3" in messages[0]
    assert "this one uses 4/s with burst 3" in messages[0]
    assert "DM_NOTIFY_RATE_LIMIT" in messages[0]


# -- the daily count -----------------------------------------------------------------


def test_the_daily_count_stops_at_the_limit_and_takes_back_what_notify_did_not_store(
    case: Case, key: str
) -> None:
    assert [case.store.take_daily(key, 3) for _ in range(4)] == [True, True, True, False]
    case.store.give_back_daily(key)
    assert case.store.snapshot(key)["daily_used"] == 2
    assert case.store.take_daily(key, 3)
    assert not case.store.take_daily(key, 3)


def test_the_daily_count_starts_again_on_a_new_utc_day(case: Case, key: str) -> None:
    assert case.store.take_daily(key, 2)
    assert case.store.take_daily(key, 2)
    assert not case.store.take_daily(key, 2)
    case.next_day(key)
    assert case.store.snapshot(key)["daily_used"] == 0
    assert case.store.take_daily(key, 2)
    assert case.store.snapshot(key)["daily_used"] == 1


def test_giving_back_never_counts_below_zero(case: Case, key: str) -> None:
    case.store.give_back_daily(key)
    case.store.give_back_daily(key)
    assert case.store.take_daily(key, 1)
    assert not case.store.take_daily(key, 1)


def test_threads_together_never_count_past_the_daily_limit(case: Case, key: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: case.store.take_daily(key, 20), range(60)))
    assert taken.count(True) == 20
    assert case.store.snapshot(key)["daily_used"] == 20


# -- snapshots -----------------------------------------------------------------------


def test_a_snapshot_of_an_unused_key_has_no_budget_yet(case: Case, key: str) -> None:
    days = {utc_day(time.time())}
    snapshot = case.store.snapshot(key)
    days.add(utc_day(time.time()))  # in case midnight passed
    assert snapshot["day"] in days
    assert {k: v for k, v in snapshot.items() if k != "day"} == {
        "rate": None, "burst": None, "tokens": None, "wait": None, "daily_used": 0,
    }


def test_a_snapshot_shows_the_budget_and_changes_nothing(case: Case, key: str) -> None:
    first = reserve(case, key)
    reserve(case, key)
    reserve(case, key)
    snapshot = case.store.snapshot(key)
    read = case.clock()
    assert (snapshot["rate"], snapshot["burst"], snapshot["tokens"]) == (RATE, BURST, 0.0)
    # The fourth caller would get the slot five intervals after the key started.
    assert snapshot["wait"] is not None
    assert 5 * INTERVAL - (read - first.before) - CLOCK_STEP <= snapshot["wait"] <= 5 * INTERVAL + CLOCK_STEP
    assert_slots_apart(first, reserve(case, key), 3 * INTERVAL)


def test_memory_hands_concurrent_threads_one_slot_each() -> None:
    store = MemoryStore(clock=lambda: 1000.0)  # time stands still: every wait shows its slot
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda _: store.reserve("notify:x", 10.0, 0, 1000.0), range(400)))
    assert sorted(round(w * 10) for w in waits) == list(range(2, 402))
