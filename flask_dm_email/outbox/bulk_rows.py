"""Deciding about each row of a bulk send, before anything is written: the columns
against the template's placeholders, then every row with ``queue_email``'s own rules
(:func:`~flask_dm_email.sending.prepare`: Notify's address rules, the stage's recipient
policy, the reference). No database here.

A row's ``batch_key`` is its recipient's address as Notify reads it (lowercased, the domain
in its ASCII form), hashed: a batch reaches each recipient once, and the key stays
after the address is purged without being personal data in the clear.
"""

from __future__ import annotations

import logging
import os
import string
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from notifications_python_client.errors import APIError
from requests import RequestException

from ..addresses import read_address, strip_address
from ..errors import EmailError
from ..hashing import hash_string
from ..notify import NotifyBackend
from ..sending import SendRequest, prepare, resolve_template
from ..state import DMEmailState
from .bulk_csv import BulkInputError
from .enqueue import MAX_QUEUED_REFERENCE, notify_reference

logger = logging.getLogger("flask_dm_email.outbox")

_JSON_SCALARS = (str, int, float, bool)


def time_ordered_id() -> str:
    """A row id: a UUID laid out as RFC 9562's version 7, the time in milliseconds then 74
    random bits. A batch's rows then go to the end of the primary-key index, a few pages
    a chunk, rather than to random leaf pages all over it."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    # version 7 in bits 76-79, variant 0b10 in bits 62-63
    text = f"{value & _V7_MASK | _V7_BITS:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_V7_MASK = ~(0xF << 76 | 0b11 << 62) & ((1 << 128) - 1)
_V7_BITS = 0x7 << 76 | 0b10 << 62


def placeholder_key(name: str) -> str:
    """The form Notify matches a placeholder and a personalisation key in: lowercase,
    without spaces, ``_`` or ``-`` (so a ``First name`` column fills ``((first_name))``)."""
    return "".join(char for char in name.lower() if char not in " _-")


@dataclass(frozen=True)
class RowError:
    """A row that was not queued: its line (the header is line 1) and why. The reason
    never holds the address, only its hash."""

    line: int
    reason: str


@dataclass(frozen=True)
class ValidRow:
    """A row ready to insert: the outbox columns that differ from row to row."""

    line: int
    key: str
    redirected: bool
    values: Mapping[str, Any]


def template_placeholders(state: DMEmailState, template_id: str, template: str) -> tuple[str, ...] | None:
    """The placeholders of the template as Notify has it (``GET /v2/template/{id}``, once
    per batch), or None when there is no Notify to ask (the log and memory backends) or it
    cannot be reached now (the rows are then checked for consistent columns only).

    :raises BulkInputError: Notify has no such template, or it is not an email template.
    """
    backend = state.backend
    if not isinstance(backend, NotifyBackend):
        return None
    try:
        found = backend.client.get_template(template_id)  # type: ignore[no-untyped-call]
    except APIError as error:
        if error.status_code in (400, 403, 404):
            raise BulkInputError(
                f"Template {template!r} (id {template_id}) was not found in GOV.UK Notify "
                f"({error.status_code}). Check DM_NOTIFY_TEMPLATES and the API key's service; "
                "'flask dm-email templates check' lists every configured template."
            ) from None
        logger.warning("Could not fetch template %s from Notify (%s); its placeholders are not checked.",
                       template_id, type(error).__name__)
        return None
    except RequestException as error:
        logger.warning("Could not fetch template %s from Notify (%s); its placeholders are not checked.",
                       template_id, type(error).__name__)
        return None
    if found.get("type") != "email":
        raise BulkInputError(f"Template {template!r} (id {template_id}) is a {found.get('type')} template, "
                             "not an email template.")
    return tuple(sorted(found.get("personalisation") or {}))


class RowRules:
    """The checks of one batch: its template, the column of addresses, the placeholders
    (when known), and the columns every row must have."""

    def __init__(self, state: DMEmailState, template: str, email_column: str,
                 placeholders: Collection[str] | None) -> None:
        self.state = state
        self.template = template
        self.template_id, self.template_name = resolve_template(state.settings, template)
        self.email_column = email_column
        self.placeholders = None if placeholders is None else tuple(placeholders)
        self.columns: frozenset[str] | None = None

    def check_columns(self, columns: Iterable[str]) -> None:
        """Fix the batch's columns (from the header or the first row).

        :raises BulkInputError: no address column; a placeholder with no column; a column
            the template has no placeholder for (its values would be sent for nothing).
        """
        columns = tuple(columns)
        if self.email_column not in columns:
            raise BulkInputError(
                f"There is no {self.email_column!r} column (the columns are {', '.join(map(repr, columns))}). "
                "Name the column of addresses with --email-column (email_column= in Python)."
            )
        offered = {placeholder_key(c): c for c in columns if c != self.email_column}
        if self.placeholders is not None:
            needed = {placeholder_key(p): p for p in self.placeholders}
            missing = [name for key, name in needed.items() if key not in offered]
            if missing:
                raise BulkInputError(
                    f"Template {self.template!r} needs {', '.join(f'(({m}))' for m in missing)}, but there is no "
                    f"column for {'it' if len(missing) == 1 else 'them'}. Add the column(s), or use another template."
                )
            unused = [column for key, column in offered.items() if key not in needed]
            if unused:
                raise BulkInputError(
                    f"Template {self.template!r} has no placeholder for the column(s) "
                    f"{', '.join(map(repr, unused))}. Remove them from the file, or add ((placeholder))s for "
                    "them to the template in Notify."
                )
        self.columns = frozenset(columns)

    def check(self, line: int, values: Mapping[str, Any]) -> ValidRow | RowError:
        """The row ready to insert, or why it cannot be queued."""
        if not isinstance(values, Mapping):
            return RowError(line, f"a row must be a mapping of column to value, not {type(values).__name__}")
        if self.columns is None:
            self.check_columns(values)
        elif values.keys() != self.columns:
            missing = sorted(self.columns - values.keys())
            extra = sorted(values.keys() - self.columns)
            return RowError(line, "its columns differ from the first row's"
                            + (f": no {', '.join(map(repr, missing))}" if missing else "")
                            + (f"; also {', '.join(map(repr, extra))}" if extra else ""))
        column = self.email_column
        raw = values[column]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return RowError(line, f"the {column!r} column is empty")
        personalisation: dict[str, Any] = {}
        for name, value in values.items():
            if name == column:
                continue
            if value is None or value == "":
                return RowError(line, f"the {name!r} column is empty (the email would show a blank)")
            if not isinstance(value, (*_JSON_SCALARS, list)):
                return RowError(line, f"the {name!r} value is a {type(value).__name__}; give text or a number")
            personalisation[name] = value
        if not isinstance(raw, str):
            return RowError(line, f"the {column!r} value is a {type(raw).__name__}, not an email address")
        try:
            email = prepare(
                self.state, SendRequest(raw, self.template, personalisation or None),
                max_reference=MAX_QUEUED_REFERENCE,
            )
        except EmailError as error:
            reason = str(error)
            # prepare names the address "to"; here it is a column.
            return RowError(line, f"the {column!r} column{reason[2:]}" if reason.startswith("to ") else reason)
        row_id = time_ordered_id()
        # Plain ASCII reads as itself, lowercased; only IDN domains need Notify's reading.
        recipient = raw.strip(string.whitespace).lower() if raw.isascii() else read_address(raw).key
        # to_hash is the hash of the address as validated (stripped): reused when that is
        # the recipient's text already (an address in lowercase ASCII).
        key = email.to_hash if recipient == strip_address(raw) else hash_string(recipient)
        return ValidRow(line, key, email.redirected, {
            "id": row_id,
            "to_address": email.to,
            "personalisation": personalisation or None,
            "to_hash": email.to_hash,
            "redirected": email.redirected,
            "reference": email.reference,
            "notify_reference": notify_reference(email.reference, row_id, 1),
            "batch_key": key,
        })
