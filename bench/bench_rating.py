"""Re-rating 49,000 enterprises under a new scheme version (the government preview) with polars.

Builds a seeded synthetic population (49,000 enterprises x 3 years, not timed),
then times `vectorised.preview(active v1, draft v2)`: benchmarks for both
versions, grading every enterprise twice and the before/after comparison.
Also re-rates a sample through the per-enterprise path and checks the grades
are identical. Last line: one JSON object. Target: preview under 1 second.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import polars as pl
from carbon_rating import scheme as sc
from carbon_rating.benchmarks import build_table
from carbon_rating.builtin import builtin_documents
from carbon_rating.model import Row
from carbon_rating.synthetic import population
from carbon_rating.vectorised import benchmark_metrics, grade_frame, preview

ENTERPRISES = 49_000
RUNS = 5
TARGET_SECONDS = 1.0


def main() -> int:
    started = time.perf_counter()
    frame = population(ENTERPRISES, seed=2024)
    build_seconds = time.perf_counter() - started

    results = {}
    for scheme_id, edit in (
        ("zhejiang-carbon-efficiency", lambda d: d["grading"]["bands"][2].update(value="1.0")),
        ("quzhou-four-colour", lambda d: d["grading"]["rules"][0]["all"][2].update(value="0.03")),
        ("shenzhen-aaa", lambda d: d["grading"]["cutoffs"][0].update(value="85")),
    ):
        old_doc = builtin_documents()[scheme_id]
        new_doc = builtin_documents()[scheme_id]
        edit(new_doc)
        new_doc["version"] = "2"
        old, new = sc.compile_scheme(old_doc), sc.compile_scheme(new_doc)
        timings: list[float] = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            outcome = preview(old, new, frame)
            timings.append(time.perf_counter() - t0)

        # identical grades on a sample through the per-enterprise path
        table = build_table(frame, new.benchmark, benchmark_metrics(new))
        fast = dict(grade_frame(new, frame, "2023", table=table).select("uscc", "grade").iter_rows())
        sample = frame.filter(pl.col("uscc").is_in(sorted(fast)[:: ENTERPRISES // 2000]))
        by_uscc: dict[str, dict[str, Row]] = {}
        for record in sample.select(list(Row.__dataclass_fields__)).iter_rows(named=True):
            by_uscc.setdefault(record["uscc"], {})[record["period"]] = Row(**record)
        mismatches = sum(
            sc.evaluate(new, rows["2023"], rows, table).grade != fast[u]
            for u, rows in by_uscc.items()
            if "2023" in rows
        )
        results[scheme_id] = {
            "preview_seconds_median": round(statistics.median(timings), 4),
            "preview_seconds_best": round(min(timings), 4),
            "enterprises": outcome.total,
            "moved": outcome.moved,
            "sample_checked": len(by_uscc),
            "sample_mismatches": mismatches,
        }
        print(f"{scheme_id}: {results[scheme_id]}", file=sys.stderr)

    worst = max(r["preview_seconds_median"] for r in results.values())
    ok = worst < TARGET_SECONDS and all(r["sample_mismatches"] == 0 for r in results.values())
    print(
        json.dumps(
            {
                "bench": "rating_preview",
                "enterprises": ENTERPRISES,
                "periods": 3,
                "population_build_seconds": round(build_seconds, 2),
                "worst_preview_seconds_median": worst,
                "target_seconds": TARGET_SECONDS,
                "ok": ok,
                "schemes": results,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
