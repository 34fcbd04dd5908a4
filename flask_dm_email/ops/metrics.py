"""Prometheus metrics (the ``[metrics]`` extra, prometheus-client), collected at scrape
time from the outbox's tables and the shared budget, so they are right however many
processes send: any process can serve them (``/_dm_email/metrics``, or ``flask dm-email
worker --metrics-port P``).

* ``dm_email_outbox_emails{status}``: emails by status;
* ``dm_email_outbox_oldest_due_seconds``: how long the longest-waiting due email has
  waited. A dead worker cannot raise an alert; alert on this instead;
* ``dm_email_notify_refusals_total{kind}``: 429s from Notify (``rate-limited``,
  ``daily-limited``), from the events;
* ``dm_email_receipts_total{status}``: delivery receipts applied, by status. Both
  counters are the events still there plus the totals of those deleted (by the event
  retention or an erasure, :func:`~flask_dm_email.outbox.retention.delete_events`), read
  in one statement, so they never go down (Prometheus would read a fall as a reset);
* ``dm_email_limiter_wait_seconds``, ``dm_email_limiter_tokens``,
  ``dm_email_daily_used`` / ``dm_email_daily_limit``: the shared budget now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Flask
from sqlalchemy import func, literal_column, select, union_all

from ..errors import EmailConfigError
from ..outbox import states
from ..outbox.retention import COUNTED, counter_label, deleted_totals, read_total
from ..outbox.tables import event, outbox
from ..state import get_state

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


def _prometheus() -> Any:
    try:
        import prometheus_client
        import prometheus_client.core
    except ImportError:
        raise EmailConfigError(
            [("DM_EMAIL_STATUS_PAGE", "serves metrics with prometheus-client: pip install 'flask-dm-email[metrics]'.")]
        ) from None
    return prometheus_client


class OutboxCollector:
    """Reads the tables at each scrape (a few aggregate queries)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Any]:
        core = _prometheus().core
        state = get_state(self.app)
        with self.app.app_context():
            runtime = state.outbox
            if runtime is not None:
                yield from self._outbox(core, runtime.store)
            if state.pacer is not None:
                yield from self._budget(core, state.pacer)

    def _outbox(self, core: Any, store: Any) -> Iterator[Any]:
        emails = core.GaugeMetricFamily("dm_email_outbox_emails", "Emails in the outbox, by status.",
                                        labels=["status"])
        counts = store.counts()
        for status in states.STATUSES:
            emails.add_metric([status], counts.get(status, 0))
        yield emails
        yield core.GaugeMetricFamily("dm_email_outbox_oldest_due_seconds",
                                     "Seconds the longest-waiting due email has waited (0: none due).",
                                     value=store.oldest_due_age() or 0.0)
        totals = _counter_totals(store)
        refusals = core.CounterMetricFamily("dm_email_notify_refusals", "429s from Notify, by kind.", labels=["kind"])
        refusals.add_metric(["rate-limited"], totals["rate-limited"])
        refusals.add_metric(["daily-limited"], totals["daily-limited"])
        yield refusals
        receipt_family = core.CounterMetricFamily("dm_email_receipts", "Delivery receipts applied, by status.",
                                                  labels=["status"])
        for label, count in sorted(totals.items()):
            if label.startswith("receipt:"):
                receipt_family.add_metric([label.removeprefix("receipt:")], count)
        yield receipt_family

    def _budget(self, core: Any, pacer: Any) -> Iterator[Any]:
        report = pacer.report()
        if report["state"] != "ok":
            return
        yield core.GaugeMetricFamily("dm_email_limiter_wait_seconds", "Seconds the next request to Notify would wait.",
                                     value=report["wait"] or 0.0)
        yield core.GaugeMetricFamily("dm_email_limiter_tokens", "Requests that could go to Notify at once now.",
                                     value=report["tokens"] if report["tokens"] is not None else 0.0)
        yield core.GaugeMetricFamily("dm_email_daily_used", "Emails counted today (UTC) by every sender.",
                                     value=report["daily_used"])
        if report["daily_limit"]:
            yield core.GaugeMetricFamily("dm_email_daily_limit", "DM_NOTIFY_DAILY_LIMIT.", value=report["daily_limit"])


def _counter_totals(store: Any) -> Counter[str]:
    """The counters' values by :func:`~flask_dm_email.outbox.retention.counter_label`: this
    service's counted events plus the totals of those deleted, in one statement (one
    snapshot: a purge committing between two reads would make a counter dip)."""
    mine = select(outbox.c.id).where(outbox.c.service_id == store.service_id)
    events = (
        select(literal_column("'event'").label("source"), event.c.type.label("a"), event.c.status.label("b"),
               func.count().label("n"))
        .where(event.c.type.in_(COUNTED), event.c.outbox_id.in_(mine))
        .group_by(event.c.type, event.c.status)
    )
    deleted = deleted_totals(store.service_id).subquery()
    kept = select(literal_column("'deleted'"), deleted.c.value, literal_column("NULL"), literal_column("0"))
    totals: Counter[str] = Counter()
    with store.db.connect() as conn:
        for source, a, b, n in conn.execute(union_all(events, kept)).all():
            if source == "event":
                totals[counter_label(a, b)] += int(n)
            else:
                label, count = read_total(a)
                totals[label] += count
    return totals


def registry_for(app: Flask) -> CollectorRegistry:
    """A registry holding the app's collector (one per app: not the process's default)."""
    prometheus = _prometheus()
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(OutboxCollector(app))
    return registry  # type: ignore[no-any-return]


def exposition(app: Flask) -> tuple[bytes, str]:
    """The metrics as Prometheus text, with its content type."""
    prometheus = _prometheus()
    return prometheus.generate_latest(registry_for(app)), prometheus.CONTENT_TYPE_LATEST


def serve_metrics(app: Flask, host: str, port: int) -> None:
    """Serve the app's metrics on ``host:port`` from a daemon thread (the worker's
    ``--metrics-port``)."""
    _prometheus().start_http_server(port, addr=host, registry=registry_for(app))
