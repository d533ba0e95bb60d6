"""Book re-pricing: the run's figures computed by hand, and a run end to end through the real pricing core
(real Redis, real Rego policy bundle): progress, distribution, interest effect, decision log, isolation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import grpc
import pytest
import redis
from carbon.v1 import portfolio_pb2, portfolio_pb2_grpc
from carbon_common import events, hashchain
from carbon_common.errors import ServiceError
from carbon_common.http import install_error_handlers
from carbon_common.server import Running, Service
from carbon_pricing import decision_log
from carbon_pricing.core import PricingCore, QuoteInput
from carbon_pricing.domain import NotPriced
from carbon_pricing.lifecycle import PolicyManager
from carbon_pricing.portfolio import grpc_api, rest
from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.repricing import RepricingCore, summarize, summary_doc, tenor_months
from carbon_pricing.portfolio.store import BookStore, RunStore
from carbon_pricing.quote import Decision, SimulatedQuote
from carbon_pricing.settings import PricingSettings
from carbon_pricing.store import QuoteStore, decision_log_chain
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.portfolio.world import BENCH, Directory, _Accounts
from tests.pricing.support import NOW, World, copy_bundle, uscc


def _priced(pid: str, amount: str, bp: int, decision: str = "APPROVE") -> SimulatedQuote:
    """Only the fields the summary reads."""
    return SimulatedQuote.model_construct(
        position_id=pid, amount_cny=amount, rate_adjustment_bp=bp, decision=Decision(decision)
    )


def test_summary_golden() -> None:
    results = [
        _priced("A", "1000000.00", -25),
        _priced("B", "333333.33", -25),
        _priced("C", "500000.00", 50, "REFER"),
        NotPriced(position_id="D", not_priced="CONSENT_REQUIRED"),
        _priced("E", "200000.01", 0),
    ]
    doc = summary_doc(summarize(results))
    assert (doc.priced, doc.not_priced, doc.decisions) == (
        4,
        {"CONSENT_REQUIRED": 1},
        {"APPROVE": 3, "REFER": 1},
    )
    by_bp = {b.rate_adjustment_bp: b for b in doc.rate_adjustments}
    assert list(by_bp) == [-25, 0, 50]
    # -25 bp: 1,000,000.00 + 333,333.33 = 1,333,333.33 CNY = 133,333,333 fen;
    # x -25 / 10,000 = -333,333.3325 fen -> -333,333 fen (half-even, once) = -3,333.33 CNY a year
    assert (by_bp[-25].positions, by_bp[-25].outstanding_cny, by_bp[-25].annual_interest_effect_cny) == (
        2,
        "1333333.33",
        "-3333.33",
    )
    # +50 bp on 500,000.00 = 2,500.00 CNY a year; 0 bp: 0
    assert by_bp[50].annual_interest_effect_cny == "2500.00" and by_bp[0].annual_interest_effect_cny == "0.00"
    # total: (133,333,333 x -25 + 50,000,000 x 50) / 10,000 = -83,333.3325 fen -> -83,333 fen = -833.33 CNY
    assert doc.annual_interest_effect_cny == "-833.33"
    # priced outstanding 1,333,333.33 + 500,000.00 + 200,000.01
    assert doc.priced_outstanding_cny == "2033333.34"
    assert D(doc.annual_interest_effect_cny) == D("-833.33")


def test_tenor_from_the_position_dates() -> None:
    assert tenor_months("2024-01-31", "2025-01-30", 12) == 11  # one day short of 12 months
    assert tenor_months("2024-01-31", "2025-01-31", 12) == 12
    assert tenor_months("2024-01-15", "2024-01-20", 12) == 1  # at least a month
    assert tenor_months("", "2025-01-31", 24) == 24  # no drawn date: the run's default
    assert tenor_months("2000-01-01", "2099-01-01", 12) == 600  # at most the quote's bound


# ---------------------------------------------------------------- a run through the real pricing core

PRODUCT = "quzhou_tanrongyi"  # dark green -50 bp, light green -30, yellow 0 (+FREEZE), red DECLINE_NEW_CREDIT
Q1, Q2, Q3, Q4 = (uscc(100 + i) for i in range(4))


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[tuple[PricingCore, LoanBookCore, RepricingCore]]:
    settings = PricingSettings(
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        bundle_dir=copy_bundle(tmp_path / "bundle"),
        bundle_poll_seconds=0,
        dev_mode=True,
    )
    client = redis.Redis.from_url(redis_url)
    world = World(keys={"ck_b1": "b1", "ck_b2": "b2"})
    for u, grade in ((Q1, "DARK_GREEN"), (Q2, "LIGHT_GREEN"), (Q3, "YELLOW"), (Q4, "DARK_GREEN")):
        world.rate(u, PRODUCT, grade)
    for u in (Q1, Q2, Q3):  # Q4 gave b1 no RATING consent
        world.consents[(u, "banks/b1")] = "AUTHORIZED"
    policies = PolicyManager(settings, client)
    pricing = PricingCore(QuoteStore(client, 1000), policies, world, world, world, world, clock=lambda: NOW)
    directory = Directory()
    books = LoanBookCore(BookStore(client), world, directory, _Accounts(directory), benchmarks=BENCH)
    runs = RepricingCore(books, RunStore(client), pricing, lambda: list(policies.products), clock=lambda: NOW)
    yield pricing, books, runs
    policies.engine.close()


BOOK = [
    # P1 dark green: -50 bp on 1,000,000.00; tenor from the dates: 24 months
    {
        "position_id": "P1",
        "enterprise": Q1,
        "outstanding_cny": "1000000.00",
        "drawn_date": "2024-01-01",
        "maturity_date": "2026-01-01",
    },
    # P2 light green: -30 bp on 333,333.33
    {"position_id": "P2", "enterprise": Q2, "outstanding_cny": "333333.33"},
    # P3 yellow: 0 bp on 250,000.00
    {"position_id": "P3", "enterprise": Q3, "outstanding_cny": "250000.00"},
    # P4: no RATING consent -> not priced
    {"position_id": "P4", "enterprise": Q4, "outstanding_cny": "999999.99"},
    # P5 dark green again: -50 bp on 500,000.01
    {"position_id": "P5", "enterprise": Q1, "outstanding_cny": "500000.01"},
]


def _rows() -> list[dict[str, str]]:
    base = {
        "product": "loan",
        "drawn_date": "",
        "maturity_date": "",
        "equity_plus_debt_cny": "90000000.00",
        "listed": "false",
        "evic_cny": "",
        "revenue_cny": "",
        "industry_code": "C3011",
        "region_code": "330000",
    }
    return [{**base, **p} for p in BOOK]


def test_a_run_quotes_like_single_quotes_and_logs_simulations(stack, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    pricing, books, runs = stack
    books.create_snapshot("ck_b1", "banks/b1/books/main", "2024-12-31", _rows())
    created = runs.create_run("ck_b1", "banks/b1", "banks/b1/books/main/snapshots/2024-12-31", PRODUCT, "3.45", 12)
    assert (created.state, created.positions_total, created.positions_done) == ("PENDING", 5, 0)
    # the worker takes the queued run; progress is on the run while it works
    stopping, seen = threading.Event(), []
    done = threading.Event()
    original = runs.execute

    def execute(bank: str, run: str, progress=None):  # type: ignore[no-untyped-def]
        result = original(bank, run, lambda d, t: seen.append((d, t)))
        done.set()
        return result

    runs.execute = execute  # type: ignore[method-assign]
    worker = threading.Thread(target=runs.worker(poll_seconds=0.05), args=(stopping,), daemon=True)
    worker.start()
    try:
        assert done.wait(120), "the run did not finish"
    finally:
        stopping.set()
        worker.join(10)
    run = runs.get_run("ck_b1", created.name)
    assert run.state == "SUCCEEDED" and run.positions_done == 5 and seen[-1] == (5, 5)
    assert (run.priced, run.not_priced) == (4, {"CONSENT_REQUIRED": 1})
    assert run.decisions == {"APPROVE": 4}
    by_bp = {b.rate_adjustment_bp: b for b in run.rate_adjustments}
    # -50 bp: 1,000,000.00 + 500,000.01 = 150,000,001 fen x -50 / 10,000 = -750,000.005 fen -> -750,000 fen (tie,
    # half-even) = -7,500.00 CNY; -30 bp: 33,333,333 fen x -30 / 10,000 = -99,999.999 fen -> -100,000 = -1,000.00
    assert (by_bp[-50].positions, by_bp[-50].outstanding_cny, by_bp[-50].annual_interest_effect_cny) == (
        2,
        "1500000.01",
        "-7500.00",
    )
    assert by_bp[-30].annual_interest_effect_cny == "-1000.00" and by_bp[0].annual_interest_effect_cny == "0.00"
    # total: (150,000,001 x -50 + 33,333,333 x -30) / 10,000 = -850,000.004 fen -> -850,000 fen = -8,500.00 CNY
    assert run.annual_interest_effect_cny == "-8500.00"
    # priced: 1,000,000.00 + 333,333.33 + 250,000.00 + 500,000.01 (P4 not priced)
    assert run.priced_outstanding_cny == "2083333.34"

    # the same evaluation as single quotes: each simulated record equals a real quote of the same inputs
    _doc, results = runs.run_results("ck_b1", created.name)
    simulated = {r.position_id: r.to_json() for r in results if isinstance(r, SimulatedQuote)}
    assert simulated["P1"]["tenor_months"] == 24 and simulated["P2"]["tenor_months"] == 12
    client = redis.Redis.from_url(redis_url)
    assert client.zcard("carbon:pricing:quotes:b1") == 0  # a simulation creates no quote
    for pid, record in simulated.items():
        created_quote, _ = pricing.create_quote(
            "ck_b1",
            "banks/b1",
            f"cmp-{pid}",
            QuoteInput(PRODUCT, record["enterprise"], record["amount_cny"], record["tenor_months"], "3.45"),
        )
        quote = created_quote.to_json()
        same = (
            "decision",
            "rate_adjustment_bp",
            "final_rate_pct",
            "credit_line_effect",
            "grade",
            "scheme_version",
            "policy_bundle_version",
            "product_version",
        )
        assert {k: quote[k] for k in same} == {k: record[k] for k in same}, pid
        assert record["simulation"] is True and record["name"] == f"{created.name}/positions/{pid}"
        typed = SimulatedQuote.model_validate(record)  # the stored result is the typed record's JSON, no more
        assert typed.to_json() == record and (typed.run, typed.position_id) == (created.name, pid)
    # the bank's decision log holds a SIMULATION entry per priced position, verified with the records they link
    report = decision_log.verify(client)
    assert report.ok and report.entries == 4 + 4  # 4 simulations + the 4 comparison quotes
    kinds = [json.loads(e)["kind"] for e in client.lrange(hashchain.list_key(decision_log_chain("b1")), 0, -1)]
    assert sorted(kinds) == ["QUOTE"] * 4 + ["SIMULATION"] * 4
    # every RATING decision is handed to consent's audit: allowed ones with the simulation they priced,
    # the refusal (P4) alone
    audited = [events.ACCESS.decode(fields) for _id, fields in client.xrange(events.ACCESS.name)]
    simulated_names = {r["name"] for r in simulated.values()}
    assert {a.quote for a in audited if a.quote.startswith(created.name)} == simulated_names
    assert [(d.uscc, d.reason) for d in pricing.consent.recorded] == [(Q4, "CONSENT_REQUIRED")]


def test_runs_stay_inside_the_bank_over_rest_and_grpc(stack, redis_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _pricing, books, runs = stack
    books.create_snapshot("ck_b1", "banks/b1/books/main", "2024-12-31", _rows())
    snapshot = "banks/b1/books/main/snapshots/2024-12-31"
    created = runs.create_run("ck_b1", "banks/b1", snapshot, PRODUCT, "3.45", 12)
    with pytest.raises(ServiceError) as other:  # b2 cannot re-price b1's book, not even into its own runs
        runs.create_run("ck_b2", "banks/b2", snapshot, PRODUCT, "3.45", 12)
    assert other.value.reason == "CROSS_TENANT"

    app = FastAPI()
    install_error_handlers(app)
    rest.install(app, books, runs)
    http = TestClient(app)
    b1, b2 = {"Authorization": "Bearer ck_b1"}, {"Authorization": "Bearer ck_b2"}
    path = f"/v1/{created.name}"
    assert http.get(path, headers=b1).json()["state"] == "PENDING"
    assert http.get(f"{path}:results", headers=b1).status_code == 200
    for url in (path, f"{path}:results", "/v1/banks/b1/repricingRuns"):
        denied = http.get(url, headers=b2)
        assert denied.status_code == 403 and denied.json()["error"]["details"][0]["reason"] == "CROSS_TENANT"
        assert http.get(url).status_code == 401
    assert http.get("/v1/banks/b2/repricingRuns", headers=b2).json()["repricingRuns"] == []
    body = {"snapshot": snapshot, "product": PRODUCT, "referenceRatePct": "3.45"}
    assert http.post("/v1/banks/b2/repricingRuns", json=body, headers=b2).status_code == 403
    assert http.post("/v1/banks/b1/repricingRuns", json=body, headers=b2).status_code == 403
    bad = http.post(
        "/v1/banks/b1/repricingRuns", json={**body, "product": "nope", "referenceRatePct": "120"}, headers=b1
    )
    assert bad.status_code == 400 and len(bad.json()["error"]["details"][-1]["fieldViolations"]) == 2
    started = http.post("/v1/banks/b1/repricingRuns", json=body, headers=b1)
    assert started.status_code == 201 and started.json()["simulation"] is True
    listed = http.get("/v1/banks/b1/repricingRuns", headers=b1).json()["repricingRuns"]
    assert [r["name"] for r in listed] == [started.json()["name"], created.name]  # newest first

    settings = PricingSettings(redis_url=redis_url, grpc_port=0, http_port=0, data_dir=tmp_path, dev_mode=True)
    running = Running(Service("loan-pricing", settings, lambda server: grpc_api.register(books, server, runs)))
    running.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}")
    try:
        stub = portfolio_pb2_grpc.LoanBookServiceStub(channel)
        got = stub.GetRepricingRun(
            portfolio_pb2.GetRepricingRunRequest(name=created.name), metadata=(("authorization", "Bearer ck_b1"),)
        )
        assert got.state == portfolio_pb2.RepricingRun.STATE_PENDING and got.positions_total == 5
        for call, request in (
            (stub.GetRepricingRun, portfolio_pb2.GetRepricingRunRequest(name=created.name)),
            (stub.ListRepricingRuns, portfolio_pb2.ListRepricingRunsRequest(parent="banks/b1")),
            (
                stub.CreateRepricingRun,
                portfolio_pb2.CreateRepricingRunRequest(
                    parent="banks/b2",
                    repricing_run=portfolio_pb2.RepricingRun(
                        snapshot=snapshot, product=PRODUCT, reference_rate_pct={"value": "3.45"}
                    ),
                ),
            ),
        ):
            with pytest.raises(grpc.RpcError) as denied:
                call(request, metadata=(("authorization", "Bearer ck_b2"),))
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.RpcError) as anonymous:
                call(request)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        channel.close()
        running.stop()
