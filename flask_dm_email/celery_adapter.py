"""Celery as the outbox's wake-up call, for teams that already run Celery (extra
``[celery]``).

The row is the truth: a task carries only a row id, and delivering it is
:meth:`Outbox.deliver <flask_dm_email.outbox.Outbox.deliver>` — the worker's own claim
and send path, rate limiter included. So a task delivered twice sends once, a task for a
row that is not due or already sent does nothing, and a lost task loses nothing: the
periodic sweep delivers rows that have waited too long.

::

    from celery import Celery
    from flask_dm_email.celery_adapter import beat_schedule, init_celery

    celery_app = Celery(__name__, broker="redis://localhost:6379/0")
    init_celery(celery_app, app)
    celery_app.conf.beat_schedule = {**beat_schedule()}
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

from flask import Flask

from .errors import EmailConfigError
from .outbox import Outbox
from .outbox.claim_one import due_in, overdue, release_waiting
from .outbox.retention import purge
from .outbox.runtime import OutboxRuntime
from .outbox.sync import sync_statuses
from .stages import Stage
from .state import get_state

logger = logging.getLogger("flask_dm_email.celery")

#: The task that delivers one row: ``flask_dm_email.deliver(row_id)``.
DELIVER_TASK = "flask_dm_email.deliver"
#: The periodic task that delivers rows whose task was lost: ``flask_dm_email.sweep()``.
SWEEP_TASK = "flask_dm_email.sweep"
#: The periodic task that does a worker's chores: statuses Notify never called back about,
#: personal data past retention: ``flask_dm_email.housekeeping()``.
HOUSEKEEPING_TASK = "flask_dm_email.housekeeping"
#: Housekeeping asks Notify about rows without an outcome this long (seconds) after their
#: last change, as the worker does.
SYNC_AFTER = 300.0
#: A row due later than this (seconds) gets no follow-up task; the sweep finds it. Brokers
#: keep countdown tasks in a worker's memory, and Redis hands an unacknowledged task to
#: another worker after its visibility timeout (an hour by default).
MAX_COUNTDOWN = 300.0

_EXTENSION_KEY = "dm_email_celery"
# Celery apps already wired: the task names are fixed, so a second Flask app on one Celery
# app would have its tasks run the first app's code (or silently replace them).
_WIRED: weakref.WeakSet[Any] = weakref.WeakSet()
_EXTRA = "pip install 'flask-dm-email[celery]'"


def _require_celery() -> None:
    try:
        import celery  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as error:
        raise ImportError(f"The Celery adapter needs Celery: {_EXTRA}") from error


@dataclass(frozen=True)
class CeleryTasks:
    """The tasks :func:`init_celery` registered on the Celery app."""

    #: ``flask_dm_email.deliver(row_id)``: deliver one email (the row id is all it carries).
    deliver: Any
    #: ``flask_dm_email.sweep()``: deliver rows whose task was lost; how many were handled.
    sweep: Any
    #: ``flask_dm_email.housekeeping()``: poll statuses, purge personal data and events past retention.
    housekeeping: Any


def beat_schedule(every: float = 30.0, housekeeping_every: float = 300.0) -> dict[str, dict[str, Any]]:
    """The Celery beat entries, to merge into ``celery_app.conf.beat_schedule``: the sweep
    every ``every`` seconds, housekeeping every ``housekeeping_every`` seconds."""
    for name, value in (("every", every), ("housekeeping_every", housekeeping_every)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"beat_schedule({name}=...) must be a number of seconds above 0, not {value!r}.")
    return {
        "flask-dm-email-sweep": {"task": SWEEP_TASK, "schedule": float(every)},
        "flask-dm-email-housekeeping": {"task": HOUSEKEEPING_TASK, "schedule": float(housekeeping_every)},
    }


def _outbox_of(flask_app: Flask) -> OutboxRuntime:
    state = get_state(flask_app)
    if state.outbox is None:
        raise EmailConfigError(
            [
                (
                    "DM_EMAIL_OUTBOX_URL",
                    f"is not set on {state.settings.stage.value}, so there is no outbox for Celery to "
                    "deliver. Set it to 'sqlalchemy' or a database URL, or do not call init_celery.",
                )
            ]
        )
    return state.outbox


def init_celery(
    celery_app: Any, flask_app: Flask, *, sweep_grace: float = 15.0, sweep_limit: int = 100
) -> CeleryTasks:
    """Let ``celery_app``'s workers deliver ``flask_app``'s outbox.

    Registers :data:`DELIVER_TASK`, :data:`SWEEP_TASK` and :data:`HOUSEKEEPING_TASK`
    (each runs in ``flask_app``'s application context), and sends the deliver task,
    carrying the row id only, for every email once it is committed — after the caller's transaction commits with
    ``queue_email(session=...)``, never for a rolled-back one. Call it after
    ``DMEmail(flask_app)``, in the module both the web processes and the Celery workers
    import. Add :func:`beat_schedule` to the beat schedule.

    :param sweep_grace: the sweep delivers rows due for longer than this (seconds): a
        row whose task is merely on its way is left to its task.
    :param sweep_limit: at most this many rows per sweep run.
    :raises ImportError: without Celery installed (the ``[celery]`` extra).
    :raises ~flask_dm_email.errors.EmailConfigError: when ``flask_app`` has no outbox.
    :raises RuntimeError: when called twice for one Flask app, or for one Celery app.
    """
    _require_celery()
    if isinstance(sweep_grace, bool) or not isinstance(sweep_grace, (int, float)) or not sweep_grace >= 0:
        raise ValueError(f"init_celery(sweep_grace=...) must be a number of seconds, 0 or more, not {sweep_grace!r}.")
    if isinstance(sweep_limit, bool) or not isinstance(sweep_limit, int) or sweep_limit < 1:
        raise ValueError(f"init_celery(sweep_limit=...) must be a whole number above 0, not {sweep_limit!r}.")
    runtime = _outbox_of(flask_app)
    if _EXTENSION_KEY in flask_app.extensions:
        raise RuntimeError("init_celery was already called for this Flask app; call it once, where the app is made.")
    if celery_app in _WIRED:
        raise RuntimeError("init_celery was already called for this Celery app with another Flask app. The task "
                           "names are fixed, so give each Flask app a Celery app of its own.")
    settings = get_state(flask_app).settings
    if settings.stage is Stage.DEVELOPMENT and settings.outbox.embedded_worker:
        logger.info("Celery and the embedded worker both deliver this outbox (safe: each email is claimed once). "
                    "Set DM_EMAIL_EMBEDDED_WORKER=false to leave delivery to Celery.")
    outbox = Outbox()

    def follow_up(row_id: str, status: str | None) -> None:
        """Send the task again for when a row still waiting is next due (a retry, a
        scheduled send), unless that is far off: then the sweep finds it. A row this
        task could not claim although it is due (the outbox is paused) is left to the
        sweep too, or the task would chase itself."""
        left = due_in(runtime.store, row_id)
        if left is None or left > MAX_COUNTDOWN or (status is None and left <= 0):
            return
        deliver_task.apply_async((row_id,), countdown=max(0.0, left))

    def deliver(row_id: str) -> str | None:
        """Deliver one outbox email by its row id; the status it ended in, or None."""
        if not isinstance(row_id, str):
            logger.error("%s was given %s, not a row id; it was ignored.", DELIVER_TASK, type(row_id).__name__)
            return None
        with flask_app.app_context():
            try:
                status = outbox.deliver(row_id)
            except Exception as error:
                # The class only: a database error's text can hold the row's address. The
                # row keeps its lease; once that runs out the sweep delivers it.
                logger.error("Delivering email %s failed (%s); the sweep tries again when its lease ends.",
                             row_id, type(error).__name__)
                return None
            try:
                follow_up(row_id, status)
            except Exception as error:
                logger.warning("No follow-up task for email %s (%s); the sweep delivers it when it is due.",
                               row_id, type(error).__name__)
        return status

    def sweep() -> int:
        """Deliver outbox emails whose task was lost; how many were handled."""
        with flask_app.app_context():
            store = runtime.store
            if store.paused():
                return 0
            release_waiting(store, runtime.settings.lease_seconds)
            handled = 0
            for row_id in overdue(store, older_than=float(sweep_grace), limit=sweep_limit):
                try:
                    handled += outbox.deliver(row_id) is not None
                except Exception as error:
                    logger.error("Sweeping email %s failed (%s); the sweep tries again when its lease ends.",
                                 row_id, type(error).__name__)
        if handled:
            logger.info("The sweep delivered %d emails whose task was lost or late.", handled)
        return handled

    def housekeeping() -> dict[str, int]:
        """Ask Notify about emails it never called back about; purge past retention."""
        with flask_app.app_context():
            moved = sync_statuses(flask_app, older_than=SYNC_AFTER)
            # Personal data past DM_EMAIL_RETENTION_DAYS, events past DM_EMAIL_EVENT_RETENTION_DAYS.
            purged = purge(runtime)
        return {"statuses_moved": sum(moved.values()), "purged": int(purged)}

    # This Celery app's own tasks (shared=False: Celery would otherwise give them to every
    # Celery app in the process). acks_late: a worker that dies mid-task has its task
    # redelivered, which is harmless.
    deliver_task = celery_app.task(name=DELIVER_TASK, acks_late=True, shared=False)(deliver)
    sweep_task = celery_app.task(name=SWEEP_TASK, shared=False)(sweep)
    housekeeping_task = celery_app.task(name=HOUSEKEEPING_TASK, shared=False)(housekeeping)

    def send_deliver_task(row_id: str) -> None:
        deliver_task.apply_async((row_id,))

    runtime.listeners.append(send_deliver_task)
    _WIRED.add(celery_app)
    flask_app.extensions[_EXTENSION_KEY] = tasks = CeleryTasks(deliver_task, sweep_task, housekeeping_task)
    return tasks
