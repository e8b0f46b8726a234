"""The cutout-mock command line: `serve` (the mock server) and `segment` (cut out one file).

`serve`'s flags are made from the fields of `Settings` (mockserver/settings.py), with the same
precedence everywhere: defaults < CUTOUT_MOCK_* environment < flags.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, Field
from pathlib import Path
from typing import Any

import mockserver.engine.onethread  # noqa: F401  first, before numpy: BLAS on one thread (see it)
from mockserver.engine import compose, inputs, matting
from mockserver.engine.codecs import FORMATS
from mockserver.engine.errors import (
    MalformedImage,
    MalformedVideo,
    MediaError,
    UnsupportedImageFormat,
    UnsupportedVideoFormat,
)
from mockserver.engine.segment import get_segmenter
from mockserver.engine.video import choose_format, process_video, video_engine
from mockserver.settings import Settings, SettingsError, env_name, env_values, parse_setting, serve_fields, setting_type

DESCRIPTION = (
    "A mock server for the Pixelcut, fal, Pixazo and PixelAPI background-removal APIs, "
    "and its cut-out engine on the command line."
)
_EXTENSION_FORMAT = {"webm": "webm_vp9", "mkv": "mkv_vp9", "mov": "mov_proresks", "gif": "gif", "mp4": "mp4_h264"}
_LOOSE_IMAGE = inputs.ImageLimits(max_bytes=200 * inputs.MB, min_side=8, max_side=20000)
_LOOSE_VIDEO = inputs.VideoLimits(max_bytes=10_000 * inputs.MB, max_seconds=24 * 3600, min_side=8, max_side=8192)
_OUTPUT_HELP = (
    "The output's extension must name what is written, else nothing is done (exit 2): an image is cut out "
    "to a PNG with alpha (.png); a video to .webm (VP9 with alpha, the default), .mkv (VP9 with alpha), "
    ".mov (ProRes 4444 with alpha), .gif, or .mp4 (H.264 over --background), or to the --format given, "
    "whose extension must match (mkv_h264 -> .mkv)."
)


@contextmanager
def frames_progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar for video frames on stderr (rich: count, rate, time left).

    Drawn in place only when stderr is a terminal; into a pipe or a log it writes one final line and
    no carriage returns.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True, force_terminal=sys.stderr.isatty())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"))
    rate = TextColumn("{task.fields[rate]}")
    with Progress(*columns, rate, TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(label, total=None, rate="")

        def update(done: int, total: int | None) -> None:
            speed = progress.tasks[0].speed
            progress.update(task, completed=done, total=total, rate=f"{speed:.1f}/s" if speed else "")

        yield update


def _read_input(source: str) -> bytes:
    if source.startswith(("http://", "https://", "data:")):
        policy = inputs.FetchPolicy(max_bytes=_LOOSE_VIDEO.max_bytes, timeout=120)
        return asyncio.run(inputs.fetch(source, policy))
    return Path(source).read_bytes()


def _segment_command(args: argparse.Namespace) -> int:
    data = _read_input(args.input)
    engine = get_segmenter(args.engine)
    from mockserver.providers.work import parse_background  # --background takes fal's presets

    background = parse_background(args.background, args.background_color)
    image_error: MediaError | None = None
    try:
        picture = inputs.load_picture(data, _LOOSE_IMAGE)
    except (MalformedImage, UnsupportedImageFormat) as problem:
        picture, image_error = None, problem
    if picture is not None:
        _check_image_output(args.output)
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
        try:
            inputs.probe_video(src, _LOOSE_VIDEO)
        except (MalformedVideo, UnsupportedVideoFormat):
            if image_error is not None and data.startswith(_IMAGE_MAGIC):
                raise image_error from None  # FFmpeg would call it a "jpeg_pipe" video: say what is wrong
            raise
        fmt = choose_format(background, _video_output_format(args.output, args.format))
        with frames_progress(Path(args.output).name) as progress:
            stats = process_video(src, args.output, fmt, background, progress=progress, **video_engine(args.engine))
    finally:
        src.unlink(missing_ok=True)
    print(f"{args.output}: {stats.frames} frames {stats.width}x{stats.height} {stats.format}", file=sys.stderr)
    return 0


# PNG, JPEG, WebP (RIFF), TIFF (both byte orders), BMP: files that are images, whatever else fails.
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"RIFF", b"II*\x00", b"MM\x00*", b"BM")


def _check_image_output(output: str) -> None:
    if Path(output).suffix.lower() != ".png":
        raise ValueError(f"{output}: an image is cut out to a PNG with alpha; name the output .png")


def _video_output_format(output: str, requested: str | None) -> str:
    """The format to write: --format, else the extension's; refused when the extension names another."""
    extension = Path(output).suffix.lstrip(".").lower()
    if extension not in _EXTENSION_FORMAT:
        named = f".{extension}" if extension else "no extension"
        raise ValueError(f"{output}: a video is written as .webm, .mkv, .mov, .gif or .mp4, not {named}")
    if requested and FORMATS[requested].extension != extension:
        raise ValueError(f"{output}: --format {requested} writes a .{FORMATS[requested].extension} file")
    return requested or _EXTENSION_FORMAT[extension]


def _check_expose(value: dict[str, int]) -> dict[str, int]:
    from mockserver.app import surfaces

    known = surfaces()
    for name in value:
        if name not in known:
            raise ValueError(f"no surface {name!r}: use NAME=PORT with NAME one of {', '.join(known)}")
    return value


