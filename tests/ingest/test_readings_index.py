"""parquet_io's readings index: sorted segments in the footer, kept by compaction and erasure,
and read by accounting's fast path with the same totals as the plan-free algorithm."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
from carbon_accounting import activity
from carbon_common.redis_conn import connect
from carbon_ingest import parquet_io, rawdata
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = 1_709_222_400  # 2024-02-29T16:00:00Z


def index_of(path: Path) -> dict:
    return json.loads(pl.read_parquet_metadata(path)[rawdata.INDEX_KEY])


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=rawdata.READINGS_SCHEMA, orient="row")


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


def test_compaction_and_erasure_keep_the_index(tmp_path: Path, redis_url: str) -> None:
    ledger = parquet_io.Ledger(connect(redis_url), tmp_path)
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
            ledger, directory, keys=["uscc", "meter_id", "ts"], sort=["uscc", "meter_id", "ts"], index=True
        )
        == 4
    )
    (compact,) = parquet_io.data_files(directory)
    assert index_of(compact)["deduped"] is True
    after = activity.aggregate_month_files([str(compact)])
    assert activity.plan_readings([str(compact)]).windows.is_empty()
    assert after.drop("duplicates").equals(before.drop("duplicates"))
    assert after["duplicates"].sum() == 0

    counts = parquet_io.erase_enterprise(ledger, "U2")
    assert counts.rows_deleted == 10 and counts.files_rewritten == 1
    (compact,) = parquet_io.data_files(directory)  # rewritten under a new name: files are immutable
    index = index_of(compact)
    assert index["segments"]["uscc"] == ["U1"] and index["rows"] == 96
    assert activity.aggregate_month_files([str(compact)]).equals(plan_free([compact]))


def sort_path_index(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """The index the general (sorting) path builds for the same rows."""
    ordered = frame.sort("uscc", "meter_id", "energy_type", "ts", "seq", maintain_order=True)
    return ordered, rawdata.index_segments(ordered).to_dict(as_series=False)


@given(
    meters=st.lists(
        st.tuples(
            st.sampled_from(["U1", "U2", "U10"]),
            st.sampled_from(["m1", "m2"]),
            st.sampled_from(["electricity", "natural_gas"]),
            st.lists(st.integers(0, 4000), min_size=1, max_size=40, unique=True),  # slot numbers
            st.integers(0, 3),  # every n-th row flagged (0: none)
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda m: m[:3],
    )
)
@settings(max_examples=200, deadline=None)
def test_presorted_windows_get_the_index_the_sorting_path_builds(meters: list) -> None:
    """A window's file (runs of one key each, ts ascending, keys ascending) is indexed without
    sorting, and exactly as the general path would; rows in any other shape fall back."""
    meters = sorted(meters, key=lambda m: m[:3])
    rows, runs = [], []
    for uscc, meter_id, energy, slots, every in meters:
        ts = sorted(T0 + 900 * s for s in slots)  # gaps up to 1000 h: some runs split into segments
        rows += [
            (uscc, meter_id, energy, t, 1, 7, "SPIKE" if every and i % every == 0 else None) for i, t in enumerate(ts)
        ]
        runs.append(len(ts))
    window = frame(rows)
    ordered, index = rawdata.readings_index(window, runs=runs)
    assert ordered is window  # no sort: the rows are written as built
    expected_rows, expected = sort_path_index(window)
    assert ordered.equals(expected_rows) and index.segments == expected
    assert index.rows == window.height and all(index.segments["unique"])

    # not presorted: the fast path declines and the general path sorts
    shuffled = window.sample(fraction=1.0, shuffle=True, seed=1)
    if not shuffled.equals(window):
        assert rawdata.presorted_segments(shuffled, runs) is None or shuffled.equals(expected_rows)
    repeated = pl.concat([window, window.head(1)])
    assert rawdata.presorted_segments(repeated, [*runs[:-1], runs[-1] + 1]) is None
    assert rawdata.readings_index(repeated)[1].segments == sort_path_index(repeated)[1]
    if len(runs) > 1:
        assert rawdata.presorted_segments(window, [window.height]) is None  # one run, several keys
        assert rawdata.presorted_segments(window.reverse(), None) is None


def test_a_windows_file_lists_each_meter_as_its_own_segments(tmp_path: Path) -> None:
    rows = [("U1", "m1", "electricity", T0 + i * 900, 5, 1, None) for i in range(4)]
    rows += [("U1", "m2", "electricity", T0 + i * 900, 6, 2, "SPIKE" if i == 0 else None) for i in (0, 1, 100)]
    path = tmp_path / "month=2024-03" / "w.parquet"
    parquet_io.write_many([parquet_io.Part(frame(rows), path, [4, 3])], tmp_path, index=True)
    segments = index_of(path)["segments"]
    assert segments["meter_id"] == ["m1", "m2", "m2"] and segments["rows"] == [4, 2, 1]
    assert segments["min_ts"] == [T0, T0, T0 + 90_000] and segments["flagged"] == [0, 1, 0]
    assert activity.aggregate_month_files([str(path)]).equals(plan_free([path]))
