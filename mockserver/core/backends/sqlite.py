"""The store in one SQLite file (WAL), for `serve`, so state survives a restart.

Each change is one transaction; every read-modify-write (`update_job`, `charge`) is atomic, which
is what keeps balances exact under concurrent requests. Media bytes live on disk in the media
store, never here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mockserver.core.backends.base import Account
from mockserver.core.jobs import Job, MediaRef

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    provider TEXT NOT NULL, id TEXT NOT NULL, owner TEXT NOT NULL, created_at REAL NOT NULL,
    polls INTEGER NOT NULL DEFAULT 0, data TEXT NOT NULL, PRIMARY KEY (provider, id));
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (provider, owner, created_at);
CREATE TABLE IF NOT EXISTS accounts (
    provider TEXT NOT NULL, key TEXT NOT NULL, balance REAL NOT NULL, plan TEXT NOT NULL,
    PRIMARY KEY (provider, key));
CREATE TABLE IF NOT EXISTS media (id TEXT PRIMARY KEY, provider TEXT NOT NULL, data TEXT NOT NULL);
"""


class SqliteStore:
    """A single SQLite file (WAL). Each change is one transaction; `update_job` holds a write lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def reset(self) -> None:
        with self._lock:
            self._db.executescript("DELETE FROM jobs; DELETE FROM accounts; DELETE FROM media;")

    def put_job(self, job: Job) -> None:
        self._write(
            "INSERT OR REPLACE INTO jobs (provider, id, owner, created_at, polls, data) VALUES (?, ?, ?, ?, ?, ?)",
            (job.provider, job.id, job.owner, job.created_at, job.polls, json.dumps(job.to_dict())),
        )

    @staticmethod
    def _job(row: tuple[str, int]) -> Job:
        job = Job.from_dict(json.loads(row[0]))
        job.polls = row[1]  # the column is the truth: polls are counted without rewriting the JSON
        return job

    def get_job(self, provider: str, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data, polls FROM jobs WHERE provider = ? AND id = ?", (provider, job_id)
            ).fetchone()
        return self._job(row) if row else None

    def poll_job(self, provider: str, job_id: str, owner: str) -> Job | None:
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET polls = polls + (owner = ?) WHERE provider = ? AND id = ? RETURNING data, polls",
                (owner, provider, job_id),
            ).fetchone()
        return self._job(row) if row else None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (BEGIN IMMEDIATE): other processes on the file wait."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def update_job(self, provider: str, job_id: str, change: Callable[[Job], None]) -> Job | None:
        with self.transaction():
            job = self.get_job(provider, job_id)
            if job is not None:
                change(job)
                self.put_job(job)
        return job

    def list_jobs(self, provider: str | None = None, owner: str | None = None) -> list[Job]:
        sql, args = "SELECT data, polls FROM jobs WHERE 1=1", []
        if provider is not None:
            sql, args = sql + " AND provider = ?", [*args, provider]
        if owner is not None:
            sql, args = sql + " AND owner = ?", [*args, owner]
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at", args).fetchall()
        return [self._job(r) for r in rows]

    def unfinished_jobs(self) -> list[Job]:
        """Jobs whose work has not written its outcome, found in SQL (start-up reads no other job)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data, polls FROM jobs WHERE json_extract(data, '$.outcome') IS NULL ORDER BY created_at"
            ).fetchall()
        return [self._job(r) for r in rows]

    def get_account(self, provider: str, key: str) -> Account | None:
        with self._lock:
            row = self._db.execute(
                "SELECT balance, plan FROM accounts WHERE provider = ? AND key = ?", (provider, key)
            ).fetchone()
        return Account(provider, key, row[0], row[1]) if row else None

    def put_account(self, account: Account) -> None:
        self._write(
            "INSERT OR REPLACE INTO accounts (provider, key, balance, plan) VALUES (?, ?, ?, ?)",
            (account.provider, account.key, account.balance, account.plan),
        )

    def charge(self, provider: str, key: str, amount: float) -> float | None:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE accounts SET balance = round(balance - ?, 6) "
                "WHERE provider = ? AND key = ? AND balance - ? >= -1e-9 RETURNING balance",
                (amount, provider, key, amount),
            )
            row = cursor.fetchone()
        return row[0] if row else None

    def list_accounts(self, provider: str | None = None) -> list[Account]:
        sql, args = "SELECT provider, key, balance, plan FROM accounts", ()
        if provider is not None:
            sql, args = sql + " WHERE provider = ?", (provider,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY provider, key", args).fetchall()
        return [Account(*row) for row in rows]

    def delete_account(self, provider: str, key: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM accounts WHERE provider = ? AND key = ?", (provider, key))
        return cursor.rowcount > 0

    def put_media(self, provider: str, ref: MediaRef) -> None:
        self._write(
            "INSERT OR REPLACE INTO media (id, provider, data) VALUES (?, ?, ?)",
            (ref.id, provider, json.dumps(asdict(ref))),
        )

    def get_media(self, media_id: str) -> tuple[str, MediaRef] | None:
        with self._lock:
            row = self._db.execute("SELECT provider, data FROM media WHERE id = ?", (media_id,)).fetchone()
        return (row[0], MediaRef(**json.loads(row[1]))) if row else None

    def close(self) -> None:
        with self._lock:
            self._db.close()