def _check_store(value: str) -> str:
    from mockserver.runtime import is_redis

    if value in ("sqlite", "memory") or is_redis(value):
        return value
    raise ValueError("use sqlite, memory or a redis:// URL")


_CHECKS: dict[str, Callable[[Any], Any]] = {"expose": _check_expose, "store": _check_store}


def read_setting(name: str, raw: str) -> Any:
    """A serve setting from text, the same for a flag and an environment variable."""
    value = parse_setting(name, raw)
    return _CHECKS[name](value) if name in _CHECKS else value


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """`serve`'s settings: defaults < serve's own defaults < `environ`'s CUTOUT_MOCK_* < the flags in `args`."""
    given = {f.name: getattr(args, f.name) for f in serve_fields() if hasattr(args, f.name)}
    if "expose" in given:  # the flags' list replaces the variable's
        given["expose"] = {name: port for pairs in given["expose"] for name, port in pairs.items()}
    if "allowed_hosts" in given:  # likewise
        given["allowed_hosts"] = tuple(name for names in given["allowed_hosts"] for name in names)
    serve_defaults = {f.name: f.metadata["serve_default"] for f in serve_fields() if "serve_default" in f.metadata}
    return Settings(**{**serve_defaults, **env_values(environ, read_setting), **given})


def serve_settings(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """The settings `cutout-mock serve ARGV` runs with under `environ` (default: this process's)."""
    args = build_parser().parse_args(["serve", *argv])
    return settings_from(args, os.environ if environ is None else environ)


def _serve_command(args: argparse.Namespace) -> int:
    from mockserver.control.actions import ControlError
    from mockserver.core.backends.base import StoreUnavailable
    from mockserver.core.statedir import StateDirInUse
    from mockserver.server import CannotListen, serve

    try:
        settings = settings_from(args, os.environ)
    except SettingsError as problem:
        print(f"cutout-mock serve: {problem}", file=sys.stderr)
        return 2
    try:
        serve(settings)
    except (CannotListen, StateDirInUse) as problem:
        print(f"cutout-mock: {problem}", file=sys.stderr)
        return 2
    except ControlError as problem:
        print(f"cutout-mock: scenario: {problem.detail}", file=sys.stderr)
        return 2
    except StoreUnavailable as problem:
        print(f"cutout-mock: store: {problem}", file=sys.stderr)
        return 2
    return 0


COMMANDS = "cutout_mock.commands"  # entry point group: commands other parts add (the kit's `verify`)


def _add_commands(sub: Any) -> None:
    """Commands registered under the COMMANDS entry point group (`verify`, by the kit): the server
    names no command of the kit and never imports it. One that cannot load says what to install."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=COMMANDS):
        try:
            entry.load()(sub)
        except ImportError as problem:
            extra = f"pip install 'cutout-mock[{','.join(entry.extras)}]'" if entry.extras else "reinstall cutout-mock"
            message = f"cutout-mock {entry.name}: unavailable ({problem}): {extra}"
            stand_in = sub.add_parser(entry.name, help=message, add_help=False)
            stand_in.add_argument("anything", nargs=argparse.REMAINDER)
            stand_in.set_defaults(handler=lambda args, m=message: _unavailable(m))


def _unavailable(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


_ENGINE_HELP = Settings.__dataclass_fields__["engine"].metadata["help"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cutout-mock")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _setting_help(f: Field[Any]) -> str:
    default = f.metadata.get("serve_default", f.default)
    if setting_type(f.name) is bool:
        default = "on" if default else "off"
    shown = "" if default in (None, MISSING, ()) else f"default {default}; "
    return f"{f.metadata['help']} [{shown}env {env_name(f.name)}]".replace("%", "%%")


def _flag_type(name: str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return read_setting(name, raw)
        except ValueError as problem:
            raise argparse.ArgumentTypeError(str(problem)) from None

    parse.__name__ = name  # argparse names the type in some errors
    return parse


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per serve setting of `Settings`; a flag not given stays out of the namespace."""
    for f in serve_fields():
        flag, kind = f.metadata["flag"] or "--" + f.name.replace("_", "-"), setting_type(f.name)
        common: dict[str, Any] = {"dest": f.name, "help": _setting_help(f)}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif kind in (dict, tuple):  # repeatable: each flag's value is appended
            parser.add_argument(flag, action="append", type=_flag_type(f.name), metavar=f.metadata["metavar"], **common)
        else:
            typed = {"type": _flag_type(f.name), "metavar": f.metadata["metavar"], "choices": f.metadata["choices"]}
            parser.add_argument(flag, **typed, **common)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cutout-mock", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"cutout-mock {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    seg = sub.add_parser(
        "segment",
        help="cut out an image or a video (file path or URL)",
        description="Cut out an image or a video with the engine the mock uses. " + _OUTPUT_HELP,
    )
    seg.add_argument("input", help="an image or a video: a file path, an http(s) URL or a data: URL")
    seg.add_argument("output", help="the file to write: .png for an image; .webm .mkv .mov .gif .mp4 for a video")
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

    srv = sub.add_parser(
        "serve",
        help="run the mock server with every provider",
        description="Run the mock server: every provider on one port, the control plane at /__mock.",
        epilog=(
            "Each setting also comes from the environment variable shown beside it. Precedence, lowest first: "
            "defaults < CUTOUT_MOCK_* < flags. A --scenario file is not a settings file: it is applied once the "
            "mock is built, as calls to /__mock would be."
        ),
        argument_default=argparse.SUPPRESS,
    )
    _add_setting_flags(srv)
    srv.set_defaults(handler=_serve_command)

    _add_commands(sub)
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
