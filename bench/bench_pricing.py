"""Load benchmark of the loan-pricing quote path, all services running (issue 14).

Starts redis-server and the consent, accounting, rating and loan-pricing services as separate
processes (carbon_devkit.stack, as `make run`; loan-pricing with CARBON_PRICING_WORKERS worker
processes sharing its ports), seeds a bank, enterprises and RATING access consents through the
consent service's real gRPC API and annual carbon accounts through the accounting service's store,
then, each phase at the same fixed arrival rate for the same time:

1. REST  POST /v1/banks/{bank}/quotes, bench/loadgen.py (open model: latency from the *scheduled*
   send time, no coordinated omission) over --connections keep-alive connections used in turn
   (SO_REUSEPORT spreads connections, not requests, over pricing's workers);
2. REST  again with vegeta (tools/bin/vegeta, `make vegeta`) at constant rate: a third-party
   cross-check, its JSON report parsed (--vegeta-processes processes, each with its own connections);
3. gRPC  PricingService.CreateQuote over --connections channels used in turn;
4. floor a bare FastAPI handler (bench/floor.py, as many workers as pricing, same port sharing, same
   Redis) doing one MULTI/EXEC of the same byte sizes as a quote's writes, measured from the real
   quotes: idempotency key, quote record + index, decision-log entry + head, dry-run input, access
   decision XADD. How far the quote is from that floor is what pricing itself costs.

During phases 1 and 3 consents are revoked (one every --revoke-every seconds, each for an enterprise
outside the load's) and probed with a quote every 10 ms from the revocation's acknowledgement:
revocation delay = acknowledgement -> first refused quote answered; quotes still priced after the
acknowledgement are counted too. CPU per quote is read from /proc for every process (each pricing
worker, consent, rating, accounting, redis; the load generator listed but not summed). Each phase's
report carries the machine's load average and busy share: on a shared machine, read them first.
Per phase also Redis commands per quote (INFO commandstats, every client, those run inside Lua scripts
included). --banks N spreads the load over N banks (each quote as bank i mod N; each bank has its own decision-log
chain, so N > 1 removes the one chain head every worker compare-and-sets on).

    python bench/bench_pricing.py [--rate 500] [--duration 60] [--connections 16] [--banks 1]
    python bench/bench_pricing.py --quick          # seconds, for smoke tests

Goal (issue 14): REST and gRPC p99 <= 10 ms at 500 quotes/s for 60 s, zero errors, <= 2 ms of CPU
per quote summed over the services' processes, revocation p99 <= 1 s. The last line of output is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import json
import math
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import grpc  # noqa: E402
import redis  # noqa: E402
from carbon.v1 import accounting_pb2, pricing_pb2, pricing_pb2_grpc  # noqa: E402
from carbon_devkit.ports import free_port  # noqa: E402
from carbon_devkit.seed import ConsentClient  # noqa: E402
from carbon_devkit.stack import Stack  # noqa: E402
from carbon_devkit.stack import start_pricing_stack as start_stack  # noqa: E402
from cpu import CpuMeter, children, load_average, per_quote  # noqa: E402
from floor import QuoteWrites, measure  # noqa: E402
from google.type import decimal_pb2  # noqa: E402
from loadgen import HttpPool, Result, grpc_channels, open_loop  # noqa: E402
from pyspy import record as record_profiles  # noqa: E402
from pyspy import summary as profile_summary  # noqa: E402

PRODUCTS = ("quzhou_tanrongyi", "shenzhen_jiangtandai", "wuyi_jiantandai")
INDUSTRIES = ("C2611", "C3011", "C1713")
BANK = "bench-bank"  # the first bank; with --banks N the others are bench-bank-1 ... bench-bank-{N-1}
VEGETA = REPO / "tools" / "bin" / "vegeta"
LOAD_GENERATOR = "load-generator"
PROBE_EVERY = 0.01  # seconds between revocation probes
PROBE_SETTLE = 0.3  # keep probing this long after the first refusal (other workers, other connections)
PROBE_GIVE_UP = 3.0  # a revocation not refused by then counts as not propagated
REQUEST_TIMEOUT = 10.0


# ---------------------------------------------------------------- seeding


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


@dataclass(frozen=True)
class Target:
    """An enterprise outside the load whose consent a phase revokes."""

    uscc: str
    consent: str


@dataclass
class Seeded:
    key: str  # the first bank's API key (revocation targets consent to that bank only)
    ids: list[str]  # the load's enterprises
    targets: list[Target]  # revocation targets, used once each
    banks: list[tuple[str, str]] = field(default_factory=list)  # (bank id, API key): the load goes round them
    redis_url: str = ""  # the stack's Redis (commands per quote)


def bank_ids(n: int) -> list[str]:
    return [BANK, *(f"{BANK}-{k}" for k in range(1, n))]


def seed(stack: Stack, enterprises: int, targets: int, banks: int = 1) -> Seeded:
    """`banks` banks, each with a consent from every enterprise of the load (the first bank also from
    the revocation targets): each bank has its own decision-log chain, so the load spread over several
    measures the quote path without one chain's compare-and-set shared by every worker."""
    consent = ConsentClient(stack.processes["consent"].target)
    keys = [(bank, consent.create_bank(bank)) for bank in bank_ids(max(1, banks))]
    key = keys[0][1]
    client = redis.Redis.from_url(stack.redis_url)
    from carbon_accounting.store import AccountStore  # the accounting service's own store layout

    store = AccountStore(client)
    ids: list[str] = []
    revocable: list[Target] = []
    for index in range(enterprises + targets):
        uscc = make_uscc(index + 1)
        consent.create_enterprise(uscc, industry=INDUSTRIES[index % len(INDUSTRIES)])
        name = consent.grant(uscc, BANK, key)
        if index < enterprises:
            for other, other_key in keys[1:]:
                consent.grant(uscc, other, other_key)
        for period in ("2024", "2025"):
            store.put(account(uscc, period, index + (0 if period == "2025" else 11)), uscc)
        if index < enterprises:
            ids.append(uscc)
        else:
            revocable.append(Target(uscc, name))
    consent.channel.close()
    return Seeded(key, ids, revocable, keys, stack.redis_url)


