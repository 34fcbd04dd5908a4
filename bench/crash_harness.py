"""The crash harness, long form: 2,000 rows and 30 SIGKILLs by default.

    .venv/bin/python bench/crash_harness.py --db sqlite
    .venv/bin/python bench/crash_harness.py --db postgresql --rows 2000 --kills 30

Prints duplicates / lost / stuck (all must be 0) and the kills done; exits 1 otherwise.
The short form runs in the test suite (tests/outbox/test_crash.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.outbox.crash_harness import main

if __name__ == "__main__":
    main()
