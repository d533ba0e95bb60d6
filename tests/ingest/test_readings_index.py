"""parquet_io's readings index: sorted segments in the footer, kept by compaction and erasure,
and read by accounting's fast path with the same totals as the plan-free algorithm."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
from carbon_accounting import activity
from carbon_ingest import parquet_io
from carbon_ingest_energy.store import SCHEMA

T0 = 1_709_222_400  # 2024-02-29T16:00:00Z


def index_of(path: Path) -> dict:
    return json.loads(pl.read_parquet_metadata(path)[parquet_io.READINGS_INDEX_KEY])


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def plan_free(files: list[Path]) -> pl.DataFrame:
    return activity.aggregate_readings(pl.scan_parquet([str(f) for f in files]).select(activity.READING_COLUMNS))


def test_index_describes_the_sorted_rows(tmp_path: Path) -> None:
    rows = [("U2", "m1", "electricity", T0 + i * 900, i, 1, None) for i in range(5)]
    rows += [("U1", "m9", "electricity", T0 + i * 900, 7, 1, "SPIKE" if i == 2 else None) for i in range(3)]
    rows += [("U1", "m9", "electricity", T0 + 86_400, 7, 1, None)]  # a day later: a second segment
    rows += [("U1", "m9", "electricity", T0, 8, 1, None)]  # the same ts again in this file
    random.Random(3).shuffle(rows)
    path = tmp_path / "month=2024-03" / "x.parquet"
    parquet_io.write_atomic(frame(rows), path, index=True)
    written = pl.read_parquet(path)
    assert written.equals(written.sort("uscc", "meter_id", "energy_type", "ts", "seq"))
    index = index_of(path)
    assert index["version"] == 1 and index["rows"] == written.height == 10 and not index["deduped"]
    segments = index["segments"]
    assert segments["uscc"] == ["U1", "U1", "U2"] and segments["rows"] == [4, 1, 5]
    assert segments["min_ts"] == [T0, T0 + 86_400, T0] and segments["max_ts"] == [T0 + 1800, T0 + 86_400, T0 + 3600]
    assert segments["unique"] == [0, 1, 1] and segments["flagged"] == [1, 0, 0]
    assert activity.aggregate_month_files([str(path)]).equals(plan_free([path]))


def test_compaction_and_erasure_keep_the_index(tmp_path: Path) -> None:
    directory = tmp_path / "month=2024-03"
    batches = [
        [("U1", "m1", "electricity", T0 + i * 900, 100, 1, None) for i in range(96)],
        [("U1", "m1", "electricity", T0 + 5 * 900, 300, 2, None)],  # correction
        [("U2", "m1", "electricity", T0 + i * 900, 50, 3, None) for i in range(10)],
        [("U1", "m1", "electricity", T0 + 6 * 900, 100, 4, None)],  # verbatim re-send
    ]
    parquet_io.write_many(
        [(frame(b), directory / f"b{i}.parquet") for i, b in enumerate(batches)], tmp_path, index=True
    )
    files = parquet_io.data_files(directory)
    before = activity.aggregate_month_files([str(f) for f in files])
    assert before.equals(plan_free(files))
    assert before.filter(pl.col("uscc") == "U1")["duplicates"].item() == 2
    plan = activity.plan_readings([str(f) for f in files])
    assert plan.windows.height == 2 and plan.fast

    assert (
        parquet_io.compact_month(
            directory, keys=["uscc", "meter_id", "ts"], sort=["uscc", "meter_id", "ts"], index=True
        )
        == 4
    )
    (compact,) = parquet_io.data_files(directory)
    assert index_of(compact)["deduped"] is True
    after = activity.aggregate_month_files([str(compact)])
    assert activity.plan_readings([str(compact)]).windows.is_empty()
    assert after.drop("duplicates").equals(before.drop("duplicates"))
    assert after["duplicates"].sum() == 0

    counts = parquet_io.erase_enterprise(tmp_path, "U2")
    assert counts.rows_deleted == 10 and counts.files_rewritten == 1
    index = index_of(compact)
    assert index["segments"]["uscc"] == ["U1"] and index["rows"] == 96
    assert activity.aggregate_month_files([str(compact)]).equals(plan_free([compact]))
