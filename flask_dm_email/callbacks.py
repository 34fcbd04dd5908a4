"""Placeholder: the callback blueprint (issue 3) is being written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Flask

if TYPE_CHECKING:
    from .extension import DMEmailState


def register_callbacks(app: Flask, state: DMEmailState) -> None:
    """Mount the callback blueprint at ``DM_NOTIFY_CALLBACK_PREFIX``."""
    bp = Blueprint("dm_email_callbacks", __name__, url_prefix=state.settings.callback_prefix)

    @bp.get("")
    def status() -> dict[str, str]:
        return {"status": "ok"}

    app.register_blueprint(bp)
