"""Uploads staged before they become media: a slot whose URL is handed out before its bytes arrive.

A storage protocol (fal's ``initiate`` then ``PUT``, or its multipart ``create``, parts and
``complete``) names the file first and sends it afterwards. A slot is a folder in the state dir
(``uploads/<id>/``) holding what the file will be (``slot.json``) and the parts received so far;
completing it moves the assembled file into the media store under the slot's id, so the URL given
at the start is the file's URL. Bodies are streamed to disk within a bound (``UploadTooLarge`` as
soon as it is passed, from the declared length or from the bytes), never held whole in memory.
All state is on disk: any worker sharing the state dir can take the next part.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from mockserver.core.jobs import MediaRef
from mockserver.core.media import MediaStore

MAX_PARTS = 10_000  # as S3 and GCS multipart uploads
ABANDONED = 24 * 3600.0  # real seconds after which a slot never completed is removed (at the next open)


class UploadTooLarge(Exception):
    """The body (or the parts together) passed the upload's bound, in bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"upload larger than {limit} bytes")
        self.limit = limit


class EmptyUpload(Exception):
    """A body with no bytes (a file, or a part, must have some)."""


class BadParts(Exception):
    """A multipart completion that does not name the parts received (number or ETag)."""


@dataclass(frozen=True)
class Slot:
    """A file announced but not yet stored: ``id`` is its media id once complete."""

    id: str
    provider: str
    filename: str
    content_type: str
    ttl: float  # seconds the stored file is kept


class Uploads:
    """Slots under ``root`` whose completed files go to ``media``."""

    def __init__(self, media: MediaStore, root: Path) -> None:
        self.media, self.root = media, root

    def _folder(self, slot_id: str) -> Path:
        return self.root / slot_id

    def open(self, provider: str, filename: str, content_type: str, ttl: float) -> Slot:
        """A new slot; its id is the media id the file will have. Slots abandoned a day ago go first."""
        self.sweep(ABANDONED)
        slot = Slot(self.media.new_id(), provider, filename, content_type, ttl)
        folder = self._folder(slot.id)
        folder.mkdir(parents=True)
        (folder / "slot.json").write_text(json.dumps(asdict(slot)))
        return slot

    def sweep(self, max_age: float) -> int:
        """Remove slots untouched for `max_age` real seconds (their uploads were never completed); how
        many. Real time, as the files' own times are: the mock's clock may stand still."""
        removed, oldest = 0, time.time() - max_age
        for folder in self.root.glob("*") if self.root.is_dir() else ():
            try:
                touched = max((p.stat().st_mtime for p in folder.iterdir()), default=folder.stat().st_mtime)
            except OSError:
                continue
            if touched < oldest:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def find(self, provider: str, slot_id: str) -> Slot | None:
        """The open slot `slot_id` of `provider` (None once completed, or never opened)."""
        if not slot_id.isalnum():
            return None
        try:
            slot = Slot(**json.loads((self._folder(slot_id) / "slot.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None
        return slot if slot.provider == provider else None

    async def put_whole(self, slot: Slot, body: AsyncIterator[bytes], max_bytes: int) -> MediaRef:
        """The whole file in one body: stored, and the slot closed."""
        path = self._folder(slot.id) / "whole"
        await receive(body, path, max_bytes)
        return self._store(slot, path)

    def discard(self, slot: Slot) -> None:
        """Forget a slot and what it received (an upload refused on its way in)."""
        shutil.rmtree(self._folder(slot.id), ignore_errors=True)

    async def put_part(self, slot: Slot, number: int, body: AsyncIterator[bytes], max_total: int) -> str:
        """Part `number` (1..MAX_PARTS; sent again, it replaces the first); its ETag (MD5, as S3's)."""
        folder = self._folder(slot.id)
        others = sum(p.stat().st_size for p in folder.glob("part-*") if p.name != f"part-{number:05d}")
        path = folder / f"part-{number:05d}"
        digest = await receive(body, path, max_total - others, limit=max_total)
        return f'"{digest}"'

    def complete(self, slot: Slot, parts: list[tuple[int, str]]) -> MediaRef:
        """Join the parts named (number, ETag) into the file in their numbers' order; BadParts if one is
        named twice, was not received, or its ETag differs. The slot is closed."""
        folder = self._folder(slot.id)
        if not parts:
            raise BadParts("no parts named")
        numbers = [n for n, _ in parts]
        if len(numbers) != len(set(numbers)):
            raise BadParts("each part must be named once")
        whole = folder / "whole"
        with whole.open("wb") as out:
            for number, etag in sorted(parts):  # fal-client names them as its threads finish
                path = folder / f"part-{number:05d}"
                if not path.is_file():
                    raise BadParts(f"part {number} was not uploaded")
                digest = hashlib.md5(usedforsecurity=False)
                with path.open("rb") as part:
                    while chunk := part.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                if etag.strip('"') != digest.hexdigest():
                    raise BadParts(f"part {number}: ETag {etag!r} does not match the part received")
        return self._store(slot, whole)

    def _store(self, slot: Slot, path: Path) -> MediaRef:
        ref = self.media.save(slot.provider, slot.filename, slot.content_type, slot.ttl, source=path, media_id=slot.id)
        shutil.rmtree(self._folder(slot.id), ignore_errors=True)
        return ref


async def receive(body: AsyncIterator[bytes], path: Path, max_bytes: int, *, limit: int | None = None) -> str:
    """Write `body` to `path` chunk by chunk; its MD5 hex. UploadTooLarge (naming `limit`, default
    `max_bytes`) as soon as more than `max_bytes` came, EmptyUpload for no bytes at all; the partial
    file is removed."""
    digest, size = hashlib.md5(usedforsecurity=False), 0
    try:
        with path.open("wb") as out:
            async for chunk in body:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(limit if limit is not None else max_bytes)
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise EmptyUpload
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return digest.hexdigest()
