"""The stages, their names, and the rules each enforces: the stage table as data.

The docs table (``docs/configuration.rst``) and the README's are checked against
:data:`STAGE_RULES` by the test suite, and :func:`flask_dm_email.config.check_stage_rules`
and :meth:`StageRule.backend_for` read the same rows, so the tables cannot drift from
what the code does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """The stages a Digital Marketplace-style service runs on."""

    DEVELOPMENT = "development"
    TEST = "test"
    PREVIEW = "preview"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def is_live(self) -> bool:
        """Preview, staging and production: stages with a real Notify service."""
        return self in LIVE_STAGES


LIVE_STAGES = frozenset({Stage.PREVIEW, Stage.STAGING, Stage.PRODUCTION})
#: Other names a stage is known by.
STAGE_ALIASES: Mapping[str, Stage] = {"local": Stage.DEVELOPMENT}
#: How the names are listed in error messages.
STAGE_NAMES = "development (or local), test, preview, staging, production"


def resolve_stage(name: object) -> Stage | None:
    """The stage ``name`` means (any case, surrounding spaces and aliases allowed), or
    None if it names no stage. The one place a stage name is read."""
    text = str(name).strip().lower()
    if text in STAGE_ALIASES:
        return STAGE_ALIASES[text]
    try:
        return Stage(text)
    except ValueError:
        return None


def default_stage(testing: bool) -> Stage:
    """The stage when ``DM_ENVIRONMENT`` is not set: ``test`` under ``app.testing``."""
    return Stage.TEST if testing else Stage.DEVELOPMENT


REQUIRED = "required"


@dataclass(frozen=True)
class StageRule:
    """One row of the stage table. The text columns are what the docs show, word for
    word; the checks read the same words."""

    backend_without_key: str
    backend_with_key: str
    key: str
    redirect_map: str
    allow_list: str
    callback_token: str
    backend_note: str = ""

    @property
    def default_backend(self) -> str:
        """The "default backend" column."""
        if self.backend_without_key == self.backend_with_key:
            text = self.backend_without_key
        else:
            text = f"{self.backend_without_key} without a key, else {self.backend_with_key}"
        return f"{text} {self.backend_note}".strip()

    def backend_for(self, has_key: bool) -> str:
        """The backend used when ``DM_EMAIL_BACKEND`` is not set."""
        return self.backend_with_key if has_key else self.backend_without_key

    @property
    def requires_key(self) -> bool:
        return self.key == REQUIRED

    @property
    def requires_redirect_map(self) -> bool:
        return self.redirect_map.startswith(REQUIRED)

    @property
    def refuses_allow_list(self) -> bool:
        return self.allow_list == "refused"

    @property
    def requires_callback_token(self) -> bool:
        return self.callback_token.startswith(REQUIRED)


_MOUNTED = "required when callbacks are mounted"
_LIVE_RULE = StageRule("notify", "notify", REQUIRED, "required (may be {} explicitly)", "optional", _MOUNTED)
STAGE_RULES: Mapping[Stage, StageRule] = {
    Stage.DEVELOPMENT: StageRule("log", "notify", "optional", "optional", "optional", "optional"),
    Stage.TEST: StageRule(
        "memory", "memory", "ignored", "optional", "optional", "optional", "(no network unless configured)"
    ),
    Stage.PREVIEW: _LIVE_RULE,
    Stage.STAGING: _LIVE_RULE,
    Stage.PRODUCTION: StageRule("notify", "notify", REQUIRED, "allowed", "refused", _MOUNTED),
}
