"""Everything on Redis (``--store redis://host:port/db``), for several workers or replicas at once.

Every key starts with a prefix (``cutout-mock:`` unless the URL says ``?prefix=...``), so one Redis
can hold several mocks and `reset` deletes only this mock's keys. A job is a hash (its JSON, its
owner, its poll count, kept apart so a poll is one atomic HINCRBY); sorted sets index jobs by
creation time, all and per (provider, owner); a set holds the jobs whose work has not ended.

Atomicity: a balance changes only in a Lua script that checks it first (`charge`), a poll is a Lua
script, and `update_job` runs its change under a short per-job lock (SET NX PX), so the change is
applied exactly once to the job as it is and no other process writes the job meanwhile. Media
bytes stay on disk: replicas share the state directory.

Redis always shares what several processes must (`services`): rate limits, fault counts, the
journal, the controls and job leases. Each decision that must be exact is one Lua script: a token
bucket's refill-and-take, a fault's conditional count, a journal entry's id-and-append. Leases say
which process runs a job: taken when its work starts, renewed while it runs, released when it ends,
so a replica that dies leaves jobs whose lease expires, and exactly one survivor ends each of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from mockserver.core.backends.base import (
    SCAN_BUDGET,
    Account,
    BatchedJournal,
    Faults,
    JournalQuery,
    RateLimiter,
    Shared,
    StoreUnavailable,
    begin_look,
    current_look,
    lease_holder,
    page_back,
)
from mockserver.core.backends.redis_async import ChangeWatch, LoopClient
from mockserver.core.clock import MockClock
from mockserver.core.faults import Rule
from mockserver.core.jobs import Job, MediaRef
from mockserver.core.journal import Entry
from mockserver.core.ratelimit import Decision, Limit, decision
from mockserver.core.webhooks import Delivery

try:
    import redis
except ImportError:  # pragma: no cover - the error below says what to install
    redis = None  # type: ignore[assignment]

log = logging.getLogger("cutout_mock")
DEFAULT_PREFIX = "cutout-mock:"
CACHE_SIZE = 10_000  # jobs (and accounts) a store keeps read; the oldest kept goes first
LOCK_SECONDS = 10  # a job's lock outlives any change; a crashed holder frees it by then

_POLL = """
local job = redis.call('HMGET', KEYS[1], 'data', 'polls', 'owner')
if not job[1] then return false end
local polls = job[2]
if job[3] == ARGV[1] then
  polls = redis.call('HINCRBY', KEYS[1], 'polls', 1)
  redis.call('INCR', KEYS[2])
