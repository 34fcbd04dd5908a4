"""Where each setting is read from: ``app.config``, else the process environment, else
(on the ``development`` stage only) a ``.env`` file read with python-dotenv.

The ``.env`` file is read, never written into ``os.environ``, so it cannot override a
real environment variable and it leaves no trace on other apps in the process.

Values from a dotenv file can also reach ``os.environ`` before the extension runs: the
``flask`` command loads ``.flaskenv``, ``.env`` and ``--env-file`` on every stage, and an
app may call python-dotenv's ``load_dotenv()`` itself. An environment value equal to the
one such a file sets is reported as that file's, and refused on any other stage than
development, like a ``.env`` read here. (A real variable with exactly the file's value
is refused too: the file has no place on that stage either way.)
"""

from __future__ import annotations

import os
import sys
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
    :ivar sources: ``{key: "config" | "environment" | ".env" | "default"}`` (or the name
        of another dotenv file, such as ``.flaskenv``).
    :ivar dotenv_files: ``{key: path}`` for each key whose value came from a dotenv file.
    :ivar dotenv_path: the ``.env`` file read on development, if any.
    :ivar stage: the stage ``DM_ENVIRONMENT`` names (its default when unset), or None
        when it names no stage.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.dotenv_files: dict[str, str] = {}
        self.dotenv_path: str | None = None
        self.stage: Stage | None = None

    def set(self, key: str, value: Any, source: str) -> None:
        self.values[key] = value
        self.sources[key] = source


def _lookup(
    key: str,
    names: tuple[str, ...],
    layers: list[tuple[str, Mapping[str, Any]]],
    raw: RawSettings,
    loaded: list[tuple[str, dict[str, str]]],
) -> None:
    for source, mapping in layers:
        for name in names:
            value = mapping.get(name)
            if value is not None and value != "":
                if source == "environment":
                    path = next((path for path, values in loaded if values.get(name) == value), None)
                    if path is not None:
                        source = os.path.basename(path)
                        raw.dotenv_files[key] = path
                elif source == ".env":
                    raw.dotenv_files[key] = str(raw.dotenv_path)
                raw.set(key, value, source if name == key else f"{source} ({name})")
                return
    raw.sources[key] = "default"


def _env_file_argument(argv: list[str]) -> str | None:
    """The file given to ``flask -e/--env-file``, if this process is that command."""
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-e", "--env-file"):
            return next(args, None)
        if arg.startswith("--env-file="):
            return arg.split("=", 1)[1]
        if arg in ("-A", "--app"):
            next(args, None)
        elif not arg.startswith("-"):
            return None  # the command's name: its own options follow
    return None


def loaded_dotenv_files(environ: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """The dotenv files that may have put values into ``environ``, in the order ``flask``
    lets them win: ``--env-file``, then ``.env``, then ``.flaskenv`` (the nearest ones from
    the working directory up), with the values each sets."""
    paths = [find_dotenv(".env", usecwd=True), find_dotenv(".flaskenv", usecwd=True)]
    if environ.get("FLASK_RUN_FROM_CLI") == "true":
        paths.insert(0, _env_file_argument(sys.argv) or environ.get("FLASK_ENV_FILE", ""))
    files = []
    for path in dict.fromkeys(os.path.abspath(p) for p in paths if p and os.path.isfile(p)):
        values = {k: v for k, v in dotenv_values(path, encoding="utf-8").items() if v is not None}
        if values:
            files.append((path, values))
    return files


def _dotenv_problems(raw: RawSettings) -> list[tuple[str, str]]:
    """The stage rule for dotenv files: read on development only."""
    if raw.stage in (None, Stage.DEVELOPMENT):
        return []
    stage = raw.stage.value if raw.stage else ""
    return [
        (
            key,
            f"is set in {path}, but dotenv files are only read on the development stage, and this "
            f"is {stage}. The flask command (and python-dotenv's load_dotenv) copy .env into the "
            f"environment on every stage: set {key} in the real environment and remove {path} "
            "from this deployment, or set FLASK_SKIP_DOTENV=1.",
        )
        for key, path in raw.dotenv_files.items()
    ]


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
    loaded = loaded_dotenv_files(environ)
    _lookup(DM_ENVIRONMENT, (DM_ENVIRONMENT,), layers, raw, loaded)
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
            raw.dotenv_path = dotenv_path
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
        _lookup(key, names, layers, raw, loaded)
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
    problems.extend(_dotenv_problems(raw))
    return raw, problems, dotenv_path or next(iter(raw.dotenv_files.values()), None)
