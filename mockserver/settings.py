"""One dataclass of settings; each setting's help text, flag and value check live beside its field.

A field with ``help`` in its metadata is a ``serve`` setting: ``cutout-mock serve`` makes its flag from
the field (``--port``, or the ``flag`` the metadata names), and ``CUTOUT_MOCK_<FIELD NAME>`` sets it from
the environment. One precedence, lowest first:

    the field's default  <  serve's own default (``serve_default``)  <  CUTOUT_MOCK_*  <  flags

Values from the environment and from flags go through the same ``parse_setting``, so ``--port 80000``
and ``CUTOUT_MOCK_PORT=80000`` are refused alike. This module is a leaf: it imports nothing of ours.
"""

from __future__ import annotations

import os
import tempfile
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "CUTOUT_MOCK_"
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting's value that cannot be used; the message names where it came from."""


def _number(kind: Callable[[str], Any], raw: str) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not {'a whole number' if kind is int else 'a number'}") from None


def port_number(raw: str) -> int:
    """A TCP port to listen on: 1-65535, or 0 for any free port (the banner prints the one chosen)."""
    port = _number(int, raw)
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port: use 1-65535, or 0 for any free port")
    return port


def exposed_ports(raw: str) -> dict[str, int]:
    """``NAME=PORT``, or several joined by commas (the environment's form); names are checked by the app."""
    exposed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sign, port = item.partition("=")
        if not sign or not name:
            raise ValueError(f"{item!r}: use NAME=PORT")
        exposed[name] = port_number(port)
    return exposed


def host_names(raw: str) -> tuple[str, ...]:
    """Host names, one or several joined by commas (the environment's form): ``"a.test,b.test"``."""
    names = tuple(filter(None, (part.strip() for part in raw.split(","))))
    for name in names:
        if any(c.isspace() or c in "/@" for c in name):
            raise ValueError(f"{name!r} is not a host name")
    return names


