"""Shared state of ``serve --workers N`` on one machine: tables in the store's own SQLite file.

Every decision that must be exact (a token, a fault's `times`) is one ``BEGIN IMMEDIATE``
transaction or one conditional UPDATE, so concurrent workers queue on the file's write lock and
never admit more than the limit. Webhook deliveries stay with the worker that finished the job.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from mockserver.core.backends.base import Shared, SharedControls, StoredFaults
from mockserver.core.backends.sqlite import SqliteStore
from mockserver.core.clock import MockClock
from mockserver.core.faults import Rule
from mockserver.core.journal import Entry, journal_matches
from mockserver.core.ratelimit import Decision, Limit, RateLimiter, take_token

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (provider TEXT, key TEXT, tokens REAL, at REAL, PRIMARY KEY (provider, key));
CREATE TABLE IF NOT EXISTS faults (seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL, fired INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT, key TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS controls (name TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
"""


def services(store: SqliteStore, clock: MockClock, rate_limits: bool, journal_size: int, seed: int | None) -> Shared:
    with store.transaction() as db:
        for statement in filter(str.strip, SCHEMA.split(";")):
            db.execute(statement)
    limiter = SqliteRateLimiter(store, clock, rate_limits)
    return Shared(
        limiter=limiter,
        faults=SqliteFaults(store, seed),
        journal=SqliteJournal(store, journal_size),
        controls=SharedControls(SqliteCell(store), clock, limiter),
    )


class SqliteRateLimiter(RateLimiter):
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


class SqliteFaults(StoredFaults):
    def __init__(self, store: SqliteStore, seed: int | None = None) -> None:
        super().__init__(seed)
        self._store = store

    def insert(self, rule: Rule) -> str:
        with self._store.transaction() as db:
            seq = db.execute("INSERT INTO faults (data, fired) VALUES ('{}', 0)").lastrowid
            rule_id = f"rule_{seq}"
            db.execute("UPDATE faults SET data = ? WHERE seq = ?", (json.dumps({**asdict(rule), "id": rule_id}), seq))
        return rule_id

    def remove(self, rule_id: str) -> bool:
        seq = _seq(rule_id)
        if seq is None:
            return False
        with self._store.transaction() as db:
            return db.execute("DELETE FROM faults WHERE seq = ?", (seq,)).rowcount > 0

    def clear(self) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM faults")

    def has_rules(self) -> bool:
        return bool(self._store.read("SELECT 1 FROM faults LIMIT 1"))

    def stored(self) -> list[Rule]:
        rows = self._store.read("SELECT data, fired FROM faults ORDER BY seq")
        return [Rule(**{**json.loads(data), "fired": fired}) for data, fired in rows]

    def count(self, rule: Rule) -> bool:
        with self._store.transaction() as db:
            cursor = db.execute(
                "UPDATE faults SET fired = fired + 1 WHERE seq = ? "
                "AND (json_extract(data, '$.times') IS NULL OR fired < json_extract(data, '$.times'))",
                (_seq(rule.id),),
            )
            return cursor.rowcount > 0


def _seq(rule_id: str) -> int | None:
    """``rule_7`` -> 7: a shared rule's id is its row number."""
    number = rule_id.removeprefix("rule_")
    return int(number) if number.isdigit() and number != rule_id else None


class SqliteJournal:
    """The journal in the database, so /__mock/journal shows every worker's requests."""

    TRIM_EVERY = 500

    def __init__(self, store: SqliteStore, capacity: int) -> None:
        self._store, self._capacity = store, capacity
        self._writes = 0

    def record(self, entry: Entry) -> None:
        """The row id numbers the entry."""
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO journal (provider, key, data) VALUES (?, ?, ?)",
                (entry.provider, entry.key, json.dumps(entry.to_dict())),
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
        if provider is not None:  # provider and key are columns: filtered in SQL
            sql, args = sql + " AND provider = ?", [*args, provider]
        if key is not None:
            sql, args = sql + " AND key = ?", [*args, key]
        rows = self._store.read(sql + " ORDER BY id", tuple(args))
        entries = ({**json.loads(data), "id": row_id} for row_id, data in rows)
        return [entry for entry in entries if journal_matches(entry, path=path, method=method)][-limit:]


class SqliteCell:
    """The controls document: one row of the `controls` table."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def write(self, data: dict[str, Any]) -> int:
        with self._store.transaction() as db:
            row = db.execute("SELECT version FROM controls WHERE name = 'controls'").fetchone()
            version = (row[0] if row else 0) + 1
            db.execute("INSERT OR REPLACE INTO controls VALUES ('controls', ?, ?)", (version, json.dumps(data)))
        return version

    def version(self) -> int | None:
        rows = self._store.read("SELECT version FROM controls WHERE name = 'controls'")
        return rows[0][0] if rows else None

    def read(self) -> tuple[int, dict[str, Any]] | None:
        rows = self._store.read("SELECT version, data FROM controls WHERE name = 'controls'")
        return (rows[0][0], json.loads(rows[0][1])) if rows else None
