"""Where each setting is read from: ``app.config``, else the process environment, else
(on the ``development`` stage only) a ``.env`` file read with python-dotenv.

The ``.env`` file is read, never written into ``os.environ``, so it cannot override a
real environment variable and it leaves no trace on other apps in the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dotenv import dotenv_values, find_dotenv

from .config_keys import DM_DOTENV_PATH, DM_ENVIRONMENT, DM_NOTIFY_API_KEY, DM_NOTIFY_KEY, KEYS
from .stages import Stage, default_stage, resolve_stage

__all__ = ["RawSettings", "read_raw_settings"]


class RawSettings:
    """The raw value of every key, where it came from, and the stage they name.

    :ivar values: ``{key: raw value}`` for every key that is set (strings from the
        environment or ``.env``, anything from ``app.config``).
    :ivar sources: ``{key: "config" | "environment" | ".env" | "default"}``.
    :ivar stage: the stage ``DM_ENVIRONMENT`` names (its default when unset), or None
        when it names no stage.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.stage: Stage | None = None

    def set(self, key: str, value: Any, source: str) -> None:
        self.values[key] = value
        self.sources[key] = source


def _lookup(
    key: str,
    names: tuple[str, ...],
    layers: list[tuple[str, Mapping[str, Any]]],
    raw: RawSettings,
) -> None:
    for source, mapping in layers:
        for name in names:
            value = mapping.get(name)
            if value is not None and value != "":
                raw.set(key, value, source if name == key else f"{source} ({name})")
                return
    raw.sources[key] = "default"


def read_raw_settings(
    app_config: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    testing: bool = False,
) -> tuple[RawSettings, list[tuple[str, str]], str | None]:
    """Collect raw values from config, environment and (development only) ``.env``,
    without validating them: the supported way for an app factory to look at its email
    settings before ``init_app`` (the example app uses it to decide whether to embed the
    simulator).

    Returns the raw settings, problems found while reading (``[(key, message)]``), and
    the ``.env`` path used.
    """
    problems: list[tuple[str, str]] = []
    raw = RawSettings()
    layers: list[tuple[str, Mapping[str, Any]]] = [("config", app_config), ("environment", environ)]
    _lookup(DM_ENVIRONMENT, (DM_ENVIRONMENT,), layers, raw)
    stage_name = raw.values.get(DM_ENVIRONMENT)
    raw.stage = default_stage(testing) if stage_name is None else resolve_stage(stage_name)
    dotenv_path: str | None = None
    if raw.stage is Stage.DEVELOPMENT:
        dotenv_path = str(
            app_config.get(DM_DOTENV_PATH) or environ.get(DM_DOTENV_PATH) or find_dotenv(usecwd=True)
        )
        if dotenv_path and os.path.isfile(dotenv_path):
            dotenv = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
            layers.append((".env", dotenv))
            env_stage = dotenv.get(DM_ENVIRONMENT, "").strip().lower()
            if env_stage and resolve_stage(env_stage) is not Stage.DEVELOPMENT:
                problems.append(
                    (
                        DM_ENVIRONMENT,
                        f"is set to {env_stage!r} in {dotenv_path}, but .env files are only "
                        "read on the development stage. Set DM_ENVIRONMENT in the real "
                        "environment or in app.config instead.",
                    )
                )
        else:
            dotenv_path = None
    for key in KEYS:
        if key == DM_ENVIRONMENT:
            continue
        names = (key, DM_NOTIFY_API_KEY) if key == DM_NOTIFY_KEY else (key,)
        _lookup(key, names, layers, raw)
    # Both spellings of the key, with different values, is a mistake worth stopping for.
    for source, mapping in layers:
        primary, alias = mapping.get(DM_NOTIFY_KEY), mapping.get(DM_NOTIFY_API_KEY)
        if primary and alias and primary != alias:
            problems.append(
                (
                    DM_NOTIFY_KEY,
                    f"and its alias DM_NOTIFY_API_KEY are both set in the {source}, to "
                    "different keys. Set only DM_NOTIFY_KEY.",
                )
            )
    return raw, problems, dotenv_path