def _at_least(low: float, kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = _number(kind, raw)
        if value < low:
            raise ValueError(f"{raw} is under {low}")
        return value

    return parse


def _above_zero(raw: str) -> float:
    value = _number(float, raw)
    if not value > 0:
        raise ValueError(f"{raw} is not above 0")
    return value


def serve_setting(
    help: str,
    *,
    flag: str | None = None,
    metavar: str | None = None,
    choices: tuple[str, ...] | None = None,
    parse: Callable[[str], Any] | None = None,
    serve_default: Any = MISSING,
) -> dict[str, Any]:
    """A field's metadata that makes it a serve setting: its help text and what its flag needs."""
    metadata = {"help": help, "flag": flag, "metavar": metavar, "choices": choices, "parse": parse}
    return metadata if serve_default is MISSING else {**metadata, "serve_default": serve_default}


@dataclass
class Settings:
    host: str = field(default="127.0.0.1", metadata=serve_setting("address to listen on (0.0.0.0: every interface)"))
    port: int = field(
        default=8080,
        metadata=serve_setting("port of every provider and the control plane; 0: any free port", parse=port_number),
    )
    state_dir: Path | None = field(  # None: a temporary directory
        default=None,
        metadata=serve_setting("SQLite database, media files and keys", metavar="DIR", serve_default=Path("state")),
    )
    store: str = field(
        default="sqlite",
        metadata=serve_setting(
            "sqlite (in the state dir), memory, or redis://host:port/db[?prefix=name] shared by replicas"
        ),
    )
    clock: str = field(
        default="real", metadata=serve_setting("virtual: frozen, moved from /__mock/clock", choices=("real", "virtual"))
    )
    speed: float = field(
        default=1.0,
        metadata=serve_setting("real clock: job timings run this many times faster", metavar="N", parse=_above_zero),
    )
    progression: str = field(
        default="timed", metadata=serve_setting("polls: jobs end on the third status poll", choices=("timed", "polls"))
    )
    work: str = "background"  # "background" (asyncio tasks + threads) or "inline" (done before the submit returns)
    keys_file: Path | None = field(
        default=None,
        metadata=serve_setting(
            "JSON {provider: {key: {balance, plan}}}: only these keys work", flag="--keys", metavar="FILE"
        ),
    )
    scenario_file: Path | None = field(
        default=None,
        metadata=serve_setting(
            "YAML/JSON set-up applied once the mock is built: seed, clock, rate_limits, accounts, faults",
            flag="--scenario",
            metavar="FILE",
        ),
    )
    seed: int | None = field(
        default=None, metadata=serve_setting("seed ids and randomness for repeatable runs", metavar="N")
    )
    engine: str = field(  # read per job (engine/segment.py)
        default="auto",
        metadata=serve_setting(
            "segmentation engine: auto (classic where it is safe, else the shipped u2netp model), "
            "classic, u2netp, or onnx:PATH (your own saliency model)",
            metavar="NAME",
        ),
    )
    allow_private_fetch: bool = field(
        default=False,
        metadata=serve_setting("allow input URLs and webhooks on private networks", flag="--allow-fetch"),
    )
    journal_size: int = field(
        default=10_000,
        metadata=serve_setting("requests kept in /__mock/journal; 0: off", metavar="N", parse=_at_least(0, int)),
    )
    rate_limits: bool = field(  # off in the test settings unless asked
        default=True, metadata=serve_setting("the providers' per-key rate limits")
    )
    expose: dict[str, int] = field(
        default_factory=dict,
        metadata=serve_setting(
            "serve one surface at the root of its own port (repeatable; in the environment: comma-separated)",
            metavar="NAME=PORT",
            parse=exposed_ports,
        ),
    )
    tls: bool = field(default=False, metadata=serve_setting("exposed ports speak https (self-signed certificate)"))
    public_url: str | None = field(
        default=None, metadata=serve_setting("base URL of the main port in the URLs the mock returns", metavar="URL")
    )
    allowed_hosts: tuple[str, ...] = field(  # read by control/lock.py
        default=(),
        metadata=serve_setting(
            "a name /__mock also answers under, beside loopback, addresses, --host and the providers' hosts "
            "(repeatable; in the environment: comma-separated; *: any name)",
            flag="--allowed-host",
            metavar="NAME",
            parse=host_names,
        ),
    )
    control_token: str | None = field(
        default=None,
        metadata=serve_setting(
            "/__mock needs 'Authorization: Bearer TOKEN'; generated and printed when --host is not loopback",
            metavar="TOKEN",
        ),
    )
    expose_control: bool = field(
        default=False, metadata=serve_setting("serve /__mock on the --expose ports too (off: the main port only)")
    )
    workers: int = field(
        default=1,
        metadata=serve_setting(
            "processes on the port, sharing state through the SQLite file or Redis",
            metavar="N",
            parse=_at_least(1, int),
        ),
    )
    engine_processes: int = field(  # 0 (library and tests): media work in a thread of the serving process
        default=0,
        metadata=serve_setting(
            "processes that run media work, in all (split among --workers); 0: threads of the serving "
            "process (whose polls then wait behind the engine)",
            metavar="N",
            parse=_at_least(0, int),
            serve_default=CORES,
        ),
    )
    pixelapi_prices: str = field(  # read per request (providers/pixelapi); the docs disagree with themselves
        default="table",
        metadata=serve_setting(
            "PixelAPI credits: table (its price table, FAQ and /v1/models) or pages (each endpoint's own figure)",
            choices=("table", "pages"),
        ),
    )
    pixelcut_video_credits: float = field(  # read per job (providers/pixelcut); Pixelcut publishes no video price
        default=1.0,
        metadata=serve_setting(
            "Pixelcut video: credits per started 30 frames (undocumented; 0: free)",
            metavar="N",
            parse=_at_least(0, float),
        ),
    )
    lease_seconds: float = field(
        default=15.0,
        metadata=serve_setting(
            "Redis replicas and --workers: a dead process's running jobs end as errored this long after "
            "its last renewal",
            metavar="S",
            parse=_above_zero,
        ),
    )
    read_timeout: float = field(
        default=30.0,
        metadata=serve_setting(
            "seconds a client may take to send a request's headers, and then its body; "
            "a slower one gets 408 and is disconnected",
            metavar="S",
            parse=_above_zero,
        ),
    )

    @classmethod
    def for_tests(cls, **overrides: object) -> Settings:
        """Virtual clock, memory store, work done inline: deterministic and fast."""
        base = {"store": "memory", "clock": "virtual", "work": "inline", "seed": 0, "rate_limits": False}
        base["allowed_hosts"] = ("testserver",)  # the name httpx's and Starlette's in-process clients send
        return cls(**{**base, **overrides})  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``CUTOUT_MOCK_*`` (of `environ`, else the process's), under the given overrides."""
        return cls(**{**env_values(os.environ if environ is None else environ), **overrides})  # type: ignore[arg-type]

    def resolved_state_dir(self) -> Path:
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="cutout-mock-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir


def serve_fields() -> list[Field[Any]]:
    """The fields `serve` has flags for, in declaration order."""
    return [f for f in fields(Settings) if "help" in f.metadata]


def env_name(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def env_text(value: Any) -> str:
    """A setting's value as its environment variable takes it (what ``serve --workers`` hands its
    workers): a list of names joined by commas, anything else as ``str``."""
    return ",".join(value) if isinstance(value, tuple) else str(value)


def env_values(environ: Mapping[str, str], read: Callable[[str, str], Any] | None = None) -> dict[str, Any]:
    """The settings `environ` sets, each read by `read` (default parse_setting); SettingsError names the
    variable of a bad value."""
    read = read or parse_setting
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get(env_name(f.name))
        if raw is None:
            continue
        try:
            values[f.name] = read(f.name, raw)
        except ValueError as problem:
            raise SettingsError(f"{env_name(f.name)}={raw}: {problem}") from None
    return values


def parse_setting(name: str, raw: str) -> Any:
    """A setting's value from text (a flag's argument or an environment variable)."""
    f = next(f for f in fields(Settings) if f.name == name)
    if f.metadata.get("parse"):
        return f.metadata["parse"](raw)
    choices = f.metadata.get("choices")
    if choices and raw not in choices:
        raise ValueError(f"use one of {', '.join(choices)}")
    kind = setting_type(name)
    if kind is bool:
        if raw.lower() not in TRUE + FALSE:
            raise ValueError(f"use one of {', '.join(TRUE + FALSE)}")
        return raw.lower() in TRUE
    return _number(kind, raw) if kind in (int, float) else kind(raw)


def setting_type(name: str) -> type:
    """The field's type with ``None`` taken out (``Path | None`` -> Path)."""
    hint = typing.get_type_hints(Settings)[name]
    if isinstance(hint, types.UnionType):
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    return typing.get_origin(hint) or hint
