"""Vectorised bulk generation of a synthetic region for benchmarks.

Writes the ingest Parquet contract directly (numpy -> polars -> Parquet),
chunk by chunk (chunks of all months in parallel processes), so memory stays
bounded by one chunk per process (default 2,000 enterprises x
one month of 15-minute readings ~ 6 M rows):

    {root}/readings/month=YYYY-MM/part-NNNNN.parquet   (+ part-corrections.parquet)
    {root}/invoices/month=YYYY-MM/part-NNNNN.parquet

Files follow the raw-data contract (carbon_ingest.rawdata: schemas, write
options, footer index): reading files are sorted by (uscc, meter_id,
energy_type, ts) with the readings footer index (one segment per meter), as
ingest-energy writes them. Enterprises are numbered in uscc order so the files
are sorted by uscc too.

Readings carry a small share of flagged rows and of corrections (same
meter_id and ts, higher seq, different wh) so consumers exercise both rules.
Invoices: a purchase line for electricity (close to the metered energy),
natural gas / diesel for some enterprises, one non-energy purchase aggregate,
sales lines, and occasional red-letter reversals (negative amount and quantity).
`root/complete.json` marks a finished, reusable data set.
"""

from __future__ import annotations

import calendar
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from carbon_ingest import rawdata

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
PROVINCES = ("330000", "320000", "130000", "440000", "510000", "370000", "340000", "410000")
INDUSTRIES = ("C2611", "C3011", "C1713", "C3311", "C2211", "C3130")
INTERVAL = 900
FORMAT = "v2"  # v2: sorted files with the readings footer index (older caches are regenerated)


@dataclass(frozen=True)
class BulkParams:
    enterprises: int = 49_000
    year: int = 2024
    months: int = 12
    chunk: int = 2_000
    seed: int = 20240101
    correction_rate: float = 1e-5
    flag_rate: float = 1e-4

    def key(self) -> str:
        return FORMAT + "-e{enterprises}-y{year}-m{months}-c{chunk}-s{seed}-r{correction_rate}-f{flag_rate}".format(
            **asdict(self)
        )

    def month_names(self) -> list[str]:
        return [f"{self.year}-{m:02d}" for m in range(1, self.months + 1)]


def uscc(index: int, province: str) -> str:
    first = f"91{province}{index:09d}"
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first, USCC_WEIGHTS, strict=True))
    return first + USCC_ALPHABET[(31 - total % 31) % 31]


def enterprises(params: BulkParams) -> pl.DataFrame:
    """Master data of the synthetic region (uscc, province, industry, size)."""
    rng = np.random.default_rng(params.seed)
    n = params.enterprises
    provinces = [PROVINCES[i % len(PROVINCES)] for i in range(n)]
    frame = pl.DataFrame(
        {
            "uscc": [uscc(i, provinces[i]) for i in range(n)],
            "meter_id": [f"m{i:07d}e" for i in range(n)],
            "province_code": provinces,
            "industry_code": [INDUSTRIES[(i * 7) % len(INDUSTRIES)] for i in range(n)],
            # mean electric load in kW, lognormal: a few large plants, many small ones
            "load_kw": rng.lognormal(mean=4.0, sigma=1.2, size=n).round(1),
            "gas": rng.random(n) < 0.3,
            "diesel": rng.random(n) < 0.2,
        }
    )
    # chunks (and so the reading files) in uscc order
    return frame.sort("uscc")


def _month_start(month: str) -> int:
    return int(datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=UTC).timestamp())


def index_metadata(segments: pl.DataFrame, deduped: bool = False) -> dict[str, str]:
    """Footer entry of a sorted readings file (the contract's codec)."""
    return {rawdata.INDEX_KEY: rawdata.index_document(segments, deduped=deduped).footer()}


