"""``example_app/.env.example`` documents every setting the app reads."""

from __future__ import annotations

import re
from pathlib import Path

from flask_dm_email.keys import DM_DOTENV_PATH, DM_NOTIFY_API_KEY, KEYS

EXAMPLE = Path(__file__).resolve().parents[2] / "example_app"
APP_KEYS = {"DATABASE_URL", "EXAMPLE_APP_URL", "EXAMPLE_SIMULATOR_PORT", "EXAMPLE_EMBEDDED_SIMULATOR",
            "EXAMPLE_DEMO_DATABASE_URL", "SECRET_KEY"}


def documented() -> set[str]:
    text = (EXAMPLE / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_every_extension_key_is_documented() -> None:
    assert set(KEYS) | {DM_DOTENV_PATH} <= documented()
    assert DM_NOTIFY_API_KEY in (EXAMPLE / ".env.example").read_text()  # the alias, mentioned


def test_every_key_the_example_reads_from_the_environment_is_documented() -> None:
    source = "".join(p.read_text() for p in EXAMPLE.glob("*.py"))
    read = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', source))
    assert read <= APP_KEYS, "document it in .env.example and add it to APP_KEYS"
    assert documented() >= APP_KEYS


def test_a_copy_left_as_it_is_still_runs_on_the_simulator() -> None:
    """Copying the file without filling in a key must not point the app at Notify."""
    assert re.search(r"^DM_NOTIFY_KEY=$", (EXAMPLE / ".env.example").read_text(), flags=re.MULTILINE)
