"""The stage table in the docs and in the README agree with the code."""

from __future__ import annotations

import re
from pathlib import Path

from flask_dm_email.config import STAGE_RULES, Stage
from flask_dm_email.config_keys import KEYS

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("default_backend", "key", "redirect_map", "allow_list", "callback_token")


def docs_table() -> dict[str, tuple[str, ...]]:
    text = (ROOT / "docs" / "configuration.rst").read_text()
    block = text.split(":name: stage-rules", 1)[1].split("On preview", 1)[0]
    cells = [c.strip() for c in re.split(r"^\s+(?:\* )?- ", block, flags=re.M)[1:]]
    rows = [cells[i : i + 6] for i in range(0, len(cells), 6)]
    assert rows[0] == ["stage", "default backend", "key", "redirect map", "allow-list", "callback token"]
    return {row[0]: tuple(row[1:]) for row in rows[1:]}


def readme_table() -> dict[str, tuple[str, ...]]:
    text = (ROOT / "README.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().replace("`", "") for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in ("development", "test", "preview, staging", "production"):
            for stage in cells[0].split(", "):
                rows[stage] = tuple(cells[1:])
    return rows


def code_table() -> dict[str, tuple[str, ...]]:
    return {stage.value: tuple(getattr(STAGE_RULES[stage], c) for c in COLUMNS) for stage in Stage}


def test_docs_stage_table_matches_the_code() -> None:
    assert docs_table() == code_table()


def test_readme_stage_table_matches_the_code() -> None:
    assert readme_table() == code_table()


def test_every_key_has_a_docs_entry() -> None:
    text = (ROOT / "docs" / "configuration.rst").read_text()
    documented = set(re.findall(r"^\.\. data:: (\w+)", text, flags=re.M))
    assert set(KEYS) <= documented
