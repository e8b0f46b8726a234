"""What this mock serves, as plain data: each provider's name, surfaces, operations and starting balance
(and the hooks a job's webhook needs from it in another process: its payload and headers).

The app hands the runtime its providers at composition (``Mock.serve``); the control plane reads
them from there, so it never imports a provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from mockserver.core.backends.base import Store
from mockserver.core.jobs import Job
from mockserver.core.signing import Signer
from mockserver.core.webhooks import Headers
from mockserver.runtime.jobs import Webhook


@dataclass(frozen=True)
class Surface:
    """One base URL of a provider: its mock path prefix and the real host it stands for."""

    prefix: str  # e.g. "/fal/queue"
    host: str  # e.g. "queue.fal.run"
    aliases: tuple[str, ...] = ()  # other real hosts served the same (fal's backup domain queue.falrun.com)


class Served(Protocol):
    """A provider as the runtime and the control plane know it."""

    @property
    def name(self) -> str: ...

    @property
    def surfaces(self) -> Mapping[str, Surface]: ...

    @property
    def operations(self) -> frozenset[str]: ...  # its spec's operationIds

    @property
    def starting_balance(self) -> float: ...  # what a new key starts with

    @property
    def plans(self) -> tuple[str, ...]: ...  # the plans a key can be on; empty: any word

    def balance_set(self, store: Store, key: str, now: float) -> None:
        """The control plane set `key`'s balance at `now` (mock clock): a periodic reset counts it."""
        ...

    def webhook_headers(self, signer: Signer, job: Job) -> Headers | None:
        """The headers of one attempt to deliver `job`'s webhook (fal's signature), or None."""
        ...

    def webhook(self, job: Job) -> Webhook | None:
        """`job`'s webhook rebuilt from the stored job (another process ends it), or None."""
        ...
