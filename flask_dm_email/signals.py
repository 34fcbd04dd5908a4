"""Blinker signals. The sender is always the real Flask app (never the proxy).

Connect with ``signal.connect(receiver, app)`` to hear one app only, or with
``signal.connect(receiver)`` to hear all of them.

Addresses in payloads: signals are in-process calls to your own code, which may need
the address to act (find the user, flag the account), so the receipt and complaint
payloads are what Notify sent, ``to`` included. ``user_deactivated`` adds ``email_hash``
for log lines. The outbox's signals (``email_queued``, ``email_status_changed``) carry a
:class:`~flask_dm_email.outbox.QueuedEmail`, which has only the hash. Whatever a receiver
logs, it should log the hash (:func:`~flask_dm_email.helpers.hash_string`), never ``to``.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent after an email was accepted by the backend. Keyword payloads:
#: ``email`` (:class:`~flask_dm_email.backends.OutgoingEmail`) and
#: ``result`` (:class:`~flask_dm_email.SentEmail`).
email_sent = _signals.signal("email-sent")

#: Sent when a send failed. Keyword payloads: ``email`` (the
#: :class:`~flask_dm_email.backends.OutgoingEmail`, or ``None`` if the failure came
#: before one was built, e.g. an invalid address) and ``error`` (the
#: :class:`~flask_dm_email.errors.EmailError`).
email_failed = _signals.signal("email-failed")

#: Sent for every delivery receipt Notify posts. Keyword payload: ``receipt`` (the
#: validated receipt dict, including ``to``).
delivery_receipt_received = _signals.signal("delivery-receipt-received")

#: Sent for a receipt whose status is ``permanent-failure``, before the deactivation
#: hook runs. Keyword payload: ``receipt``.
permanent_failure = _signals.signal("permanent-failure")

#: Sent when the ``user_deactivator`` hook returned True. Keyword payloads:
#: ``email_hash`` (the address hashed with :func:`~flask_dm_email.helpers.hash_string`)
#: and ``receipt``.
user_deactivated = _signals.signal("user-deactivated")

#: Sent for every complaint Notify posts. Keyword payload: ``complaint`` (the validated
#: complaint dict, including ``to``).
complaint_received = _signals.signal("complaint-received")

#: Sent when an email is written to the outbox (inside the caller's transaction when
#: ``queue_email`` was given ``session=``). Keyword payload: ``email`` (a
#: :class:`~flask_dm_email.outbox.QueuedEmail`, hashed address only).
email_queued = _signals.signal("email-queued")

#: Sent after every change of an outbox row's status. Keyword payloads: ``email`` (a
#: :class:`~flask_dm_email.outbox.QueuedEmail`), ``old`` and ``new`` (status names).
email_status_changed = _signals.signal("email-status-changed")

#: Sent when the outbox needs a person: keyword payloads ``kind`` and ``details`` (a dict
#: with no personal data).
outbox_alert = _signals.signal("outbox-alert")
