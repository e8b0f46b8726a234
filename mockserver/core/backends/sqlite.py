"""Everything in one SQLite file (WAL): the store of `serve`, so state survives a restart.

Each change is one transaction; every read-modify-write (`update_job`, `charge`) is atomic, which
is what keeps balances exact under concurrent requests. Media bytes live on disk in the media
store, never here.

Under ``serve --workers N`` the workers also share, in tables of the same file (`services`), the
rate-limit buckets, fault rules, journal and controls. Every decision that must be exact (a token,
a fault's `times`) is one ``BEGIN IMMEDIATE`` transaction or one conditional UPDATE, so concurrent
workers queue on the file's write lock and never admit more than the limit. Each worker leases the
jobs it runs (`SqliteLeases`), so those of a killed worker are found and ended by another. Webhook
deliveries are rows of the store (any worker sends them, after a restart too).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mockserver.core.backends.base import (
    Account,
    BatchedJournal,
    Faults,
    JournalQuery,
    RateLimiter,
    Shared,
    lease_holder,
    page_back,
)
from mockserver.core.clock import MockClock
from mockserver.core.faults import Rule
from mockserver.core.jobs import Job, MediaRef
from mockserver.core.journal import Entry
from mockserver.core.ratelimit import Decision, Limit, take_token
from mockserver.core.webhooks import Delivery

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    provider TEXT NOT NULL, id TEXT NOT NULL, owner TEXT NOT NULL, created_at REAL NOT NULL,
    polls INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, PRIMARY KEY (provider, id));
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (provider, owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_provider ON jobs (provider);
CREATE INDEX IF NOT EXISTS jobs_by_provider_owner ON jobs (provider, owner);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (created_at) WHERE json_extract(data, '$.outcome') IS NULL;
CREATE TABLE IF NOT EXISTS accounts (
    provider TEXT NOT NULL, key TEXT NOT NULL, balance REAL NOT NULL, plan TEXT NOT NULL,
    PRIMARY KEY (provider, key));
CREATE TABLE IF NOT EXISTS media (id TEXT PRIMARY KEY, provider TEXT NOT NULL, data TEXT NOT NULL);
"""
# Media expiry: when a record's file expires, and whether the file is purged yet. Added by ALTER to
# databases made before it, their records' expiry then filled from the JSON's expires_at.
_MEDIA_EXPIRY = (
    "ALTER TABLE media ADD COLUMN expires_at REAL",
    "ALTER TABLE media ADD COLUMN purged INTEGER NOT NULL DEFAULT 0",
)
# Webhook deliveries (core/webhooks.py): pending ones are found by due time, or by a claim that lapsed.
_DELIVERIES = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, provider TEXT NOT NULL, job_id TEXT NOT NULL, due_at REAL NOT NULL,
    claimed_until REAL, pending INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_job ON deliveries (provider, job_id);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (due_at) WHERE pending = 1;
"""
_MEDIA_EXPIRY_BACKFILL = "UPDATE media SET expires_at = json_extract(data, '$.expires_at') WHERE expires_at IS NULL"
_MEDIA_EXPIRY_INDEX = "CREATE INDEX IF NOT EXISTS media_unpurged ON media (expires_at) WHERE purged = 0"


CACHE_SIZE = 10_000  # jobs (and accounts) a store keeps read; the oldest kept goes first
# Writes to jobs and accounts by the stores of this process, per database file: another store on the
# same file (two apps in one process) makes a store look again within a turn of the event loop.
_WRITES: dict[Path, list[int]] = {}


def _select(what: str, order: str, **equal: str | None) -> tuple[str, tuple[str, ...]]:
    """``SELECT what WHERE column = ? ... ORDER BY order`` for each column given a value (not None): the
    column names are this module's own, the values are bound."""
    given = {column: value for column, value in equal.items() if value is not None}
    where = " AND ".join(f"{column} = ?" for column in given) or "1=1"
    return f"SELECT {what} WHERE {where} ORDER BY {order}", tuple(given.values())


class SqliteStore:
    """A single SQLite file (WAL). Each change is one transaction; `update_job` holds a write lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._add_media_expiry()
        self._db.executescript(_DELIVERIES)
        self._lock = threading.RLock()
        # The read cache: jobs and accounts as last read or written here, good while no other
        # connection (worker, process) committed to the file: `PRAGMA data_version` says when one did.
        self._seen = -1
        self._cached_jobs: dict[tuple[str, str], Job] = {}
        self._cached_accounts: dict[tuple[str, str], Account] = {}
        self._writes = _WRITES.setdefault(self.path.resolve(), [0])
        self._trust: tuple[asyncio.AbstractEventLoop, int] | None = None  # this turn's look (_fresh)

    def _add_media_expiry(self) -> None:
        """Media expiry's columns, added to a database made before them and filled from each record's
        JSON then: that fill reads every record, so it runs only when a column was added, never on a
        later start (on 100,000 records it ran on every start)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(media)")}
        added = [alter for alter in _MEDIA_EXPIRY if alter.split()[5] not in columns]
        if added:
            self._db.execute("BEGIN IMMEDIATE")  # all or nothing: a start stopped half-way does it again
            with self._db:
                for alter in added:
                    self._db.execute(alter)
                self._db.execute(_MEDIA_EXPIRY_BACKFILL)
        self._db.execute(_MEDIA_EXPIRY_INDEX)

    def _fresh(self) -> None:
        """Under the lock, before a cached read: forget the cache if another connection committed.

        On the event loop's thread one look (``PRAGMA data_version``) serves every read of the
        same turn of the loop; it was a sixth of a status poll when each read made its own. No
        request misses a commit it could know of: a request runs in the turn after the one that
        read its bytes, so a look made in its turn came after the client sent it, and so after any
        answer the client had from another process (over a socket: an in-process ASGI transport may
        run several requests in one turn). A write by a store of this process to the same
        file ends the turn's trust at once; other threads (the engine's work) look on every read, and
        `update_job` looks inside its transaction (a commit since the turn's look is what it changes).
        """
        loop = asyncio._get_running_loop()  # None off the loop's thread
        if loop is not None and self._trust == (loop, self._writes[0]):
            return
        self._look()
        if loop is not None:
            if self._trust is None or self._trust[0] is not loop:
                loop.call_soon(self._distrust)  # the next turn looks again
            self._trust = (loop, self._writes[0])

    def _look(self) -> None:
        """Under the lock: forget the cache if another connection committed since the last look."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._seen:
            self._seen = version
            self._cached_jobs.clear()
            self._cached_accounts.clear()

    def _distrust(self) -> None:
        self._trust = None

    def _wrote(self) -> None:
        """A write to jobs or accounts: the other stores of this process on this file look again."""
        self._writes[0] += 1

    @staticmethod
    def _remember(cache: dict[tuple[str, str], Any], key: tuple[str, str], value: Any) -> None:
        if len(cache) >= CACHE_SIZE:
            del cache[next(iter(cache))]  # the oldest first kept
        cache[key] = value

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def reset(self) -> None:
        with self._lock:
            self._cached_jobs.clear()
            self._cached_accounts.clear()
            self._db.executescript("DELETE FROM jobs; DELETE FROM accounts; DELETE FROM media; DELETE FROM deliveries;")
            self._wrote()

    def put_job(self, job: Job) -> None:
        """An upsert, not INSERT OR REPLACE: the row keeps its rowid, which is its place in listings."""
        with self._lock:
            self._cached_jobs.pop((job.provider, job.id), None)
            self._db.execute(
                "INSERT INTO jobs (provider, id, owner, created_at, polls, data) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (provider, id) DO UPDATE SET "
                "created_at = excluded.created_at, polls = excluded.polls, data = excluded.data",
                (job.provider, job.id, job.owner, job.created_at, job.polls, json.dumps(job.to_dict())),
            )
            self._wrote()

    @staticmethod
    def _job(row: tuple[str, int]) -> Job:
        job = Job.from_dict(json.loads(row[0]))
        job.polls = row[1]  # the column is the truth: polls are counted without rewriting the JSON
        return job

    def get_job(self, provider: str, job_id: str) -> Job | None:
        """From the cache when nothing was committed elsewhere since it was read (no query, no write)."""
        with self._lock:
            self._fresh()
            job = self._cached_jobs.get((provider, job_id))
            if job is None:
                row = self._db.execute(
                    "SELECT data, polls FROM jobs WHERE provider = ? AND id = ?", (provider, job_id)
                ).fetchone()
                if row is None:
                    return None
                job = self._job(row)
                self._remember(self._cached_jobs, (provider, job_id), job)
            return job.copy()

    def poll_job(self, provider: str, job_id: str, owner: str) -> Job | None:
        with self._lock:
            self._cached_jobs.pop((provider, job_id), None)
            row = self._db.execute(
                "UPDATE jobs SET polls = polls + (owner = ?) WHERE provider = ? AND id = ? RETURNING data, polls",
                (owner, provider, job_id),
            ).fetchone()
            self._wrote()
        return self._job(row) if row else None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (BEGIN IMMEDIATE): other processes on the file wait."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
                self._wrote()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def update_job(self, provider: str, job_id: str, change: Callable[[Job], None]) -> Job | None:
        with self.transaction():
            # Not the turn's look (_fresh): a commit made since, which BEGIN IMMEDIATE may have waited
            # for (another worker's cancel), is the job to change, not overwritten by the cached one.
            self._look()
            job = self.get_job(provider, job_id)
            if job is not None:
                change(job)
                self.put_job(job)
        return job

    def list_jobs(self, provider: str | None = None, owner: str | None = None) -> list[Job]:
        rows = self.read(*_select("data, polls FROM jobs", "created_at", provider=provider, owner=owner))
        return [self._job(r) for r in rows]

    def page_jobs(
        self, provider: str | None, owner: str | None, after: int | None, limit: int
    ) -> tuple[list[tuple[int, Job]], int | None]:
        """By rowid (kept by the upsert), through the provider / owner indexes: one bounded query."""
        given = {column: value for column, value in (("provider", provider), ("owner", owner)) if value is not None}
        where = " AND ".join(["rowid > ?", *(f"{column} = ?" for column in given)])
        rows = self.read(
            f"SELECT rowid, data, polls FROM jobs WHERE {where} ORDER BY rowid LIMIT ?",
            (-1 if after is None else after, *given.values(), limit),
        )
        jobs = [(place, self._job((data, polls))) for place, data, polls in rows]
        return jobs, rows[-1][0] if len(rows) == limit else None

    def unfinished_jobs(self) -> list[Job]:
        """Jobs whose work has not written its outcome, found in SQL (start-up reads no other job)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data, polls FROM jobs WHERE json_extract(data, '$.outcome') IS NULL ORDER BY created_at"
            ).fetchall()
        return [self._job(r) for r in rows]

    def get_account(self, provider: str, key: str) -> Account | None:
        with self._lock:
            self._fresh()
            found = self._cached_accounts.get((provider, key))
            if found is None:
                row = self._db.execute(
                    "SELECT balance, plan FROM accounts WHERE provider = ? AND key = ?", (provider, key)
                ).fetchone()
                if row is None:
                    return None
                found = Account(provider, key, row[0], row[1])
                self._remember(self._cached_accounts, (provider, key), found)
        return Account(found.provider, found.key, found.balance, found.plan)

    def put_account(self, account: Account) -> None:
        with self._lock:
            self._cached_accounts.pop((account.provider, account.key), None)
            self._db.execute(
                "INSERT OR REPLACE INTO accounts (provider, key, balance, plan) VALUES (?, ?, ?, ?)",
                (account.provider, account.key, account.balance, account.plan),
            )
            self._wrote()

    def charge(self, provider: str, key: str, amount: float) -> float | None:
        with self._lock:
            self._cached_accounts.pop((provider, key), None)
            cursor = self._db.execute(
                "UPDATE accounts SET balance = round(balance - ?, 6) "
                "WHERE provider = ? AND key = ? AND balance - ? >= -1e-9 RETURNING balance",
                (amount, provider, key, amount),
            )
            row = cursor.fetchone()
            self._wrote()
        return row[0] if row else None

    def list_accounts(self, provider: str | None = None) -> list[Account]:
        rows = self.read(*_select("provider, key, balance, plan FROM accounts", "provider, key", provider=provider))
        return [Account(*row) for row in rows]

    def delete_account(self, provider: str, key: str) -> bool:
        with self._lock:
            self._cached_accounts.pop((provider, key), None)
            cursor = self._db.execute("DELETE FROM accounts WHERE provider = ? AND key = ?", (provider, key))
            self._wrote()
        return cursor.rowcount > 0

    def put_media(self, provider: str, ref: MediaRef) -> None:
        self._write(
            "INSERT OR REPLACE INTO media (id, provider, data, expires_at) VALUES (?, ?, ?, ?)",
            (ref.id, provider, json.dumps(asdict(ref)), ref.expires_at),
        )

    def expired_media(self, now: float, limit: int) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM media WHERE purged = 0 AND expires_at <= ? ORDER BY expires_at LIMIT ?", (now, limit)
        ).fetchall()
        return [row[0] for row in rows]

    def mark_purged(self, media_ids: list[str]) -> None:
        with self._lock:
            self._db.executemany("UPDATE media SET purged = 1 WHERE id = ?", [(media_id,) for media_id in media_ids])

    def get_media(self, media_id: str) -> tuple[str, MediaRef] | None:
        with self._lock:
            row = self._db.execute("SELECT provider, data FROM media WHERE id = ?", (media_id,)).fetchone()
        return (row[0], MediaRef(**json.loads(row[1]))) if row else None

    # --- webhook deliveries (DeliveryStore) ---------------------------------------------------

    def put_delivery(self, delivery: Delivery) -> None:
        """Insert or update in place (an upsert keeps the row's id, which orders the listing)."""
        claimed = delivery.claimed_until if delivery.in_flight else None
        self._write(
            "INSERT INTO deliveries (id, provider, job_id, due_at, claimed_until, pending, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, "
            "claimed_until = excluded.claimed_until, pending = excluded.pending, data = excluded.data",
            (delivery.id, delivery.provider, delivery.job_id, delivery.due_at, claimed, int(delivery.pending),
             json.dumps(delivery.to_dict())),
        )  # fmt: skip

    def update_delivery(self, delivery_id: str, change: Callable[[Delivery], None]) -> Delivery | None:
        with self.transaction() as db:
            row = db.execute("SELECT data FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                return None
            delivery = Delivery.from_dict(json.loads(row[0]))
            change(delivery)
            self.put_delivery(delivery)
        return delivery

    def list_deliveries(self, provider: str | None = None, job_id: str | None = None) -> list[Delivery]:
        rows = self.read(*_select("data FROM deliveries", "rowid", provider=provider, job_id=job_id))
        return [Delivery.from_dict(json.loads(row[0])) for row in rows]

    def due_deliveries(self, now: float, real_now: float, limit: int) -> list[str]:
        rows = self.read(
            "SELECT id FROM deliveries WHERE pending = 1 AND due_at <= ? "
            "AND (claimed_until IS NULL OR claimed_until <= ?) ORDER BY due_at LIMIT ?",
            (now, real_now, limit),
        )
        return [row[0] for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --- what several workers share -----------------------------------------------------------------

SHARED_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (provider TEXT, key TEXT, tokens REAL, at REAL, PRIMARY KEY (provider, key));
CREATE TABLE IF NOT EXISTS faults (seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL, fired INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT, key TEXT, data TEXT);
CREATE TABLE IF NOT EXISTS controls (name TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    provider TEXT NOT NULL, id TEXT NOT NULL, holder TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (provider, id));
"""


def services(
    store: SqliteStore, clock: MockClock, rate_limits: bool, journal_size: int, seed: int | None, lease_seconds: float
) -> Shared:
    """What the workers share (limiter, faults, journal, controls) and their job leases, in tables of the
    store's own file."""
    with store.transaction() as db:
        for statement in filter(str.strip, SHARED_SCHEMA.split(";")):
            db.execute(statement)
    limiter, faults = SqliteRateLimiter(store, clock, rate_limits), SqliteFaults(store, seed)
    journal, leases = SqliteJournal(store, journal_size), SqliteLeases(store, lease_seconds)
    return Shared.build(clock, SqliteCell(store), limiter, faults, journal, leases)


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


class SqliteFaults(Faults):
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


class SqliteJournal(BatchedJournal):
    """The journal in the database, so /__mock/journal shows every worker's requests. Entries are
    written in batches (``BatchedJournal``): one transaction per turn of the event loop."""

    TRIM_EVERY = 500

    def __init__(self, store: SqliteStore, capacity: int) -> None:
        super().__init__()
        self._store, self._capacity = store, capacity
        self._writes = 0

    def _write(self, entries: list[Entry]) -> None:
        """The row ids number the entries, in the order recorded."""
        rows = [(entry.provider, entry.key, json.dumps(entry.to_dict())) for entry in entries]
        with self._store.transaction() as db:
            db.executemany("INSERT INTO journal (provider, key, data) VALUES (?, ?, ?)", rows)
            before, self._writes = self._writes, self._writes + len(rows)
            if before // self.TRIM_EVERY != self._writes // self.TRIM_EVERY:
                db.execute("DELETE FROM journal WHERE id <= (SELECT max(id) FROM journal) - ?", (self._capacity,))

    def _clear(self) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM journal")

    def _page(self, query: JournalQuery) -> tuple[list[dict[str, Any]], int | None]:
        # provider and key are columns: filtered in SQL first, a bounded chunk at a time
        columns = (("provider", query.provider), ("key", query.key))
        given = {column: value for column, value in columns if value is not None}

        def older(before: int | None, count: int) -> list[dict[str, Any]]:
            where = " AND ".join(["id < ?", *(f"{column} = ?" for column in given)])
            rows = self._store.read(
                f"SELECT id, data FROM journal WHERE {where} ORDER BY id DESC LIMIT ?",
                (1 << 62 if before is None else before, *given.values(), count),
            )
            return [{**json.loads(data), "id": row_id} for row_id, data in rows]

        return page_back(query, older)


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

    async def request_version(self) -> int | None:
        return self.version()  # one local SELECT per request (no round trip; WAL readers do not wait)

    async def aclose(self) -> None:
        """Nothing of its own to close (the store closes its connections)."""

    def read(self) -> tuple[int, dict[str, Any]] | None:
        rows = self._store.read("SELECT version, data FROM controls WHERE name = 'controls'")
        return (rows[0][0], json.loads(rows[0][1])) if rows else None


class SqliteLeases:
    """Which worker runs a job: a row of (holder, expiry on the real clock), as ``RedisLeases`` keeps a key
    with a TTL. A worker killed mid-work stops renewing, so its rows lapse and a sweep takes them over."""

    def __init__(self, store: SqliteStore, seconds: float) -> None:
        self._store, self.seconds = store, seconds
        self.holder = lease_holder()

    def claim(self, provider: str, job_id: str) -> bool:
        """Take the job's lease if nobody (this worker included) holds it, or its holder let it lapse."""
        now = time.time()
        with self._store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO leases VALUES (?, ?, ?, ?) ON CONFLICT (provider, id) DO UPDATE "
                "SET holder = excluded.holder, expires = excluded.expires WHERE leases.expires <= ?",
                (provider, job_id, self.holder, now + self.seconds, now),
            )
            return cursor.rowcount > 0

    def renew(self, jobs: list[tuple[str, str]]) -> None:
        """Extend the leases this worker holds, in one transaction."""
        expires = time.time() + self.seconds
        with self._store.transaction() as db:
            db.executemany(
                "UPDATE leases SET expires = ? WHERE provider = ? AND id = ? AND holder = ?",
                [(expires, provider, job_id, self.holder) for provider, job_id in jobs],
            )

    def release(self, provider: str, job_id: str) -> None:
        """Drop the lease if this worker still holds it (one that lapsed may be another's now)."""
        with self._store.transaction() as db:
            db.execute(
                "DELETE FROM leases WHERE provider = ? AND id = ? AND holder = ?", (provider, job_id, self.holder)
            )