def service_pids(stack: Stack) -> dict[str, int]:
    """Every process of the stack; loan-pricing's worker processes (carbon_pricing.workers) each by name,
    since they do the work and the supervisor waits."""
    pids = {name: proc.process.pid for name, proc in stack.processes.items()}
    pids["redis"] = stack.redis_process.pid
    for i, pid in enumerate(children(stack.pricing.process.pid)):
        pids[f"loan-pricing/worker{i}"] = pid
    return pids


# ---------------------------------------------------------------- clients


@dataclass(frozen=True)
class Outcome:
    kind: str  # "ok" | "refused" (consent) | "error"
    detail: str  # the decision when ok, else the status/reason


class QuoteClient(Protocol):
    async def quote(self, uscc: str, i: int, bank: int | None = None) -> Outcome:
        """Quote i for `uscc` as bank number `bank` (None: the load's turn, i modulo the banks)."""
        ...

    async def close(self) -> None: ...


def body(uscc: str, i: int) -> dict[str, Any]:
    return {
        "request_id": uuid.uuid4().hex,
        "product": PRODUCTS[i % 3],
        "enterprise": f"enterprises/{uscc}",
        "amount_cny": "1000000.00",
        "tenor_months": 12,
        "reference_rate_pct": "3.45",
    }


class RestClient:
    def __init__(self, port: int, banks: list[tuple[str, str]]) -> None:
        self.pool = HttpPool("127.0.0.1", port)
        self.banks = [
            (f"/v1/banks/{bank}/quotes", {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
            for bank, key in banks
        ]

    @classmethod
    async def open(cls, port: int, banks: list[tuple[str, str]], connections: int) -> RestClient:
        client = cls(port, banks)
        await client.pool.open(connections)
        return client

    async def quote(self, uscc: str, i: int, bank: int | None = None) -> Outcome:
        path, headers = self.banks[i % len(self.banks) if bank is None else bank]
        try:
            status, payload = await asyncio.wait_for(
                self.pool.request("POST", path, json.dumps(body(uscc, i)).encode(), headers),
                REQUEST_TIMEOUT,
            )
        except Exception as error:
            return Outcome("error", type(error).__name__)
        if status == 200:
            return Outcome("ok", str(json.loads(payload).get("decision")))
        reason = _rest_reason(payload)
        return Outcome("refused" if status == 403 else "error", f"http_{status}:{reason}")

    async def close(self) -> None:
        await self.pool.close()


def _rest_reason(payload: bytes) -> str:
    """The ErrorInfo reason of a google.rpc.Status JSON error body, if any."""
    try:
        details = json.loads(payload).get("error", {}).get("details", [])
        return next((str(d["reason"]) for d in details if "reason" in d), "")
    except (ValueError, AttributeError, TypeError):
        return ""


class GrpcClient:
    def __init__(self, target: str, banks: list[tuple[str, str]], channels: int) -> None:
        self.channels = grpc_channels(target, channels)
        self.stubs = [pricing_pb2_grpc.PricingServiceStub(channel) for channel in self.channels]
        self.banks = [(f"banks/{bank}", (("authorization", f"Bearer {key}"),)) for bank, key in banks]
        self.turn = 0

    @classmethod
    async def open(cls, target: str, banks: list[tuple[str, str]], channels: int) -> GrpcClient:
        client = cls(target, banks, channels)
        await asyncio.gather(*(channel.channel_ready() for channel in client.channels))
        return client

    async def quote(self, uscc: str, i: int, bank: int | None = None) -> Outcome:
        self.turn += 1
        stub = self.stubs[self.turn % len(self.stubs)]
        parent, metadata = self.banks[i % len(self.banks) if bank is None else bank]
        request = pricing_pb2.CreateQuoteRequest(
            parent=parent,
            request_id=uuid.uuid4().hex,
            quote=pricing_pb2.Quote(
                product=PRODUCTS[i % 3],
                enterprise=f"enterprises/{uscc}",
                amount_cny=dec("1000000.00"),
                tenor_months=12,
                reference_rate_pct=dec("3.45"),
            ),
        )
        try:
            response = await stub.CreateQuote(request, metadata=metadata, timeout=REQUEST_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            code = error.code()
            kind = "refused" if code == grpc.StatusCode.PERMISSION_DENIED else "error"
            return Outcome(kind, code.name)
        return Outcome("ok", pricing_pb2.Quote.Decision.Name(response.decision).removeprefix("DECISION_"))

    async def close(self) -> None:
        await asyncio.gather(*(channel.close() for channel in self.channels))


# ---------------------------------------------------------------- revocations


@dataclass
class Revocation:
    revoke_ms: float  # the RevokeConsent call
    first_refused_ms: float | None  # acknowledgement -> first refused quote answered (None: never)
    allowed_after_ack: int  # probes sent after the acknowledgement and still priced
    last_allowed_ms: float | None  # acknowledgement -> send of the last of those
    probes: int
    probe_errors: int


async def revoke_and_probe(client: QuoteClient, consent: ConsentClient, target: Target) -> Revocation:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    await loop.run_in_executor(None, consent.revoke, target.consent)
    acknowledged = time.perf_counter()
    first_refused: float | None = None
    last_allowed: float | None = None
    allowed = errors = 0
    tasks: list[asyncio.Task[None]] = []

    async def probe(i: int, sent: float) -> None:
        nonlocal first_refused, last_allowed, allowed, errors
        outcome = await client.quote(target.uscc, i, bank=0)  # the targets consent to the first bank
        answered = time.perf_counter()
        if outcome.kind == "refused":
            first_refused = answered if first_refused is None else min(first_refused, answered)
        elif outcome.kind == "ok":
            allowed += 1
            last_allowed = sent if last_allowed is None else max(last_allowed, sent)
        else:
            errors += 1

    i = 0
    while True:
        now = time.perf_counter()
        if first_refused is None and now - acknowledged > PROBE_GIVE_UP:
            break
        if first_refused is not None and now - first_refused > PROBE_SETTLE:
            break
        tasks.append(asyncio.create_task(probe(i, now)))
        i += 1
        await asyncio.sleep(max(0.0, acknowledged + i * PROBE_EVERY - time.perf_counter()))
    await asyncio.gather(*tasks)

    def ms(at: float | None) -> float | None:
        return None if at is None else round((at - acknowledged) * 1000, 2)

    return Revocation(
        round((acknowledged - started) * 1000, 2), ms(first_refused), allowed, ms(last_allowed), len(tasks), errors
    )


async def revocations(
    client: QuoteClient, consent: ConsentClient, targets: list[Target], every: float, out: list[Revocation]
) -> None:
    """One revocation every `every` seconds, the first after one interval."""
    for target in targets:
        await asyncio.sleep(every)
        out.append(await revoke_and_probe(client, consent, target))


def revocation_summary(samples: list[Revocation]) -> dict[str, Any]:
    delays = sorted(s.first_refused_ms for s in samples if s.first_refused_ms is not None)
    return {
        "revocations": len(samples),
        "not_refused_within_s": PROBE_GIVE_UP if any(s.first_refused_ms is None for s in samples) else None,
        "not_refused": sum(1 for s in samples if s.first_refused_ms is None),
        "p50_ms": percentile(delays, 50),
        "p99_ms": percentile(delays, 99),
        "max_ms": delays[-1] if delays else None,
        "quotes_priced_after_ack": sum(s.allowed_after_ack for s in samples),
        "last_priced_after_ack_ms": max((s.last_allowed_ms or 0.0 for s in samples), default=None),
        "revoke_call_p50_ms": percentile(sorted(s.revoke_ms for s in samples), 50),
        "probes": sum(s.probes for s in samples),
        "probe_errors": sum(s.probe_errors for s in samples),
    }


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))], 3)


