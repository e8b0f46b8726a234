"""The ``cutout-mock`` command line.

``cutout-mock segment INPUT OUTPUT``: cut out a local file or URL (image -> PNG, video -> any of the
nine formats), with the same engine and options the mock server uses, and a progress bar for video.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from mockserver.engine import compose, inputs, matting
from mockserver.engine.codecs import FORMATS
from mockserver.engine.errors import MalformedImage, MediaError, UnsupportedImageFormat
from mockserver.engine.segment import get_segmenter
from mockserver.engine.video import choose_format, process_video

_EXTENSION_FORMAT = {"webm": "webm_vp9", "mkv": "mkv_vp9", "mov": "mov_proresks", "gif": "gif", "mp4": "mp4_h264"}
_LOOSE_IMAGE = inputs.ImageLimits(max_bytes=200 * inputs.MB, min_side=8, max_side=20000)
_LOOSE_VIDEO = inputs.VideoLimits(max_bytes=10_000 * inputs.MB, max_seconds=24 * 3600, min_side=8, max_side=8192)


class ProgressBar:
    """A one-line text progress bar on stderr, redrawn in place."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream, self.width = stream, width

    def __call__(self, done: int, total: int | None) -> None:
        if total:
            filled = min(self.width, self.width * done // total)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {done}/{total} frames")
        else:
            self.stream.write(f"\r{done} frames")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def _read_input(source: str) -> bytes:
    if source.startswith(("http://", "https://", "data:")):
        policy = inputs.FetchPolicy(max_bytes=_LOOSE_VIDEO.max_bytes, timeout=120)
        return asyncio.run(inputs.fetch(source, policy))
    return Path(source).read_bytes()


def _segment_command(args: argparse.Namespace) -> int:
    data = _read_input(args.input)
    engine = get_segmenter(args.engine)
    background = compose.parse_background(args.background, args.background_color)
    try:
        picture = inputs.load_picture(data, _LOOSE_IMAGE)
    except (MalformedImage, UnsupportedImageFormat):
        picture = None
    if picture is not None:
        colour, alpha = matting.cut_out(picture, engine, require_subject=True)
        rgba = compose.composite(colour, alpha, background, foreground=False)
        shadow = compose.Shadow() if args.shadow else None
        if shadow:
            rgba = compose.add_shadow(rgba, compose.cast_shadow(alpha, shadow))
        if args.crop:
            rgba = compose.crop_to_subject(rgba)
        Path(args.output).write_bytes(compose.encode_png(rgba))
        print(f"{args.output}: {rgba.shape[1]}x{rgba.shape[0]} PNG", file=sys.stderr)
        return 0
    src = inputs.spool(data)
    try:
        inputs.probe_video(src, _LOOSE_VIDEO)
        requested = args.format or _EXTENSION_FORMAT.get(Path(args.output).suffix.lstrip(".").lower())
        fmt = choose_format(background, requested)
        bar = ProgressBar()
        kwargs = {} if args.engine in ("auto", "classic") else {"engine": engine}
        stats = process_video(src, args.output, fmt, background, progress=bar, **kwargs)
        bar.close()
    finally:
        src.unlink(missing_ok=True)
    print(f"{args.output}: {stats.frames} frames {stats.width}x{stats.height} {stats.format}", file=sys.stderr)
    return 0


def _expose(value: str) -> tuple[str, int]:
    from mockserver.app import surfaces

    name, _, port = value.partition("=")
    if name not in surfaces() or not port.isdigit():
        raise argparse.ArgumentTypeError(f"use NAME=PORT with NAME one of {', '.join(surfaces())}")
    return name, int(port)


def _store(value: str) -> str:
    from mockserver.runtime import is_redis

    if value in ("sqlite", "memory") or is_redis(value):
        return value
    raise argparse.ArgumentTypeError("use sqlite, memory or a redis:// URL")


def _serve_command(args: argparse.Namespace) -> int:
    from mockserver.control.actions import ControlError
    from mockserver.core.backends.base import StoreUnavailable
    from mockserver.server import serve
    from mockserver.settings import Settings

    settings = Settings.from_env(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        store=args.store,
        clock=args.clock,
        speed=args.speed,
        progression=args.progression,
        keys_file=args.keys,
        scenario_file=args.scenario,
        seed=args.seed,
        allow_private_fetch=args.allow_fetch,
        rate_limits=not args.no_rate_limits,
        journal_size=args.journal_size,
        expose=dict(args.expose),
        tls=args.tls,
        public_url=args.public_url,
        workers=args.workers,
        lease_seconds=args.lease_seconds,
        **({"engine": args.engine} if args.engine else {}),
    )
    try:
        serve(settings)
    except ControlError as problem:
        print(f"cutout-mock: scenario: {problem.detail}", file=sys.stderr)
        return 2
    except StoreUnavailable as problem:
        print(f"cutout-mock: store: {problem}", file=sys.stderr)
        return 2
    return 0


def _verify_server_command(args: argparse.Namespace) -> int:
    from contracts.server import verify_server

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
    )
    for outcome in report.outcomes:
        mark = "PASS" if outcome.passed else "FAIL"
        print(f"{mark}  {outcome.name}" + ("" if outcome.passed else f"\n      {outcome.message}"))
    verdict = "all checks passed" if report.ok else f"failed: {', '.join(report.failed)}"
    print(f"{report.provider} at {report.base_url}: {verdict}")
    return 0 if report.ok else 1


