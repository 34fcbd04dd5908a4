"""The embedded worker: on development, the process that serves requests also delivers
the outbox, so ``flask run`` alone does everything.

It starts at the first request, so it runs once, in the serving process, never in the
reloader's parent (which serves nothing) nor in other ``flask`` commands; it is a daemon
thread, stopped when the interpreter exits. ``DM_EMAIL_EMBEDDED_WORKER=false`` turns it
off (then run ``flask dm-email worker``).
"""

from __future__ import annotations

import atexit
import logging
import threading

from flask import Flask

from .. import forksafe

logger = logging.getLogger("flask_dm_email.outbox")

EMBEDDED_KEY = "dm_email_embedded_worker"


def install(app: Flask) -> None:
    """Start the embedded worker at ``app``'s first request."""
    lock = forksafe.Lock()

    def start_once() -> None:
        if EMBEDDED_KEY in app.extensions:
            return
        with lock:
            if EMBEDDED_KEY in app.extensions:
                return
            from .worker import Worker

            worker = Worker(app, threads=2)
            app.extensions[EMBEDDED_KEY] = worker
            thread = threading.Thread(target=worker.run, name="dm-email-embedded-worker", daemon=True)
            thread.start()
            atexit.register(worker.stop)
            logger.info("Outbox worker started in this process (development); it stops with the server.")

    app.before_request(start_once)
