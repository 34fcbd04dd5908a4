"""A ``.env`` file is for development only, whichever way its values arrive.

``flask`` itself (python-dotenv's ``load_dotenv`` in ``flask.cli``) copies ``.env`` and
``.flaskenv`` into ``os.environ`` on every stage, before the app is loaded, and an app may
call ``load_dotenv()`` in its ``wsgi.py``. The extension reports such a value's real source
and refuses it on any stage but development, naming the file and the key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flask_dm_email.config import load_settings
from flask_dm_email.errors import EmailConfigError
from tests.conftest import KEY, TEMPLATE_ID, TOKEN

ROOT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).with_name("flask")
APP = """
from flask import Flask
from flask_dm_email import DMEmail


def create_app():
    app = Flask(__name__)
    DMEmail(app)
    return app
"""
# What a live stage needs besides the key; set in the real environment.
LIVE_ENVIRONMENT = {
    "DM_NOTIFY_REDIRECT_DOMAINS_TO_ADDRESS": "{}",
    "DM_NOTIFY_CALLBACK_TOKEN": TOKEN,
    "DM_EMAIL_LIMITER_URL": "memory",
}


def flask_config(directory: Path, *options: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``flask --app myapp [options] dm-email config`` in ``directory``, with only
    ``environment``'s DM_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DM_", "FLASK_"))}
    env.update(environment, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [str(FLASK), "--app", "myapp", *options, "dm-email", "config"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "myapp.py").write_text(APP)
    (tmp_path / ".env").write_text(f"DM_NOTIFY_KEY={KEY}\nDM_NOTIFY_TEMPLATES=welcome={TEMPLATE_ID}\n")
    return tmp_path


def source_of(output: str, key: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith(f"{key} ")]
    return line.rsplit("[", 1)[1].rstrip("]")


def test_flask_loaded_dotenv_is_reported_as_dotenv_on_development(project: Path) -> None:
    result = flask_config(project)
    assert result.returncode == 0, result.stderr
    assert source_of(result.stdout, "DM_NOTIFY_KEY") == ".env"
    assert source_of(result.stdout, "DM_NOTIFY_TEMPLATES") == ".env"
    assert f".env file: {project / '.env'}" in result.stdout


@pytest.mark.parametrize("stage", ["staging", "production", "test"])
def test_flask_loaded_dotenv_is_refused_on_other_stages(project: Path, stage: str) -> None:
    result = flask_config(project, DM_ENVIRONMENT=stage, **LIVE_ENVIRONMENT)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    for key in ("DM_NOTIFY_KEY", "DM_NOTIFY_TEMPLATES"):
        [line] = [line for line in result.stderr.splitlines() if line.strip().startswith(f"{key}:")]
        assert f"is set in {project / '.env'}" in line
        assert f"only read on the development stage, and this is {stage}" in line
        assert "FLASK_SKIP_DOTENV=1" in line
    assert KEY not in result.stderr + result.stdout


def test_the_real_environment_still_wins_on_a_live_stage(project: Path) -> None:
    """A variable set in the real environment is not .env's, even with a .env present."""
    other_key = KEY.replace("my_key", "live_key")
    result = flask_config(
        project, DM_ENVIRONMENT="staging", DM_NOTIFY_KEY=other_key, DM_NOTIFY_TEMPLATES="{}", **LIVE_ENVIRONMENT
    )
    assert result.returncode == 0, result.stderr
    assert source_of(result.stdout, "DM_NOTIFY_KEY") == "environment"
    assert "live_key" in result.stdout


def test_flaskenv_and_env_file_are_dotenv_files_too(project: Path) -> None:
    (project / ".env").unlink()
    (project / ".flaskenv").write_text(f"DM_NOTIFY_TEMPLATES=welcome={TEMPLATE_ID}\n")
    result = flask_config(project, DM_ENVIRONMENT="staging", DM_NOTIFY_KEY=KEY, **LIVE_ENVIRONMENT)
    assert result.returncode == 1
    assert f"DM_NOTIFY_TEMPLATES: is set in {project / '.flaskenv'}" in result.stderr


def test_an_env_file_option_is_a_dotenv_file_too(project: Path) -> None:
    (project / ".env").unlink()
    (project / "live.env").write_text(f"DM_NOTIFY_KEY={KEY}\n")
    result = flask_config(project, "-e", "live.env", DM_ENVIRONMENT="production", **LIVE_ENVIRONMENT)
    assert result.returncode == 1
    assert f"DM_NOTIFY_KEY: is set in {project / 'live.env'}" in result.stderr


def test_an_app_loading_dotenv_itself_is_caught(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``load_dotenv()`` in a ``wsgi.py`` under gunicorn: no ``flask`` command involved."""
    from dotenv import load_dotenv

    monkeypatch.chdir(project)
    monkeypatch.delenv("DM_DOTENV_PATH")
    for key, value in LIVE_ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DM_ENVIRONMENT", "production")
    monkeypatch.setattr(os, "environ", os.environ.copy())  # load_dotenv writes into it
    load_dotenv(project / ".env")
    with pytest.raises(EmailConfigError) as info:
        load_settings({}, os.environ)
    keys = [key for key, message in info.value.problems if str(project / ".env") in message]
    assert keys == ["DM_NOTIFY_KEY", "DM_NOTIFY_TEMPLATES"]
