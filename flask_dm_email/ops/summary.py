"""What the top of the status page shows: the outbox by status, the queue's age, the pause
flag, the shared rate budget and how the last 1,000 emails ended. Reading only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from ..outbox import bulk, states
from ..outbox.bulk import BatchStatus
from ..outbox.bulk_store import BatchStore
from ..outbox.runtime import OutboxRuntime
from ..outbox.store import Store
from ..outbox.tables import event, outbox
from ..state import DMEmailState

#: How many of the latest emails Notify finished the rates are over.
RECENT = 1000
#: How many of the newest batches the pages show.
BATCHES = 10


@dataclass(frozen=True)
class Rate:
    """One rate over the recent outcomes."""

    label: str
    count: int
    of: int

    @property
    def percent(self) -> str:
        return f"{100 * self.count / self.of:.1f}%" if self.of else "–"


@dataclass(frozen=True)
class Summary:
    counts: dict[str, int]
    total: int
    due: int
    oldest_due_age: float | None
    paused: bool
    paused_reason: str | None
    budget: dict[str, Any] | None
    outcomes: int
    rates: list[Rate]
    #: The newest batches' names (their progress is on the batches page: counting a
    #: 50,000-email batch by status costs as much as the rest of the summary).
    batch_names: list[str]


def _paused_reason(store: Store) -> str | None:
    with store.db.connect() as conn:
        return conn.execute(
            select(event.c.error_class)
            .where(event.c.outbox_id == "", event.c.type == "paused")
            .order_by(event.c.id.desc())
            .limit(1)
        ).scalar()


def _complaints(store: Store) -> int:
    """How many of the latest :data:`RECENT` emails Notify finished drew a complaint (the
    callbacks record each as a ``complaint`` event on its row)."""
    recent = (
        select(outbox.c.id)
        .where(outbox.c.service_id == store.service_id, outbox.c.status.in_(states.NOTIFY_OUTCOMES))
        .order_by(outbox.c.final_at.desc())
        .limit(RECENT)
        .subquery()
    )
    with store.db.connect() as conn:
        return int(conn.execute(
            select(func.count(func.distinct(event.c.outbox_id)))
            .where(event.c.type == "complaint", event.c.outbox_id.in_(select(recent.c.id)))
        ).scalar_one())


def recent_batches(runtime: OutboxRuntime) -> list[BatchStatus]:
    """The newest batches, each with its counts, rate and ETA."""
    return bulk.recent_batches(runtime, BATCHES)


def summarise(state: DMEmailState, runtime: OutboxRuntime) -> Summary:
    """The numbers at the top of the page (a handful of aggregate queries)."""
    store = runtime.store
    counts = store.counts()
    paused = store.paused()
    outcomes = store.recent_outcomes(RECENT)
    finished = sum(outcomes.values())
    rates = [
        Rate("Delivered", outcomes.get(states.DELIVERED, 0), finished),
        Rate("Permanent failure", outcomes.get(states.PERMANENT_FAILURE, 0), finished),
        Rate("Temporary failure", outcomes.get(states.TEMPORARY_FAILURE, 0), finished),
        Rate("Technical failure", outcomes.get(states.TECHNICAL_FAILURE, 0), finished),
        Rate("Complaint", _complaints(store) if finished else 0, finished),
    ]
    pacer = state.pacer
    return Summary(
        counts={status: counts.get(status, 0) for status in states.STATUSES},
        total=sum(counts.values()),
        due=store.due_count(),
        oldest_due_age=store.oldest_due_age(),
        paused=paused,
        paused_reason=_paused_reason(store) if paused else None,
        budget=None if pacer is None else pacer.report(),
        outcomes=finished,
        rates=rates,
        batch_names=BatchStore(store).names(BATCHES),
    )


def age_text(seconds: float | None) -> str:
    """``3 min 20 s``-style text for an age."""
    if seconds is None:
        return "none due"
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} days {whole % 86400 // 3600} h"
