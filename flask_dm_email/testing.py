"""Test helpers: :func:`record_emails` and a pytest plugin.

The plugin is registered through the ``pytest11`` entry point, so installing the package
makes its fixtures available. Fixtures build on the project's own ``app`` fixture, as
pytest-flask's do:

* ``sent_emails`` — the list of emails sent during the test
  (:class:`~flask_dm_email.backends.OutgoingEmail` objects); ``dm_email_outbox`` is its
  old name, kept so existing tests work (it is not the durable outbox);
* ``email_outbox`` — the durable outbox of the ``app`` fixture's app
  (:class:`OutboxProbe`): what is queued, ``drain()`` to deliver it, the rows by status;
* ``notify_simulator`` — a local GOV.UK Notify simulator on a free port, stopped after
  the test (see :class:`flask_dm_email.simulator.SimulatorServer`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.serving import make_server

from .backends import OutgoingEmail
from .outbox.records import QueuedEmail
from .signals import email_sent

if TYPE_CHECKING:
    from .simulator import SimulatorServer


@contextmanager
def record_emails(app: Flask) -> Iterator[list[OutgoingEmail]]:
    """Record every email ``app`` sends inside the block, whatever the backend::

        with record_emails(app) as sent:
            client.post("/signup", data={...})
        assert sent[0].template_name == "welcome"

    ``sent[i].to`` is the final address (after any redirect).
    """
    sent: list[OutgoingEmail] = []

    def record(sender: Flask, email: OutgoingEmail, **_: Any) -> None:
        sent.append(email)

    with email_sent.connected_to(record, app):
        yield sent


def delivery_receipt(to: str, status: str = "delivered", **fields: Any) -> dict[str, Any]:
    """A delivery receipt shaped as Notify posts it (keys in Notify's order), for tests of
    a callback endpoint or a ``user_deactivator``; ``fields`` override or add keys."""
    receipt: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "reference": "ref-123",
        "to": to,
        "status": status,
        "created_at": "2026-05-01T10:00:00.123456Z",
        "completed_at": "2026-05-01T10:00:05.123456Z",
        "sent_at": "2026-05-01T10:00:01.123456Z",
        "notification_type": "email",
        "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
        "template_version": 1,
    }
    receipt.update(fields)
    return receipt


def complaint(to: str, **fields: Any) -> dict[str, Any]:
    """A complaint callback shaped as Notify posts it; ``fields`` override or add keys."""
    body: dict[str, Any] = {
        "notification_id": str(uuid.uuid4()),
        "complaint_id": str(uuid.uuid4()),
        "reference": "ref-123",
        "to": to,
        "complaint_date": "2026-05-01T10:00:00.123456Z",
    }
    body.update(fields)
    return body


@contextmanager
def serve_app(app: Flask, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` over real HTTP on a free port, in a thread, for as long as the block
    runs; yield its base URL. For tests (and demos) in which the Notify simulator must
    call the app back::

        with serve_app(app) as url:
            notify_simulator.set_callbacks(delivery_status=(f"{url}/callbacks/notify", token))
    """
    server = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


class OutboxProbe:
    """The outbox of one app, for assertions in tests (hashed addresses only).

    For example::

        def test_signup(client, email_outbox):
            client.post("/signup", data={...})
            [email] = email_outbox.queued()
            assert email.template_name == "welcome"
            email_outbox.drain()
            assert email_outbox.get(email.id).status == "sent-to-notify"
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _outbox(self) -> Any:
        from .extension import DMEmail

        return DMEmail.outbox

    def all(self, *, status: str | None = None) -> list[QueuedEmail]:
        """Every row (newest first), or those with ``status``."""
        with self.app.app_context():
            return list(self._outbox().find(status=status, limit=100_000))

    def queued(self) -> list[QueuedEmail]:
        """Rows waiting to be sent."""
        return self.all(status="queued")

    def get(self, email_id: str) -> QueuedEmail | None:
        with self.app.app_context():
            email: QueuedEmail | None = self._outbox().get(email_id)
            return email

    def counts(self) -> dict[str, int]:
        with self.app.app_context():
            counts: dict[str, int] = self._outbox().counts()
            return counts

    def drain(self, timeout: float = 30.0) -> int:
        """Deliver everything due, now, through the app's backend; how many rows."""
        with self.app.app_context():
            handled: int = self._outbox().drain(timeout)
            return handled


try:
    import pytest
except ImportError:  # pragma: no cover - the plugin is only loaded by pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def sent_emails(app: Flask) -> Iterator[list[OutgoingEmail]]:
        """The emails the ``app`` fixture's app sends during the test."""
        with record_emails(app) as sent:
            yield sent

    @pytest.fixture
    def dm_email_outbox(sent_emails: list[OutgoingEmail]) -> list[OutgoingEmail]:
        """The old name of ``sent_emails``."""
        return sent_emails

    @pytest.fixture
    def email_outbox(app: Flask) -> OutboxProbe:
        """The ``app`` fixture's durable outbox (in memory on the test stage)."""
        return OutboxProbe(app)

    @pytest.fixture
    def notify_simulator() -> Iterator[SimulatorServer]:
        """A local GOV.UK Notify simulator on a free port, with quick deliveries and
        callback retries; stopped after the test."""
        from .simulator import SimulatorServer

        with SimulatorServer(delivery_delay=0.05, callback_retry_delay=0.1) as simulator:
            yield simulator
