"""Erasure: every outbox row, and every event of those rows, for one address (a
data-subject erasure request; ``flask dm-email outbox erase --address``).

A row matches when its ``to_hash`` or its bulk ``batch_key`` is the hash of the address
as given, lowercased, or as Notify reads it (the domain in its ASCII form), or, while
the row still holds its address (not yet purged, not redirected), when that address is
the same ignoring case. Rows of every Notify service in the database are erased: the
request is about a person, not about one app.

Rows still waiting to be sent are removed too, so they are never sent. A row a worker
holds (``sending-to-notify``) is never removed under its feet: it is kept and counted,
and a run a minute later (once it is sent) removes it. A row whose lease has ended (its
worker died) is first made waiting again, as the next worker's claim would
(``retrying-send-to-notify``, its attempt unclear), and removed with the others.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, delete, func, or_, select

from ..addresses import read_address, validate_email_address
from ..hashing import hash_string
from . import states
from .claim_one import release_waiting
from .retention import delete_events
from .store import Store
from .tables import event, outbox

logger = logging.getLogger("flask_dm_email.outbox")

#: Rows removed per transaction (with their events).
ERASE_CHUNK = 500
#: Rounds of find-then-remove: a row queued for the address while erasing is found by
#: the next round.
_ROUNDS = 5

C = outbox.c
E = event.c


@dataclass(frozen=True)
class ErasureResult:
    """What :func:`erase` did; no address in it."""

    #: The hash of the address as Notify reads it (what logs and the status page show).
    address_hash: str
    #: Rows removed.
    rows: int
    #: Of those, rows that were still waiting to be sent (queued, retrying, held) and had
    #: never reached Notify: they will never be sent.
    waiting: int
    #: Events removed (the timelines of the rows removed).
    events: int
    #: Rows kept because a worker is sending them now: erase again in a minute.
    still_sending: int
    #: Of the rows removed, rows that were waiting for another attempt after one whose
    #: outcome is unknown (a timeout, a lost connection, a worker that died): that attempt
    #: may have reached Notify, which then keeps its own copy.
    unclear: int = 0

    @property
    def complete(self) -> bool:
        """True when nothing of the address is left in the outbox."""
        return self.still_sending == 0


def address_hashes(stripped: str) -> tuple[str, tuple[str, ...]]:
    """``(the hash shown, every hash a row of this address may carry)``, for an address
    :func:`~flask_dm_email.addresses.validate_email_address` returned."""
    read = read_address(stripped).key
    hashes = tuple(dict.fromkeys(hash_string(text) for text in (read, stripped, stripped.lower())))
    return hashes[0], hashes


def _matching(hashes: Sequence[str], lowered: str) -> ColumnElement[bool]:
    held = and_(C.redirected.is_(False), C.to_address.is_not(None), func.lower(C.to_address) == lowered)
    return or_(C.to_hash.in_(hashes), C.batch_key.in_(hashes), held)


def erase(store: Store, address: object, *, chunk: int = ERASE_CHUNK) -> ErasureResult:
    """Remove every row for ``address`` (whatever its service) and every event of those
    rows, ``chunk`` rows to a transaction; rows being sent are kept and counted."""
    stripped = validate_email_address(address, field_name="address")  # queue_email refused anything else
    shown, hashes = address_hashes(stripped)
    match = _matching(hashes, stripped.lower())
    _release_ended_leases(store, match)
    rows = waiting = unclear = events = 0
    still_sending = 0
    for _ in range(_ROUNDS):
        # Found in a read (one scan, no write lock), removed by id in short transactions.
        with store.db.connect() as conn:
            found = conn.execute(select(C.id, C.status).where(match)).all()
        removable = [row.id for row in found if row.status != states.SENDING]
        still_sending = len(found) - len(removable)
        if not removable:
            break
        for start in range(0, len(removable), chunk):
            ids = removable[start:start + chunk]
            with store.db.begin() as conn:
                # Compare-and-set: a row a worker claimed since it was found stays.
                gone = conn.execute(
                    delete(outbox).where(C.id.in_(ids), C.status != states.SENDING)
                    .returning(C.id, C.status, C.service_id, C.maybe_sent)
                ).all()
                by_service: dict[str, list[str]] = defaultdict(list)
                for row in gone:
                    by_service[row.service_id].append(row.id)
                for service_id, gone_ids in sorted(by_service.items()):
                    events += delete_events(store, conn, E.outbox_id.in_(gone_ids), service_id=service_id)
            rows += len(gone)
            waiting += sum(row.status in states.WAITING and not row.maybe_sent for row in gone)
            unclear += sum(row.status in states.WAITING and bool(row.maybe_sent) for row in gone)
    logger.info("Erased %d outbox emails (%d never sent, %d after an unclear attempt) and %d events for one address; "
                "%d being sent were kept.", rows, waiting, unclear, events, still_sending)
    return ErasureResult(address_hash=shown, rows=rows, waiting=waiting, events=events, still_sending=still_sending,
                         unclear=unclear)


def _release_ended_leases(store: Store, match: ColumnElement[bool]) -> None:
    """Rows of the address held by a worker whose lease has ended become waiting again,
    as the next claim of their service's worker would make them: with no worker running,
    they would otherwise be kept for ever."""
    with store.db.connect() as conn:
        services = conn.execute(
            select(C.service_id).where(match, C.status == states.SENDING, C.lease_expires_at < store.db.now())
            .distinct()
        ).scalars().all()
    for service_id in sorted(services):
        # A claim of nothing: only its first half runs (the lease length is not used).
        release_waiting(store if service_id == store.service_id else Store(store.db, service_id), 0.0)