def sorted_segments(frame: pl.DataFrame, gap: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(frame sorted by key and ts, its index segments), by the ingestion writer's own rule."""
    ordered = frame.sort([*rawdata.INDEX_KEYS, "ts", "seq"], maintain_order=True)
    return ordered, rawdata.index_segments(ordered, gap)


def write_readings(frame: pl.DataFrame, segments: pl.DataFrame, path: Path) -> None:
    rawdata.write_options(rawdata.index_document(segments)).write(rawdata.conform(frame, rawdata.READINGS), path)


def write_invoices(frame: pl.DataFrame, path: Path) -> None:
    rawdata.write_options(None).write(rawdata.conform(frame, rawdata.INVOICES), path)


def _readings_chunk(
    rng: np.random.Generator, master: pl.DataFrame, month: str, params: BulkParams
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None, np.ndarray]:
    """(readings, their segments, corrections, monthly kWh per enterprise) of one chunk."""
    e = master.height
    slots = calendar.monthrange(int(month[:4]), int(month[5:7]))[1] * 86400 // INTERVAL
    n = e * slots
    slot = np.arange(slots, dtype=np.int64)
    # Daily shape: higher in working hours.
    hour = (slot % 96) / 4.0
    shape = (0.6 + 0.5 * np.exp(-((hour - 13.0) ** 2) / 18.0)).astype(np.float32)
    base_wh = master["load_kw"].to_numpy().astype(np.float32) * 250.0  # kW x 0.25 h x 1000
    noise = rng.random(n, dtype=np.float32) * np.float32(0.4) + np.float32(0.8)
    noise *= np.tile(shape, e)
    noise *= np.repeat(base_wh, slots)
    wh = noise.astype(np.int64)
    del noise
    start = _month_start(month)
    ts = np.tile(slot * INTERVAL + start, e)
    index = pl.Series(np.repeat(np.arange(e, dtype=np.uint32), slots))
    flag_mask = rng.random(n, dtype=np.float32) < params.flag_rate
    frame = pl.DataFrame(
        {
            "uscc": master["uscc"].gather(index),
            "meter_id": master["meter_id"].gather(index),
            "energy_type": pl.Series(["electricity"]).new_from_index(0, n),
            "ts": ts,
            "wh": wh,
            "seq": pl.Series([1], dtype=pl.Int64).new_from_index(0, n),
            "flag": pl.select(
                pl.when(pl.Series(flag_mask)).then(pl.lit("estimated")).otherwise(pl.lit(None, pl.Utf8))
            ).to_series(),
        }
    )
    segments = master.select("uscc", "meter_id").with_columns(
        pl.lit("electricity").alias("energy_type"),
        pl.lit(slots, pl.Int64).alias("rows"),
        pl.lit(start, pl.Int64).alias("min_ts"),
        pl.lit(start + (slots - 1) * INTERVAL, pl.Int64).alias("max_ts"),
        pl.lit(1, pl.Int8).alias("unique"),
        pl.Series(flag_mask.reshape(e, slots).sum(axis=1).astype(np.int64)).alias("flagged"),
    )
    monthly_kwh = wh.reshape(e, slots).sum(axis=1) / 1000.0
    corrections = None
    k = int(n * params.correction_rate)
    if k:
        rows = rng.choice(n, size=k, replace=False)
        picked = frame[rows]
        corrections = picked.with_columns(
            (pl.col("wh") + pl.Series(rng.integers(-500, 500, size=k))).clip(0).alias("wh"),
            pl.lit(2, pl.Int64).alias("seq"),
            pl.lit(None, pl.Utf8).alias("flag"),
        )
    return frame, segments, corrections, monthly_kwh


def _invoices_chunk(
    rng: np.random.Generator, master: pl.DataFrame, month: str, monthly_kwh: np.ndarray, chunk_index: int
) -> pl.DataFrame:
    e = master.height
    issue = _month_start(month) + 20 * 86400
    cols: dict[str, list[pl.Series]] = {}
    parts: list[pl.DataFrame] = []

    def block(
        mask: np.ndarray,
        tag: str,
        direction: str,
        energy: str | None,
        qty_micro: np.ndarray | None,
        unit: str,
        amount_cents: np.ndarray,
        tax_cents: np.ndarray,
        red: bool = False,
    ) -> None:
        idx = np.nonzero(mask)[0]
        if not idx.size:
            return
        m = idx.size
        numbers = [f"{month.replace('-', '')}{chunk_index:04d}{tag}{i:06d}" for i in idx]
        parts.append(
            pl.DataFrame(
                {
                    "uscc": master["uscc"].gather(pl.Series(idx.astype(np.uint32))),
                    "invoice_number": numbers,
                    "line_number": np.ones(m, dtype=np.int32),
                    "issue_time": np.full(m, issue, dtype=np.int64),
                    "direction": [direction] * m,
                    "energy_type": pl.Series([energy] * m, dtype=pl.Utf8),
                    "quantity": (
                        pl.Series(qty_micro[idx]).cast(pl.Decimal(38, 6)) / 1_000_000
                        if qty_micro is not None
                        else pl.Series([None] * m, dtype=pl.Decimal(38, 6))
                    ),
                    "unit": [unit] * m,
                    "amount_cny": (pl.Series(amount_cents[idx]).cast(pl.Decimal(38, 2)) / 100).cast(pl.Decimal(38, 2)),
                    "tax_cny": (pl.Series(tax_cents[idx]).cast(pl.Decimal(38, 2)) / 100).cast(pl.Decimal(38, 2)),
                    "red_letter": np.full(m, red),
                    "original_invoice_number": pl.Series(
                        [n.replace(tag, "E") for n in numbers] if red else [None] * m, dtype=pl.Utf8
                    ),
                    "tax_code": pl.Series([None] * m, dtype=pl.Utf8),
                    "seq": np.ones(m, dtype=np.int64),
                }
            ).with_columns(pl.col("quantity").cast(pl.Decimal(38, 6)))
        )

    everyone = np.ones(e, dtype=bool)
    kwh_inv = monthly_kwh * (1 + rng.normal(0, 0.02, e))
    elec_micro = (kwh_inv * 1_000_000).astype(np.int64)
    elec_cents = (kwh_inv * 65).astype(np.int64)  # 0.65 CNY/kWh
    block(everyone, "E", "purchase", "electricity", elec_micro, "kWh", elec_cents, elec_cents * 13 // 100)
    red = rng.random(e) < 0.02
    block(
        red,
        "R",
        "purchase",
        "electricity",
        -elec_micro // 10,
        "kWh",
        -elec_cents // 10,
        -(elec_cents * 13 // 100) // 10,
        red=True,
    )
    gas_m3 = (monthly_kwh * 0.05 * 1_000_000).astype(np.int64)
    block(
        master["gas"].to_numpy(),
        "G",
        "purchase",
        "natural_gas",
        gas_m3,
        "m3",
        gas_m3 // 285_714,
        gas_m3 // 285_714 * 9 // 100,
    )
    diesel_t = (monthly_kwh * 0.0002 * 1_000_000).astype(np.int64)
    block(
        master["diesel"].to_numpy(),
        "D",
        "purchase",
        "diesel",
        diesel_t,
        "t",
        diesel_t // 125,
        diesel_t // 125 * 13 // 100,
    )
    other = (monthly_kwh * 4 * 100).astype(np.int64)
    block(everyone, "N", "purchase", "non_energy", None, "", other, other * 13 // 100)
    sales = (monthly_kwh * 12 * 100).astype(np.int64)
    block(everyone, "S", "sale", None, None, "", sales, sales * 13 // 100)
    del cols
    return pl.concat(parts)


def _generate_chunk(
    root: Path, part: pl.DataFrame, params: BulkParams, month_no: int, chunk_index: int
) -> tuple[int, pl.DataFrame | None]:
    """One chunk's reading and invoice files of one month; returns (readings, corrections)."""
    month = params.month_names()[month_no]
    rdir = root / rawdata.READINGS / rawdata.month_dirname(month)
    idir = root / rawdata.INVOICES / rawdata.month_dirname(month)
    rdir.mkdir(parents=True, exist_ok=True)
    idir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([params.seed, month_no, chunk_index])
    frame, segments, fixes, monthly_kwh = _readings_chunk(rng, part, month, params)
    write_readings(frame, segments, rdir / f"part-{chunk_index:05d}.parquet")
    rows = frame.height
    del frame
    write_invoices(
        _invoices_chunk(rng, part, month, monthly_kwh, chunk_index), idir / f"part-{chunk_index:05d}.parquet"
    )
    return rows, fixes


def _write_corrections(root: Path, month: str, corrections: list[pl.DataFrame]) -> int:
    if not corrections:
        return 0
    fixes_frame, segments = sorted_segments(pl.concat(corrections))
    write_readings(
        fixes_frame, segments, root / rawdata.READINGS / rawdata.month_dirname(month) / "part-corrections.parquet"
    )
    return fixes_frame.height


def generate(root: Path, params: BulkParams, log: bool = True, workers: int | None = None) -> dict[str, object]:
    """Generate (or reuse) the data set under root; returns the manifest.

    Chunks (of every month) are generated in parallel processes (default: one
    per core); each process holds one chunk at a time. Needs the caller's
    `if __name__ == "__main__":` guard when workers > 1 (spawned processes).
    """
    root = Path(root)
    marker = root / "complete.json"
    if marker.exists():
        manifest: dict[str, object] = json.loads(marker.read_text())
        if manifest.get("params") == asdict(params):
            manifest["reused"] = True
            return manifest
    started = time.monotonic()
    master = enterprises(params)
    root.mkdir(parents=True, exist_ok=True)
    master.write_parquet(root / "enterprises.parquet")
    months = params.month_names()
    starts = list(range(0, params.enterprises, params.chunk))
    tasks = [(m, c) for m in range(len(months)) for c in range(len(starts))]
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    readings = corrections_total = 0
    pending = {m: len(starts) for m in range(len(months))}
    fixes: dict[int, list[pl.DataFrame]] = {m: [] for m in range(len(months))}

    def done(month_no: int, rows: int, chunk_fixes: pl.DataFrame | None) -> None:
        nonlocal readings, corrections_total
        readings += rows
        if chunk_fixes is not None:
            fixes[month_no].append(chunk_fixes)
        pending[month_no] -= 1
        if pending[month_no] == 0:
            fixed = _write_corrections(root, months[month_no], fixes.pop(month_no))
            readings += fixed
            corrections_total += fixed
            if log:
                elapsed = time.monotonic() - started
                print(f"  generated {months[month_no]}: {readings:,} readings so far ({elapsed:.0f} s)", flush=True)

    if workers == 1:
        for m, c in tasks:
            done(m, *_generate_chunk(root, master.slice(starts[c], params.chunk), params, m, c))
    else:
        # spawn: polars' thread pool does not survive fork; one polars thread per process.
        # Chunks of all months are spread over the processes (a single month uses every core too).
        previous = os.environ.get("POLARS_MAX_THREADS")
        os.environ["POLARS_MAX_THREADS"] = "1"
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [
                    (m, pool.submit(_generate_chunk, root, master.slice(starts[c], params.chunk), params, m, c))
                    for m, c in tasks
                ]
                for m, future in futures:
                    done(m, *future.result())
        finally:
            if previous is None:
                os.environ.pop("POLARS_MAX_THREADS", None)
            else:
                os.environ["POLARS_MAX_THREADS"] = previous
    manifest = {
        "params": asdict(params),
        "format": FORMAT,
        "readings_rows": readings,
        "corrections": corrections_total,
        "generate_seconds": round(time.monotonic() - started, 1),
        "reused": False,
    }
    marker.write_text(json.dumps(manifest))
    return manifest
