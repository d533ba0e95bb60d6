"""Under a live feed (one file per window) the files a month's recompute opens stay bounded:
tiered compaction merges the small files and leaves large ones as they are."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from carbon_accounting import activity
from carbon_ingest.common import compaction_worker
from carbon_ingest_energy.servicer import EnergyIngestion

from tests.ingest.helpers import winning_readings
from tests.ingest.test_energy import T0, Q, batch, meter, stream, svc  # noqa: F401  (fixture)

MIN_FILES = 8
LARGE_ROWS = 2000
WINDOWS = 120


def month_files(tmp_path: Path) -> list[str]:
    """What accounting's recompute of the month lists and opens."""
    return activity.month_files(tmp_path, "readings", "2024-03")


def test_files_per_month_stay_bounded_while_windows_arrive(svc: EnergyIngestion, tmp_path: Path) -> None:  # noqa: F811
    name = meter(svc)
    # a month already holding a large file (a bulk load or an earlier tier)
    stream(svc, batch(name, "bulk", [T0 + i * Q for i in range(LARGE_ROWS)], [7] * LARGE_ROWS))
    (large,) = month_files(tmp_path)
    large_stat = Path(large).stat()
    bound = 1 + MIN_FILES - 1  # the large file + fewer than MIN_FILES small ones after each compaction
    most = 0
    for w in range(WINDOWS):
        # the live feed: each stream is one window, written as one new file; a correction now and then
        ts = T0 + (LARGE_ROWS + w) * Q if w % 10 else T0 + w * Q
        stream(svc, batch(name, f"live-{w}", [ts], [100 + w]))
        assert len(month_files(tmp_path)) <= bound + 1  # + the window just written
        svc.store.compact(MIN_FILES, LARGE_ROWS)  # a compaction tick, as the worker runs it
        most = max(most, len(month_files(tmp_path)))
        assert most <= bound, month_files(tmp_path)
    assert most == bound  # the bound was reached (and held), not trivially met
    # the large file was never rewritten for the few new readings
    assert Path(large).exists() and Path(large).stat().st_ino == large_stat.st_ino
    # and nothing was lost or counted twice: corrections (higher seq) win, across tiers too
    expected = {T0 + i * Q: 7 for i in range(LARGE_ROWS)}
    for w in range(WINDOWS):
        expected[T0 + (LARGE_ROWS + w) * Q if w % 10 else T0 + w * Q] = 100 + w
    winners = winning_readings(tmp_path)
    assert dict(zip(winners["ts"].to_list(), winners["wh"].to_list(), strict=True)) == expected
    totals = activity.aggregate_month_files(month_files(tmp_path))
    assert totals["wh"].to_list() == [sum(expected.values())]


def test_the_compaction_worker_triggers_under_a_feed(svc: EnergyIngestion, tmp_path: Path) -> None:  # noqa: F811
    name = meter(svc)
    stopping = threading.Event()
    worker = threading.Thread(
        target=compaction_worker(lambda: svc.store.compact(MIN_FILES, LARGE_ROWS), 0.05, "compaction"),
        args=(stopping,),
    )
    worker.start()
    try:
        w = 0
        deadline = time.monotonic() + 120
        # feed windows until the worker has merged some (a compact file appears)
        while not any(Path(f).name.startswith("compact-") for f in month_files(tmp_path)):
            assert time.monotonic() < deadline, "the compaction worker never merged the window files"
            stream(svc, batch(name, f"live-{w}", [T0 + w * Q], [10]))
            w += 1
    finally:
        stopping.set()
        worker.join(30)
    assert w >= MIN_FILES
    winners = winning_readings(tmp_path)
    assert winners.height == w and winners["wh"].sum() == 10 * w