def revocations_needed(duration: float, every: float) -> int:
    """Revocations that fit in a phase, leaving time for the last one's probes."""
    if every <= 0:
        return 0
    return max(0, int((duration - PROBE_SETTLE - 0.5) // every))


# ---------------------------------------------------------------- phases


@dataclass
class Phase:
    result: Result
    decisions: dict[str, int] = field(default_factory=dict)
    revocations: list[Revocation] = field(default_factory=list)


async def drive(
    open_client: Callable[[], Awaitable[QuoteClient]],
    ids: list[str],
    rate: float,
    duration: float,
    *,
    consent_target: str | None = None,
    targets: list[Target] | None = None,
    revoke_every: float = 0.0,
) -> Phase:
    """The fixed-rate load over `ids` and, alongside, the revocations of `targets`."""
    client = await open_client()
    phase = Phase(Result())
    consent = ConsentClient(consent_target) if consent_target and targets else None

    async def call(i: int, at: float) -> None:
        outcome = await client.quote(ids[i % len(ids)], i)
        if outcome.kind != "ok":
            phase.result.error(outcome.detail)
            return
        phase.result.latencies_ms.append((time.perf_counter() - at) * 1000)
        phase.decisions[outcome.detail] = phase.decisions.get(outcome.detail, 0) + 1

    try:
        jobs = [open_loop(rate, duration, call, phase.result)]
        if consent is not None and targets:
            jobs.append(revocations(client, consent, targets, revoke_every, phase.revocations))
        await asyncio.gather(*jobs)
    finally:
        await client.close()
        if consent is not None:
            consent.channel.close()
    return phase


async def warm(client_factory: Callable[[], Awaitable[QuoteClient]], targets: list[Target]) -> dict[str, int]:
    """One quote per revocation target, so each is priced (rated, projected) before its consent goes."""
    client = await client_factory()
    outcomes: dict[str, int] = {}
    try:
        for i, target in enumerate(targets):
            outcome = await client.quote(target.uscc, i, bank=0)
            outcomes[outcome.kind] = outcomes.get(outcome.kind, 0) + 1
    finally:
        await client.close()
    return outcomes


def command_calls(redis_url: str) -> dict[str, int]:
    """Redis's own count of each command executed so far (INFO commandstats; every client)."""
    stats: Any = redis.Redis.from_url(redis_url).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def commands_per_quote(before: dict[str, int], after: dict[str, int], quotes: int) -> dict[str, float]:
    """Commands per quote over a phase, every process's (pricing, consent's auditor and heartbeat, the
    projections' tails...), those a Lua script runs included (EVALSHA counts once, its redis.call()s too)."""
    used = {name: after[name] - before.get(name, 0) for name in after}
    per = {name: round(n / max(1, quotes), 2) for name, n in sorted(used.items(), key=lambda kv: -kv[1]) if n}
    return {name: value for name, value in per.items() if value >= 0.01}


def summarise(
    phase: Phase, meter: CpuMeter, load_before: list[float], extra_quotes: int = 0, extra_cpu: float = 0.0
) -> dict[str, Any]:
    summary = phase.result.summary()
    cpu = meter.used()
    if extra_cpu:
        cpu[LOAD_GENERATOR] = round(cpu.get(LOAD_GENERATOR, 0.0) + extra_cpu, 3)
    summary["decisions"] = phase.decisions
    summary["cpu_seconds"] = cpu
    summary["cpu_ms_per_quote"] = per_quote(cpu, summary["ok"] + extra_quotes, exclude=(LOAD_GENERATOR,))
    summary["host"] = {**meter.host(), "load_average_before": load_before, "load_average_after": load_average()}
    if phase.revocations:
        summary["revocation"] = revocation_summary(phase.revocations)
    return summary


def run_phase(
    name: str,
    open_client: Callable[[], Awaitable[QuoteClient]],
    pids: dict[str, int],
    seeded: Seeded,
    args: argparse.Namespace,
    duration: float,
    consent_target: str | None = None,
    targets: list[Target] | None = None,
) -> dict[str, Any]:
    samplers = []
    if args.py_spy is not None and targets is not None:  # the stack's phases; the floor is not profiled
        profiled = {n: pid for n, pid in pids.items() if n.startswith("loan-pricing/") or n in ("consent", "rating")}
        samplers = record_profiles(profiled, duration, args.py_spy / name.lower())
    load_before = load_average()
    calls_before = command_calls(seeded.redis_url) if seeded.redis_url else {}
    meter = CpuMeter(pids)
    phase = asyncio.run(
        drive(
            open_client,
            seeded.ids,
            args.rate,
            duration,
            consent_target=consent_target,
            targets=targets,
            revoke_every=args.revoke_every,
        )
    )
    probes = sum(r.probes - r.probe_errors for r in phase.revocations)
    summary = summarise(phase, meter, load_before, extra_quotes=probes)
    if seeded.redis_url:
        quotes = summary["cpu_ms_per_quote"]["quotes"]
        summary["redis_commands_per_quote"] = commands_per_quote(calls_before, command_calls(seeded.redis_url), quotes)
    print(name, json.dumps(summary), flush=True)
    for sampler in samplers:
        sampler.wait(60)
    if samplers:
        profiles = {path.stem: profile_summary(path) for path in sorted((args.py_spy / name.lower()).glob("*.txt"))}
        (args.py_spy / f"{name.lower()}-summary.json").write_text(json.dumps(profiles, indent=1, ensure_ascii=False))
        summary["py_spy"] = str(args.py_spy / name.lower())
    return summary


# ---------------------------------------------------------------- vegeta


def vegeta_phase(
    port: int, seeded: Seeded, args: argparse.Namespace, pids: dict[str, int], root: Path
) -> dict[str, Any]:
    """The REST load again from vegeta (open model, constant rate): --vegeta-processes attackers, each
    at rate / n with its own connections and its own unique request bodies."""
    n = args.vegeta_processes
    workdir = root / "vegeta"
    workdir.mkdir(exist_ok=True)
    per_process = math.ceil(args.rate * args.vegeta_duration / n)
    banks = [
        (
            f"http://127.0.0.1:{port}/v1/banks/{bank}/quotes",
            {"Content-Type": ["application/json"], "Authorization": [f"Bearer {key}"]},
        )
        for bank, key in seeded.banks
    ]
    commands = []
    for k in range(n):
        targets = workdir / f"targets-{k}.json"
        with targets.open("w") as out:
            for j in range(per_process):
                i = k * per_process + j
                payload = json.dumps(body(seeded.ids[i % len(seeded.ids)], i)).encode()
                url, header = banks[i % len(banks)]
                target = {"method": "POST", "url": url, "header": header, "body": base64.b64encode(payload).decode()}
                out.write(json.dumps(target) + "\n")
        commands.append(
            [
                str(VEGETA),
                "attack",
                "-format=json",
                f"-targets={targets}",
                f"-rate={int(args.rate)}/{n}s",  # rate / n per second
                f"-duration={args.vegeta_duration}s",
                f"-timeout={int(REQUEST_TIMEOUT)}s",
                f"-output={workdir / f'results-{k}.bin'}",
            ]
        )
    load_before = load_average()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter = CpuMeter(pids)
    attackers = [subprocess.Popen(command, stderr=subprocess.PIPE) for command in commands]
    for attacker in attackers:
        _, stderr = attacker.communicate()
        if attacker.returncode != 0:
            raise RuntimeError(f"vegeta attack failed: {stderr.decode(errors='replace')[-2000:]}")
    cpu = meter.used()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    host = meter.host()
    cpu["vegeta"] = round(
        (children_after.ru_utime - children_before.ru_utime) + (children_after.ru_stime - children_before.ru_stime), 3
    )
    cpu.pop(LOAD_GENERATOR, None)
    results = [str(workdir / f"results-{k}.bin") for k in range(n)]
    report = json.loads(
        subprocess.run([str(VEGETA), "report", "-type=json", *results], check=True, capture_output=True).stdout
    )
    # vegeta's JSON report stops at p99: p99.9 from the per-request results (all of them, as its own figures)
    encoded = subprocess.run([str(VEGETA), "encode", "-to=csv", *results], check=True, capture_output=True, text=True)
    latencies = sorted(int(row[2]) / 1e6 for row in csv.reader(encoded.stdout.splitlines()) if row)
    lat = report["latencies"]
    codes = {str(k): v for k, v in (report.get("status_codes") or {}).items()}
    ok = codes.get("200", 0)
    summary = {
        "tool": "vegeta " + args.vegeta_version,
        "processes": n,
        "requests": report["requests"],
        "ok": ok,
        "errors": report["requests"] - ok,
        "status_codes": codes,
        "error_kinds": sorted(set(report.get("errors") or []))[:10],
        "p50_ms": round(lat["50th"] / 1e6, 3),
        "p90_ms": round(lat["90th"] / 1e6, 3),
        "p99_ms": round(lat["99th"] / 1e6, 3),
        "p999_ms": percentile(latencies, 99.9),
        "max_ms": round(lat["max"] / 1e6, 3),
        "rate_rps": round(report["rate"], 1),
        "throughput_rps": round(report["throughput"], 1),
        "success": report["success"],
        "cpu_seconds": cpu,
        "cpu_ms_per_quote": per_quote(cpu, ok, exclude=("vegeta",)),
        "host": {**host, "load_average_before": load_before, "load_average_after": load_average()},
    }
    print("REST (vegeta)", json.dumps(summary), flush=True)
    return summary


def vegeta_version() -> str:
    makefile = (REPO / "Makefile").read_text()
    return next(line.split(":=")[1].strip() for line in makefile.splitlines() if line.startswith("VEGETA_VERSION"))


# ---------------------------------------------------------------- floor


def floor_phase(
    stack: Stack, workers: int, writes: QuoteWrites, seeded: Seeded, args: argparse.Namespace
) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        str(REPO / "bench" / "floor.py"),
        f"--port={port}",
        f"--redis-url={stack.redis_url}",
        f"--writes={json.dumps(asdict(writes))}",
    ]
    servers = [subprocess.Popen(command, stdout=subprocess.PIPE, env=env) for _ in range(workers)]
    try:
        for server in servers:
            assert server.stdout is not None
            if server.stdout.readline().strip() != b"ready":
                raise RuntimeError("floor server did not start")
        pids = {f"floor/worker{i}": server.pid for i, server in enumerate(servers)}
        pids |= {"redis": stack.redis_process.pid, LOAD_GENERATOR: os.getpid()}

        async def open_client() -> QuoteClient:
            return await RestClient.open(port, seeded.banks, args.connections)

        if args.warmup:
            asyncio.run(drive(open_client, seeded.ids, args.rate, args.warmup))
        summary = run_phase("floor", open_client, pids, seeded, args, args.floor_duration)
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
    summary["writes_bytes"] = {**asdict(writes), "total": writes.total()}
    return summary


# ---------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=None, help="quotes per second, every phase (default 500)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per phase (default 60)")
    parser.add_argument("--grpc-duration", type=float, default=None, help="seconds of gRPC load (default: --duration)")
    parser.add_argument("--vegeta-duration", type=float, default=None, help="seconds of vegeta (default: --duration)")
    parser.add_argument("--floor-duration", type=float, default=None, help="seconds of floor (default: --duration)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of unmeasured load first (default 5)")
    parser.add_argument("--enterprises", type=int, default=None, help="enterprises the load quotes (default 60)")
    parser.add_argument("--connections", type=int, default=16, help="HTTP connections / gRPC channels")
    parser.add_argument(
        "--banks", type=int, default=1, help="banks the load goes round (each its own decision-log chain)"
    )
    parser.add_argument("--vegeta-processes", type=int, default=4, help="vegeta attackers (each its own connections)")
    parser.add_argument("--revoke-every", type=float, default=None, help="seconds between revocations (default 2)")
    parser.add_argument("--pricing-workers", type=int, default=0, help="CARBON_PRICING_WORKERS (0 = one per core)")
    parser.add_argument("--p99-goal-ms", type=float, default=10.0)
    parser.add_argument("--cpu-goal-ms", type=float, default=2.0, help="CPU ms per quote, summed over the services")
    parser.add_argument("--revocation-goal-ms", type=float, default=1000.0)
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        help="profile pricing's workers, consent and rating during REST and gRPC into this directory "
        "(py-spy's sampling costs CPU: take figures from a run without it)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of every phase: 50/s, 3 s each")
    args = parser.parse_args()
    quick = {"rate": 50.0, "duration": 3.0, "warmup": 1.0, "enterprises": 6, "revoke_every": 1.0}
    full = {"rate": 500.0, "duration": 60.0, "warmup": 5.0, "enterprises": 60, "revoke_every": 2.0}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("grpc_duration", "vegeta_duration", "floor_duration"):
        if getattr(args, name) is None:
            setattr(args, name, args.duration)
    if args.quick:
        args.connections = min(args.connections, 4)
        args.vegeta_processes = min(args.vegeta_processes, 2)
    args.vegeta_version = vegeta_version()
    return args


