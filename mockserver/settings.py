"""One dataclass of settings, from CLI flags or ``CUTOUT_MOCK_*`` environment variables."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    state_dir: Path | None = None  # None: a temporary directory (in-memory store)
    store: str = "sqlite"  # "sqlite" (state_dir/cutout-mock.db), "memory", or a Redis URL (redis://host:port/db)
    clock: str = "real"  # "real" or "virtual" (frozen; moved from /__mock or the fixture)
    speed: float = 1.0  # real clock: job timings divided by this
    progression: str = "timed"  # "timed" (follows the clock) or "polls" (queued, running, done on the 3rd poll)
    work: str = "background"  # "background" (asyncio tasks + threads) or "inline" (done before the submit returns)
    keys_file: Path | None = None  # JSON {provider: {key: {"balance": n, "plan": p}}}: strict auth
    scenario_file: Path | None = None  # YAML/JSON set-up applied at start (control/scenario.py)
    seed: int | None = None
    engine: str = "auto"  # "auto", "classic", "u2netp" or "onnx:<path>" (engine/segment.py); read per job
    allow_private_fetch: bool = False
    journal_size: int = 10_000  # requests kept in the journal; 0 turns it off
    rate_limits: bool = True  # per-key limits of each provider (off in the test settings unless asked)
    expose: dict[str, int] = field(default_factory=dict)  # surface -> port, served at the root
    tls: bool = False
    public_url: str | None = None  # base the mock's own URLs use when a request came in elsewhere
    workers: int = 1  # processes serving the port; above 1 they share state through the SQLite file or Redis
    lease_seconds: float = 15.0  # Redis: a replica's running jobs count as lost this long after it stops renewing

    @classmethod
    def for_tests(cls, **overrides: object) -> Settings:
        """Virtual clock, memory store, work done inline: deterministic and fast."""
        base = {"store": "memory", "clock": "virtual", "work": "inline", "seed": 0, "rate_limits": False}
        return cls(**{**base, **overrides})  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"CUTOUT_MOCK_{f.name.upper()}")
            if raw is None or f.name == "expose":
                continue
            kind = str(f.type)
            if "bool" in kind:
                values[f.name] = raw.lower() in ("1", "true", "yes", "on")
            elif "int" in kind and "Path" not in kind:
                values[f.name] = int(raw)
            elif "float" in kind:
                values[f.name] = float(raw)
            elif "Path" in kind:
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        return cls(**{**values, **overrides})  # type: ignore[arg-type]

    def resolved_state_dir(self) -> Path:
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="cutout-mock-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir
