"""Rate limit (token bucket) and daily limit, NOTIFY_API.md §4."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.simulator.limits import DailyCounter, ManualClock, RateLimiter, TokenBucket, bucket_capacity

from .conftest import DELIVERY_DELAY
from .helpers import call, token_for, v2_error


def test_a_fresh_default_bucket_allows_999_then_50_per_second() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    allowed = [limiter.allow("s", "normal", 3000) for _ in range(1000)]
    assert allowed.count(True) == 999 and allowed[-1] is False
    assert not limiter.allow("s", "normal", 3000)
    clock.now += 1.0  # 50 tokens come back
    burst = [limiter.allow("s", "normal", 3000) for _ in range(60)]
    assert 48 <= burst.count(True) <= 50


def test_buckets_are_per_service_and_key_type() -> None:
    limiter = RateLimiter(ManualClock())
    for _ in range(10):
        limiter.allow("s", "normal", 30)
    assert not limiter.allow("s", "normal", 30)
    assert limiter.allow("s", "team", 30)
    assert limiter.allow("t", "normal", 30)


def test_capacity() -> None:
    assert bucket_capacity(3000) == 1000
    assert bucket_capacity(30) == 11
    assert TokenBucket(30, 0).take(0)


def test_the_daily_counter_resets_with_the_utc_date() -> None:
    days = iter(["2026-01-01", "2026-01-01", "2026-01-02"])
    counter = DailyCounter(today=lambda: next(days))  # type: ignore[arg-type,return-value]
    counter.increment("s")
    assert counter.would_exceed("s", 1)
    assert not counter.would_exceed("s", 1)


def post_raw(sim: SimulatorServer, key: str, body: object) -> requests.Response:
    return call(sim, "POST", "/v2/notifications/email", key=key, json=body)


@pytest.fixture
def clock() -> ManualClock:
    """The rate limit's clock, moved by hand."""
    return ManualClock()


@pytest.fixture
def clocked_sim(clock: ManualClock) -> Iterator[SimulatorServer]:
    """A simulator whose token buckets refill only when ``clock`` is advanced."""
    with SimulatorServer(delivery_delay=DELIVERY_DELAY, rate_clock=clock) as server:
        yield server


@pytest.fixture
def slow_service(clocked_sim: SimulatorServer) -> dict[str, object]:
    service = clocked_sim.add_service(name="Slow", rate_limit=30, api_keys=[{"type": "test"}, {"type": "team"}])
    service["template"] = clocked_sim.add_template(service["id"], name="T", subject="S", body="B")
    return service


def test_over_http_the_rate_limit_applies_before_validation(clocked_sim: SimulatorServer, clock: ManualClock,
                                                            slow_service: dict[str, object]) -> None:
    sim = clocked_sim
    keys = {item["type"]: item["key"] for item in slow_service["api_keys"]}  # type: ignore[attr-defined]
    body = {"email_address": "a@example.com", "template_id": slow_service["template"]}
    session = requests.Session()
    statuses = []
    for _ in range(12):
        response = session.post(f"{sim.url}/v2/notifications/email", json=body,
                                headers={"Authorization": f"Bearer {token_for(keys['test'])}"}, timeout=5)
        statuses.append(response.status_code)
    # rate_limit 30 gives an 11-token bucket: 10 immediate requests.
    assert statuses[:10] == [201] * 10 and statuses[10:] == [429, 429]
    # Even a request that would fail validation gets the 429.
    v2_error(post_raw(sim, keys["test"], {"nonsense": True}), 429, "RateLimitError",
             "Exceeded rate limit for key type TEST of 30 requests per 60 seconds")
    # The team key has its own bucket.
    assert post_raw(sim, keys["team"], {"nonsense": True}).status_code == 400
    # The 11th to 13th requests left 0 tokens; at 0.5 a second, 4 seconds give 2: one request.
    clock.advance(3.9)
    assert post_raw(sim, keys["test"], body).status_code == 429
    clock.advance(4.0)
    assert post_raw(sim, keys["test"], body).status_code == 201


@pytest.mark.parametrize(("key_type", "label"), [("normal", "LIVE"), ("team", "TEAM"), ("test", "TEST")])
def test_the_message_names_the_key_type(sim: SimulatorServer, key_type: str, label: str) -> None:
    sim.set_faults(force_429=1)
    v2_error(post_raw(sim, sim.api_key(key_type), {}), 429, "RateLimitError",
             f"Exceeded rate limit for key type {label} of 3000 requests per 60 seconds")


def test_get_requests_are_not_rate_limited(sim: SimulatorServer) -> None:
    sim.set_faults(force_429="always")
    assert call(sim, "GET", "/v2/notifications", key=sim.api_key()).status_code == 200


