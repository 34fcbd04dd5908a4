"""Bulk-send fixtures: the outbox apps of ``tests/outbox`` (SQLite file, then a PostgreSQL
schema; the simulator over real HTTP), and CSV files written as users' tools write them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ..outbox.conftest import make_outbox_app, outbox_url

__all__ = ["make_outbox_app", "outbox_url"]


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write ``text`` (str, encoded as UTF-8, or raw bytes) to a CSV file; its path."""

    def write(text: str | bytes, name: str = "people.csv") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return path

    return write