def main() -> int:
    args = parse_args()
    if not VEGETA.exists():
        print(f"{VEGETA} missing: run `make vegeta`", file=sys.stderr)
        return 2
    try:  # a cheaper event loop for the load generator, when installed
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass

    root = Path(tempfile.mkdtemp(prefix="bench-pricing-"))
    rest_targets = revocations_needed(args.duration, args.revoke_every)
    grpc_targets = revocations_needed(args.grpc_duration, args.revoke_every)
    # Capacity is measured without the per-key rate limit (one key drives all the load).
    env = {
        "CARBON_LOG_LEVEL": "WARNING",
        "CARBON_RATE_LIMITS_ENABLED": "false",
        "CARBON_PRICING_WORKERS": str(args.pricing_workers),
    }
    load_at_start = load_average()
    print(f"starting services under {root} (load average {load_at_start})", flush=True)
    started = time.time()
    stack = start_patiently(root, env)
    try:
        seeded = seed(stack, args.enterprises, rest_targets + grpc_targets, args.banks)
        print(f"seeded {len(seeded.ids)} enterprises + {len(seeded.targets)} to revoke", flush=True)
        pids = service_pids(stack) | {LOAD_GENERATOR: os.getpid()}
        workers = sum(1 for name in pids if name.startswith("loan-pricing/worker"))
        port, target, banks = stack.pricing.http_port, stack.pricing.target, seeded.banks

        async def rest_client() -> QuoteClient:
            return await RestClient.open(port, banks, args.connections)

        async def grpc_client() -> QuoteClient:
            return await GrpcClient.open(target, banks, args.connections)

        warmed = asyncio.run(warm(rest_client, seeded.targets))
        if args.warmup:
            asyncio.run(drive(rest_client, seeded.ids, args.rate, args.warmup))
            asyncio.run(drive(grpc_client, seeded.ids, args.rate, min(args.warmup, 2.0)))
        consent_target = stack.processes["consent"].target
        report: dict[str, Any] = {}
        report["rest"] = run_phase(
            "REST", rest_client, pids, seeded, args, args.duration, consent_target, seeded.targets[:rest_targets]
        )
        report["rest_vegeta"] = vegeta_phase(port, seeded, args, pids, root) if args.vegeta_duration > 0 else None
        report["grpc"] = (
            run_phase(
                "gRPC",
                grpc_client,
                pids,
                seeded,
                args,
                args.grpc_duration,
                consent_target,
                seeded.targets[rest_targets:],
            )
            if args.grpc_duration > 0
            else None
        )
        client = redis.Redis.from_url(stack.redis_url)
        writes = measure(client, BANK)
        report["floor"] = floor_phase(stack, workers, writes, seeded, args) if args.floor_duration > 0 else None
        from carbon_pricing.decision_log import verify

        chain = verify(client, check_quotes=False)
    finally:
        stack.stop()
    shutil.rmtree(root, ignore_errors=True)
    goal = goal_report(report, args)
    print(
        json.dumps(
            {
                "benchmark": "pricing_quotes",
                "quick": args.quick,
                "rate_rps": args.rate,
                "duration_s": args.duration,
                "connections": args.connections,
                "banks": len(seeded.banks),
                "pricing_workers": workers,
                **report,
                "warm_up_targets": warmed,
                "decision_log": {"entries": chain.entries, "ok": chain.ok},
                "goal": goal,
                "host": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_start": load_at_start,
                    "load_average_end": load_average(),
                },
                "started": started,
            }
        )
    )
    return 0