def test_daily_limit_is_shared_by_team_and_live_keys_and_ignores_test_keys(sim: SimulatorServer) -> None:
    service = sim.add_service(name="Daily", email_message_limit=2, team_members=["a@example.com"],
                              api_keys=[{"type": "test"}, {"type": "team"}, {"type": "normal"}])
    template = sim.add_template(service["id"], name="T", subject="S", body="B")
    keys = {item["type"]: item["key"] for item in service["api_keys"]}
    body = {"email_address": "a@example.com", "template_id": template}
    assert post_raw(sim, keys["team"], body).status_code == 201
    assert post_raw(sim, keys["normal"], body).status_code == 201
    for _ in range(3):
        assert post_raw(sim, keys["test"], body).status_code == 201
    v2_error(post_raw(sim, keys["normal"], {"invalid": 1}), 429, "TooManyRequestsError",
             "Exceeded send limits (email: 2) for today")
    v2_error(post_raw(sim, keys["team"], body), 429, "TooManyRequestsError",
             "Exceeded send limits (email: 2) for today")


def test_failed_sends_do_not_count(sim: SimulatorServer) -> None:
    service = sim.add_service(name="Daily", email_message_limit=1, api_keys=[{"type": "normal"}])
    template = sim.add_template(service["id"], name="T", subject="S", body="B")
    key = service["api_keys"][0]["key"]
    assert post_raw(sim, key, {"email_address": "bad", "template_id": template}).status_code == 400
    assert post_raw(sim, key, {"email_address": "a@example.com", "template_id": template}).status_code == 201
    assert post_raw(sim, key, {"email_address": "a@example.com", "template_id": template}).status_code == 429


def test_bucket_tokens_drains_every_bucket_until_it_refills(clocked_sim: SimulatorServer, clock: ManualClock,
                                                            template_id_for_clocked: str) -> None:
    sim = clocked_sim
    other = sim.add_service(name="Other", api_keys=[{"type": "test"}])
    other_template = sim.add_template(other["id"], name="T", subject="S", body="B")
    body = {"email_address": "a@example.com", "template_id": template_id_for_clocked}
    assert post_raw(sim, sim.api_key("test"), body).status_code == 201  # a bucket that exists already
    requests.post(f"{sim.url}/_simulator/faults", json={"bucket_tokens": 0}, timeout=5).raise_for_status()
    v2_error(post_raw(sim, sim.api_key("test"), body), 429, "RateLimitError",
             "Exceeded rate limit for key type TEST of 3000 requests per 60 seconds")
    assert post_raw(sim, sim.api_key("team"), {}).status_code == 429  # a bucket made after the knob
    assert post_raw(sim, other["api_keys"][0]["key"],
                    {"email_address": "a@example.com", "template_id": other_template}).status_code == 429
    # Clearing the faults does not refill the buckets.
    cleared = requests.delete(f"{sim.url}/_simulator/faults", timeout=5).json()
    assert cleared["bucket_tokens"] == 0
    assert post_raw(sim, sim.api_key("test"), body).status_code == 429
    clock.advance(1.0)  # 50 tokens a second at 3000 a minute
    assert post_raw(sim, sim.api_key("test"), body).status_code == 201


def test_bucket_tokens_n_allows_n_minus_one_and_refusals_still_spend_a_token(
    clocked_sim: SimulatorServer, clock: ManualClock
) -> None:
    sim = clocked_sim
    service = sim.add_service(name="Minute", rate_limit=60, api_keys=[{"type": "test"}])  # 1 token a second
    key = service["api_keys"][0]["key"]
    body = {"email_address": "a@example.com",
            "template_id": sim.add_template(service["id"], name="T", subject="S", body="B")}
    sim.set_faults(bucket_tokens=3)
    assert [post_raw(sim, key, body).status_code for _ in range(3)] == [201, 201, 429]
    clock.advance(1.5)  # 1.5 tokens: one request takes one, leaving 0.5, which is refused
    assert post_raw(sim, key, body).status_code == 429
    clock.advance(1.0)  # 1.5 again only because the refusal spent a token (else 2.5 and allowed)
    assert post_raw(sim, key, body).status_code == 429
    clock.advance(1.5)  # 0.5 + 1.5 = 2 tokens: one request leaves 1, enough
    assert post_raw(sim, key, body).status_code == 201


def test_reset_refills_the_buckets(clocked_sim: SimulatorServer, template_id_for_clocked: str) -> None:
    clocked_sim.set_faults(bucket_tokens=0)
    clocked_sim.reset()
    template = clocked_sim.add_template(name="T", subject="S", body="B")
    body = {"email_address": "a@example.com", "template_id": template}
    assert post_raw(clocked_sim, clocked_sim.api_key(), body).status_code == 201
    assert clocked_sim.set_faults()["bucket_tokens"] is None


@pytest.fixture
def template_id_for_clocked(clocked_sim: SimulatorServer) -> str:
    return clocked_sim.add_template(name="T", subject="S", body="B")


def test_bucket_tokens_in_the_config_file_starts_drained(clock: ManualClock) -> None:
    with SimulatorServer({"faults": {"bucket_tokens": 0}}, rate_clock=clock) as sim:
        body = {"email_address": "a@example.com", "template_id": sim.add_template(name="T", subject="S", body="B")}
        assert post_raw(sim, sim.api_key(), body).status_code == 429
        assert sim.stats["rate_limited"] == 1
        clock.advance(1.0)
        assert post_raw(sim, sim.api_key(), body).status_code == 201
