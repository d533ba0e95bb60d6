"""Financed emissions (PCAF) of a 49,000-position loan book: polars, next to DuckDB as a reference.

One position per enterprise of the synthetic province (carbon_synth.bulk.enterprises: uscc,
province, industry, load). Not timed: building the book (seeded outstanding, equity + debt,
EVIC for ~10 % listed borrowers, revenue for ~60 %), the borrowers' 2024 accounts (Scope 1+2 from
the mean load x 8,760 h x a grid factor, for ~85 %) and the bank's consent decisions for 2024
(~70 % allowed, ~10 % CONSENT_DATA_WINDOW, the rest none) — the frames the service reads in bulk.

Timed (median of RUNS): `carbon_pricing.portfolio.frames.financed` + `totals` (every position's
attribution, account-or-estimate, PCAF score, versions; book totals, intensity, weighted score,
breakdowns by industry and region) — and the same computation as one DuckDB SQL query over the
same frames (HUGEINT, the same half-even roundings). Both results are compared position by
position; the pure per-position domain (Decimal inputs, Python loop) is timed once as well.
Last line: one JSON object with `positions` and `seconds` (polars median). Target: < 2 s.

Re-pricing throughput (`repricing_*`): a run over the first REPRICING_POSITIONS positions (argv[2],
default 5,000) in a real redis-server with the real Rego bundle (embedded regopy), through
`RepricingCore.execute` -> `PricingCore.simulate`: per position validation, rating, RATING consent,
policy evaluation, and a SIMULATION decision-log entry with its record (chunks of 100). Ratings and
consents come from an in-process directory (the service reads projections); the decision log is
verified afterwards (chain only, not timed).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from carbon_devkit.ports import free_port
from carbon_devkit.redis_server import start as start_redis
from carbon_pricing.portfolio import frames
from carbon_pricing.portfolio.accounts import ProjectedAccountFacts, encode_facts
from carbon_pricing.portfolio.domain import Access, Benchmarks, BorrowerAccount, PcafTable, Position, book_emissions
from carbon_synth.bulk import BulkParams, enterprises

RUNS = 5
TARGET_SECONDS = 2.0

DUCKDB_SQL = """
WITH j AS (
  SELECT p.*, a.allowed, a.consent, a.reason, c.scope12_micro, c.reduction_micro, c.input_digest,
         c.factor_set_version, c.verified, b.revenue_intensity_micro, b.asset_intensity_micro,
         CASE WHEN p.listed THEN p.evic_fen ELSE p.equity_debt_fen END AS denominator_fen
  FROM positions p
  LEFT JOIN access a USING (uscc)
  LEFT JOIN accounts c USING (uscc)
  LEFT JOIN bench b USING (industry)
), k AS (
  SELECT *, coalesce(allowed, false) AND scope12_micro IS NOT NULL AS use_account,
         revenue_fen IS NOT NULL AND revenue_fen > 0 AS by_revenue
  FROM j
), e AS (
  SELECT *, CASE WHEN use_account THEN CAST(scope12_micro AS HUGEINT)
                 WHEN by_revenue THEN half_even(CAST(revenue_fen AS HUGEINT) * revenue_intensity_micro, 100000000)
                 ELSE half_even(CAST(denominator_fen AS HUGEINT) * asset_intensity_micro, 100000000)
            END AS borrower_micro
  FROM k
)
SELECT position_id, industry, region, outstanding_fen, use_account,
       CASE WHEN outstanding_fen >= denominator_fen THEN borrower_micro
            ELSE half_even(CAST(outstanding_fen AS HUGEINT) * borrower_micro, denominator_fen) END AS financed_micro,
       CASE WHEN use_account THEN CASE WHEN verified THEN 1 ELSE 2 END
            WHEN revenue_intensity_micro IS NULL THEN NULL
            WHEN by_revenue THEN 4 ELSE 5 END AS data_quality_score
