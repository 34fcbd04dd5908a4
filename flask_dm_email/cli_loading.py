"""Loading the app for ``flask dm-email`` commands, so that an invalid config is reported
as a list of problems, never as a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from flask import Flask
from flask.cli import ScriptInfo

from .errors import EmailConfigError
from .state import EXTENSION_KEY


def _find_config_error(error: BaseException | None) -> EmailConfigError | None:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, EmailConfigError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def fail_config(error: EmailConfigError) -> NoReturn:
    click.echo("flask-dm-email configuration is not valid:", err=True)
    for key, message in error.problems:
        click.echo(f"  {key}: {message}", err=True)
    sys.exit(1)


def load_app() -> Flask:
    """Load the app ourselves so an invalid config is reported as a list, not a traceback."""
    info = click.get_current_context().ensure_object(ScriptInfo)
    try:
        app = info.load_app()
    except Exception as error:  # the app factory may wrap our error in its own
        config_error = _find_config_error(error)
        if config_error is None:
            raise
        fail_config(config_error)
    if EXTENSION_KEY not in app.extensions:
        click.echo(
            f"The app {app.name!r} does not use flask-dm-email: call DMEmail().init_app(app) in its "
            "factory (see the README's 'Adopting it'), or pass the right app with --app.",
            err=True,
        )
        sys.exit(1)
    return app
