"""What callers see of an outbox row: :class:`QueuedEmail`, with the hashed address
only, and the status-change signal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from ..signals import email_status_changed

PRIORITIES: Mapping[str, int] = {"transactional": 0, "bulk": 1}
PRIORITY_NAMES: Mapping[int, str] = {number: name for name, number in PRIORITIES.items()}


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class QueuedEmail:
    """One email in the outbox. No address and no personalisation: ``to_hash`` is the
    address hashed with :func:`~flask_dm_email.helpers.hash_string`.

    :param reference: the caller's reference (or the default ``dmutils`` one).
    :param notify_reference: the unique reference sent to Notify for this row
        (``{reference}-{id}``, and ``-{generation}`` after an operator's retry).
    """

    id: str
    status: str
    reference: str
    notify_reference: str
    template_id: str
    template_name: str | None
    to_hash: str
    redirected: bool
    priority: str
    link: tuple[str, str] | None
    dedupe_key: str | None
    batch_id: str | None
    attempts: int
    notify_id: str | None
    last_error_class: str | None
    created_at: datetime | None
    next_attempt_at: datetime | None
    sent_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> QueuedEmail:
        link = (row["link_type"], row["link_id"]) if row.get("link_type") else None
        return cls(
            id=row["id"],
            status=row["status"],
            reference=row["reference"],
            notify_reference=row["notify_reference"],
            template_id=row["template_id"],
            template_name=row.get("template_name"),
            to_hash=row["to_hash"],
            redirected=bool(row.get("redirected")),
            priority=PRIORITY_NAMES.get(row["priority"], str(row["priority"])),
            link=link,
            dedupe_key=row.get("dedupe_key"),
            batch_id=row.get("batch_id"),
            attempts=int(row.get("attempts") or 0),
            notify_id=row.get("notify_id"),
            last_error_class=row.get("last_error_class"),
            created_at=_time(row.get("created_at")),
            next_attempt_at=_time(row.get("next_attempt_at")),
            sent_at=_time(row.get("sent_at")),
        )


def status_changed(app: Flask, email: QueuedEmail, old: str, new: str) -> None:
    """Send :data:`~flask_dm_email.signals.email_status_changed`."""
    email_status_changed.send(app, email=email, old=old, new=new)
