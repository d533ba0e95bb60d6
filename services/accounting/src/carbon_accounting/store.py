"""Redis storage of accounts (serialized proto keyed by resource name), the month records and
baselines they are derived from, and the per-enterprise leases replicas recompute under."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis
from carbon.v1 import accounting_pb2
from carbon_common import events, redis_conn


def account_key(name: str) -> str:
    return f"carbon:accounting:account:{name}"


def periods_key(uscc: str) -> str:
    return f"carbon:accounting:periods:{uscc}"


def industry_key(industry_code: str, period: str) -> str:
    return f"carbon:accounting:industry:{industry_code}:{period}"


def months_key(uscc: str) -> str:
    """Hash month -> the month's aggregated inputs (compute.encode_month), which years are summed from."""
    return f"carbon:accounting:months:{uscc}"


def baselines_key(uscc: str) -> str:
    """Hash period -> {digest, total} of the stored account, read by reductions against it."""
    return f"carbon:accounting:baselines:{uscc}"


def declared_key(uscc: str, year: str) -> str:
    return f"carbon:accounting:declared:{uscc}:{year}"


ERASED_KEY = "carbon:accounting:erased"
"""Hash uscc -> ms of the erasure request's stream entry: activity announced before it is ignored."""


@dataclass(frozen=True)
class StoredBaseline:
    """A stored account as a base period: its own-input digest and total tCO2."""

    digest: str
    total_tco2: Decimal

    @classmethod
    def from_json(cls, raw: str | bytes) -> StoredBaseline:
        record = json.loads(raw)
        return cls(str(record["digest"]), Decimal(record["total"]))


def baseline_record(account: accounting_pb2.Account, own_digest: str) -> str:
    return json.dumps({"digest": own_digest, "total": account.total_tco2.value}, sort_keys=True)


def put_account(pipe: Any, account: accounting_pb2.Account, uscc: str, own_digest: str) -> None:
    """The writes that store, index and announce an account (queued on a MULTI pipeline)."""
    pipe.set(account_key(account.name), account.SerializeToString(deterministic=True))
    if own_digest:
        pipe.hset(baselines_key(uscc), account.period, baseline_record(account, own_digest))
    pipe.zadd(periods_key(uscc), {account.period: 0})
    if account.industry_code:
        pipe.sadd(industry_key(account.industry_code, account.period), uscc)
    events.ACCOUNTS.add(pipe, events.AccountStored.of(account))  # with its figures: no GetAccount per change


class AccountStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def get(self, name: str) -> accounting_pb2.Account | None:
        raw = self.redis.get(account_key(name))
        if raw is None:
            return None
        account = accounting_pb2.Account()
        account.ParseFromString(raw)
        return account

    def put(self, account: accounting_pb2.Account, uscc: str, own_digest: str = "") -> None:
        """Store, index, and announce on carbon:events:accounts (one transaction). `own_digest`
        (compute.own_digest) records the account as a baseline for reductions against it."""
        pipe = self.redis.pipeline(transaction=True)
        put_account(pipe, account, uscc, own_digest)
        pipe.execute()

    def baseline(self, uscc: str, period: str) -> StoredBaseline | None:
        """The stored account of `period` as a base period."""
        raw = self.redis.hget(baselines_key(uscc), period)
        return None if raw is None else StoredBaseline.from_json(raw)

    def month_records(self, uscc: str, months: list[str]) -> dict[str, bytes]:
        if not months:
            return {}
        values = self.redis.hmget(months_key(uscc), months)
        return {
            month: redis_conn.as_bytes(value) for month, value in zip(months, values, strict=True) if value is not None
        }

    def put_months(self, uscc: str, records: dict[str, bytes]) -> None:
        if records:
            self.redis.hset(months_key(uscc), mapping=records)  # type: ignore[arg-type]

    def erase(self, uscc: str) -> dict[str, int]:
        """Delete everything derived from the enterprise's data (accounts, their index entries,
        month records, baselines, declared economics) and record when (Redis's clock, which
        stamps stream entries) it was erased, in one transaction. Returns the counts for the
        erasure report."""
        seconds, micros = self.redis.time()
        erased_ms = int(seconds) * 1000 + int(micros) // 1000
        periods = self.periods(uscc)
        names = [f"enterprises/{uscc}/accounts/{period}" for period in periods]
        industries = {account.industry_code for account in map(self.get, names) if account and account.industry_code}
        declared = list(self.redis.scan_iter(match=declared_key(uscc, "*"), count=1000))
        pipe = self.redis.pipeline(transaction=True)
        for name in names:
            pipe.delete(account_key(name))
        for industry in sorted(industries):
            for period in periods:
                pipe.srem(industry_key(industry, period), uscc)
        pipe.delete(periods_key(uscc), months_key(uscc), baselines_key(uscc), *declared)
        pipe.hset(ERASED_KEY, uscc, str(erased_ms))
        pipe.execute()
        return {"accounts_deleted": len(names), "declared_deleted": len(declared)}

    def erased_at(self, usccs: list[str]) -> dict[str, int]:
        """ms of the latest erasure of each of these enterprises that was erased."""
        if not usccs:
            return {}
        values = self.redis.hmget(ERASED_KEY, usccs)
        return {uscc: int(value) for uscc, value in zip(usccs, values, strict=True) if value is not None}

    def periods(self, uscc: str) -> list[str]:
        return redis_conn.members(self.redis.zrange(periods_key(uscc), 0, -1))

    def declared(self, uscc: str, year: str) -> dict[str, str]:
        raw = self.redis.hgetall(declared_key(uscc, year))
        out = {}
        for k, v in raw.items():
            key = k.decode() if isinstance(k, bytes) else str(k)
            if key in ("revenue_cny", "value_added_cny", "tax_cny"):
                out[key] = v.decode() if isinstance(v, bytes) else str(v)
        return out

    def industry_benchmark(
        self, industry_code: str, period: str, field: str = "intensity_value_added", minimum_peers: int = 3
    ) -> tuple[Decimal | None, int]:
        """Mean intensity of stored accounts in the same industry and period (None below `minimum_peers`)."""
        if not industry_code:
            return None, 0
        members = sorted(redis_conn.as_text(m) for m in self.redis.smembers(industry_key(industry_code, period)))
        values: list[Decimal] = []
        for uscc in members:
            account = self.get(f"enterprises/{uscc}/accounts/{period}")
            if account is not None and getattr(account, field).value:
                values.append(Decimal(getattr(account, field).value))
        if len(values) < minimum_peers:
            return None, len(values)
        return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.000001")), len(values)