def start_patiently(root: Path, env: dict[str, str], wait: float = 240.0) -> Stack:
    """The dev-kit's pricing stack, every service given `wait` seconds to turn SERVING: a machine shared by
    several test suites can take long to import one."""
    return start_stack(root, extra_env=env, wait=wait)


def goal_report(report: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Issue 14's goal, figure by figure."""
    checks: dict[str, bool] = {}
    for name in ("rest", "grpc"):
        summary = report.get(name)
        if summary is None:
            continue
        checks[f"{name}_p99"] = summary["p99_ms"] is not None and summary["p99_ms"] <= args.p99_goal_ms
        checks[f"{name}_zero_errors"] = summary["errors"] == 0
        checks[f"{name}_throughput"] = summary["throughput_rps"] >= args.rate * 0.98
        checks[f"{name}_cpu"] = summary["cpu_ms_per_quote"]["services_total"] <= args.cpu_goal_ms
        revocation = summary.get("revocation")
        if revocation is not None:
            checks[f"{name}_revocation_p99"] = (
                revocation["not_refused"] == 0
                and revocation["p99_ms"] is not None
                and revocation["p99_ms"] <= args.revocation_goal_ms
            )
    return {
        "p99_ms_max": args.p99_goal_ms,
        "cpu_ms_per_quote_max": args.cpu_goal_ms,
        "revocation_p99_ms_max": args.revocation_goal_ms,
        "rate_rps": args.rate,
        "checks": checks,
        "met": bool(checks) and all(checks.values()),
    }


if __name__ == "__main__":
    sys.exit(main())
