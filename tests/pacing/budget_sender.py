"""A process that sends synchronously, as a web process does: ``python -m
tests.pacing.budget_sender COUNT PREFIX`` sends COUNT emails, one after another, and
prints how many were sent and how many the budget refused."""

from __future__ import annotations

import json
import sys

from flask_dm_email import EmailRateLimitError, send_email

from .budget_app import create_app


def main() -> None:
    count, prefix = int(sys.argv[1]), sys.argv[2]
    app = create_app()
    sent = refused = 0
    with app.app_context():
        for number in range(count):
            try:
                send_email(f"{prefix}-{number}@example.gov.uk", "welcome", {"name": "A"})
                sent += 1
            except EmailRateLimitError:
                refused += 1
    print(json.dumps({"sent": sent, "refused": refused}))


if __name__ == "__main__":
    main()
