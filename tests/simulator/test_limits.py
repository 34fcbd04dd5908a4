"""Rate limit (token bucket) and daily limit, NOTIFY_API.md §4."""

from __future__ import annotations

import time

import pytest
import requests

from flask_dm_email.simulator import SimulatorServer
from flask_dm_email.simulator.limits import DailyCounter, RateLimiter, TokenBucket, bucket_capacity

from .helpers import call, token_for, v2_error


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_fresh_default_bucket_allows_999_then_50_per_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    allowed = [limiter.allow("s", "normal", 3000) for _ in range(1000)]
    assert allowed.count(True) == 999 and allowed[-1] is False
    assert not limiter.allow("s", "normal", 3000)
    clock.now += 1.0  # 50 tokens come back
    burst = [limiter.allow("s", "normal", 3000) for _ in range(60)]
    assert 48 <= burst.count(True) <= 50


def test_buckets_are_per_service_and_key_type() -> None:
    limiter = RateLimiter(FakeClock())
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
def slow_service(sim: SimulatorServer) -> dict[str, object]:
    service = sim.add_service(name="Slow", rate_limit=30, api_keys=[{"type": "test"}, {"type": "team"}])
    service["template"] = sim.add_template(service["id"], name="T", subject="S", body="B")
    return service


def test_over_http_the_rate_limit_applies_before_validation(sim: SimulatorServer,
                                                            slow_service: dict[str, object]) -> None:
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
    time.sleep(4.1)  # 0.5 tokens a second: two more requests' worth
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
