"""Expired output files are deleted (disk stays bounded) while their URLs still answer "expired",
for every backend."""

from __future__ import annotations

from pathlib import Path

from mockserver.core.backends.base import Store
from mockserver.core.backends.sqlite import SqliteStore
from mockserver.core.clock import MockClock
from mockserver.core.ids import IdSource
from mockserver.core.media import MediaStore


def test_expired_files_are_purged_and_their_urls_still_say_expired(store: Store, tmp_path: Path) -> None:
    clock = MockClock(frozen=True)
    media = MediaStore(tmp_path / "media", store, clock, IdSource(clock, 1))
    short = [media.save("pixelcut", f"s{i}.png", "image/png", 3600, data=b"x" * 1000) for i in range(5)]
    long = media.save("pixelapi", "l.png", "image/png", 86400, data=b"y" * 500)
    assert media.disk_bytes() == 5500
    assert media.purge_expired() == (0, 0)
    clock.advance(3601)
    assert media.purge_expired(batch=2) == (5, 5000)  # in batches of two, to the end of the backlog
    assert media.purge_expired() == (0, 0)  # each file once
    assert media.disk_bytes() == 500
    for ref in short:
        found = media.find(ref.id)
        assert found is not None and found.expired(clock.now()) and not found.path.exists()
    assert media.find(long.id) is not None and media.find(long.id).path.is_file()  # type: ignore[union-attr]
    clock.advance(86400)
    assert media.purge_expired() == (1, 500)
    assert media.disk_bytes() == 0


def test_a_database_from_before_expiry_gains_it(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE media (id TEXT PRIMARY KEY, provider TEXT NOT NULL, data TEXT NOT NULL)")
        db.execute(
            "INSERT INTO media VALUES ('a', 'fal', ?)",
            ('{"id": "a", "filename": "a.png", "content_type": "image/png", "size": 1, "expires_at": 10.0}',),
        )
    store = SqliteStore(path)
    assert store.expired_media(11.0, 10) == ["a"]
    assert store.expired_media(9.0, 10) == []
