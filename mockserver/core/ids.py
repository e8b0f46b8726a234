"""Identifiers from a seeded source, so a seeded mock hands out the same ids on every run."""

from __future__ import annotations

import random
import threading
import uuid

from mockserver.core.clock import Clock


class IdSource:
    def __init__(self, clock: Clock, seed: int | str | None = None) -> None:
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def reseed(self, seed: int | str | None) -> None:
        with self._lock:
            self._random = random.Random(seed)

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
