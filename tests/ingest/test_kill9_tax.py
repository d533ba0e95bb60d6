"""Exactly-once under kill -9 for ingest-tax's IngestInvoices (the tax twin of
test_kill9.py): a client sends invoice batches (request_id idempotency) and
records acks while the test kill -9s ingest-tax (or Redis, with appendfsync
always) at chosen moments of chosen batches (before the call, after its intent
record, after its file is written, after its commit) and restarts it on the
same ports and data dir once the client has seen the outage; the client
retries every unacknowledged batch. Kills are driven by these observed events
(tests/ingest/kill9.py), never by the clock. The stored invoice lines must be
exactly the expected set (no loss, no doubles, red-letter netting intact), the
activity stream must carry exactly one event per batch, and the client must
never see INTERNAL."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import grpc
import polars as pl
import pytest
import redis as redis_lib
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_tax_pb2 as pb
from carbon.v1 import ingest_tax_pb2_grpc as pb_grpc
from carbon_common.channels import service_channel
from carbon_common.events import ACTIVITY
from carbon_devkit.credentials import SERVICE_SECRET as SECRET
from carbon_devkit.seed import grant_platform
from carbon_ingest import parquet_io, rawdata
from carbon_ingest_tax.store import P

from tests.ingest import kill9
from tests.ingest.helpers import make_uscc

pytestmark = pytest.mark.e2e

USCC = make_uscc(51)
SUPPLIER = make_uscc(52)  # the grid company
CUSTOMER = make_uscc(53)
ELEC = "1100101020000000000"
STEEL = "1080204010000000000"  # a sale line; sales are not classified
T0 = int(datetime(2024, 1, 3, 2, 0, tzinfo=UTC).timestamp())  # 2024-01-03 10:00 Asia/Shanghai
DAY = 86400
BATCHES = 60
KILLS = 4
CALL_TIMEOUT = 10.0
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True)
class Expected:
    request_id: str
    invoice_number: str
    line_number: int
    direction: str
    quantity: Decimal | None  # kWh for purchases; sales store no quantity
    amount: Decimal
    tax: Decimal
    original: str | None


def num(batch: int, k: int) -> str:
    return f"{24330000000000000000 + batch * 10 + k}"


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def make_batches() -> tuple[list[pb.IngestInvoicesRequest], list[Expected], dict[str, list[str]]]:
    """Per batch: two electricity purchases (千瓦时), a sale and a red-letter invoice that
    reverses a purchase of the same batch (even batches, fully) or of the previous batch
    (odd batches, partly). Returns the requests, every stored line, and each batch's months."""
    requests: list[pb.IngestInvoicesRequest] = []
    expected: list[Expected] = []
    months: dict[str, list[str]] = {}
    zone = ZoneInfo("Asia/Shanghai")
    issued: dict[str, int] = {}

    def invoice(number: str, t: int, seller: str, buyer: str, red_of: str = "") -> pb.Invoice:
        result = pb.Invoice(
            invoice_number=number,
            seller_uscc=seller,
            buyer_uscc=buyer,
            kind=pb.Invoice.KIND_RED_LETTER if red_of else pb.Invoice.KIND_NORMAL,
            original_invoice_number=red_of,
        )
        result.issue_time.FromSeconds(t)
        return result

    def add_line(inv: pb.Invoice, n: int, qty: Decimal, price: Decimal, code: str, name: str, unit: str) -> None:
        amount = money(qty * price)
        tax = money(amount * Decimal("0.13"))
        inv.lines.append(
            pb.InvoiceLine(
                line_number=n,
                tax_code=code,
                item_name=name,
                unit=unit,
                quantity={"value": str(qty)},
                amount={"value": str(amount)},
                tax_amount={"value": str(tax)},
            )
        )
        sale = inv.seller_uscc == USCC
        expected.append(
            Expected(
                f"inv-batch-{b:03d}",
                inv.invoice_number,
                n,
                "sale" if sale else "purchase",
                None if sale else qty,
                amount,
                tax,
                inv.original_invoice_number or None,
            )
        )

    for b in range(BATCHES):
        t = T0 + b * 2 * DAY  # 60 batches span January to May
        a = invoice(num(b, 0), t, SUPPLIER, USCC)
        add_line(a, 1, Decimal(100 + 7 * b), Decimal("0.8123"), ELEC, "*供电*电费", "千瓦时")
        if b % 2 == 0:
            add_line(a, 2, Decimal(50 + b), Decimal("1.1"), ELEC, "*供电*电费", "千瓦时")
        p = invoice(num(b, 1), t + 600, SUPPLIER, USCC)
        add_line(p, 1, Decimal(1000 + b), Decimal("0.65"), ELEC, "*供电*电费", "千瓦时")
        s = invoice(num(b, 2), t + 10 * DAY, USCC, CUSTOMER)  # some batches span two months
        add_line(s, 1, Decimal(3), Decimal("4100"), STEEL, "*钢材*热轧卷板", "吨")
        invoices = [a, p, s]
        if b % 2 == 0:  # reverses line 1 of this batch's first purchase, fully
            red = invoice(num(b, 3), t + 3600, SUPPLIER, USCC, red_of=a.invoice_number)
            add_line(red, 1, -Decimal(100 + 7 * b), Decimal("0.8123"), ELEC, "*供电*电费", "千瓦时")
            invoices.insert(1, red)  # before the next blue invoice, in the same batch
        elif b > 0:  # reverses 100 kWh of the previous batch's second purchase, a batch later
            red = invoice(num(b, 3), t + 3600, SUPPLIER, USCC, red_of=num(b - 1, 1))
            add_line(red, 1, Decimal(-100), Decimal("0.65"), ELEC, "*供电*电费", "千瓦时")
            invoices.append(red)
        request_id = f"inv-batch-{b:03d}"
        requests.append(
            pb.IngestInvoicesRequest(parent=f"enterprises/{USCC}", request_id=request_id, invoices=invoices)
        )
        issued.update({i.invoice_number: i.issue_time.seconds for i in invoices})
        # a red-letter invoice is filed under the month of the invoice it reverses
        months[request_id] = sorted(
            {
                datetime.fromtimestamp(issued[i.original_invoice_number or i.invoice_number], zone).strftime("%Y-%m")
                for i in invoices
            }
        )
    return requests, expected, months