end
return {job[1], tostring(polls)}
"""
_CHARGE = """
local balance = redis.call('HGET', KEYS[1], 'balance')
if not balance then return false end
local after = tonumber(balance) - tonumber(ARGV[1])
if after < -1e-9 then return false end
after = math.floor(after * 1e6 + 0.5) / 1e6
local text = string.format('%.6f', after)
redis.call('HSET', KEYS[1], 'balance', text)
redis.call('INCR', KEYS[2])
return text
"""
# A new job: its place in the listings is the change counter's next value (unique, increasing, never
# moved by later writes), so a cursor over the indexes walks each job once.
_NEW_JOB = """
local place = redis.call('INCR', KEYS[5])
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'owner', ARGV[2], 'polls', ARGV[3])
redis.call('ZADD', KEYS[2], 'NX', place, ARGV[4])
redis.call('ZADD', KEYS[3], 'NX', place, ARGV[4])
if ARGV[5] == '1' then redis.call('SADD', KEYS[4], ARGV[4]) else redis.call('SREM', KEYS[4], ARGV[4]) end
return place
"""
_DELETE_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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
local count = #ARGV - 1
local last = redis.call('INCRBY', KEYS[2], count)
local lines = {}
for i = 1, count do lines[i] = (last - count + i) .. ' ' .. ARGV[i + 1] end
redis.call('RPUSH', KEYS[1], unpack(lines))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[1]), -1)
return last
"""
# Journal lines numbered below ARGV[1] ('' for the newest), at most ARGV[2], oldest first. Ids run
# on without gaps in the list (numbered in one script, trimmed from the head), so id n sits at n - first.
_OLDER = """
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return {} end
local first = tonumber(string.match(head, '^(%d+)'))
local stop = redis.call('LLEN', KEYS[1])
if ARGV[1] ~= '' then stop = math.min(stop, tonumber(ARGV[1]) - first) end
if stop <= 0 then return {} end
return redis.call('LRANGE', KEYS[1], math.max(0, stop - tonumber(ARGV[2])), stop - 1)
"""
_WRITE_CELL = """
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'data', ARGV[1])
redis.call('INCR', KEYS[2])
return version
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def connect(url: str) -> tuple[Any, str, str]:
    """A client for `url`, the key prefix (``?prefix=`` is ours, not redis-py's) and the URL without it."""
    if redis is None:
        raise StoreUnavailable("--store redis:// needs the redis package: pip install 'cutout-mock[redis]'")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", [DEFAULT_PREFIX])[0]
    if not re.fullmatch(r"[A-Za-z0-9_.:/-]+", prefix):
        raise StoreUnavailable("the Redis key prefix may hold letters, digits and _ . : / - only")
    plain = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    try:
        client = redis.Redis.from_url(plain, decode_responses=True, socket_timeout=10)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise StoreUnavailable(f"cannot use Redis at {parts.netloc or url}: {exc}") from None
    return client, prefix, plain


class RedisStore:
    """The store on Redis, with a read cache each request validates in one round trip.

    Every write of a job, an account, the fault list or the controls counts one on the store's
    change counter (``<prefix>changes``, in the same MULTI or script). A request begins with one
    GET of it (`look`, from the front door, ``web/front.py``): unchanged since this process last looked, the jobs
    and accounts read before, the controls' version and whether fault rules exist are still true,
    and the request reads them here without a round trip. A write from this process forgets the
    cache at once. Reads outside a request (background work) and read-modify-writes
    (`update_job`) always go to Redis.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.client, self.prefix, plain = connect(url)
        self._poll = self.client.register_script(_POLL)
        self._charge = self.client.register_script(_CHARGE)
        self._new_job = self.client.register_script(_NEW_JOB)
        self._delete_if_held = self.client.register_script(_DELETE_IF_HELD)
        self.changes = self.key("changes")
        self.aio = LoopClient(plain)  # the same Redis on asyncio connections, for work on the event loop
        self.watch = ChangeWatch(self.aio, self.changes, self.key("controls"), self.key("faults"))
        self._cache_lock = threading.Lock()
        self._cache_version: str | None = None  # the change counter the cache is true for
        self._cached_jobs: dict[tuple[str, str], Job] = {}
        self._cached_accounts: dict[tuple[str, str], Account] = {}
        self.controls_version: int | None = None  # as of `_cache_version`
        self.faults_exist = True

    # --- the read cache -----------------------------------------------------------------------

    async def look(self) -> None:
        """A request begins: the change counter as of a GET sent since (``ChangeWatch``: one round trip
        for every request that begins in the same turn of the loop; a second only when it moved)."""
        seen = await self.watch.snapshot()
        with self._cache_lock:
            if seen.version != self._cache_version:
                self._cached_jobs.clear()
                self._cached_accounts.clear()
                self._cache_version = seen.version
                self.controls_version, self.faults_exist = seen.controls, seen.faults
        begin_look(self, seen.version)

    def trusted(self) -> bool:
        """Whether this request looked and nothing changed since: its cached reads are true."""
        look = current_look(self)
        return look is not None and look.version == self._cache_version

    def forget(self) -> None:
        """This process wrote: nothing cached holds until the next look."""
        with self._cache_lock:
            self._cache_version = None
            self._cached_jobs.clear()
            self._cached_accounts.clear()

    def _cached(self, cache: dict[tuple[str, str], Any], key: tuple[str, str]) -> Any:
        look = current_look(self)
        if look is None:
            return None
        with self._cache_lock:
            return cache.get(key) if look.version == self._cache_version else None

    def _keep(self, cache: dict[tuple[str, str], Any], key: tuple[str, str], value: Any) -> None:
        look = current_look(self)
        if look is None:
            return
        with self._cache_lock:
            if look.version == self._cache_version:
                if len(cache) >= CACHE_SIZE:
                    del cache[next(iter(cache))]
                cache[key] = value

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def release(self, name: str, holder: str) -> None:
        """Delete the lock or lease `name` if `holder` still holds it (one that lapsed may be another's)."""
        self._delete_if_held(keys=[name], args=[holder])

    # --- jobs ---------------------------------------------------------------------------------

    def _job_key(self, provider: str, job_id: str) -> str:
        return self.key("job", provider, job_id)

    def _write_job(self, job: Job, *, new: bool) -> None:
        """A new job and its indexes in one script; a change in one MULTI (its places stay)."""
        member, data = f"{job.provider}:{job.id}", json.dumps(job.to_dict())
        if new:
            keys = [self._job_key(job.provider, job.id), self.key("jobs"), self.key("owner", job.provider, job.owner)]
            unfinished = "1" if job.outcome is None else "0"
            self._new_job(
                keys=[*keys, self.key("unfinished"), self.changes],
                args=[data, job.owner, job.polls, member, unfinished],
            )
        else:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(self._job_key(job.provider, job.id), mapping={"data": data, "owner": job.owner})
                if job.outcome is None:
                    pipe.sadd(self.key("unfinished"), member)
                else:
                    pipe.srem(self.key("unfinished"), member)
                pipe.incr(self.changes)
                pipe.execute()
        self.forget()

    @staticmethod
    def _job(data: str, polls: str | int | None) -> Job:
        job = Job.from_dict(json.loads(data))
        job.polls = int(polls or 0)  # the hash field is the truth: polls are counted without rewriting the JSON
        return job

    def put_job(self, job: Job) -> None:
        self._write_job(job, new=True)

    def get_job(self, provider: str, job_id: str) -> Job | None:
        """In a request that looked, from the cache when nothing changed; else one HMGET."""
        cached: Job | None = self._cached(self._cached_jobs, (provider, job_id))
        if cached is not None:
            return cached.copy()
        job = self._read_job(provider, job_id)
        if job is not None:
            self._keep(self._cached_jobs, (provider, job_id), job.copy())
        return job

    def _read_job(self, provider: str, job_id: str) -> Job | None:
        data, polls = self.client.hmget(self._job_key(provider, job_id), "data", "polls")
        return self._job(data, polls) if data is not None else None

    def poll_job(self, provider: str, job_id: str, owner: str) -> Job | None:
        found = self._poll(keys=[self._job_key(provider, job_id), self.changes], args=[owner])
        self.forget()
        return self._job(found[0], found[1]) if found else None

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """A short lock shared by every process (SET NX PX); waits for a holder, never forever."""
        lock, token = self.key("lock", name), uuid.uuid4().hex
        deadline = time.monotonic() + LOCK_SECONDS
        while not self.client.set(lock, token, nx=True, px=LOCK_SECONDS * 1000):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} stayed locked for {LOCK_SECONDS} s")
            time.sleep(0.001)
        try:
            yield
        finally:
            self.release(lock, token)

    def update_job(self, provider: str, job_id: str, change: Callable[[Job], None]) -> Job | None:
        with self._locked(f"{provider}:{job_id}"):
            job = self._read_job(provider, job_id)  # never the cache: the change applies to the job as it is
            if job is not None:
                change(job)
                self._write_job(job, new=False)
        return job

    def _jobs(self, members: list[str]) -> list[Job]:
        with self.client.pipeline(transaction=False) as pipe:
            for member in members:
                provider, _, job_id = member.partition(":")
                pipe.hmget(self._job_key(provider, job_id), "data", "polls")
            rows = pipe.execute()
        return [self._job(data, polls) for data, polls in rows if data is not None]

    def list_jobs(self, provider: str | None = None, owner: str | None = None) -> list[Job]:
        if provider is not None and owner is not None:
            return self._jobs(self.client.zrange(self.key("owner", provider, owner), 0, -1))
        jobs = self._jobs(self.client.zrange(self.key("jobs"), 0, -1))
        return [j for j in jobs if (provider is None or j.provider == provider) and (owner is None or j.owner == owner)]

    def page_jobs(
        self, provider: str | None, owner: str | None, after: int | None, limit: int
    ) -> tuple[list[tuple[int, Job]], int | None]:
        """By place (a score of the indexes): the owner's index when both filters are given, else the
        whole index a chunk at a time, a provider told by the member's name and an owner by one
        pipelined HGET per job, at most SCAN_BUDGET jobs looked at per page."""
        both = provider is not None and owner is not None
        index = self.key("owner", provider or "", owner or "") if both else self.key("jobs")
        low = "-inf" if after is None else f"({after}"
        chosen: list[tuple[int, str]] = []
        scanned, last = 0, None
        chunk = limit if both or (provider is None and owner is None) else 500
        while True:
            batch = self.client.zrangebyscore(index, low, "+inf", start=0, num=chunk, withscores=True)
            owners: list[str | None] = [owner] * len(batch)
            if owner is not None and not both:
                with self.client.pipeline(transaction=False) as pipe:
                    for member, _ in batch:
                        pipe.hget(self._job_key(*member.split(":", 1)), "owner")
                    owners = pipe.execute()
            for (member, score), found_owner in zip(batch, owners, strict=True):
                scanned, last, low = scanned + 1, int(score), f"({int(score)}"
                if (provider is None or member.startswith(provider + ":")) and found_owner == owner:
                    chosen.append((last, member))
                    if len(chosen) == limit:
                        return self._placed(chosen), last
            if len(batch) < chunk:
                return self._placed(chosen), None
            if scanned >= SCAN_BUDGET:
                return self._placed(chosen), last

    def _placed(self, chosen: list[tuple[int, str]]) -> list[tuple[int, Job]]:
        """The jobs of these members with their places (one removed meanwhile is left out)."""
        with self.client.pipeline(transaction=False) as pipe:
            for _, member in chosen:
                pipe.hmget(self._job_key(*member.split(":", 1)), "data", "polls")
            rows = pipe.execute()
        return [(place, self._job(data, polls)) for (place, _), (data, polls) in zip(chosen, rows, strict=True) if data]

    def unfinished_jobs(self) -> list[Job]:
        jobs = self._jobs(sorted(self.client.smembers(self.key("unfinished"))))
        return sorted((j for j in jobs if j.outcome is None), key=lambda j: j.created_at)

    # --- accounts -----------------------------------------------------------------------------

    def get_account(self, provider: str, key: str) -> Account | None:
        found: Account | None = self._cached(self._cached_accounts, (provider, key))
        if found is None:
            balance, plan = self.client.hmget(self.key("account", provider, key), "balance", "plan")
            if balance is None:
                return None
            found = Account(provider, key, float(balance), plan)
            self._keep(self._cached_accounts, (provider, key), found)
        return Account(found.provider, found.key, found.balance, found.plan)

    def put_account(self, account: Account) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.key("account", account.provider, account.key),
                mapping={"balance": f"{account.balance:.6f}", "plan": account.plan},
            )
            pipe.sadd(self.key("accounts"), f"{account.provider}:{account.key}")
            pipe.incr(self.changes)
            pipe.execute()
        self.forget()

    def charge(self, provider: str, key: str, amount: float) -> float | None:
        balance = self._charge(keys=[self.key("account", provider, key), self.changes], args=[repr(float(amount))])
        self.forget()
        return float(balance) if balance is not None else None

    def list_accounts(self, provider: str | None = None) -> list[Account]:
        members = sorted(self.client.smembers(self.key("accounts")))
        wanted = [m.partition(":") for m in members if provider is None or m.partition(":")[0] == provider]
        with self.client.pipeline(transaction=False) as pipe:
            for owner, _, key in wanted:
                pipe.hmget(self.key("account", owner, key), "balance", "plan")
            rows = pipe.execute()
        return [
            Account(owner, key, float(balance), plan)
            for (owner, _, key), (balance, plan) in zip(wanted, rows, strict=True)
            if balance is not None
        ]

    def delete_account(self, provider: str, key: str) -> bool:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self.key("account", provider, key))
            pipe.srem(self.key("accounts"), f"{provider}:{key}")
            pipe.incr(self.changes)
            deleted, _, _ = pipe.execute()
        self.forget()
        return bool(deleted)

    # --- media --------------------------------------------------------------------------------

    def put_media(self, provider: str, ref: MediaRef) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.key("media", ref.id), json.dumps([provider, asdict(ref)]))
            pipe.zadd(self.key("media-expiry"), {ref.id: ref.expires_at})  # files not purged yet
            pipe.execute()

    def expired_media(self, now: float, limit: int) -> list[str]:
        return [str(m) for m in self.client.zrangebyscore(self.key("media-expiry"), "-inf", now, start=0, num=limit)]

    def mark_purged(self, media_ids: list[str]) -> None:
        if media_ids:
            self.client.zrem(self.key("media-expiry"), *media_ids)

    def get_media(self, media_id: str) -> tuple[str, MediaRef] | None:
        raw = self.client.get(self.key("media", media_id))
        if raw is None:
            return None
        provider, ref = json.loads(raw)
        return provider, MediaRef(**ref)

    # --- webhook deliveries (DeliveryStore) ---------------------------------------------------
    # A delivery is a JSON string; ``deliveries`` orders them all (by when scheduled), a set per job
    # lists a job's; a pending one is in ``deliveries-due`` (score: due time) or, while an attempt is
    # claimed, in ``deliveries-claimed`` (score: when the claim lapses, real clock).

    def _write_delivery(self, delivery: Delivery, *, new: bool) -> None:
        name = self.key("delivery", delivery.id)
        due, claimed = self.key("deliveries-due"), self.key("deliveries-claimed")
        with self.client.pipeline(transaction=True) as pipe:
            pipe.set(name, json.dumps(delivery.to_dict()))
            if new:
                pipe.zadd(self.key("deliveries"), {delivery.id: time.time()})
                pipe.sadd(self.key("delivery-job", delivery.provider, delivery.job_id), delivery.id)
            pipe.zrem(due, delivery.id)
            pipe.zrem(claimed, delivery.id)
            if delivery.pending and delivery.in_flight:
                pipe.zadd(claimed, {delivery.id: delivery.claimed_until})
            elif delivery.pending:
                pipe.zadd(due, {delivery.id: delivery.due_at})
            pipe.execute()

    def _delivery(self, delivery_id: str) -> Delivery | None:
        raw = self.client.get(self.key("delivery", delivery_id))
        return Delivery.from_dict(json.loads(raw)) if raw is not None else None

    def put_delivery(self, delivery: Delivery) -> None:
        self._write_delivery(delivery, new=True)

    def update_delivery(self, delivery_id: str, change: Callable[[Delivery], None]) -> Delivery | None:
        with self._locked(f"delivery:{delivery_id}"):
            delivery = self._delivery(delivery_id)
            if delivery is not None:
                change(delivery)
                self._write_delivery(delivery, new=False)
        return delivery

    def list_deliveries(self, provider: str | None = None, job_id: str | None = None) -> list[Delivery]:
        if provider is not None and job_id is not None:
            ids = sorted(self.client.smembers(self.key("delivery-job", provider, job_id)))
        else:
            ids = self.client.zrange(self.key("deliveries"), 0, -1)
        raws = self.client.mget([self.key("delivery", i) for i in ids]) if ids else []
        found = [Delivery.from_dict(json.loads(raw)) for raw in raws if raw is not None]
        return [d for d in found if provider in (None, d.provider) and job_id in (None, d.job_id)]

    def due_deliveries(self, now: float, real_now: float, limit: int) -> list[str]:
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zrangebyscore(self.key("deliveries-due"), "-inf", now, start=0, num=limit)
            pipe.zrangebyscore(self.key("deliveries-claimed"), "-inf", real_now, start=0, num=limit)
            due, lapsed = pipe.execute()
        return [str(i) for i in [*due, *lapsed][:limit]]

    # --- the whole store ----------------------------------------------------------------------

    def reset(self) -> None:
        """Delete the jobs, accounts and media records of this mock (its prefix), nothing else."""
        fixed = ("jobs", "unfinished", "accounts", "media-expiry", "deliveries", "deliveries-due", "deliveries-claimed")
        self.client.unlink(*(self.key(name) for name in fixed))
        self.delete_kinds("job", "owner", "account", "media", "delivery", "delivery-job")
        self.client.incr(self.changes)
        self.forget()

    def delete_kinds(self, *kinds: str) -> None:
        """Delete every key of these kinds under this prefix (``job`` -> ``<prefix>job:*``), in batches."""
        names = [name for kind in kinds for name in self.client.scan_iter(match=self.key(kind, "*"), count=1000)]
        for start in range(0, len(names), 1000):
            self.client.unlink(*names[start : start + 1000])

    def close(self) -> None:
        self.client.close()


