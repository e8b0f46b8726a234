"""``cutout-mock verify``: the kit's command, added to the server's CLI through the entry point group
``cutout_mock.commands`` (``verify = "contracts.cli:register [kit]"``), so the server never imports
the kit. Registering imports nothing but argparse; the verifier loads when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

KIT_EXTRA = "pip install 'cutout-mock[kit]'"


def register(commands: Any) -> None:
    """Add ``verify`` to the subcommands (``argparse``'s ``add_subparsers()`` object) of ``cutout-mock``."""
    verify = commands.add_parser("verify", help="verify a provider server against the contract")
    targets = verify.add_subparsers(dest="target", required=True)
    vsrv = targets.add_parser("server", help="a server: this mock, a proxy or gateway, or the real API (costs credits)")
    vsrv.add_argument(
        "--provider",
        required=True,
        choices=["pixelcut", "fal", "pixazo", "pixelapi"],
        help="whose contract to check the server against",
    )
    vsrv.add_argument("--base-url", required=True, help="the provider's base, e.g. http://127.0.0.1:8080/pixelcut")
    vsrv.add_argument("--key", default="cutout-verify", help="API key to use (the real API needs a real one)")
    vsrv.add_argument("--checks", help="comma-separated check names (default: all)")
    vsrv.add_argument("--no-schemathesis", action="store_true", help="run only the job checks")
    vsrv.add_argument("--max-examples", type=int, default=10, help="schemathesis examples per operation")
    vsrv.add_argument(
        "--check-invalid-keys", action="store_true", help="expect made-up keys refused (strict servers, real APIs)"
    )
    vsrv.add_argument("--junit", type=Path, help="write a JUnit XML report here (schemathesis's beside it)")
    vsrv.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the job to end")
    vsrv.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        help="seconds each request may take, schemathesis's included (default 60; its own is 10)",
    )
    vsrv.add_argument(
        "--rate-limits",
        action="store_true",
        help="against a cutout-mock, keep its rate limits on while schemathesis runs (default: off for that run)",
    )
    vsrv.set_defaults(handler=verify_server_command)


def verify_server_command(args: argparse.Namespace) -> int:
    from contracts.server import schemathesis_executable, verify_server

    if not args.no_schemathesis and schemathesis_executable() is None:
        print(f"cutout-mock verify: schemathesis is not installed: {KIT_EXTRA} (or --no-schemathesis)", file=sys.stderr)
        return 2
    report = verify_server(
        args.provider,
        args.base_url,
        key=args.key,
        checks=args.checks.split(",") if args.checks else None,
        schemathesis=not args.no_schemathesis,
        max_examples=args.max_examples,
        check_invalid_keys=args.check_invalid_keys,
        junit=args.junit,
        timeout=args.timeout,
        request_timeout=args.request_timeout,
        rate_limits=args.rate_limits,
    )
    for outcome in report.outcomes:
        mark = "PASS" if outcome.passed else "FAIL"
        print(f"{mark}  {outcome.name}" + ("" if outcome.passed else f"\n      {outcome.message}"))
    for note in report.notes:
        print(f"NOTE  {note}")
    verdict = "all checks passed" if report.ok else f"failed: {', '.join(report.failed)}"
    print(f"{report.provider} at {report.base_url}: {verdict}")
    return 0 if report.ok else 1
