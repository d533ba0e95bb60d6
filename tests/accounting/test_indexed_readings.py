"""The indexed fast path (activity.aggregate_month_files) against a naive exact reference.

Files are written the way ingest-energy writes them (carbon_ingest.parquet_io with
the readings footer index), the way the benchmark generator writes them, and as
plain Parquet without an index, mixed in one month: overlapping files, corrections
(higher seq), verbatim re-sends, duplicates inside one file, flagged rows, sparse
meters (segments split at gaps), the same meter_id under two enterprises.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from carbon_accounting import activity
from carbon_ingest import parquet_io, rawdata
from carbon_synth import bulk
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accounting.parquet_data import READINGS_SCHEMA, month_start

METERS = [
    ("A", "m1", "electricity"),
    ("A", "m2", "electricity"),
    ("A", "m3", "natural_gas"),
    ("B", "m1", "electricity"),  # same meter_id, other enterprise
    ("C", "m7", "electricity"),  # {A, C} skips B's rows: two slices of one file
]


def naive(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Drop flagged rows, then per (uscc, energy, meter, ts) the max (seq, wh) row; totals per (uscc, energy)."""
    best: dict[tuple[str, str, str, int], tuple[int, int]] = {}
    valid: dict[tuple[str, str], int] = {}
    flagged: dict[tuple[str, str], int] = {}
    for frame in frames:
        for uscc, meter, energy, ts, wh, seq, flag in frame.iter_rows():
            group = (uscc, energy)
            valid.setdefault(group, 0)
            flagged.setdefault(group, 0)
            if flag is not None:
                flagged[group] += 1
                continue
            valid[group] += 1
            key = (uscc, energy, meter, ts)
            if key not in best or (seq, wh) > best[key]:
                best[key] = (seq, wh)
    totals: dict[tuple[str, str], list] = {g: [0, 0, set()] for g in valid}
    for (uscc, energy, meter, _ts), (_seq, wh) in best.items():
        entry = totals[(uscc, energy)]
        entry[0] += wh
        entry[1] += 1
        entry[2].add(meter)
    rows = [
        (u, e, wh, n, flagged[(u, e)], valid[(u, e)] - n, len(ms), sorted(ms)) for (u, e), (wh, n, ms) in totals.items()
    ]
    return pl.DataFrame(
        rows,
        schema={
            "uscc": pl.String,
            "energy_type": pl.String,
            "wh": pl.Int64,
            "readings": pl.Int64,
            "flagged": pl.Int64,
            "duplicates": pl.Int64,
            "meters": pl.UInt32,
            "meter_ids": pl.List(pl.String),
        },
        orient="row",
    ).sort("uscc", "energy_type")


def random_file(rng: random.Random, start: int, dup_share: float, flag_share: float) -> pl.DataFrame:
    rows = []
    for uscc, meter, energy in rng.sample(METERS, rng.randint(1, len(METERS))):
        sparse = rng.random() < 0.3  # gaps of many hours -> several segments per meter
        first = rng.randrange(0, 150)
        count = rng.randint(1, 60)
        slots = sorted(rng.sample(range(first, first + (2000 if sparse else 120)), count))
        for slot in slots:
            ts = start + slot * 900 + rng.choice([0, 0, 0, 0, 17])  # a few unaligned timestamps
            seq = rng.randint(1, 3)
            flag = "SPIKE" if rng.random() < flag_share else None
            rows.append((uscc, meter, energy, ts, rng.randrange(0, 5000), seq, flag))
            if rng.random() < dup_share:  # a duplicate of the same (meter, ts) inside this file
                rows.append((uscc, meter, energy, ts, rng.randrange(0, 5000), rng.randint(1, 3), None))
    rng.shuffle(rows)
    return pl.DataFrame(rows, schema=READINGS_SCHEMA, orient="row")


def write(frame: pl.DataFrame, path: Path, how: str) -> None:
    if how == "ingest":
        parquet_io.write_atomic(frame, path, index=True)
    elif how == "bulk":
        ordered, segments = bulk.sorted_segments(frame)
        bulk.write_readings(ordered, segments, path)
    else:
        frame.write_parquet(path)


def check(files: list[str], want: pl.DataFrame) -> None:
    for workers in (1, 2):
        got = activity.aggregate_month_files(files, workers=workers)
        assert got.equals(want), (workers, got, want)
    # a micro-batch's enterprises only (their indexed segments): exactly their rows of the whole
    for subset in ({"A"}, {"B"}, {"A", "C"}, {"Z"}):
        part = activity.aggregate_month_files(files, usccs=subset)
        assert part.equals(want.filter(pl.col("uscc").is_in(sorted(subset)))), (subset, part)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 5),
    st.floats(0, 0.3),
    st.floats(0, 0.3),
    st.sampled_from(["ingest", "bulk", "mixed"]),
    st.integers(3, 50),
)
def test_fast_path_equals_naive(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    nfiles: int,
    dup_share: float,
    flag_share: float,
    layout: str,
    chunk_rows: int,
) -> None:
    rng = random.Random(seed)
    directory = tmp_path_factory.mktemp("month")
    start = month_start("2024-01")
    frames, files = [], []
    for i in range(nfiles):
        frame = random_file(rng, start, dup_share, flag_share)
        how = layout if layout != "mixed" else rng.choice(["ingest", "bulk", "plain"])
        path = directory / f"f{i}.parquet"
        write(frame, path, how)
        frames.append(frame)
        files.append(str(path))
    want = naive(frames)
    original = activity.CHUNK_ROWS
    try:
        activity.CHUNK_ROWS = chunk_rows  # several read tasks per file (sliced reads)
        check(files, want)
        activity.CHUNK_ROWS = original
        check(files, want)
        # the plan-free algorithm agrees as well
        lf = pl.scan_parquet(files).select(activity.READING_COLUMNS)
        assert activity.aggregate_readings(lf).equals(want)
    finally:
        activity.CHUNK_ROWS = original