class StoreView(AccountStore):
    """The store as one micro-batch sees it: the touched enterprises' periods, month records,
    baselines, accounts and declared economics read in two round trips up front; writes kept
    (and read back by the batch's later computes) until flush() applies them all in one
    MULTI/EXEC. Only for enterprises the caller holds (lease + lock) for the view's lifetime;
    anything not prefetched is read from Redis as usual."""

    def __init__(self, client: redis.Redis, usccs: list[str], accounts: dict[str, list[str]], years: set[str]) -> None:
        super().__init__(client)
        pipe = client.pipeline(transaction=False)
        for uscc in usccs:
            pipe.zrange(periods_key(uscc), 0, -1)
            pipe.hgetall(months_key(uscc))
            pipe.hgetall(baselines_key(uscc))
        replies = iter(pipe.execute())
        self._periods: dict[str, list[str]] = {}
        self._months: dict[str, dict[str, bytes]] = {}
        self._baselines: dict[str, dict[str, bytes]] = {}
        for uscc in usccs:
            self._periods[uscc] = redis_conn.members(next(replies))
            self._months[uscc] = {redis_conn.as_text(k): redis_conn.as_bytes(v) for k, v in next(replies).items()}
            self._baselines[uscc] = {redis_conn.as_text(k): redis_conn.as_bytes(v) for k, v in next(replies).items()}
        names = sorted(
            {f"enterprises/{u}/accounts/{p}" for u in usccs for p in {*self._periods[u], *accounts.get(u, [])}}
        )
        declared = [(u, y) for u in usccs for y in sorted(years)]
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.get(account_key(name))
        for uscc, year in declared:
            pipe.hgetall(declared_key(uscc, year))
        replies = iter(pipe.execute())
        self._accounts: dict[str, bytes | None] = {name: next(replies) for name in names}
        self._declared = {key: self._declared_fields(next(replies)) for key in declared}
        self._writes: list[tuple[accounting_pb2.Account, str, str]] = []
        self._month_writes: dict[str, dict[str, bytes]] = {}

    @staticmethod
    def _declared_fields(raw: dict[Any, Any]) -> dict[str, str]:
        out = {}
        for k, v in raw.items():
            key = redis_conn.as_text(k)
            if key in ("revenue_cny", "value_added_cny", "tax_cny"):
                out[key] = redis_conn.as_text(v)
        return out

    def get(self, name: str) -> accounting_pb2.Account | None:
        if name not in self._accounts:
            return super().get(name)
        raw = self._accounts[name]
        return None if raw is None else accounting_pb2.Account.FromString(raw)

    def put(self, account: accounting_pb2.Account, uscc: str, own_digest: str = "") -> None:
        self._writes.append((account, uscc, own_digest))
        self._accounts[account.name] = account.SerializeToString(deterministic=True)
        if own_digest and uscc in self._baselines:
            self._baselines[uscc][account.period] = baseline_record(account, own_digest).encode()
        if uscc in self._periods and account.period not in self._periods[uscc]:
            self._periods[uscc] = sorted([*self._periods[uscc], account.period])

    def baseline(self, uscc: str, period: str) -> StoredBaseline | None:
        if uscc not in self._baselines:
            return super().baseline(uscc, period)
        raw = self._baselines[uscc].get(period)
        return None if raw is None else StoredBaseline.from_json(raw)

    def month_records(self, uscc: str, months: list[str]) -> dict[str, bytes]:
        if uscc not in self._months:
            return super().month_records(uscc, months)
        return {month: self._months[uscc][month] for month in months if month in self._months[uscc]}

    def put_months(self, uscc: str, records: dict[str, bytes]) -> None:
        self._month_writes.setdefault(uscc, {}).update(records)
        self._months.setdefault(uscc, {}).update(records)

    def periods(self, uscc: str) -> list[str]:
        if uscc not in self._periods:
            return super().periods(uscc)
        return list(self._periods[uscc])

    def declared(self, uscc: str, year: str) -> dict[str, str]:
        if (uscc, year) not in self._declared:
            return super().declared(uscc, year)
        return dict(self._declared[(uscc, year)])

    def flush(self, usccs: set[str] | None = None) -> None:
        """Apply the writes (of these enterprises only, when given) in one MULTI/EXEC."""
        pipe = self.redis.pipeline(transaction=True)
        for uscc, records in self._month_writes.items():
            if records and (usccs is None or uscc in usccs):
                pipe.hset(months_key(uscc), mapping=records)  # type: ignore[arg-type]
        for account, uscc, own_digest in self._writes:
            if usccs is None or uscc in usccs:
                put_account(pipe, account, uscc, own_digest)
        if len(pipe):
            pipe.execute()
        self._writes, self._month_writes = [], {}


class Leases:
    """Per-enterprise leases in Redis: replicas sharing the consumer group never recompute the
    same enterprise concurrently (its month records and accounts would race). A lease is held
    in the consumer's name, so the same consumer restarted after a kill -9 takes its leases back
    at once; another replica waits until it is released (compare-and-delete, after storing) or
    expires (lease_ms)."""

    _ACQUIRE = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end "
        "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end return 0"
    )
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, client: redis.Redis, owner: str, ttl_ms: int) -> None:
        self.client = client
        self.token = owner
        self.ttl_ms = ttl_ms
        self._acquire = client.register_script(self._ACQUIRE)
        self._release = client.register_script(self._RELEASE)

    @staticmethod
    def key(uscc: str) -> str:
        return f"carbon:accounting:lease:{uscc}"

    def acquire(self, uscc: str) -> bool:
        return bool(self._acquire(keys=[self.key(uscc)], args=[self.token, self.ttl_ms]))

    def release(self, uscc: str) -> None:
        self._release(keys=[self.key(uscc)], args=[self.token])

    def acquire_many(self, usccs: Sequence[str]) -> list[str]:
        """The enterprises whose lease this holder got, in one round trip."""
        if not usccs:
            return []
        pipe = self.client.pipeline(transaction=False)
        for uscc in usccs:
            self._acquire(keys=[self.key(uscc)], args=[self.token, self.ttl_ms], client=pipe)
        return [uscc for uscc, got in zip(usccs, pipe.execute(), strict=True) if got]

    def release_many(self, usccs: Sequence[str]) -> None:
        if usccs:
            pipe = self.client.pipeline(transaction=False)
            for uscc in usccs:
                self._release(keys=[self.key(uscc)], args=[self.token], client=pipe)
            pipe.execute()

    def wait(self, uscc: str, seconds: float) -> bool:
        """Acquire, waiting up to `seconds` while another holder has it."""
        deadline = time.monotonic() + seconds
        pause = 0.01
        while not self.acquire(uscc):
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.2)
        return True
