"""Load benchmark of the loan-pricing quote endpoint, all services running.

Starts redis-server and the consent, accounting, rating and loan-pricing
services as separate processes (tests/support/processes.py, as `make run`),
seeds banks, enterprises and RATING access consents through the consent
service's real gRPC API and annual carbon accounts through the accounting
service's store (carbon:accounting:*, exactly what a recompute writes), then
drives POST /v1/banks/{bank}/quotes with an open-model, fixed-rate load
generator over loopback (bench/loadgen.py: latency from the *scheduled* send
time, no coordinated omission), followed by the same schedule against gRPC
PricingService.CreateQuote. Every quote is a full one: bank key and consent
decided from pricing's projection of consent's events, rating and account facts
from its projection of rating's events (GetRating only for an enterprise not
rated yet), Rego evaluation, quote + hash-chained decision-log entry + access
decision (consent audits it) in one Redis transaction; loan-pricing runs one
worker process per core.

    python bench/bench_pricing.py [--rate 500] [--duration 60] [--grpc-duration 60]

Goal: REST p99 <= 10 ms at 500 requests/s for 60 s with zero errors. The last
line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import grpc  # noqa: E402
import redis  # noqa: E402
from carbon.v1 import accounting_pb2, pricing_pb2, pricing_pb2_grpc  # noqa: E402
from cpu import CpuMeter  # noqa: E402
from google.type import decimal_pb2  # noqa: E402
from loadgen import HttpPool, Result, open_loop  # noqa: E402

from tests.pricing.stack import ConsentClient, start_stack  # noqa: E402

PRODUCTS = ("quzhou_tanrongyi", "shenzhen_jiangtandai", "wuyi_jiantandai")
INDUSTRIES = ("C2611", "C3011", "C1713")
BANK = "bench-bank"


def make_uscc(n: int) -> str:
    from carbon_common.names import uscc_check_char

    first = f"91330800MA{n:07d}"
    return first + uscc_check_char(first)


def dec(value: Decimal | str) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=format(Decimal(value), "f"))


def account(uscc: str, period: str, index: int) -> accounting_pb2.Account:
    """A plausible annual account; intensities spread so the population has every kind of grade."""
    tco2 = Decimal(2000 + (index * 397) % 6000)
    value_added = Decimal(10_000_000 + (index * 7919) % 20_000_000)
    revenue = value_added * 4
    tax = value_added / 5
    base_total = tco2 * (Decimal("1.02") + Decimal(index % 7) / 50)
    msg = accounting_pb2.Account(
        name=f"enterprises/{uscc}/accounts/{period}",
        period=period,
        industry_code=INDUSTRIES[index % len(INDUSTRIES)],
        province_code="330000",
        region_code="330800",
        factor_set_version="cn-2024.1",
        input_digest=f"bench-{uscc}-{period}",
        total_tco2=dec(tco2),
        scope1_tco2=dec(tco2 * Decimal("0.3")),
        scope2_location_tco2=dec(tco2 * Decimal("0.7")),
        energy_tce=dec(tco2 * Decimal("0.4")),
        revenue_cny=dec(revenue),
        value_added_cny=dec(value_added),
        tax_cny=dec(tax),
        base_period=str(int(period) - 1),
        base_total_tco2=dec(base_total.quantize(Decimal("0.000001"))),
        reduction_tco2=dec((base_total - tco2).quantize(Decimal("0.000001"))),
        reduction_rate=dec(((base_total - tco2) / base_total).quantize(Decimal("0.000001"))),
        intensity_value_added=dec((tco2 / (value_added / 10000)).quantize(Decimal("0.000001"))),
        intensity_revenue=dec((tco2 / (revenue / 10000)).quantize(Decimal("0.000001"))),
        intensity_tax=dec((tco2 / (tax / 10000)).quantize(Decimal("0.000001"))),
    )
    msg.quality.score.CopyFrom(dec("0.95" if index % 10 else "0.7"))
    msg.quality.coverage.CopyFrom(dec("0.98"))
    msg.compute_time.GetCurrentTime()
    return msg


def seed(stack: Any, enterprises: int) -> tuple[str, list[str]]:
    consent = ConsentClient(stack.processes["consent"].target)
    key = consent.create_bank(BANK)
    ids = [make_uscc(i + 1) for i in range(enterprises)]
    client = redis.Redis.from_url(stack.redis_url)
    from carbon_accounting.store import AccountStore  # the accounting service's own store layout

    store = AccountStore(client)
    for index, uscc in enumerate(ids):
        consent.create_enterprise(uscc, industry=INDUSTRIES[index % len(INDUSTRIES)])
        consent.grant(uscc, BANK, key)
        for period in ("2024", "2025"):
            store.put(account(uscc, period, index + (0 if period == "2025" else 11)), uscc)
    return key, ids


def pricing_workers(supervisor: int) -> dict[str, int]:
    """loan-pricing's worker processes (carbon_pricing.workers): they do the work, the supervisor waits."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return {f"loan-pricing/worker{i}": int(pid) for i, pid in enumerate(children)}


