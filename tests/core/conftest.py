"""Fixtures of the core tests: each store the mock has, one at a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.core.backends.base import Store
from mockserver.core.backends.memory import MemoryStore
from mockserver.core.backends.sqlite import SqliteStore


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "db.sqlite")
    from mockserver.core.backends.redis import RedisStore

    return RedisStore(request.getfixturevalue("redis_url"))
