"""Shared state on Redis: rate limits, fault counts, the journal, the controls and job leases.

Each decision that must be exact is one Lua script, which Redis runs atomically: a token bucket's
refill-and-take, a fault's conditional count, a journal entry's id-and-append. Leases say which
process runs a job: taken when its work starts, renewed while it runs, released when it ends, so
a replica that dies leaves jobs whose lease expires, and exactly one survivor ends each of them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from typing import Any

from mockserver.core.backends.base import Shared, SharedControls, StoredFaults, process_name
from mockserver.core.clock import MockClock
from mockserver.core.faults import Rule
from mockserver.core.journal import Entry, journal_matches
from mockserver.core.ratelimit import Decision, Limit, RateLimiter, decision
from mockserver.core.redis_store import RedisStore

_TAKE_TOKEN = """
local now, requests, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or requests
local at = tonumber(bucket[2]) or now
tokens = math.min(requests, tokens + math.max(0, now - at) * requests / window)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
return {allowed, string.format('%.17g', tokens)}
"""
_COUNT_FAULT = """
local rule = redis.call('HGET', KEYS[1], ARGV[1])
if not rule then return 0 end
local times = cjson.decode(rule)['times']
local fired = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if type(times) == 'number' and fired >= times then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return 1
"""
_RECORD = """
local id = redis.call('INCR', KEYS[2])
redis.call('RPUSH', KEYS[1], id .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return id
"""
_WRITE_CELL = """
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'data', ARGV[1])
return version
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def services(
    store: RedisStore, clock: MockClock, rate_limits: bool, journal_size: int, seed: int | None, lease_seconds: float
) -> Shared:
    limiter = RedisRateLimiter(store, clock, rate_limits)
    return Shared(
        limiter=limiter,
        faults=RedisFaults(store, seed),
        journal=RedisJournal(store, journal_size),
        controls=SharedControls(RedisCell(store), clock, limiter),
        leases=RedisLeases(store, lease_seconds),
    )


class RedisRateLimiter(RateLimiter):
    """A token bucket per (provider, key) in a hash; refill and take are one script."""

    def __init__(self, store: RedisStore, clock: MockClock, enabled: bool = True) -> None:
        super().__init__(clock, enabled)
        self._store = store
        self._take = store.client.register_script(_TAKE_TOKEN)

    def reset(self) -> None:
        self._store.delete_kinds("bucket")

    def take(self, provider: str, key: str, limit: Limit) -> Decision:
        now = self._clock.now()
        allowed, tokens = self._take(
            keys=[self._store.key("bucket", provider, key)], args=[repr(now), limit.requests, repr(limit.window)]
        )
        return decision(bool(allowed), float(tokens), now, limit)


class RedisFaults(StoredFaults):
    """Rules in a hash by sequence number, their counts in another; `times` is checked in the script."""

    def __init__(self, store: RedisStore, seed: int | None = None) -> None:
        super().__init__(seed)
        self._store = store
        self._rules, self._fired = store.key("faults"), store.key("faults", "fired")
        self._count = store.client.register_script(_COUNT_FAULT)

    def insert(self, rule: Rule) -> str:
        rule_id = f"rule_{self._store.client.incr(self._store.key('faults', 'seq'))}"
        self._store.client.hset(self._rules, rule_id, json.dumps({**asdict(rule), "id": rule_id}))
        return rule_id

    def remove(self, rule_id: str) -> bool:
        with self._store.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self._rules, rule_id)
            pipe.hdel(self._fired, rule_id)
            removed, _ = pipe.execute()
        return bool(removed)

    def clear(self) -> None:
        self._store.client.delete(self._rules, self._fired)

    def has_rules(self) -> bool:
        return bool(self._store.client.exists(self._rules))

    def stored(self) -> list[Rule]:
        with self._store.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._rules)
            pipe.hgetall(self._fired)
            rules, fired = pipe.execute()
        ordered = sorted(rules.items(), key=lambda item: int(item[0].removeprefix("rule_")))
        return [Rule(**{**json.loads(data), "fired": int(fired.get(rule_id, 0))}) for rule_id, data in ordered]

    def count(self, rule: Rule) -> bool:
        return bool(self._count(keys=[self._rules, self._fired], args=[rule.id]))


class RedisJournal:
    """A capped list of ``"<id> <json>"`` entries; the id comes from a counter in the same script."""

    def __init__(self, store: RedisStore, capacity: int) -> None:
        self._store, self._capacity = store, capacity
        self._list, self._seq = store.key("journal"), store.key("journal", "seq")
        self._record = store.client.register_script(_RECORD)

    def record(self, entry: Entry) -> None:
        """The script numbers the entry."""
        self._record(keys=[self._list, self._seq], args=[json.dumps(entry.to_dict()), self._capacity])

    def clear(self) -> None:
        self._store.client.delete(self._list)

    def query(
        self,
        *,
        provider: str | None = None,
        key: str | None = None,
        path: str | None = None,
        method: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        lines = (line.partition(" ") for line in self._store.client.lrange(self._list, 0, -1))
        entries = ({**json.loads(data), "id": int(number)} for number, _, data in lines)
        return [entry for entry in entries if journal_matches(entry, provider, key, path, method)][-limit:]


class RedisCell:
    """The controls document: a hash of `version` and `data`."""

    def __init__(self, store: RedisStore) -> None:
        self._client, self._name = store.client, store.key("controls")
        self._write = store.client.register_script(_WRITE_CELL)

    def write(self, data: dict[str, Any]) -> int:
        return int(self._write(keys=[self._name], args=[json.dumps(data)]))

    def version(self) -> int | None:
        version = self._client.hget(self._name, "version")
        return int(version) if version is not None else None

    def read(self) -> tuple[int, dict[str, Any]] | None:
        version, data = self._client.hmget(self._name, "version", "data")
        return (int(version), json.loads(data)) if data is not None else None


class RedisLeases:
    """Which process runs a job; a lease lapses `seconds` after its holder last renewed it."""

    def __init__(self, store: RedisStore, seconds: float) -> None:
        self._store, self._client, self.seconds = store, store.client, seconds
        self._millis = max(1, int(seconds * 1000))
        self.holder = f"{process_name()}/{uuid.uuid4().hex[:8]}"  # two mocks in one process hold apart
        self._renew = store.client.register_script(_RENEW)

    def _key(self, provider: str, job_id: str) -> str:
        return self._store.key("lease", provider, job_id)

    def claim(self, provider: str, job_id: str) -> bool:
        """Take the job's lease if nobody (this process included) holds it."""
        return bool(self._client.set(self._key(provider, job_id), self.holder, nx=True, px=self._millis))

    def renew(self, jobs: list[tuple[str, str]]) -> None:
        """Extend the leases this process holds, in one round trip."""
        with self._client.pipeline(transaction=False) as pipe:
            for provider, job_id in jobs:
                self._renew(keys=[self._key(provider, job_id)], args=[self.holder, self._millis], client=pipe)
            pipe.execute()

    def release(self, provider: str, job_id: str) -> None:
        self._store.release(self._key(provider, job_id), self.holder)
