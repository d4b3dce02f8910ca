"""`supermetrics-emulator`: run the emulator by hand."""

from __future__ import annotations

import argparse
import json
import sys

from supermetrics_emulator.server import EmulatorServer
from supermetrics_emulator.settings import RATE_LIMIT_BODIES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supermetrics-emulator",
        description="A local server that behaves like the Supermetrics Enterprise API v2.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks any free port")
    parser.add_argument("--api-key", default="emulator-key")
    parser.add_argument("--run-seconds", type=float, default=0.2, help="time a query runs")
    parser.add_argument("--schedule-seconds", type=float, default=0.0, help="time SCHEDULED")
    parser.add_argument("--max-running", type=int, default=5, help="licence queue slots")
    parser.add_argument("--result-ttl", type=float, default=3600.0, help="results expire after")
    parser.add_argument("--max-page-size", type=int, default=100_000)
    parser.add_argument("--no-header-row", action="store_true", help="omit the header row")
    parser.add_argument("--numbers-as-strings", action="store_true")
    parser.add_argument("--async-status-code", type=int, choices=(200, 202), default=200)
    parser.add_argument("--rate-limit-per-second", type=int, default=0, help="0 = no limit")
    parser.add_argument(
        "--rate-limit-body",
        choices=RATE_LIMIT_BODIES,
        default="documented",
        help="shape of a 429 body: the documented error, {} or {error: {message}}",
    )
    parser.add_argument("--max-url-length", type=int, default=8192, help="longer URLs get 414")
    parser.add_argument(
        "--pending-data-null", action="store_true", help='pending answers carry "data": null'
    )
    parser.add_argument(
        "--no-hold-lookups",
        action="store_true",
        help="answer schedule_id lookups at once, ignoring their sync_timeout",
    )
    parser.add_argument(
        "--settings",
        metavar="JSON",
        help="more settings as one JSON object, e.g. "
        '\'{"extra_accounts": {"AW": ["444-444-4444"]}}\'',
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='a fault rule, e.g. \'{"action": "http_error", "status": 429, "retry_after": "2"}\'',
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Start the emulator and serve until interrupted."""
    args = _parser().parse_args(argv)
    settings = {
        "api_key": args.api_key,
        "run_seconds": args.run_seconds,
        "schedule_seconds": args.schedule_seconds,
        "max_running": args.max_running,
        "result_ttl": args.result_ttl,
        "max_page_size": args.max_page_size,
        "header_row": not args.no_header_row,
        "numbers_as_strings": args.numbers_as_strings,
        "async_status_code": args.async_status_code,
        "rate_limit_per_second": args.rate_limit_per_second,
        "rate_limit_body": args.rate_limit_body,
        "max_url_length": args.max_url_length,
        "pending_data_null": args.pending_data_null,
        "hold_lookups": not args.no_hold_lookups,
    }
    settings.update(json.loads(args.settings) if args.settings else {})
    server = EmulatorServer(host=args.host, port=args.port, **settings)
    for spec in args.fault:
        server.add_fault(**json.loads(spec))
    sys.stdout.write(f"listening on {server.root_url}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
