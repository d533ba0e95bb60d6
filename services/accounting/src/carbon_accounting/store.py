"""Redis storage of accounts (serialized proto keyed by resource name)."""

from __future__ import annotations

from decimal import Decimal

import redis
from carbon.v1 import accounting_pb2
from carbon_common import events


def account_key(name: str) -> str:
    return f"carbon:accounting:account:{name}"


def periods_key(uscc: str) -> str:
    return f"carbon:accounting:periods:{uscc}"


def industry_key(industry_code: str, period: str) -> str:
    return f"carbon:accounting:industry:{industry_code}:{period}"


def declared_key(uscc: str, year: str) -> str:
    return f"carbon:accounting:declared:{uscc}:{year}"


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

    def put(self, account: accounting_pb2.Account, uscc: str) -> None:
        """Store, index, and announce on carbon:events:accounts (one transaction)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(account_key(account.name), account.SerializeToString(deterministic=True))
        pipe.zadd(periods_key(uscc), {account.period: 0})
        if account.industry_code:
            pipe.sadd(industry_key(account.industry_code, account.period), uscc)
        announced = events.AccountStored.create(uscc=uscc, period=account.period, input_digest=account.input_digest)
        events.ACCOUNTS.add(pipe, announced)
        pipe.execute()

    def periods(self, uscc: str) -> list[str]:
        return [p.decode() for p in self.redis.zrange(periods_key(uscc), 0, -1)]

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
        members = sorted(m.decode() for m in self.redis.smembers(industry_key(industry_code, period)))
        values: list[Decimal] = []
        for uscc in members:
            account = self.get(f"enterprises/{uscc}/accounts/{period}")
            if account is not None and getattr(account, field).value:
                values.append(Decimal(getattr(account, field).value))
        if len(values) < minimum_peers:
            return None, len(values)
        return (sum(values, Decimal(0)) / len(values)).quantize(Decimal("0.000001")), len(values)