FROM e
"""

HALF_EVEN_MACRO = """
CREATE OR REPLACE MACRO half_even(n, d) AS
  (n // d) + CASE WHEN 2 * (n - (n // d) * d) > d
                    OR (2 * (n - (n // d) * d) = d AND (n // d) % 2 = 1) THEN 1 ELSE 0 END
"""


def build_book(n: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    master = enterprises(BulkParams(enterprises=n))
    rng = np.random.default_rng(20241231)
    size = master["load_kw"].to_numpy()
    equity_debt = np.maximum((size * rng.uniform(2e4, 8e4, n) * 100).astype(np.int64), 100_000_00)
    listed = rng.random(n) < 0.10
    positions = pl.DataFrame(
        {
            "position_id": [f"L{i:06d}" for i in range(n)],
            "uscc": master["uscc"],
            "product": np.where(rng.random(n) < 0.9, "loan", "equity"),
            "industry": master["industry_code"],
            "region": master["province_code"],
            "outstanding_fen": (equity_debt * rng.uniform(0.01, 0.6, n)).astype(np.int64) + 1,
            "equity_debt_fen": equity_debt,
            "listed": listed,
            "evic_fen": pl.Series((equity_debt * rng.uniform(0.8, 3.0, n)).astype(np.int64)).set(
                pl.Series(~listed), None
            ),
            "revenue_fen": pl.Series((equity_debt * rng.uniform(0.3, 2.0, n)).astype(np.int64)).set(
                pl.Series(rng.random(n) >= 0.6), None
            ),
        },
        schema=frames.POSITION_SCHEMA,
    )
    has_account = rng.random(n) < 0.85
    scope12 = (size * 8760 * 0.5703 * 1000).astype(np.int64)  # kW x h x t/MWh / 1000 -> micro-t
    accounts = pl.DataFrame(
        {
            "uscc": master["uscc"],
            "scope12_micro": scope12,
            "reduction_micro": pl.Series((scope12 * rng.uniform(-0.05, 0.15, n)).astype(np.int64)),
            "input_digest": [f"sha256:{i:064x}" for i in range(n)],
            "factor_set_version": "cn-2024.1",
            "verified": rng.random(n) < 0.02,
        },
        schema=frames.ACCOUNT_SCHEMA,
    ).filter(pl.Series(has_account))
    draw = rng.random(n)
    consent_rows = draw < 0.8
    access = pl.DataFrame(
        {
            "uscc": master["uscc"],
            "allowed": draw < 0.7,
            "consent": [f"enterprises/{u}/consents/c1" for u in master["uscc"]],
            "reason": np.where(draw < 0.7, "", "CONSENT_DATA_WINDOW"),
        },
        schema=frames.ACCESS_SCHEMA,
    ).filter(pl.Series(consent_rows))
    return positions, accounts, access


def polars_run(positions, accounts, access, benchmarks, pcaf):  # type: ignore[no-untyped-def]
    rows = frames.financed(positions, accounts, access, benchmarks, pcaf)
    return rows, frames.totals(rows)


def duckdb_run(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    con.execute(f"CREATE OR REPLACE TEMP TABLE result AS {DUCKDB_SQL}")
    total = con.execute(
        "SELECT sum(financed_micro), sum(outstanding_fen) FILTER (WHERE financed_micro IS NOT NULL),"
        " sum(CAST(outstanding_fen AS HUGEINT) * data_quality_score) FROM result"
    ).fetchone()
    con.execute(
        "SELECT industry, count(*), sum(outstanding_fen), sum(financed_micro) FROM result"
        " WHERE financed_micro IS NOT NULL GROUP BY industry"
    ).fetchall()
    con.execute(
        "SELECT region, count(*), sum(outstanding_fen), sum(financed_micro) FROM result"
        " WHERE financed_micro IS NOT NULL GROUP BY region"
    ).fetchall()
    assert total is not None
    return {
        "financed_micro": int(total[0]),
        "covered_outstanding_fen": int(total[1]),
    }


def domain_run(positions: pl.DataFrame, accounts: pl.DataFrame, access: pl.DataFrame, benchmarks, pcaf):  # type: ignore[no-untyped-def]
    def cny(value: int | None) -> Decimal | None:
        return None if value is None else Decimal(value).scaleb(-2)

    book = [
        Position(
            r["position_id"],
            r["uscc"],
            r["product"],
            Decimal(r["outstanding_fen"]).scaleb(-2),
            Decimal(r["equity_debt_fen"]).scaleb(-2),
            r["industry"],
            r["region"],
            r["listed"],
            cny(r["evic_fen"]),
            cny(r["revenue_fen"]),
        )
        for r in positions.iter_rows(named=True)
    ]
    decisions = {r["uscc"]: Access(r["allowed"], r["consent"], r["reason"]) for r in access.iter_rows(named=True)}
    facts = {
        r["uscc"]: BorrowerAccount(
            r["uscc"],
            "2024",
            Decimal(r["scope12_micro"]).scaleb(-6),
            r["input_digest"],
            r["factor_set_version"],
            None if r["reduction_micro"] is None else Decimal(r["reduction_micro"]).scaleb(-6),
            r["verified"],
        )
        for r in accounts.iter_rows(named=True)
    }
    t0 = time.perf_counter()
    results = book_emissions(book, decisions, facts, benchmarks, pcaf)
    return time.perf_counter() - t0, sum(r.financed_micro or 0 for r in results)


def projected_read(accounts: pl.DataFrame, access: pl.DataFrame) -> tuple[float, int]:
    """The account facts as the service reads them: the accounts-stream projection in a real
    redis-server, one HMGET for the allowed enterprises decoded into the accounts frame (filled
    untimed). Returns (median seconds, accounts read)."""
    import redis

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_redis(Path(tmp), port, appendfsync="no")
        try:
            client = redis.Redis(port=port)
            facts = ProjectedAccountFacts(client)
            pipe = client.pipeline(transaction=False)
            for row in accounts.iter_rows(named=True):
                account = BorrowerAccount(
                    row["uscc"],
                    "2024",
                    Decimal(row["scope12_micro"]).scaleb(-6),
                    row["input_digest"],
                    row["factor_set_version"],
                    None if row["reduction_micro"] is None else Decimal(row["reduction_micro"]).scaleb(-6),
                )
                pipe.hset("carbon:pricing:books:accounts:2024", row["uscc"], encode_facts(account))
            pipe.execute()
            allowed = access.filter(pl.col("allowed"))["uscc"].to_list()
            reads, count = [], 0
            for _ in range(RUNS):
                t0 = time.perf_counter()
                count = facts.frame(allowed, "2024").height
                reads.append(time.perf_counter() - t0)
            return statistics.median(reads), count
        finally:
            server.terminate()
            server.wait(10)


class Directory:
    """Banks, RATING consents and ratings the pricing core sees in the bench (in process)."""

    GRADES = ("DARK_GREEN", "LIGHT_GREEN", "YELLOW", "RED")

    def __init__(self, usccs: list[str]) -> None:
        from datetime import UTC, datetime

        from carbon_pricing.sources import RatingFacts

        now = datetime.now(UTC)
        self.allowed = {u for k, u in enumerate(usccs) if k % 10 != 9}  # 90 % consented
        self.recorded = 0
        self.ratings = {
            u: RatingFacts(
                name=f"enterprises/{u}/ratings/quzhou-four-colour",
                scheme_id="quzhou-four-colour",
                scheme_version="1",
                grade=self.GRADES[k % 4],
                score=None,
                period="2024",
                account=f"enterprises/{u}/accounts/2024",
                rate_time=now,
                input_digest=f"d{k}",
                factor_set_version="cn-2024.1",
                quality_score=Decimal("0.95"),
            )
            for k, u in enumerate(usccs)
        }

    def authenticate(self, api_key: str) -> str:
        return "bench-bank"

    def decide(self, uscc: str, grantee: str, scope: int, period: str | None):  # type: ignore[no-untyped-def]
        from datetime import UTC, datetime

        from carbon_common.names import period_span
        from carbon_pricing.sources import AccessDecision

        span = period_span(period) if period else None
        now = datetime.now(UTC)
        if uscc not in self.allowed:
            return AccessDecision(grantee, uscc, scope, span, False, "CONSENT_REQUIRED", "", "no consent", now)
        return AccessDecision(grantee, uscc, scope, span, True, "", f"enterprises/{uscc}/consents/c1", "", now)

    def record(self, decision) -> None:  # type: ignore[no-untyped-def]
        self.recorded += 1  # consent's audit consumes these in the service

    def rating(self, uscc: str, scheme_id: str):  # type: ignore[no-untyped-def]
        return self.ratings.get(uscc)

    def account(self, name: str, digest_hint: str = ""):  # type: ignore[no-untyped-def]
        from carbon_pricing.sources import AccountFacts

        return AccountFacts(
            name=name,
            period="2024",
            quality_score=Decimal("0.95"),
            reduction_tco2=Decimal("10"),
            input_digest="a",
            factor_set_version="cn-2024.1",
        )


def repricing_run(positions: pl.DataFrame, n: int) -> dict[str, object]:
    """A re-pricing run of the book's first `n` positions (see the module docstring)."""
    import shutil

    import redis
    from carbon_pricing import decision_log
    from carbon_pricing.core import PricingCore
    from carbon_pricing.lifecycle import PolicyManager
    from carbon_pricing.portfolio.core import LoanBookCore
    from carbon_pricing.portfolio.repricing import RepricingCore
    from carbon_pricing.portfolio.store import BookStore, RunStore
    from carbon_pricing.settings import PricingSettings
    from carbon_pricing.store import QuoteStore

    book = positions.head(n)
    directory = Directory(book["uscc"].to_list())
    rows = [
        {
            "position_id": r["position_id"],
            "enterprise": r["uscc"],
            "product": "loan",
            "outstanding_cny": str(Decimal(r["outstanding_fen"]).scaleb(-2)),
            "equity_plus_debt_cny": str(Decimal(r["equity_debt_fen"]).scaleb(-2)),
            "industry_code": "C3011",
            "region_code": "330000",
        }
        for r in book.iter_rows(named=True)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_redis(Path(tmp), port, appendfsync="no")
        bundle = Path(tmp) / "bundle"
        shutil.copytree(
            Path(__file__).resolve().parents[1] / "policies" / "products",
            bundle,
            ignore=shutil.ignore_patterns("*_test.rego"),
        )
        try:
            url = f"redis://127.0.0.1:{port}/0"
            client = redis.Redis.from_url(url)
            settings = PricingSettings(
                redis_url=url, data_dir=Path(tmp) / "data", bundle_dir=bundle, bundle_poll_seconds=0
            )
            policies = PolicyManager(settings, client)
            pricing = PricingCore(QuoteStore(client), policies, directory, directory, directory, directory)
            books = LoanBookCore(BookStore(client), directory, None, None)  # type: ignore[arg-type]
            runs = RepricingCore(books, RunStore(client), pricing, lambda: list(policies.products))
            books.create_snapshot("key", "banks/bench-bank/books/main", "2024-12-31", rows)
            run = runs.create_run(
                "key",
                "banks/bench-bank",
                "banks/bench-bank/books/main/snapshots/2024-12-31",
                "quzhou_tanrongyi",
                "3.45",
                12,
            )
            client.delete("carbon:pricing:runs:queue")  # executed here, not by a worker
            t0 = time.perf_counter()
            done = runs.execute("bench-bank", run.run_id)
            assert done is not None
            seconds = time.perf_counter() - t0
            report = decision_log.verify(client, check_quotes=False)
            policies.engine.close()
            return {
                "repricing_positions": n,
                "repricing_seconds": round(seconds, 3),
                "repricing_positions_per_second": round(n / seconds),
                "repricing_priced": done.priced,
                "repricing_not_priced": done.not_priced,
                "repricing_annual_interest_effect_cny": done.annual_interest_effect_cny,
                "repricing_decision_log_entries": report.entries,
                "repricing_decision_log_ok": report.ok,
            }
        finally:
            server.terminate()
            server.wait(10)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 49_000
    repricing_n = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    benchmarks, pcaf = Benchmarks.load(), PcafTable.load()
    t0 = time.perf_counter()
    positions, accounts, access = build_book(n)
    build_seconds = time.perf_counter() - t0

    polars_times, rows, book = [], None, None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        rows, book = polars_run(positions, accounts, access, benchmarks, pcaf)
        polars_times.append(time.perf_counter() - t0)
    assert rows is not None and book is not None

    con = duckdb.connect()
    con.execute(HALF_EVEN_MACRO)
    with tempfile.TemporaryDirectory() as tmp:  # DuckDB loads the same frames into its own tables (not timed)
        for table, frame in (
            ("positions", positions),
            ("accounts", accounts),
            ("access", access),
            ("bench", frames.benchmarks_frame(benchmarks)),
        ):
            path = Path(tmp) / f"{table}.parquet"
            frame.write_parquet(path)
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{path}')")
    duck_times, duck_total = [], None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        duck_total = duckdb_run(con)
        duck_times.append(time.perf_counter() - t0)
    assert duck_total is not None
    duck_rows = pl.DataFrame(
        con.execute("SELECT position_id, CAST(financed_micro AS VARCHAR) FROM result").fetchall(),
        schema={"position_id": pl.String, "financed_micro": pl.String},
        orient="row",
    )

    joined = rows.select("position_id", "financed_micro").join(
        duck_rows.rename({"financed_micro": "duck"}), on="position_id", how="left"
    )
    mismatches = joined.filter(pl.col("financed_micro").cast(pl.String).ne_missing(pl.col("duck"))).height
    domain_seconds, domain_total = domain_run(positions, accounts, access, benchmarks, pcaf)

    read_seconds, read_count = projected_read(accounts, access)
    repricing = repricing_run(positions, min(repricing_n, n)) if repricing_n > 0 else {}
    seconds = statistics.median(polars_times)
    out = {
        "benchmark": "portfolio_financed_emissions",
        "positions": n,
        "seconds": round(seconds, 4),
        "target_seconds": TARGET_SECONDS,
        "within_target": seconds < TARGET_SECONDS,
        "polars_runs": [round(t, 4) for t in polars_times],
        "duckdb_seconds": round(statistics.median(duck_times), 4),
        "duckdb_runs": [round(t, 4) for t in duck_times],
        "domain_python_seconds": round(domain_seconds, 4),
        "projected_accounts_read": read_count,
        "projected_read_seconds": round(read_seconds, 4),
        "read_plus_compute_seconds": round(read_seconds + seconds, 4),
        "positions_per_second": round(n / seconds),
        "financed_tco2": str(Decimal(book.financed_micro).scaleb(-6)),
        "intensity_tco2_per_mcny": None
        if book.intensity_micro is None
        else str(Decimal(book.intensity_micro).scaleb(-6)),
        "weighted_pcaf_score": None
        if book.weighted_score_centi is None
        else str(Decimal(book.weighted_score_centi).scaleb(-2)),
        "covered": book.covered,
        "duckdb_equal": mismatches == 0 and duck_total["financed_micro"] == book.financed_micro,
        "domain_equal": domain_total == book.financed_micro,
        "position_mismatches": mismatches,
        "build_seconds": round(build_seconds, 2),
        **repricing,
    }
    print(json.dumps(out))
    return 0 if out["duckdb_equal"] and out["domain_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
