"""``python -m flask_dm_email.simulator``: run the local Notify simulator."""

from __future__ import annotations

import argparse
import logging
import sys

from .config import SimulatorConfigError
from .server import serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="python -m flask_dm_email.simulator",
        description="Run a local GOV.UK Notify simulator (email API, inbox and fault knobs).",
    )
    parser.add_argument("--config", help="JSON or TOML file describing services; omit for zero-config mode")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=6011, help="port to bind (default: %(default)s)")
    parser.add_argument("--delivery-delay", type=float, help="seconds per status step (created, sending, final)")
    parser.add_argument("--callback-retry-delay", type=float, help="seconds between callback retries (Notify: 300)")
    parser.add_argument("--callback-url", help="delivery-status and complaint callback URL for services without one")
    parser.add_argument("--callback-token", help="bearer token sent with --callback-url (10+ characters)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted; exit 2 with a message if the config is invalid."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.callback_url and not args.callback_token:
        print("error: --callback-url needs --callback-token", file=sys.stderr)
        return 2
    try:
        serve(
            args.config,
            args.host,
            args.port,
            default_callback_url=args.callback_url,
            default_callback_token=args.callback_token,
            delivery_delay=args.delivery_delay,
            callback_retry_delay=args.callback_retry_delay,
        )
    except SimulatorConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