def bodies(ids: list[str], count: int) -> list[bytes]:
    out = []
    for i in range(count):
        out.append(
            json.dumps(
                {
                    "request_id": uuid.uuid4().hex,
                    "product": PRODUCTS[i % 3],
                    "enterprise": f"enterprises/{ids[i % len(ids)]}",
                    "amount_cny": "1000000.00",
                    "tenor_months": 12,
                    "reference_rate_pct": "3.45",
                }
            ).encode()
        )
    return out


async def rest_load(
    base_port: int, key: str, ids: list[str], rate: float, duration: float
) -> tuple[Result, dict[str, int]]:
    result = Result()
    payloads = bodies(ids, int(rate * duration))
    pool = HttpPool("127.0.0.1", base_port)
    decisions: dict[str, int] = {}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}

    async def call(i: int, at: float) -> None:
        try:
            status, payload = await pool.request("POST", f"/v1/banks/{BANK}/quotes", payloads[i], headers)
        except Exception as error:
            result.error(type(error).__name__)
            return
        if status != 200:
            result.error(f"http_{status}")
            return
        result.latencies_ms.append((time.perf_counter() - at) * 1000)
        decision = json.loads(payload)["decision"]
        decisions[decision] = decisions.get(decision, 0) + 1

    await open_loop(rate, duration, call, result)
    await pool.close()
    return result, decisions


async def grpc_load(target: str, key: str, ids: list[str], rate: float, duration: float) -> Result:
    result = Result()
    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pricing_pb2_grpc.PricingServiceStub(channel)
        await channel.channel_ready()

        async def call(i: int, at: float) -> None:
            request = pricing_pb2.CreateQuoteRequest(
                parent=f"banks/{BANK}",
                request_id=uuid.uuid4().hex,
                quote=pricing_pb2.Quote(
                    product=PRODUCTS[i % 3],
                    enterprise=f"enterprises/{ids[i % len(ids)]}",
                    amount_cny=dec("1000000.00"),
                    tenor_months=12,
                    reference_rate_pct=dec("3.45"),
                ),
            )
            try:
                await stub.CreateQuote(request, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as error:
                result.error(error.code().name)
                return
            result.latencies_ms.append((time.perf_counter() - at) * 1000)

        await open_loop(rate, duration, call, result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (open model)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of REST load")
    parser.add_argument("--grpc-duration", type=float, default=None, help="seconds of gRPC load (default: --duration)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured load first")
    parser.add_argument("--enterprises", type=int, default=60)
    parser.add_argument("--p99-goal-ms", type=float, default=10.0)
    args = parser.parse_args()
    grpc_duration = args.duration if args.grpc_duration is None else args.grpc_duration
    try:  # a cheaper event loop for the load generator, when installed
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass

    root = Path(tempfile.mkdtemp(prefix="bench-pricing-"))
    # Capacity is measured without the per-key rate limit (one key drives all the load).
    env = {"CARBON_LOG_LEVEL": "WARNING", "CARBON_RATE_LIMITS_ENABLED": "false"}
    print(f"starting services under {root}", flush=True)
    stack = start_stack(root, extra_env=env)
    try:
        key, ids = seed(stack, args.enterprises)
        print(f"seeded {len(ids)} enterprises with consents and accounts", flush=True)
        if args.warmup:
            asyncio.run(rest_load(stack.pricing.http_port, key, ids, args.rate, args.warmup))
        started = time.time()
        pids = {name: proc.process.pid for name, proc in stack.processes.items()}
        pids |= {"redis": stack.redis_process.pid, "load-generator": os.getpid()}
        pids |= pricing_workers(stack.pricing.process.pid)
        meter = CpuMeter(pids)
        rest, decisions = asyncio.run(rest_load(stack.pricing.http_port, key, ids, args.rate, args.duration))
        rest_summary = rest.summary()
        rest_summary["cpu_seconds"] = meter.used()
        rest_summary["cpu_ms_per_quote"] = round(
            sum(rest_summary["cpu_seconds"].values()) * 1000 / max(1, rest_summary["ok"]), 2
        )
        print("REST", json.dumps(rest_summary), "decisions", json.dumps(decisions), flush=True)
        grpc_summary: dict[str, Any] | None = None
        if grpc_duration > 0:
            meter = CpuMeter(pids)
            grpc_result = asyncio.run(grpc_load(stack.pricing.target, key, ids, args.rate, grpc_duration))
            grpc_summary = grpc_result.summary()
            grpc_summary["cpu_seconds"] = meter.used()
            print("gRPC", json.dumps(grpc_summary), flush=True)
        from carbon_pricing.decision_log import verify

        chain = verify(redis.Redis.from_url(stack.redis_url), check_quotes=False)
    finally:
        stack.stop()
    goal_met = (
        rest_summary["errors"] == 0
        and rest_summary["p99_ms"] is not None
        and rest_summary["p99_ms"] <= args.p99_goal_ms
        and rest_summary["throughput_rps"] >= args.rate * 0.98
    )
    print(
        json.dumps(
            {
                "benchmark": "pricing_quotes",
                "rate_rps": args.rate,
                "duration_s": args.duration,
                "rest": rest_summary,
                "grpc": grpc_summary,
                "decisions": decisions,
                "decision_log_entries": chain.entries,
                "decision_log_ok": chain.ok,
                "goal": {"p99_ms_max": args.p99_goal_ms, "rate_rps": args.rate, "zero_errors": True, "met": goal_met},
                "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "started": started,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
