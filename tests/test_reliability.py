"""Under Notify outages, rate limits and lost responses, nothing is lost and nothing is
sent twice. Runs against the simulator over real HTTP with fault injection."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_dm_email import EmailError, SentEmail, send_email

TIMEOUT = 0.3
SENDS = 1000
THREADS = 8


def test_a_thousand_sends_through_faults(make_app: Callable[..., Flask], notify_simulator: Any) -> None:
    sim = notify_simulator
    service = sim.add_service(name="Faulty", rate_limit=1_000_000, restricted=False)
    key = sim.create_api_key(service_id=service["id"], key_type="test")
    template = sim.add_template(service_id=service["id"], name="T", subject="Hi ((name))", body="Hello ((name))")
    app = make_app(
        DM_ENVIRONMENT="test",
        DM_EMAIL_BACKEND="notify",
        DM_NOTIFY_KEY=key,
        DM_NOTIFY_BASE_URL=sim.url,
        DM_NOTIFY_TIMEOUT=TIMEOUT,
        DM_NOTIFY_MAX_ATTEMPTS=5,
        DM_NOTIFY_RETRY_BACKOFF=0.005,
        DM_NOTIFY_RETRY_MAX_BACKOFF=0.02,
        DM_NOTIFY_RETRY_DEADLINE=10,
        DM_NOTIFY_RATE_LIMIT="1000000/60",  # the service's own limit: the faults are the test here
    )
    # 30% of POSTs answered 5xx, 10% 429, 5% hang past the client's timeout after the
    # notification is stored (the response is lost, the email is not).
    sim.set_faults(
        seed=2026,
        error_rate=0.15,
        unavailable_rate=0.15,
        rate_limit_rate=0.10,
        hang_rate=0.05,
        hang_seconds=TIMEOUT + 0.2,
        hang_when="after_store",
    )
    successes: dict[str, SentEmail] = {}
    failures: dict[str, EmailError] = {}
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with app.app_context():
            for i in range(n, SENDS, THREADS):
                try:
                    result = send_email(f"person{i}@gov.uk", template, {"name": str(i)})
                except EmailError as error:
                    with lock:
                        failures[str(i)] = error
                except BaseException as error:
                    with lock:
                        unexpected.append(error)
                else:
                    with lock:
                        successes[result.reference] = result

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sim.clear_faults()

    assert unexpected == []
    assert len(successes) + len(failures) == SENDS
    messages = sim.messages()
    per_reference = Counter(m["reference"] for m in messages)
    # At most one notification per reference: nothing was sent twice.
    assert max(per_reference.values()) == 1
    # Every reported success was stored, with the id the caller was given.
    by_reference = {m["reference"]: m["id"] for m in messages}
    for reference, result in successes.items():
        assert by_reference.get(reference) == result.id
    # Every failure says what happened and carries its reference for a safe retry.
    for error in failures.values():
        assert error.reference
        assert error.__class__.__name__ in {
            "EmailOutcomeUnknownError",
            "EmailUnavailableError",
            "EmailRateLimitError",
        }
    # With five attempts, most sends get through the faults.
    assert len(successes) > SENDS * 0.9


@pytest.mark.parametrize("when", ["after_store", "before_store"])
def test_retrying_a_failed_send_later_never_duplicates(
    make_app: Callable[..., Flask], notify_simulator: Any, when: str
) -> None:
    sim = notify_simulator
    app = make_app(
        DM_ENVIRONMENT="test",
        DM_EMAIL_BACKEND="notify",
        DM_NOTIFY_KEY=sim.create_api_key(key_type="test"),
        DM_NOTIFY_BASE_URL=sim.url,
        DM_NOTIFY_TIMEOUT=TIMEOUT,
        DM_NOTIFY_MAX_ATTEMPTS=1,
        DM_NOTIFY_RETRY_DEADLINE=0,
    )
    template = sim.add_template(name="T", subject="S", body="B")
    sim.set_faults(hang_rate=1.0, hang_seconds=TIMEOUT + 0.2, hang_when=when)
    with app.app_context():
        if when == "after_store":
            # Stored, response lost: the one lookup made before giving up finds it.
            first = send_email("person@gov.uk", template)
            reference = first.reference
        else:
            with pytest.raises(EmailError) as info:
                send_email("person@gov.uk", template)
            reference = info.value.reference or ""
        sim.clear_faults()
        retried = send_email("person@gov.uk", template, allow_resend=False)
    assert retried.reference == reference
    assert retried.already_sent == (when == "after_store")
    assert len([m for m in sim.messages() if m["reference"] == retried.reference]) == 1
