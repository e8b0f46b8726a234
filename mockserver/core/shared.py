"""State that several worker processes share through the SQLite file (``serve --workers N``).

With one process, rate-limit buckets, fault rules, the journal and the clock live in memory (the
fast path). With several, each would hold its own, and "5 requests a second" would become 5 per
worker. These variants keep the same interfaces on tables of the store's own database, and every
decision that must be exact (a token, a fault's `times`) is one ``BEGIN IMMEDIATE`` transaction,
so concurrent workers queue on the file's write lock and never admit more than the limit.

Control settings (the clock, limits on/off, overrides) are one versioned row: a worker compares
the version at the start of each request and reloads when another worker changed them.
Webhook deliveries stay with the worker that finished the job (its log shows there only).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from mockserver.core.clock import MockClock
from mockserver.core.faults import Faults, Rule, pick
from mockserver.core.journal import Entry
from mockserver.core.ratelimit import Decision, Limit, RateLimiter, take_token
from mockserver.core.store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (provider TEXT, key TEXT, tokens REAL, at REAL, PRIMARY KEY (provider, key));
CREATE TABLE IF NOT EXISTS faults (seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL, fired INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT, key TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS controls (name TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
"""


def create_tables(store: SqliteStore) -> None:
    with store.transaction() as db:
        for statement in filter(str.strip, SCHEMA.split(";")):
            db.execute(statement)


class SharedRateLimiter(RateLimiter):
    """Token buckets in the database: one transaction per request decides it for every worker."""

    def __init__(self, store: SqliteStore, clock: MockClock, enabled: bool = True) -> None:
        super().__init__(clock, enabled)
        self._store = store

    def reset(self) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM buckets")

    def take(self, provider: str, key: str, limit: Limit) -> Decision:
        now = self._clock.now()
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT tokens, at FROM buckets WHERE provider = ? AND key = ?", (provider, key)
            ).fetchone()
            tokens, at = row if row else (float(limit.requests), now)
            tokens, decision = take_token(tokens, at, now, limit)
            db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)", (provider, key, tokens, now))
        return decision


class SharedFaults(Faults):
    """Fault rules in the database, so `times` counts across workers (the seeded draw stays per process)."""

    def __init__(self, store: SqliteStore, seed: int | None = None) -> None:
        super().__init__(seed)
        self._store = store

    def add(self, rule: Rule) -> Rule:
        with self._store.transaction() as db:
            seq = db.execute("INSERT INTO faults (data, fired) VALUES ('{}', 0)").lastrowid
            rule.id = f"rule_{seq}"
            db.execute("UPDATE faults SET data = ? WHERE seq = ?", (json.dumps(asdict(rule)), seq))
        return rule

    def remove(self, rule_id: str) -> bool:
        seq = _seq(rule_id)
        if seq is None:
            return False
        with self._store.transaction() as db:
            return db.execute("DELETE FROM faults WHERE seq = ?", (seq,)).rowcount > 0

    def clear(self) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM faults")

    def _stored_rules(self, db: Any = None) -> list[Rule]:
        """The rules in order (inside a transaction when `db` is given); each id carries its row number."""
        sql = "SELECT data, fired FROM faults ORDER BY seq"
        rows = db.execute(sql).fetchall() if db else self._store.read(sql)
        return [Rule(**{**json.loads(data), "fired": fired}) for data, fired in rows]

    def listed(self) -> list[dict[str, Any]]:
        return [asdict(rule) for rule in self._stored_rules()]

    def fire(
        self, provider: str, operation: str, key: str | None, headers: Mapping[str, str], body: str
    ) -> Rule | None:
        if not self._store.read("SELECT 1 FROM faults LIMIT 1"):  # the common case: a read, no write lock
            return None
        with self._store.transaction() as db, self._lock:
            rule = pick(self._stored_rules(db), self._random, provider, operation, key, headers, body)
            if rule is None:
                return None
            db.execute("UPDATE faults SET fired = fired + 1 WHERE seq = ?", (_seq(rule.id),))
            rule.fired += 1
            return rule


def _seq(rule_id: str) -> int | None:
    """``rule_7`` -> 7: a shared rule's id is its row number."""
    number = rule_id.removeprefix("rule_")
    return int(number) if number.isdigit() and number != rule_id else None


class SharedJournal:
    """The journal in the database, so /__mock/journal shows every worker's requests."""

    TRIM_EVERY = 500

    def __init__(self, store: SqliteStore, capacity: int) -> None:
        self._store, self._capacity = store, capacity
        self._writes = 0

    def next_id(self) -> int:
        return 0  # the row id is the entry's id

    def record(self, entry: Entry) -> None:
        data = entry.to_dict()
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO journal (provider, key, data) VALUES (?, ?, ?)",
                (entry.provider, entry.key, json.dumps(data)),
            )
            self._writes += 1
            if self._writes % self.TRIM_EVERY == 0:
                db.execute("DELETE FROM journal WHERE id <= (SELECT max(id) FROM journal) - ?", (self._capacity,))

    def clear(self) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM journal")

    def query(
        self,
        *,
        provider: str | None = None,
        key: str | None = None,
        path: str | None = None,
        method: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        sql, args = "SELECT id, data FROM journal WHERE 1=1", []
        if provider is not None:
            sql, args = sql + " AND provider = ?", [*args, provider]
        if key is not None:
            sql, args = sql + " AND key = ?", [*args, key]
        found = []
        for row_id, data in self._store.read(sql + " ORDER BY id", tuple(args)):
            entry = json.loads(data)
            if (path is None or path in entry["path"]) and (method is None or entry["method"] == method.upper()):
                found.append({**entry, "id": row_id})
        return found[-limit:]


class SharedControls:
    """The clock and the rate-limit policy, published by the worker that changed them."""

    def __init__(self, store: SqliteStore, clock: MockClock, limiter: RateLimiter) -> None:
        self._store, self._clock, self._limiter = store, clock, limiter
        self._version = -1

    def publish(self) -> None:
        data = {
            "clock": self._clock.export(),
            "enabled": self._limiter.enabled,
            "overrides": {name: [lim.requests, lim.window] for name, lim in self._limiter.overrides.items()},
        }
        with self._store.transaction() as db:
            row = db.execute("SELECT version FROM controls WHERE name = 'controls'").fetchone()
            self._version = (row[0] if row else 0) + 1
            db.execute("INSERT OR REPLACE INTO controls VALUES ('controls', ?, ?)", (self._version, json.dumps(data)))

    def adopt(self) -> None:
        """A worker starting: take what the serving process published (or publish, if none did)."""
        if self._store.read("SELECT 1 FROM controls WHERE name = 'controls'"):
            self.sync()
        else:
            self.publish()

    def sync(self) -> None:
        """Take what another worker published since this one last looked (one small read)."""
        rows = self._store.read("SELECT version, data FROM controls WHERE name = 'controls'")
        if not rows or rows[0][0] == self._version:
            return
        self._version, data = rows[0][0], json.loads(rows[0][1])
        self._clock.load(data["clock"])
        self._limiter.enabled = data["enabled"]
        self._limiter.overrides = {name: Limit(int(r), float(w)) for name, (r, w) in data["overrides"].items()}