class Client(threading.Thread):
    """Sends the batches one by one; an ack is the unary response. Every UNAVAILABLE or
    DEADLINE_EXCEEDED is retried with the same request (same request_id) until acked.
    Batch i passes the test's gate before each attempt."""

    def __init__(self, target: str, requests: list[pb.IngestInvoicesRequest], gates: kill9.Gates) -> None:
        super().__init__(daemon=True)
        self.target = target
        self.requests = requests
        self.gates = gates
        self.acked: dict[str, pb.IngestInvoicesResponse] = {}
        self.codes: Counter[str] = Counter()
        self.error: BaseException | None = None

    @property
    def calls_acked(self) -> int:
        return len(self.acked)

    @property
    def failures(self) -> int:
        return sum(self.codes.values())

    def run(self) -> None:
        try:
            with service_channel(self.target, "tax-feed", SECRET) as channel:
                stub = pb_grpc.TaxIngestionServiceStub(channel)
                for index, request in enumerate(self.requests):
                    while True:
                        self.gates.before_call(index)
                        try:
                            response = stub.IngestInvoices(request, timeout=CALL_TIMEOUT)
                            break
                        except grpc.RpcError as error:
                            self.codes[error.code().name] += 1
                            if error.code() not in RETRYABLE:
                                raise
                            time.sleep(0.05)
                    self.acked[request.request_id] = response
        except BaseException as error:  # surfaced by the test
            self.error = error


def stored_lines(data_dir: Path) -> pl.DataFrame:
    frame = parquet_io.read_all(data_dir / "invoices")
    assert frame is not None, "no invoice files stored"
    return cast(pl.DataFrame, frame)


