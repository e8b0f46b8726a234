"""Identifiers: unguessable by default, repeatable under a seed.

Without a seed every id comes from the operating system's CSPRNG (``secrets``), so nobody can
predict another key's next job or output URL from the ones they were given. With a seed (``serve
--seed``, ``POST /__mock/seed``, the test fixtures) job and request ids repeat run after run, and the
parts of an id that guard access (a media file's URL) still draw ``secret_hex`` from the CSPRNG.
"""

from __future__ import annotations

import random
import secrets
import threading
import uuid

from mockserver.core.clock import Clock


class IdSource:
    def __init__(self, clock: Clock, seed: int | str | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._random: random.Random = self._source(seed)

    @staticmethod
    def _source(seed: int | str | None) -> random.Random:
        return random.SystemRandom() if seed is None else random.Random(seed)

    @property
    def seeded(self) -> bool:
        return not isinstance(self._random, random.SystemRandom)

    def reseed(self, seed: int | str | None) -> None:
        """Repeat from here on (`seed` None: unguessable again)."""
        with self._lock:
            self._random = self._source(seed)

    def _bits(self, n: int) -> int:
        with self._lock:
            return self._random.getrandbits(n)

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self._bits(128), version=4))

    def uuid7(self) -> str:
        """Time-ordered UUIDv7 (RFC 9562): 48-bit milliseconds, then random bits."""
        millis = int(self._clock.now() * 1000) & ((1 << 48) - 1)
        value = (millis << 80) | (0x7 << 76) | (self._bits(12) << 64) | (0b10 << 62) | self._bits(62)
        return str(uuid.UUID(int=value))

    def hex(self, chars: int = 32) -> str:
        return f"{self._bits(chars * 4):0{chars}x}"

    @staticmethod
    def secret_hex(chars: int = 32) -> str:
        """Always from the CSPRNG, seed or not: for ids that are also the key to a resource."""
        return secrets.token_hex((chars + 1) // 2)[:chars]
