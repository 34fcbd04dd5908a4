"""The crash harness, short form: 300 rows, 10 SIGKILLs of worker processes, faults after
storing, on SQLite and PostgreSQL. Nothing sent twice, nothing lost, nothing stuck."""

from __future__ import annotations

from .crash_harness import run


def test_killing_workers_loses_nothing_and_sends_nothing_twice(outbox_url: str) -> None:
    report = run(outbox_url, rows=300, kills=10, timeout=240)
    print(report.line())
    assert report.kills == 10
    assert (report.duplicates, report.lost, report.stuck) == (0, 0, 0), report.line()
