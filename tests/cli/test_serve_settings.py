"""`serve`'s settings: defaults < CUTOUT_MOCK_* environment < flags, for every setting, checked by parsing."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from mockserver.cli import build_parser, main, serve_settings
from mockserver.settings import Settings, SettingsError, env_name, env_text, serve_fields

# setting: (environment value, what it sets, flags, what they set over that environment)
TABLE: dict[str, tuple[str, Any, list[str], Any]] = {
    "host": ("0.0.0.0", "0.0.0.0", ["--host", "127.0.0.2"], "127.0.0.2"),
    "port": ("9000", 9000, ["--port", "9001"], 9001),
    "state_dir": ("/tmp/env-state", Path("/tmp/env-state"), ["--state-dir", "flag-state"], Path("flag-state")),
    "store": ("memory", "memory", ["--store", "redis://127.0.0.1:6379/0"], "redis://127.0.0.1:6379/0"),
    "clock": ("virtual", "virtual", ["--clock", "real"], "real"),
    "speed": ("10", 10.0, ["--speed", "2.5"], 2.5),
    "progression": ("polls", "polls", ["--progression", "timed"], "timed"),
    "keys_file": ("env-keys.json", Path("env-keys.json"), ["--keys", "flag-keys.json"], Path("flag-keys.json")),
    "scenario_file": ("env.yaml", Path("env.yaml"), ["--scenario", "flag.yaml"], Path("flag.yaml")),
    "seed": ("7", 7, ["--seed", "8"], 8),
    "engine": ("classic", "classic", ["--engine", "u2netp"], "u2netp"),
    "allow_private_fetch": ("1", True, ["--no-allow-fetch"], False),
    "journal_size": ("0", 0, ["--journal-size", "5"], 5),
    "rate_limits": ("false", False, ["--rate-limits"], True),
    "expose": (
        "fal-queue=8443,fal-cdn=8444",
        {"fal-queue": 8443, "fal-cdn": 8444},
        ["--expose", "fal-run=9443", "--expose", "pixelapi-api=9444"],
        {"fal-run": 9443, "pixelapi-api": 9444},
    ),
    "tls": ("yes", True, ["--no-tls"], False),
    "public_url": (
        "http://env.example:1",
        "http://env.example:1",
        ["--public-url", "http://f.example:2"],
        "http://f.example:2",
    ),
    "allowed_hosts": (
        "mock.ci.internal,mock.test",
        ("mock.ci.internal", "mock.test"),
        ["--allowed-host", "a.test", "--allowed-host", "b.test"],
        ("a.test", "b.test"),
    ),
    "control_token": ("env-token", "env-token", ["--control-token", "flag-token"], "flag-token"),
    "expose_control": ("1", True, ["--no-expose-control"], False),
    "workers": ("3", 3, ["--workers", "2"], 2),
    "engine_processes": ("3", 3, ["--engine-processes", "0"], 0),
    "lease_seconds": ("30", 30.0, ["--lease-seconds", "5"], 5.0),
    "pixelapi_prices": ("pages", "pages", ["--pixelapi-prices", "table"], "table"),
    "pixelcut_video_credits": ("0", 0.0, ["--pixelcut-video-credits", "2.5"], 2.5),
    "read_timeout": ("5", 5.0, ["--read-timeout", "0.5"], 0.5),
}


def _must_not_start(settings: Settings) -> None:
    raise AssertionError(f"serve started with {settings}")


def test_the_table_covers_every_serve_setting() -> None:
    assert sorted(TABLE) == sorted(f.name for f in serve_fields())


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_environment_sets_it_and_a_flag_overrides_the_environment(name: str) -> None:
    raw, from_env, flags, from_flags = TABLE[name]
    default = getattr(serve_settings([], {}), name)
    environ = {env_name(name): raw}
    assert from_env != default and from_flags != from_env  # each step of the precedence is visible
    assert getattr(serve_settings([], environ), name) == from_env
    assert getattr(serve_settings(flags, environ), name) == from_flags
    assert getattr(serve_settings(flags, {}), name) == from_flags


def test_defaults_and_the_flags_serve_always_had() -> None:
    settings = serve_settings([], {})
    assert (settings.host, settings.port, settings.state_dir, settings.store) == (
        "127.0.0.1",
        8080,
        Path("state"),
        "sqlite",
    )
    assert (settings.clock, settings.speed, settings.progression, settings.engine) == ("real", 1.0, "timed", "auto")
    assert settings.rate_limits and not settings.allow_private_fetch and not settings.tls and settings.expose == {}
    flags = ["--no-rate-limits", "--allow-fetch", "--tls", "--keys", "k.json", "--scenario", "s.yaml"]
    old = serve_settings([*flags, "--expose", "fal-queue=8443", "--expose", "fal-cdn=8444"], {})
    assert not old.rate_limits and old.allow_private_fetch and old.tls
    assert (old.keys_file, old.scenario_file) == (Path("k.json"), Path("s.yaml"))
    assert old.expose == {"fal-queue": 8443, "fal-cdn": 8444}


def test_the_opposite_flags_override_the_environment_too() -> None:
    environ = {env_name("rate_limits"): "on", env_name("allow_private_fetch"): "0", env_name("tls"): "false"}
    settings = serve_settings(["--no-rate-limits", "--allow-fetch", "--tls"], environ)
    assert not settings.rate_limits and settings.allow_private_fetch and settings.tls


def test_port_zero_means_any_free_port() -> None:
    assert serve_settings(["--port", "0"], {}).port == 0
    assert serve_settings([], {"CUTOUT_MOCK_PORT": "0"}).port == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "80000"], "80000 is not a port: use 1-65535, or 0 for any free port"),
        (["--port", "-1"], "-1 is not a port"),
        (["--port", "http"], "'http' is not a whole number"),
        (["--expose", "fal-queue=70000"], "70000 is not a port"),
        (["--expose", "fal-nope=8443"], "no surface 'fal-nope'"),
        (["--store", "postgres://x"], "use sqlite, memory or a redis:// URL"),
        (["--workers", "0"], "0 is under 1"),
        (["--speed", "0"], "0 is not above 0"),
    ],
)
def test_a_bad_flag_is_refused_before_anything_starts(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["serve", *flags])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("CUTOUT_MOCK_PORT", "80000", "CUTOUT_MOCK_PORT=80000: 80000 is not a port"),
        ("CUTOUT_MOCK_TLS", "maybe", "CUTOUT_MOCK_TLS=maybe: use one of 1, true, yes, on, 0, false, no, off"),
        ("CUTOUT_MOCK_EXPOSE", "fal-queue", "CUTOUT_MOCK_EXPOSE=fal-queue: 'fal-queue': use NAME=PORT"),
        ("CUTOUT_MOCK_STORE", "postgres://x", "CUTOUT_MOCK_STORE=postgres://x: use sqlite, memory or a redis:// URL"),
        ("CUTOUT_MOCK_CLOCK", "fast", "CUTOUT_MOCK_CLOCK=fast: use one of real, virtual"),
    ],
)
def test_a_bad_environment_value_is_refused_naming_the_variable(
    variable: str, raw: str, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SettingsError, match="^" + message):
        serve_settings([], {variable: raw})
    monkeypatch.setenv(variable, raw)
    monkeypatch.setattr("mockserver.server.serve", _must_not_start)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cutout-mock serve: {message}") and err.count("\n") == 1


def test_what_serve_hands_its_workers_reads_back_the_same() -> None:
    """`serve --workers N` passes its settings to the workers as CUTOUT_MOCK_* (str of each value)."""
    settings = serve_settings(["--port", "9000", "--clock", "virtual", "--no-rate-limits", "--seed", "3"], {})
    settings.allowed_hosts = ("a.test", "b.test")
    environ = {env_name(k): env_text(v) for k, v in vars(settings).items() if k != "expose" and v is not None}
    assert Settings.from_env(environ) == settings


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"cutout-mock {version('cutout-mock')}\n"


def _parsers() -> dict[str, Any]:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    return {"cutout-mock": parser, "segment": commands["segment"], "serve": commands["serve"]}


@pytest.mark.parametrize("name", ["cutout-mock", "segment", "serve"])
def test_every_argument_has_help_and_no_rest_markup(name: str) -> None:
    parser = _parsers()[name]
    for action in parser._actions:
        if action.dest != "command":
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
    assert "``" not in parser.format_help()
