"""Run the simulator: :class:`SimulatorServer` for tests and embedding, :func:`serve` for the CLI."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .config import ConfigSource, add_templates, load_config, parse_callback
from .limits import Clock
from .models import CallbackConfig
from .state import SimulatorState

logger = logging.getLogger(__name__)

_UNSET: Any = object()


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 so clients reuse connections: far more sends per second on loopback."""

    protocol_version = "HTTP/1.1"


class _QuietHandler(_KeepAliveHandler):
    """No access log line per request: tests send thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _default_callbacks(url: str | None, token: str | None) -> dict[str, CallbackConfig]:
    if url is None:
        return {}
    config = parse_callback({"url": url, "bearer_token": token}, "default callback")
    return {"delivery_status": config, "complaint": config}


def build_state(
    config: ConfigSource | Mapping[str, Any],
    *,
    default_callback_url: str | None = None,
    default_callback_token: str | None = None,
    delivery_delay: float | None = None,
    callback_retry_delay: float | None = None,
    rate_clock: Clock = time.monotonic,
    templates: Sequence[Mapping[str, Any]] = (),
) -> SimulatorState:
    """Load ``config`` and build the simulator state (workers not started).

    ``templates`` (config-file template mappings) go to the first service, unless it has
    one with the same id; a reset keeps them.
    """
    loaded = load_config(config)
    add_templates(loaded, templates)
    return SimulatorState(
        loaded,
        delivery_delay=delivery_delay,
        callback_retry_delay=callback_retry_delay,
        default_callbacks=_default_callbacks(default_callback_url, default_callback_token),
        rate_clock=rate_clock,
    )


class SimulatorServer:
    """A simulator on a background thread, for tests and embedding.

    ``port=0`` binds a free port; read :attr:`url` after :meth:`start`. Use as a
    context manager::

        with SimulatorServer(delivery_delay=0.05, callback_retry_delay=0.1) as sim:
            client = NotificationsAPIClient(sim.api_key("test"), base_url=sim.url)

    ``service_id=None`` in every method means the first (zero-config) service.
    ``rate_clock`` drives the rate limit's token buckets (seconds, any origin):
    pass a :class:`~flask_dm_email.simulator.limits.ManualClock` and call its
    ``advance()`` to refill buckets without sleeping.
    """

    def __init__(
        self,
        config: ConfigSource | Mapping[str, Any] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delivery_delay: float | None = None,
        callback_retry_delay: float | None = None,
        default_callback_url: str | None = None,
        default_callback_token: str | None = None,
        rate_clock: Clock = time.monotonic,
        templates: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.state = build_state(
            config,
            default_callback_url=default_callback_url,
            default_callback_token=default_callback_token,
            delivery_delay=delivery_delay,
            callback_retry_delay=callback_retry_delay,
            rate_clock=rate_clock,
            templates=templates,
        )
        self.app = create_app(self.state)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def rate_clock(self) -> Clock:
        """The clock the rate limit reads (a ManualClock if one was given)."""
        return self.state.limiter.clock

    # -- running -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        """Serve on a daemon thread; return once ``/_status`` answers."""
        if self._server is not None:
            return self
        try:
            server = make_server(self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler)
        except SystemExit:
            # werkzeug exits the process when the port is taken; a caller embedding the
            # simulator needs an exception it can handle (e.g. to pick another port).
            raise OSError(f"port {self.port} on {self.host} is already in use") from None
        self.state.start()
        self._server = server
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="notify-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/_status", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Notify simulator did not start in time")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and stop the background workers."""
        self.state.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- services, keys, templates, callbacks -----------------------------------------

    def add_service(self, **fields: Any) -> dict[str, Any]:
        """Add a service (fields as in the config file); return it with its full key strings."""
        service = self.state.add_service(fields)
        return self.state.service_view(service.id)

    def service(self, service_id: str | None = None) -> dict[str, Any]:
        """A service as the admin API shows it."""
        return self.state.service_view(service_id)

    def create_api_key(self, service_id: str | None = None, key_type: str = "test", name: str | None = None) -> str:
        """Add a key; return the full ``{name}-{service_id}-{secret}`` string."""
        return self.state.create_api_key(service_id, key_type, name)

    def api_key(self, key_type: str = "test", service_id: str | None = None) -> str:
        """A usable key of ``key_type``: the service's first unrevoked one, created if needed."""
        with self.state.lock:
            service = self.state.service(service_id)
            for key in service.api_keys:
                if key.key_type == key_type and key.revoked_at is None:
                    return key.full_key(service.id)
        return self.create_api_key(service_id, key_type)

    def revoke_api_key(self, key: str, service_id: str | None = None) -> None:
        """Revoke a key given by its full string, secret, id or name."""
        self.state.revoke_api_key(key, service_id)

    def add_template(
        self, service_id: str | None = None, *, name: str, subject: str, body: str, id: str | None = None,
        **extra: Any,
    ) -> str:
        """Add an email template (``type=``, ``archived=`` and the like in ``extra``); return its id."""
        raw = {"name": name, "subject": subject, "body": body, "id": id, **extra}
        return self.state.upsert_template(raw, service_id).id

    def update_template(self, template_id: str, service_id: str | None = None, **changes: Any) -> int:
        """Give a template a new version with ``changes``; return the new version number."""
        template = self.state.upsert_template({"id": template_id, **changes}, service_id)
        if template.id != template_id and template.current.version == 1:
            raise LookupError(f"no template with id {template_id}")
        return template.current.version

    def set_callbacks(
        self,
        service_id: str | None = None,
        *,
        delivery_status: tuple[str, str] | None = _UNSET,
        complaint: tuple[str, str] | None = _UNSET,
    ) -> None:
        """Set callbacks as ``(url, bearer_token)``; ``None`` removes one, omitted leaves it."""
        for kind, value in (("delivery_status", delivery_status), ("complaint", complaint)):
            if value is _UNSET:
                continue
            config = None if value is None else parse_callback({"url": value[0], "bearer_token": value[1]}, kind)
            self.state.set_callback(kind, config, service_id)

    # -- observing -------------------------------------------------------------------

    def messages(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored emails, newest first (filters: ``to``, ``reference``, ``status``, ...)."""
        return self.state.messages(**filters)

    def message(self, notification_id: str) -> dict[str, Any] | None:
        """One stored email, or ``None`` (smoke-test sends are never stored)."""
        return self.state.message(notification_id)

    def wait_for_status(self, notification_id: str, status: str, timeout: float = 5.0) -> dict[str, Any]:
        """Wait until the notification reaches ``status``; return its message view."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.message(notification_id)
            if found is not None and found["status"] == status:
                return found
            if time.monotonic() > deadline:
                seen = found["status"] if found else "not stored"
                raise TimeoutError(f"notification {notification_id} is {seen}, not {status}")
            time.sleep(0.005)

    @property
    def callback_attempts(self) -> list[dict[str, Any]]:
        """Every callback attempt so far, oldest first."""
        return self.state.callbacks.attempts()

    def wait_for_callbacks(self, count: int, timeout: float = 5.0, **filters: Any) -> list[dict[str, Any]]:
        """Wait for ``count`` attempts matching ``filters`` (e.g. ``kind=``, ``result="ok"``)."""
        return self.state.callbacks.wait_for(count, timeout, **filters)

    # -- faults and reset ------------------------------------------------------------

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Merge fault knobs (ValueError naming a bad one); return the current settings."""
        return self.state.set_faults(knobs)

    def clear_faults(self) -> None:
        """Turn every fault knob off; ``bucket_tokens`` stays as set."""
        self.state.clear_faults()

    @property
    def stats(self) -> dict[str, int]:
        """``rate_limited`` and ``daily_limited`` 429s served, ``notifications`` stored."""
        return self.state.stats_view()

    def trigger_complaint(self, notification_id: str) -> str:
        """Record a complaint and send the complaint callback; return the complaint id."""
        return self.state.trigger_complaint(notification_id).id

    def reset(self) -> None:
        """Back to the initial config: no messages, callbacks, limits or faults."""
        self.state.reset()


def serve(
    config: str | os.PathLike[str] | Mapping[str, Any] | None,
    host: str = "127.0.0.1",
    port: int = 6011,
    *,
    default_callback_url: str | None = None,
    default_callback_token: str | None = None,
    delivery_delay: float | None = None,
    callback_retry_delay: float | None = None,
    templates: Sequence[Mapping[str, Any]] = (),
    on_ready: Callable[[str, list[dict[str, Any]]], None] | None = None,
) -> None:
    """Run the simulator in the foreground until interrupted (``flask dm-email simulator``).

    ``on_ready(url, services)`` is called once it listens, with every service as the admin
    API shows it (full key strings included), instead of the two INFO log lines.
    """
    state = build_state(
        config,
        default_callback_url=default_callback_url,
        default_callback_token=default_callback_token,
        delivery_delay=delivery_delay,
        callback_retry_delay=callback_retry_delay,
        templates=templates,
    )
    app = create_app(state)
    server = make_server(host, port, app, threaded=True, request_handler=_KeepAliveHandler)
    state.start()
    url = f"http://{host}:{server.server_port}"
    if on_ready is not None:
        on_ready(url, state.services_view())
    else:
        with state.lock:
            for service in state.services.values():
                # Names and ids only: key secrets never go to logs.
                logger.info("Notify simulator: service %r (%s) with keys %s", service.name, service.id,
                            ", ".join(f"{key.name} ({key.key_type})" for key in service.api_keys) or "none")
        logger.info("Notify simulator: serving on %s, inbox at /_simulator/inbox", url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        state.stop()
        server.server_close()
