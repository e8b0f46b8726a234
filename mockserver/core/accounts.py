"""API keys and balances (DESIGN §4).

By default any well-formed key works and gets its provider's starting balance on first use, so a
user can invent a key and go. With a keys file (``--keys FILE``: ``{provider: {key: {balance, plan}}}``)
auth is strict: only listed keys exist. Keys never see each other's jobs (jobs carry their owner).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mockserver.core.backends.base import Account, Store

_WELL_FORMED = re.compile(r"^[\x21-\x7e]{1,256}$")  # printable ASCII, no spaces


@dataclass(frozen=True)
class FramePrice:
    """A price per started block of frames (fal: $0.022 per 30 frames)."""

    amount: float
    frames: int

    def cost(self, frames: int) -> float:
        return round(max(1, -(-frames // self.frames)) * self.amount, 6)


class NotEnoughCredits(Exception):
    """A balance that does not cover a cost; each provider words it (402, 403, fal's locked user)."""

    def __init__(self, needed: float, balance: float) -> None:
        super().__init__(f"needed {needed:g}, balance {balance:g}")
        self.needed, self.balance = needed, balance


class Accounts:
    def __init__(self, store: Store, keys: dict[str, dict[str, dict[str, Any]]] | None = None) -> None:
        self._store, self._keys = store, keys

    @property
    def strict(self) -> bool:
        return self._keys is not None

    def authenticate(
        self, provider: str, key: str | None, starting_balance: float, plan: str = "starter"
    ) -> Account | None:
        """The key's account, created on first use; None when the key is missing or unknown."""
        if not key or not _WELL_FORMED.match(key):
            return None
        account = self._store.get_account(provider, key)
        if account is not None:
            return account
        if self._keys is not None:
            listed = self._keys.get(provider, {}).get(key)
            if listed is None:
                return None
            starting_balance = float(listed.get("balance", starting_balance))
            plan = str(listed.get("plan", plan))
        account = Account(provider, key, starting_balance, plan)
        self._store.put_account(account)
        return account

    def charge(self, provider: str, key: str, amount: float) -> float | None:
        """New balance after taking `amount`, or None (nothing taken) when it does not cover it."""
        return self._store.charge(provider, key, amount)

    def take(self, provider: str, key: str, amount: float) -> None:
        """Take `amount` now, or raise NotEnoughCredits (nothing taken) when the balance is short."""
        if amount > 0 and self.charge(provider, key, amount) is None:
            account = self._store.get_account(provider, key)
            raise NotEnoughCredits(amount, account.balance if account else 0.0)

    def charge_up_to(self, provider: str, key: str, amount: float) -> float:
        """Take `amount`, or what is left when the balance is short (never below zero); what was taken.

        For costs known only after the work (fal bills video per 30 frames processed). Retries when a
        concurrent charge moved the balance between the read and the take.
        """
        while amount > 0:
            account = self._store.get_account(provider, key)
            if account is None:
                return 0.0
            take = round(min(amount, max(account.balance, 0.0)), 6)
            if take <= 0 or self._store.charge(provider, key, take) is not None:
                return max(take, 0.0)
        return 0.0

    def refund(self, provider: str, key: str, amount: float) -> None:
        if amount:
            self._store.charge(provider, key, -amount)