_ENGINE_HELP = (
    "segmentation engine: auto (default: classic where it is safe, else the shipped u2netp model), "
    "classic, u2netp, or onnx:PATH (your own saliency model)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cutout-mock", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="cut out an image or a video (file path or URL)")
    seg.add_argument("input")
    seg.add_argument("output")
    seg.add_argument("--format", choices=sorted(FORMATS), help="video output format (default: from the extension)")
    seg.add_argument(
        "--background",
        default="transparent",
        help="transparent, black, white, green, blue, magenta, custom or a hex colour",
    )
    seg.add_argument("--background-color", help="with --background custom: #RRGGBB")
    seg.add_argument("--engine", default="auto", help=_ENGINE_HELP)
    seg.add_argument("--shadow", action="store_true", help="images: add a cast shadow (Pixelcut's default light)")
    seg.add_argument("--crop", action="store_true", help="images: crop to the subject")
    seg.set_defaults(handler=_segment_command)

    srv = sub.add_parser("serve", help="run the mock server with every provider")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8080)
    srv.add_argument(
        "--state-dir", type=Path, default=Path("state"), help="SQLite database and media (default ./state)"
    )
    srv.add_argument(
        "--store",
        type=_store,
        default="sqlite",
        help="sqlite (default, in --state-dir), memory, or redis://host:port/db[?prefix=name] shared by replicas",
    )
    srv.add_argument(
        "--clock", choices=["real", "virtual"], default="real", help="virtual: frozen, moved from /__mock/clock"
    )
    srv.add_argument("--speed", type=float, default=1.0, help="real clock: job timings run this many times faster")
    srv.add_argument(
        "--progression", choices=["timed", "polls"], default="timed", help="polls: done on the third status poll"
    )
    srv.add_argument("--keys", type=Path, help="JSON {provider: {key: {balance, plan}}}: only these keys work")
    srv.add_argument(
        "--scenario", type=Path, help="YAML/JSON set-up applied at start: seed, clock, rate_limits, accounts, faults"
    )
    srv.add_argument("--seed", type=int, help="seed ids and randomness for repeatable runs")
    srv.add_argument("--engine", help=_ENGINE_HELP)
    srv.add_argument("--allow-fetch", action="store_true", help="allow input URLs on private networks")
    srv.add_argument("--journal-size", type=int, default=10_000, help="requests kept in /__mock/journal (0: off)")
    srv.add_argument("--no-rate-limits", action="store_true", help="turn the providers' per-key rate limits off")
    srv.add_argument(
        "--expose",
        type=_expose,
        action="append",
        default=[],
        metavar="NAME=PORT",
        help="serve a surface at the root of its own port (e.g. fal-queue=8443)",
    )
    srv.add_argument("--tls", action="store_true", help="exposed ports speak https (self-signed certificate)")
    srv.add_argument("--public-url", help="base URL of the main port in URLs the mock returns")
    srv.add_argument(
        "--workers", type=int, default=1, help="processes on the port, sharing state through the SQLite file or Redis"
    )
    srv.add_argument(
        "--lease-seconds",
        type=float,
        default=15.0,
        help="Redis: a stopped replica's running jobs end as errored this long after its last renewal",
    )
    srv.set_defaults(handler=_serve_command)

    verify = sub.add_parser("verify", help="verify a provider server against the contract").add_subparsers(
        dest="target", required=True
    )
    vsrv = verify.add_parser("server", help="a server: this mock, a proxy or gateway, or the real API (costs credits)")
    vsrv.add_argument("--provider", required=True, choices=["pixelcut", "fal", "pixazo", "pixelapi"])
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
    vsrv.set_defaults(handler=_verify_server_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (MediaError, OSError, ValueError) as exc:
        print(f"cutout-mock: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
