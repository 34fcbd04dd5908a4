"""The outbox's 13 statuses and the moves between them, as data. Pure: no database.

Seed 004's ten statuses, plus ``queued``, ``held`` and ``cancelled``. Every write to a
row is a compare-and-set from a status to one :data:`TRANSITIONS` allows; Notify's
statuses only move forward, so a late or repeated receipt is recorded as an event and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

QUEUED = "queued"
SENDING = "sending-to-notify"
SENT = "sent-to-notify"
RETRYING = "retrying-send-to-notify"
FAILED = "failed-send-to-notify"
HELD = "held"
CANCELLED = "cancelled"
NOTIFY_CREATED = "notify-created"
NOTIFY_SENDING = "notify-sending"
DELIVERED = "notify-delivered"
PERMANENT_FAILURE = "notify-permanent-failure"
TEMPORARY_FAILURE = "notify-temporary-failure"
TECHNICAL_FAILURE = "notify-technical-failure"

#: Every status, in the order a row usually passes through them.
STATUSES: tuple[str, ...] = (
    QUEUED,
    SENDING,
    RETRYING,
    HELD,
    SENT,
    NOTIFY_CREATED,
    NOTIFY_SENDING,
    DELIVERED,
    PERMANENT_FAILURE,
    TEMPORARY_FAILURE,
    TECHNICAL_FAILURE,
    FAILED,
    CANCELLED,
)
NOTIFY_OUTCOMES = frozenset({DELIVERED, PERMANENT_FAILURE, TEMPORARY_FAILURE, TECHNICAL_FAILURE})
#: Statuses a row never leaves on its own (an operator may retry a failed send; a row
#: cancelled while its last attempt was unclear moves to Notify's status if Notify had it).
FINAL = NOTIFY_OUTCOMES | {FAILED, CANCELLED}
#: Statuses a worker may claim when they are due.
CLAIMABLE = frozenset({QUEUED, RETRYING})
#: Statuses that may be cancelled: not in flight, not yet with Notify.
CANCELLABLE = frozenset({QUEUED, RETRYING, HELD})
#: Statuses waiting for their next attempt (what "due" and "queue age" are about).
WAITING = frozenset({QUEUED, RETRYING, HELD})

# A receipt may arrive before the worker records its send (the response was lost or slow).
_RECEIPT_TARGETS = NOTIFY_OUTCOMES | {NOTIFY_CREATED, NOTIFY_SENDING}

TRANSITIONS: Mapping[str, frozenset[str]] = {
    QUEUED: frozenset({SENDING, HELD, CANCELLED}),
    SENDING: frozenset({SENT, RETRYING, QUEUED, HELD, FAILED}) | _RECEIPT_TARGETS,
    RETRYING: frozenset({SENDING, HELD, CANCELLED, FAILED}) | _RECEIPT_TARGETS,
    HELD: frozenset({QUEUED, CANCELLED}),
    SENT: _RECEIPT_TARGETS,
    NOTIFY_CREATED: frozenset({NOTIFY_SENDING}) | NOTIFY_OUTCOMES,
    NOTIFY_SENDING: NOTIFY_OUTCOMES,
    # An operator's retry starts a new generation (a new notify_reference).
    FAILED: frozenset({QUEUED}),
    # Cancelled while its last attempt was unclear (``maybe_sent``): Notify may have it
    # after all, and its receipt (or a lookup) tells the truth. Only such a row moves on
    # (:data:`CANCELLED_MAY_MOVE`); cancelling stops every further send either way.
    CANCELLED: _RECEIPT_TARGETS,
    DELIVERED: frozenset(),
    PERMANENT_FAILURE: frozenset(),
    TEMPORARY_FAILURE: frozenset(),
    TECHNICAL_FAILURE: frozenset(),
}

#: What a cancelled row may still move to, and only when it was cancelled while
#: ``maybe_sent`` (the receipts and the status sync check that flag).
CANCELLED_MAY_MOVE = _RECEIPT_TARGETS

#: Notify's own status names (receipts and lookups) -> ours. Notify's ``pending`` and
#: ``sent`` (international) count as sending.
FROM_NOTIFY: Mapping[str, str] = {
    "created": NOTIFY_CREATED,
    "sending": NOTIFY_SENDING,
    "pending": NOTIFY_SENDING,
    "sent": NOTIFY_SENDING,
    "delivered": DELIVERED,
    "permanent-failure": PERMANENT_FAILURE,
    "temporary-failure": TEMPORARY_FAILURE,
    "technical-failure": TECHNICAL_FAILURE,
}


def can_move(old: str, new: str) -> bool:
    """True if a row in ``old`` may move to ``new``."""
    return new in TRANSITIONS.get(old, frozenset())


def sources_of(new: str) -> frozenset[str]:
    """Every status a row may move to ``new`` from (the compare-and-set's ``WHERE``)."""
    return frozenset(old for old, targets in TRANSITIONS.items() if new in targets)


def is_final(status: str) -> bool:
    """True for a status that ends a row's life."""
    return status in FINAL