@pytest.mark.parametrize("victim", ["ingest-tax", "redis"])
def test_kill9_tax_loses_nothing_acknowledged_and_doubles_nothing(tmp_path: Path, victim: str) -> None:
    seed = time.time_ns()
    rng = random.Random(seed)
    context = f"victim={victim} seed={seed}"
    requests, expected, batch_months = make_batches()
    stack = kill9.start_stack(tmp_path)
    try:
        grant_platform(stack.consent.target, USCC, [consent_pb2.CONSENT_SCOPE_TAX_INVOICES])
        service = stack.start("ingest-tax")
        plan = kill9.choose_kills(rng, BATCHES, KILLS)
        gates = kill9.Gates(kill9.gate_calls(plan))
        relay = kill9.Relay(service.grpc_port)  # the client reaches the service through it
        client = Client(relay.target, requests, gates)
        started = time.monotonic()
        client.start()
        hot = redis_lib.Redis.from_url(stack.redis.url)

        def keys_of(call: int) -> kill9.CallKeys:
            request_id = requests[call].request_id
            return kill9.CallKeys([f"{P}intent:{USCC}:{request_id}"], [f"{P}batch:{USCC}:{request_id}"])

        kills = kill9.run_kills(stack, victim, client, gates, relay, plan, keys_of, tmp_path / "data" / "invoices")
        context = f"{context} plan={plan}"
        kill9.finish(client, relay, kills, KILLS, lambda: sum(r.replayed for r in client.acked.values()), context)
        replays = sum(response.replayed for response in client.acked.values())
        context = f"{context} codes={dict(client.codes)}"
        assert set(client.acked) == {r.request_id for r in requests}
        # every failure was a retryable outage, never INTERNAL (or anything else)
        assert set(client.codes) <= {c.name for c in RETRYABLE}, context
        print(kill9.summary(victim, kills, client.failures, time.monotonic() - started), f"replayed_acks={replays}")

        # every acknowledgement reports the whole batch stored, nothing quarantined or deduplicated
        lines_per_batch = Counter(e.request_id for e in expected)
        for request in requests:
            response = client.acked[request.request_id]
            assert not response.quarantined, (request.request_id, response)
            assert response.duplicate_lines == 0 and response.non_energy_lines == 0, (request.request_id, response)
            assert response.energy_lines + response.revenue_lines == lines_per_batch[request.request_id], (
                request.request_id,
                response,
            )

        # the retried/replayed stack answers a re-send of every batch as a replay of the same result
        with service_channel(stack.services["ingest-tax"].target, "tax-feed", SECRET) as channel:
            stub = pb_grpc.TaxIngestionServiceStub(channel)
            for request in requests:
                again = stub.IngestInvoices(request, timeout=CALL_TIMEOUT)
                assert again.replayed, request.request_id
                again.replayed = False
                first = pb.IngestInvoicesResponse()
                first.CopyFrom(client.acked[request.request_id])
                first.replayed = False
                assert again == first, request.request_id
            quarantined = stub.ListQuarantinedLines(pb.ListQuarantinedLinesRequest(parent=f"enterprises/{USCC}"))
            assert not quarantined.lines

        raw = stored_lines(tmp_path / "data")
        # no orphan: every object left is committed (the retries deleted their uncommitted attempts)
        data_root = tmp_path / "data"
        committed = sorted(rawdata.iter_files(rawdata.Committed(data_root, hot), rawdata.INVOICES))
        assert committed == sorted(rawdata.iter_files(data_root, rawdata.INVOICES)), context
        # no doubles: every line stored exactly once, not merely deduplicable
        per_key = raw.group_by("uscc", "invoice_number", "line_number").len()
        assert per_key["len"].max() == 1, per_key.filter(pl.col("len") > 1)
        assert raw.height == len(expected), (raw.height, len(expected), context)
        assert set(raw["uscc"].unique()) == {USCC}
        assert raw.filter(pl.col("energy_type") == "non_energy").height == 0
        got = {(r["invoice_number"], r["line_number"]): r for r in raw.iter_rows(named=True)}
        assert set(got) == {(e.invoice_number, e.line_number) for e in expected}
        for e in expected:
            row = got[(e.invoice_number, e.line_number)]
            assert row["direction"] == e.direction
            assert row["red_letter"] == (e.original is not None)
            assert row["original_invoice_number"] == e.original
            assert row["amount_cny"] == e.amount and row["tax_cny"] == e.tax
            if e.direction == "purchase":
                assert row["energy_type"] == "electricity" and row["unit"] == "kWh"
                assert row["quantity"] == e.quantity
            else:
                assert row["energy_type"] is None and row["quantity"] is None

        # sums, red-letter netting included: overall and per original (blue) invoice
        purchases = raw.filter(pl.col("direction") == "purchase")
        sales = raw.filter(pl.col("direction") == "sale")
        exp_purchases = [e for e in expected if e.direction == "purchase"]
        assert purchases["quantity"].sum() == sum(e.quantity for e in exp_purchases if e.quantity is not None)
        assert purchases["amount_cny"].sum() == sum(e.amount for e in exp_purchases)
        assert purchases["tax_cny"].sum() == sum(e.tax for e in exp_purchases)
        assert sales["amount_cny"].sum() == sum(e.amount for e in expected if e.direction == "sale")
        net = purchases.group_by(pl.coalesce("original_invoice_number", "invoice_number").alias("blue")).agg(
            pl.col("quantity").sum(), pl.col("amount_cny").sum()
        )
        exp_net: dict[str, list[Decimal]] = {}
        for e in exp_purchases:
            sums = exp_net.setdefault(e.original or e.invoice_number, [Decimal(0), Decimal(0)])
            sums[0] += e.quantity or 0
            sums[1] += e.amount
        assert {r["blue"]: [r["quantity"], r["amount_cny"]] for r in net.iter_rows(named=True)} == exp_net
        # the hot state agrees: one line record per stored line
        assert hot.hlen(f"carbon:ingest-tax:lines:{USCC}") == len(expected)
        assert not hot.keys(f"carbon:ingest-tax:intent:{USCC}:*"), "an acknowledged batch left its intent behind"

        # exactly one activity event per batch, naming the batch's months
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], hot.xrange(ACTIVITY.name))
        events = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]
        events = [event for event in events if event["source"] == "invoices"]
        per_batch = Counter(event["batch"] for event in events)
        assert per_batch == Counter({f"enterprises/{USCC}/invoiceBatches/{rid}": 1 for rid in batch_months}), context
        for event in events:
            assert event["months"].split(",") == batch_months[event["batch"].rsplit("/", 1)[1]]
    finally:
        stack.stop()