# --- what several processes share ----------------------------------------------------------------


def services(
    store: RedisStore, clock: MockClock, rate_limits: bool, journal_size: int, seed: int | None, lease_seconds: float
) -> Shared:
    """What the replicas share (limiter, faults, journal, controls) and their job leases."""
    limiter, faults = RedisRateLimiter(store, clock, rate_limits), RedisFaults(store, seed)
    journal, leases = RedisJournal(store, journal_size), RedisLeases(store, lease_seconds)
    return Shared.build(clock, RedisCell(store), limiter, faults, journal, leases)


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


class RedisFaults(Faults):
    """Rules in a hash by sequence number, their counts in another; `times` is checked in the script."""

    def __init__(self, store: RedisStore, seed: int | None = None) -> None:
        super().__init__(seed)
        self._store = store
        self._rules, self._fired = store.key("faults"), store.key("faults", "fired")
        self._count = store.client.register_script(_COUNT_FAULT)

    def insert(self, rule: Rule) -> str:
        rule_id = f"rule_{self._store.client.incr(self._store.key('faults', 'seq'))}"
        with self._store.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._rules, rule_id, json.dumps({**asdict(rule), "id": rule_id}))
            pipe.incr(self._store.changes)
            pipe.execute()
        self._store.forget()
        return rule_id

    def remove(self, rule_id: str) -> bool:
        with self._store.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self._rules, rule_id)
            pipe.hdel(self._fired, rule_id)
            pipe.incr(self._store.changes)
            removed, _, _ = pipe.execute()
        self._store.forget()
        return bool(removed)

    def clear(self) -> None:
        with self._store.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._rules, self._fired)
            pipe.incr(self._store.changes)
            pipe.execute()
        self._store.forget()

    def has_rules(self) -> bool:
        """Known from the request's look when nothing changed (the common answer, no rules, costs no round trip)."""
        if self._store.trusted():
            return self._store.faults_exist
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