def test_plan_windows_only_where_files_overlap(new_data_root: Callable[[], Path]) -> None:
    tmp_path = new_data_root()  # footer index read from a local file or an S3 object
    start = month_start("2024-01")
    base = pl.DataFrame(
        [("A", "m1", "electricity", start + i * 900, 1000, 1, None) for i in range(96)]
        + [("A", "m2", "electricity", start + i * 900, 500, 1, None) for i in range(96)],
        schema=READINGS_SCHEMA,
        orient="row",
    )
    fix = pl.DataFrame(
        [
            ("A", "m1", "electricity", start + 10 * 900, 3000, 2, None),  # correction
            ("A", "m1", "electricity", start + 90 * 900, 2000, 2, "SPIKE"),  # flagged correction
        ],
        schema=READINGS_SCHEMA,
        orient="row",
    )
    parquet_io.write_atomic(base, tmp_path / "a.parquet", index=True)
    parquet_io.write_atomic(fix, tmp_path / "b.parquet", index=True)
    files = [parquet_io.location(tmp_path / "a.parquet"), parquet_io.location(tmp_path / "b.parquet")]
    plan = activity.plan_readings(files)
    # the two corrections are > 6 h apart: two segments, two one-point windows; m2 untouched
    assert plan.windows.select("meter_id", "lo", "hi").rows() == [
        ("m1", start + 10 * 900, start + 10 * 900 + 1),
        ("m1", start + 90 * 900, start + 90 * 900 + 1),
    ]
    assert plan.fast and not plan.unindexed and plan.dirty_rows <= 8
    out = activity.aggregate_month_files(files)
    assert out.row(0, named=True) | {"meter_ids": None} == {
        "uscc": "A",
        "energy_type": "electricity",
        "wh": 96 * 1000 + 2000 + 96 * 500,
        "readings": 192,
        "flagged": 1,
        "duplicates": 1,
        "meters": 2,
        "meter_ids": None,
    }
    assert out.equals(naive([base, fix]))


def test_fallback_when_most_rows_are_in_windows(new_data_root: Callable[[], Path]) -> None:
    tmp_path = new_data_root()
    start = month_start("2024-01")
    rows = [("A", "m1", "electricity", start + i * 900, 10, 1, None) for i in range(50)]
    again = [("A", "m1", "electricity", start + i * 900, 20, 2, None) for i in range(50)]
    frames = [pl.DataFrame(r, schema=READINGS_SCHEMA, orient="row") for r in (rows, again)]
    for i, frame in enumerate(frames):
        parquet_io.write_atomic(frame, tmp_path / f"{i}.parquet", index=True)
    files = [parquet_io.location(tmp_path / f"{i}.parquet") for i in range(2)]
    plan = activity.plan_readings(files)
    assert not plan.fast  # everything overlaps: the streaming plan-free algorithm is used
    assert activity.aggregate_month_files(files).equals(naive(frames))


def test_index_of_a_file_that_lies_is_ignored(tmp_path: Path) -> None:
    start = month_start("2024-01")
    frame = pl.DataFrame(
        [("A", "m1", "electricity", start + i * 900, 10, 1, None) for i in range(10)],
        schema=READINGS_SCHEMA,
        orient="row",
    )
    ordered, segments = bulk.sorted_segments(frame)
    # footer claims 9 rows, the file has 10: not trusted, the file is read the plain way
    ordered.write_parquet(
        tmp_path / "x.parquet", metadata=bulk.index_metadata(segments.with_columns(pl.lit(9, pl.Int64).alias("rows")))
    )
    files = [str(tmp_path / "x.parquet")]
    assert rawdata.read_index(files[0]) is None
    assert activity.aggregate_month_files(files).equals(naive([frame]))


def test_bulk_generator_writes_the_ingest_index(tmp_path: Path) -> None:
    params = bulk.BulkParams(enterprises=5, months=1, chunk=5, correction_rate=0.01, flag_rate=0.01)
    master = bulk.enterprises(params)
    rng = np.random.default_rng(1)
    frame, segments, fixes, _kwh = bulk._readings_chunk(rng, master, "2024-02", params)
    ordered, index = rawdata.readings_index(frame)
    assert ordered.equals(frame)  # generated in index order already
    assert pl.DataFrame(index.segments).equals(segments.select(pl.DataFrame(index.segments).columns))
    assert fixes is not None
    fixes_sorted, fix_segments = bulk.sorted_segments(fixes)
    ordered, index = rawdata.readings_index(fixes)
    assert ordered.equals(fixes_sorted)
    assert pl.DataFrame(index.segments).equals(fix_segments)
