"""The pure pacing core, model-checked: over any arrivals, no window holds more than the
burst plus the rate, and Notify's own bucket (modelled separately in
``notify_bucket.py``), even starting drained, never refuses what the limiter admits."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_dm_email.pacing import PACE, paced_rate, parse_rate
from flask_dm_email.pacing.gcra import Decision, fresh_tat, push_back, reserve, state_at

from .notify_bucket import NotifyBucket
from .windows import busiest

START = 1_700_000_000.0  # epoch seconds, so float precision is the stores' own


def near(expected: object) -> Any:
    """Equal up to the rounding of epoch-sized floats (a few tenths of a microsecond)."""
    return pytest.approx(expected, abs=1e-6)


# -- parse_rate ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("3000/60", (3000, 60.0)), (" 50 / 1 ", (50, 1.0)), ("1/0.5", (1, 0.5))]
)
def test_parse_rate_reads_requests_per_seconds(text: str, expected: tuple[int, float]) -> None:
    assert parse_rate(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("3000", "REQUESTS/SECONDS"),
        ("3000/60/1", "REQUESTS/SECONDS"),
        ("-1/60", "REQUESTS/SECONDS"),
        ("1.5/60", "whole requests"),
        ("nan/60", "REQUESTS/SECONDS"),
        ("0/60", "at least 1"),
        ("3000/0", "above 0"),
        ("3000/0.0", "above 0"),
    ],
)
def test_parse_rate_says_what_is_wrong_and_shows_a_valid_rate(text: str, says: str) -> None:
    with pytest.raises(ValueError, match="'3000/60'") as raised:
        parse_rate(text)
    assert says in str(raised.value)
    assert repr(text) in str(raised.value)


def test_parse_rate_refuses_what_is_not_text() -> None:
    with pytest.raises(ValueError, match="not int"):
        parse_rate(3000)  # type: ignore[arg-type]


def test_the_limiter_sends_at_98_percent_of_the_configured_rate() -> None:
    assert PACE == 0.98
    assert paced_rate(3000, 60) == near(49.0)


# -- single decisions ----------------------------------------------------------------


def test_a_new_key_has_no_burst_credit_and_waits_two_intervals() -> None:
    decision = reserve(None, START, rate=10.0, burst=5, max_wait=1.0)
    assert decision == Decision(admitted=True, wait=near(0.2), tat=near(START + 0.8))
    assert state_at(fresh_tat(START, 10.0, 5), START, 10.0, 5) == (0.0, near(0.2))


def test_reservations_are_slots_in_arrival_order() -> None:
    tat = None
    waits = []
    for _ in range(4):  # four callers at the same instant
        decision = reserve(tat, START, rate=10.0, burst=0, max_wait=10.0)
        waits.append(decision.wait)
        tat = decision.tat
    assert waits == near([0.2, 0.3, 0.4, 0.5])


def test_after_a_quiet_spell_burst_plus_one_go_at_once_then_the_pace() -> None:
    tat = START  # the last slot was long ago relative to now
    now = START + 100
    waits = []
    for _ in range(5):
        decision = reserve(tat, now, rate=10.0, burst=3, max_wait=10.0)
        waits.append(decision.wait)
        tat = decision.tat
    assert waits == near([0, 0, 0, 0, 0.1])
    assert state_at(START, now, 10.0, 3) == (4.0, 0.0)


def test_a_refused_reservation_takes_no_slot() -> None:
    busy = START + 5.0
    refused = reserve(busy, START, rate=10.0, burst=0, max_wait=1.0)
    assert refused == Decision(admitted=False, wait=near(5.0), tat=busy)
    assert reserve(refused.tat, START, rate=10.0, burst=0, max_wait=9.0).wait == near(5.0)


def test_a_new_key_refused_is_still_started() -> None:
    # A slow rate: the first slot is 2 s away, more than this caller waits. The refusal
    # keeps the started state, so the key's clock runs and a later caller gets a slot.
    refused = reserve(None, START, rate=1.0, burst=0, max_wait=1.0)
    assert not refused.admitted
    assert refused.tat == fresh_tat(START, 1.0, 0)
    assert reserve(refused.tat, START + 1.5, rate=1.0, burst=0, max_wait=1.0).admitted


def test_push_back_drops_the_burst_and_waits_two_intervals_from_now_or_the_last_slot() -> None:
    assert push_back(START - 50, START, rate=10.0, burst=4) == near(START + 0.6)
    assert push_back(START + 3, START, rate=10.0, burst=4) == near(START + 3.6)
    assert push_back(None, START, rate=10.0, burst=4) == fresh_tat(START, 10.0, 4)
    pushed = push_back(START - 50, START, rate=10.0, burst=4)
    assert reserve(pushed, START, rate=10.0, burst=4, max_wait=1.0).wait == near(0.2)


# -- the model check -----------------------------------------------------------------


@dataclass
class Arrival:
    gap: float  # seconds since the previous arrival
    max_wait: float
    push_back_first: bool  # a 429 was reported just before this arrival


@st.composite
def traffic(draw: st.DrawFn, *, push_backs: bool = True) -> tuple[int, int, list[Arrival]]:
    """(Notify's per-minute rate limit, burst, arrivals): gaps from simultaneous, through
    around the pace, to quiet spells long enough to refill everything."""
    rate_limit = draw(st.integers(60, 6000))
    capacity = min(math.ceil(rate_limit / 3) + 1, 1000)
    burst = draw(st.integers(0, min(capacity - 3, 60)))
    interval = 60 / rate_limit
    gap = st.one_of(
        st.just(0.0),
        st.floats(0, 3).map(lambda k: k * interval),
        st.floats(0, 120),
    )
    max_wait = st.one_of(st.just(math.inf), st.floats(0, 20).map(lambda k: k * interval))
    arrival = st.builds(Arrival, gap, max_wait, st.booleans() if push_backs else st.just(False))
    return rate_limit, burst, draw(st.lists(arrival, min_size=1, max_size=300))


def run(
    rate: float, burst: int, arrivals: list[Arrival], start: float, tat: float | None = None
) -> tuple[list[float], float | None]:
    """Feed the arrivals to the pure core; return when each admitted request goes, and
    the final tat."""
    admitted: list[float] = []
    now = start
    for arrival in arrivals:
        now += arrival.gap
        if arrival.push_back_first:
            tat = push_back(tat, now, rate, burst)
        decision = reserve(tat, now, rate, burst, arrival.max_wait)
        if decision.admitted:
            admitted.append(now + decision.wait)
        else:
            assert decision.tat == (tat if tat is not None else fresh_tat(now, rate, burst))
        tat = decision.tat
    assert admitted == sorted(admitted), "slots are handed out in arrival order"
    return admitted, tat


@settings(max_examples=300, deadline=None)
@given(traffic())
def test_no_window_holds_more_than_the_burst_plus_the_rate(case: tuple[int, int, list[Arrival]]) -> None:
    rate_limit, burst, arrivals = case
    rate = paced_rate(rate_limit, 60)
    admitted, _ = run(rate, burst, arrivals, START)
    for window in (1 / rate, 7.3 / rate, 1.0, 60.0):
        # "at most burst + rate × window", whole requests: strictly under that plus one.
        assert busiest(admitted, window) < burst + rate * window + 1


@settings(max_examples=300, deadline=None)
@given(traffic(push_backs=False))
def test_a_drained_notify_bucket_never_refuses_a_new_key(case: tuple[int, int, list[Arrival]]) -> None:
    rate_limit, burst, arrivals = case
    bucket = NotifyBucket(rate_limit, tokens=0, now=START)  # another sender emptied it
    for at in run(paced_rate(rate_limit, 60), burst, arrivals, START)[0]:
        assert bucket.request(at), f"Notify refused a request {at - START:.6f} s in"


@settings(max_examples=300, deadline=None)
@given(traffic(), traffic(push_backs=False), st.floats(0, 5))
def test_after_a_429_and_push_back_notify_refuses_nothing_more(
    before: tuple[int, int, list[Arrival]], after: tuple[int, int, list[Arrival]], pause: float
) -> None:
    rate_limit, burst, history = before
    rate = paced_rate(rate_limit, 60)
    admitted, tat = run(rate, burst, history, START)  # any earlier traffic, leaving any tat
    # Notify answers 429 once every earlier request has gone: its bucket is empty then.
    refused_at = max([START + sum(a.gap for a in history), *admitted]) + pause
    bucket = NotifyBucket(rate_limit, tokens=0, now=refused_at)
    pushed = push_back(tat, refused_at, rate, burst)
    for at in run(rate, burst, after[2], refused_at, tat=pushed)[0]:
        assert bucket.request(at), f"Notify refused a request {at - refused_at:.6f} s after the 429"


def test_the_model_catches_a_key_that_starts_with_its_burst_already_used() -> None:
    # Without the two empty-bucket slots (tat = now + burst interval only), the first
    # request goes at once into a drained bucket and is refused: the checks above can fail.
    rate_limit, burst = 3000, 10
    rate = paced_rate(rate_limit, 60)
    bucket = NotifyBucket(rate_limit, tokens=0, now=START)
    admitted, _ = run(rate, burst, [Arrival(0.0, math.inf, False)] * 50, START, tat=START + burst / rate)
    assert not all(bucket.request(at) for at in admitted)


def test_the_model_counts_a_burst_into_a_drained_bucket_as_refusals() -> None:
    rate_limit, burst = 3000, 10
    rate = paced_rate(rate_limit, 60)
    bucket = NotifyBucket(rate_limit, tokens=0, now=START)
    with_credit = START - 3600.0  # the limiter was idle: full burst credit
    for at in run(rate, burst, [Arrival(0.0, math.inf, False)] * 200, START, tat=with_credit)[0]:
        bucket.request(at)
    assert bucket.refused > burst


def test_a_full_notify_bucket_allows_999_at_once_as_notify_documents() -> None:
    bucket = NotifyBucket(3000, tokens=1000, now=0.0)
    assert [bucket.request(0.0) for _ in range(1000)].count(True) == 999


def test_a_drained_notify_bucket_refuses_until_two_tokens_have_refilled() -> None:
    bucket = NotifyBucket(3000, tokens=0, now=0.0)  # 50 tokens a second
    assert not bucket.request(0.039)  # 1.95 tokens: 0.95 left, refused, and it took one
    assert bucket.request(0.039 + 0.041)  # 0.95 + 2.05 = 3.0: 2.0 left
