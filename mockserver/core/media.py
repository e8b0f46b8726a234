"""Output files: bytes on disk in the state dir, records in the store, expiry on the mock's clock.

Providers choose the URL shape (Pixelcut ``/public/result/<id>.png``, fal ``/files/<id>/<name>``...);
this module only stores, finds and ages the files.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mockserver.core.backends.base import Store
from mockserver.core.clock import Clock
from mockserver.core.ids import IdSource
from mockserver.core.jobs import MediaRef


@dataclass(frozen=True)
class StoredMedia:
    provider: str
    ref: MediaRef
    path: Path

    def expired(self, now: float) -> bool:
        return now >= self.ref.expires_at


class MediaStore:
    def __init__(self, root: Path, store: Store, clock: Clock, ids: IdSource) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._store, self._clock, self._ids = store, clock, ids

    def _path(self, media_id: str) -> Path:
        return self.root / media_id[:2] / media_id

    def save(
        self,
        provider: str,
        filename: str,
        content_type: str,
        ttl: float,
        *,
        data: bytes | None = None,
        source: Path | None = None,
        media_id: str | None = None,
    ) -> MediaRef:
        """Store `data`, or move the file at `source` in (large outputs never pass through memory);
        `media_id` when its URL was handed out before the bytes came (an upload slot, `new_id`)."""
        media_id = media_id or self.new_id()
        path = self._path(media_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if source is not None:
            shutil.move(str(source), path)
        else:
            path.write_bytes(data or b"")
        ref = MediaRef(media_id, filename, content_type, path.stat().st_size, self._clock.now() + ttl)
        self._store.put_media(provider, ref)
        return ref

    def new_id(self) -> str:
        """A media id: 16 hex a seed repeats, then 16 from the CSPRNG (the URL is the only key)."""
        return self._ids.hex(16) + self._ids.secret_hex(16)

    def find(self, media_id: str) -> StoredMedia | None:
        """The record and its file; an expired record is found even when its file is purged (the URL
        answers the provider's "expired", not 404)."""
        record = self._store.get_media(media_id)
        if record is None:
            return None
        stored = StoredMedia(record[0], record[1], self._path(media_id))
        return stored if stored.expired(self._clock.now()) or stored.path.is_file() else None

    def purge_expired(self, batch: int = 500, pause: float = 0) -> tuple[int, int]:
        """Delete the files of expired media (their records stay); (files, bytes) freed. Bounded
        batches, so a backlog is worked through without holding anything up for long."""
        files = freed = 0
        while expired := self._store.expired_media(self._clock.now(), batch):
            for media_id in expired:
                path = self._path(media_id)
                with contextlib.suppress(FileNotFoundError):
                    freed += path.stat().st_size
                    path.unlink()
                    files += 1
            self._store.mark_purged(expired)
            if len(expired) < batch:
                break
            if pause:
                time.sleep(pause)  # a backlog in the background leaves the GIL to the server between batches
        return files, freed

    def disk_bytes(self) -> int:
        """Bytes of the output files on disk now."""
        return sum(p.stat().st_size for p in self.root.glob("??/*") if p.is_file())

    def remove_unrecorded(self, min_age: float = 0, *, before: float | None = None, pause: float = 0) -> int:
        """Delete files with no record (a crash between writing a file and recording it), if at
        least `min_age` seconds old, or last changed `before` (real time, time.time(): another
        process, or this one, may be about to record a new one). Looks at every file: `serve` runs
        it in the background after start-up (runtime/recovery.py), never before it listens, sleeping
        `pause` seconds after each of the 256 folders so the thread leaves the GIL to the server."""
        removed, newest = 0, time.time() - min_age if before is None else before
        for folder in sorted(self.root.glob("??")):
            for path in folder.iterdir():
                if path.is_file() and path.stat().st_mtime <= newest and self._store.get_media(path.name) is None:
                    path.unlink(missing_ok=True)
                    removed += 1
            if pause:
                time.sleep(pause)
        return removed

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