class RedisJournal(BatchedJournal):
    """A capped list of ``"<id> <json>"`` lines; a batch is numbered and appended by one script."""

    BATCH = 500  # lines per script call

    def __init__(self, store: RedisStore, capacity: int) -> None:
        super().__init__()
        self._store, self._capacity = store, capacity
        self._list, self._seq = store.key("journal"), store.key("journal", "seq")
        self._record = store.client.register_script(_RECORD)
        self._older = store.client.register_script(_OLDER)
        self._writer: asyncio.Task[None] | None = None  # the batches being sent (`_write_soon`)

    def _write(self, entries: list[Entry]) -> None:
        for args in self._batches(entries):
            self._record(keys=[self._list, self._seq], args=args)

    def _batches(self, entries: list[Entry]) -> Iterator[list[Any]]:
        lines = [json.dumps(entry.to_dict()) for entry in entries]
        for start in range(0, len(lines), self.BATCH):
            yield [self._capacity, *lines[start : start + self.BATCH]]

    def _write_soon(self) -> None:
        """Sent on the asyncio client by one writer task, batch after batch in order; nobody waits."""
        loop, writer = asyncio.get_running_loop(), self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._writer = loop.create_task(self._drain())

    async def _drain(self) -> None:
        record = self._store.aio().register_script(_RECORD)
        while entries := self._take():
            try:
                for args in self._batches(entries):
                    await record(keys=[self._list, self._seq], args=args)
            except redis.RedisError as error:  # the journal is a record, not the answer: log and go on
                log.warning("journal: %d entries not written to Redis: %s", len(entries), error)

    async def settle(self) -> None:
        writer = self._writer
        if writer is not None and writer.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(writer)  # shielded: a control request cancelled leaves the writer going
        self.flush()

    def _clear(self) -> None:
        self._store.client.delete(self._list)

    def _page(self, query: JournalQuery) -> tuple[list[dict[str, Any]], int | None]:
        def older(before: int | None, count: int) -> list[dict[str, Any]]:
            lines = self._older(keys=[self._list], args=["" if before is None else before, count])
            split = (line.partition(" ") for line in reversed(lines))
            entries = ({**json.loads(data), "id": int(number)} for number, _, data in split)
            return [entry for entry in entries if before is None or entry["id"] < before]

        return page_back(query, older)


