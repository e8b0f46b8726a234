"""API keys and balances (DESIGN §4).

By default any well-formed key works and gets its provider's starting balance on first use, so a
user can invent a key and go. With a keys file (``--keys FILE``: ``{provider: {key: {balance, plan}}}``)
auth is strict: only listed keys exist. Keys never see each other's jobs (jobs carry their owner).
"""

from __future__ import annotations

import re
from typing import Any

from mockserver.core.store import Account, Store

_WELL_FORMED = re.compile(r"^[\x21-\x7e]{1,256}$")  # printable ASCII, no spaces


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

    def refund(self, provider: str, key: str, amount: float) -> None:
        if amount:
            self._store.charge(provider, key, -amount)
