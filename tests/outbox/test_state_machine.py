"""Random interleavings of claims, sends, faults, stalled workers, lease expiry, receipts,
cancels and retries, on the real outbox store (SQLite), against a model of Notify that
can store and lose answers, refuse, and hold requests in flight.

Invariants: Notify never stores two notifications for one row (per generation); a final
status never changes except by an operator's retry; in the end every row is final, with
Notify, or waiting to be due — none is stuck in flight.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import RowMapping, update

from flask_dm_email import DMEmail, OutboxStateError, queue_email
from flask_dm_email.attempts import Attempt, Outcome
from flask_dm_email.backends import OutgoingEmail
from flask_dm_email.errors import EmailRequestError
from flask_dm_email.outbox import states
from flask_dm_email.outbox.delivery import Delivery
from flask_dm_email.outbox.receipts import apply_notify_status
from flask_dm_email.outbox.tables import outbox as table
from flask_dm_email.state import get_state

SETTLES = 0.2  # how long a held request may stay in flight (the model's "75 s")
FAULTS = ["ok", "ok", "lost-after-store", "lost-before-store", "held", "held", "notify-5xx", "rate-limited", "400"]


@dataclass
class ModelNotify:
    """Notify, as far as the outbox can tell: stores by reference, may lose answers,
    may receive a held request late (but never after it settles)."""

    stored: dict[str, str] = field(default_factory=dict)  # notify id -> reference
    posts: Counter[str] = field(default_factory=Counter)  # reference -> notifications stored
    held: list[tuple[str, float]] = field(default_factory=list)  # (reference, lands before)
    faults: list[str] = field(default_factory=list)  # for the next posts, in order

    def _store(self, reference: str) -> str:
        notify_id = str(uuid.uuid4())
        self.stored[notify_id] = reference
        self.posts[reference] += 1
        return notify_id

    def post(self, email: OutgoingEmail) -> Attempt:
        fault = self.faults.pop(0) if self.faults else "ok"
        if fault == "ok":
            return Attempt(Outcome.SENT, response={"id": self._store(email.reference)}, status_code=201)
        if fault == "lost-after-store":
            self._store(email.reference)
            return Attempt(Outcome.MAYBE_SENT, error_class="ReadTimeout", settles_after=SETTLES)
        if fault == "lost-before-store":
            return Attempt(Outcome.MAYBE_SENT, error_class="ReadTimeout", settles_after=SETTLES)
        if fault == "held":
            self.held.append((email.reference, time.time() + SETTLES))
            return Attempt(Outcome.MAYBE_SENT, error_class="ReadTimeout", settles_after=SETTLES)
        if fault == "notify-5xx":
            return Attempt(Outcome.MAYBE_SENT, status_code=500, error_class="ServerError", settles_after=0.0)
        if fault == "rate-limited":
            return Attempt(Outcome.RATE_LIMITED, status_code=429, error_class="RateLimitError")
        error = EmailRequestError("refused", status_code=400)
        return Attempt(Outcome.FAILED, error=error, status_code=400, error_class="BadRequestError")

    def land_held(self) -> None:
        """Held requests arrive now, if they still can."""
        now = time.time()
        for reference, before in self.held:
            if now < before:
                self._store(reference)
        self.held.clear()

    def lookup(self, reference: str, since: object = None, *, email: object = None,
               any_status: bool = False) -> Mapping[str, Any] | None:
        for notify_id, stored in self.stored.items():
            if stored == reference:
                return {"id": notify_id, "reference": reference, "status": "created"}
        return None

    def find_sent(self, reference: str) -> Mapping[str, Any] | None:
        return self.lookup(reference)

    name = "notify"

    def send(self, email: OutgoingEmail) -> Mapping[str, Any]:  # pragma: no cover - the worker uses post
        raise AssertionError("the worker posts one attempt at a time")


class OutboxMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = Flask(__name__)
        self.app.config.update(
            DM_ENVIRONMENT="test",
            DM_NOTIFY_TEMPLATES={"welcome": "f33517ff-2a88-4f6e-b855-c550268ce08a"},
            DM_EMAIL_RETRY_SCHEDULE="0,0,0,0,0,0",
            DM_NOTIFY_CALLBACKS_ENABLED=False,
        )
        DMEmail(self.app)
        self.notify = ModelNotify()
        get_state(self.app).backend = self.notify  # type: ignore[assignment]
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.store = get_state(self.app).outbox.store  # type: ignore[union-attr]
        self.delivery = Delivery(self.app, get_state(self.app), self.store)
        self.claimed: list[RowMapping] = []  # held by a (possibly stalled) worker
        self.final_seen: dict[str, str] = {}
        self.ids: list[str] = []

    def teardown(self) -> None:
        try:
            # Let everything settle: stalled workers' leases expire, held requests land
            # or expire, and the worker runs until nothing is due.
            self.notify.land_held()
            self._expire_leases()
            deadline = time.time() + 5
            while time.time() < deadline:
                time.sleep(SETTLES)
                if not DMEmail.outbox.drain() and not self._in_flight():
                    break
            self.check_never_twice()
            for row_id in self.ids:
                status = self.store.get(row_id)["status"]
                assert status != states.SENDING, f"{row_id} stuck in flight"
                assert status in states.FINAL | states.WAITING | {states.SENT, states.NOTIFY_CREATED,
                                                                  states.NOTIFY_SENDING}
        finally:
            self.ctx.pop()

    def _in_flight(self) -> bool:
        return any(self.store.get(i)["status"] in (states.SENDING, states.RETRYING) for i in self.ids)

    def _expire_leases(self) -> None:
        with self.store.db.begin() as conn:
            conn.execute(update(table).where(table.c.status == states.SENDING).values(lease_expires_at=0))

    @initialize()
    def start(self) -> None:
        for _ in range(3):
            self.queue()

    @rule()
    def queue(self) -> None:
        self.ids.append(queue_email(f"p{len(self.ids)}@gov.uk", "welcome", {"name": "x"}).id)

    @rule(faults=st.lists(st.sampled_from(FAULTS), min_size=1, max_size=4))
    def notify_misbehaves(self, faults: list[str]) -> None:
        self.notify.faults = faults

    @rule()
    def a_worker_claims(self) -> None:
        self.claimed.extend(self.store.claim(2, 60))

    @precondition(lambda self: self.claimed)
    @rule(index=st.integers(0, 10), fault=st.sampled_from(FAULTS))
    def a_worker_delivers_what_it_claimed(self, index: int, fault: str) -> None:
        self.notify.faults.insert(0, fault)
        row = self.claimed.pop(index % len(self.claimed))
        self.delivery.deliver(row)

    @rule()
    def a_stalled_workers_lease_expires(self) -> None:
        self._expire_leases()

    @rule()
    def time_passes(self) -> None:
        time.sleep(SETTLES / 3)

    @rule()
    def held_requests_land(self) -> None:
        self.notify.land_held()

    @rule()
    def drain(self) -> None:
        DMEmail.outbox.drain(timeout=2)

    @precondition(lambda self: self.notify.stored)
    @rule(data=st.data(), status=st.sampled_from(["sending", "delivered", "permanent-failure", "temporary-failure"]))
    def a_receipt_arrives(self, data: st.DataObject, status: str) -> None:
        notify_id = data.draw(st.sampled_from(sorted(self.notify.stored)))
        apply_notify_status(self.app, self.store, notify_id=notify_id, reference=self.notify.stored[notify_id],
                            status=status, kind="receipt")

    @rule(data=st.data())
    def an_operator_cancels(self, data: st.DataObject) -> None:
        row_id = data.draw(st.sampled_from(self.ids))
        with contextlib.suppress(OutboxStateError):  # in flight or final: refused, as it should be
            DMEmail.outbox.cancel(row_id)

    @rule(data=st.data())
    def an_operator_retries(self, data: st.DataObject) -> None:
        row_id = data.draw(st.sampled_from(self.ids))
        try:
            DMEmail.outbox.retry(row_id)
        except OutboxStateError:  # only a failed email may be retried
            return
        self.final_seen.pop(row_id, None)

    @invariant()
    def check_never_twice(self) -> None:
        assert max(self.notify.posts.values(), default=0) <= 1, self.notify.posts.most_common(1)

    @invariant()
    def final_statuses_never_change(self) -> None:
        for row_id in self.ids:
            row = self.store.get(row_id)
            status = row["status"]
            if self.final_seen.get(row_id) == states.CANCELLED and status != states.CANCELLED:
                # Cancelled while its last attempt was unclear, and Notify had it after all:
                # the row tells the truth (and was never posted again: check_never_twice).
                assert row["maybe_sent"] and status in states.CANCELLED_MAY_MOVE, (row_id, status)
                assert row["notify_reference"] in self.notify.stored.values(), (row_id, status)
                del self.final_seen[row_id]
            if row_id in self.final_seen:
                assert status == self.final_seen[row_id], (row_id, self.final_seen[row_id], status)
            elif status in states.FINAL:
                self.final_seen[row_id] = status


OutboxMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestOutboxStateMachine = OutboxMachine.TestCase


def test_an_expired_lease_does_not_settle_an_earlier_unclear_attempt_early() -> None:
    """Found by the machine above: a held request, the row claimed again at once, that
    claim's lease expiring; the expiry must not declare the held request settled."""
    machine = OutboxMachine()
    machine.start()
    machine.a_worker_claims()
    machine.a_worker_delivers_what_it_claimed(index=0, fault="held")  # in flight for SETTLES
    machine.a_worker_claims()  # claimed again; the lookup would find nothing yet
    machine.a_stalled_workers_lease_expires()
    machine.drain()  # must not resend while the held request can still land
    machine.teardown()  # lands it, and checks that it was stored once