class RedisCell:
    """The controls document: a hash of `version` and `data`."""

    def __init__(self, store: RedisStore) -> None:
        self._store, self._client, self._name = store, store.client, store.key("controls")
        self._write = store.client.register_script(_WRITE_CELL)

    def write(self, data: dict[str, Any]) -> int:
        version = int(self._write(keys=[self._name, self._store.changes], args=[json.dumps(data)]))
        self._store.forget()
        return version

    def version(self) -> int | None:
        version = self._client.hget(self._name, "version")
        return int(version) if version is not None else None

    async def request_version(self) -> int | None:
        """At a request's start, from the store's look (no round trip of its own); StoreUnavailable
        when Redis cannot be reached."""
        try:
            await self._store.look()
        except redis.RedisError as error:
            raise StoreUnavailable(f"Redis: {error}") from error
        return self._store.controls_version

    async def aclose(self) -> None:
        await self._store.aio.aclose()

    def read(self) -> tuple[int, dict[str, Any]] | None:
        version, data = self._client.hmget(self._name, "version", "data")
        return (int(version), json.loads(data)) if data is not None else None


class RedisLeases:
    """Which process runs a job; a lease lapses `seconds` after its holder last renewed it."""

    def __init__(self, store: RedisStore, seconds: float) -> None:
        self._store, self._client, self.seconds = store, store.client, seconds
        self._millis = max(1, int(seconds * 1000))
        self.holder = lease_holder()
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
