"""Domain (pure): reading validation, interval normalisation, register -> interval
conversion (rollover, meter replacement), flags, month partitions, coverage bitmaps.

Everything here is deterministic and vectorised where it is on the hot path
(interval meters); register meters are rarer and converted point by point.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
from carbon_common.errors import invalid_argument

FLAG_NONE = 0
FLAG_NEGATIVE = 1
FLAG_SPIKE = 2
# Slot whose value is unknown after a meter replacement without a final read
# of the old meter: stored so it supersedes an earlier estimate, never used.
FLAG_UNMEASURED = 3
FLAG_NAMES = {FLAG_NEGATIVE: "NEGATIVE", FLAG_SPIKE: "SPIKE", FLAG_UNMEASURED: "UNMEASURED"}

ALLOWED_INTERVALS = (60, 300, 600, 900, 1800, 3600)
MIN_TS = 946684800  # 2000-01-01T00:00:00Z
MAX_ABS_VALUE = 10**15
INT64_LIMIT = 2**62


@dataclass(frozen=True)
class MeterInfo:
    uscc: str
    meter_id: str
    energy_type: str  # lower-case EnergyType name without prefix
    register: bool
    multiplier: Fraction
    time_zone: str
    interval: int
    register_max: int

    @property
    def name(self) -> str:
        return f"enterprises/{self.uscc}/meters/{self.meter_id}"


@dataclass
class Rows:
    """Interval rows of one batch, sorted by ts, one row per slot."""

    ts: np.ndarray  # int64 slot starts
    wh: np.ndarray  # int64
    flag: np.ndarray  # int8 codes

    def __len__(self) -> int:
        return int(self.ts.shape[0])


def validate_columns(
    timestamps: np.ndarray, values: np.ndarray, meter: MeterInfo, now: int, max_future: int, prefix: str
) -> None:
    """Every reading checked; the first offending index is named."""
    if timestamps.shape[0] == 0:
        raise invalid_argument(f"{prefix}timestamps", "must contain at least one reading")
    if timestamps.shape[0] != values.shape[0]:
        raise invalid_argument(
            f"{prefix}values", f"has {values.shape[0]} entries but timestamps has {timestamps.shape[0]}"
        )
    bad = np.flatnonzero((timestamps < MIN_TS) | (timestamps > now + max_future))
    if bad.size:
        i = int(bad[0])
        raise invalid_argument(f"{prefix}timestamps[{i}]", f"{int(timestamps[i])} is before 2000 or in the future")
    bad = np.flatnonzero(timestamps % meter.interval)
    if bad.size:
        i = int(bad[0])
        raise invalid_argument(
            f"{prefix}timestamps[{i}]", f"must be a multiple of the meter's interval ({meter.interval} s)"
        )
    bad = np.flatnonzero(np.abs(values) > MAX_ABS_VALUE)
    if bad.size:
        i = int(bad[0])
        raise invalid_argument(f"{prefix}values[{i}]", f"magnitude above {MAX_ABS_VALUE}")
    if meter.register:
        bad = np.flatnonzero(values < 0)
        if bad.size:
            i = int(bad[0])
            raise invalid_argument(f"{prefix}values[{i}]", "a register read cannot be negative")
        if meter.register_max:
            bad = np.flatnonzero(values > meter.register_max)
            if bad.size:
                i = int(bad[0])
                raise invalid_argument(f"{prefix}values[{i}]", f"above the meter's register_max {meter.register_max}")
    if MAX_ABS_VALUE * meter.multiplier.numerator >= INT64_LIMIT * meter.multiplier.denominator:
        largest = int(np.abs(values).max())
        if largest * meter.multiplier >= INT64_LIMIT:
            raise invalid_argument(f"{prefix}values", "value × multiplier overflows 64-bit watt-hours")


def apply_multiplier(values: np.ndarray, multiplier: Fraction) -> np.ndarray:
    """values × multiplier in exact integer arithmetic, rounded half-even."""
    num, den = multiplier.numerator, multiplier.denominator
    scaled = values.astype(np.int64) * np.int64(num)
    if den == 1:
        return scaled
    q, r = np.divmod(scaled, np.int64(den))  # floor division; r in [0, den)
    twice = 2 * r
    up = (twice > den) | ((twice == den) & (q % 2 == 1))
    rounded: np.ndarray = q + up.astype(np.int64)
    return rounded


def spike_bound_wh(max_power_w: int, interval: int) -> int:
    return max_power_w * interval // 3600


def last_wins(timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort order and the indices of the last occurrence of each timestamp."""
    order = np.argsort(timestamps, kind="stable")
    sorted_ts = timestamps[order]
    if sorted_ts.shape[0] > 1:
        keep = np.empty(sorted_ts.shape[0], dtype=bool)
        keep[:-1] = sorted_ts[1:] != sorted_ts[:-1]
        keep[-1] = True
        order = order[keep]
    return order, timestamps[order]


def interval_rows(timestamps: np.ndarray, values: np.ndarray, meter: MeterInfo, max_power_w: int) -> Rows:
    """Interval meter: within a batch the last reading of a slot wins; flags."""
    if timestamps.shape[0] > 1 and bool(np.all(timestamps[1:] > timestamps[:-1])):
        ts, vals = timestamps, values  # common case: already sorted and unique
    else:
        order, ts = last_wins(timestamps)
        vals = values[order]
    wh = apply_multiplier(vals, meter.multiplier)
    bound = spike_bound_wh(max_power_w, meter.interval)
    flag = np.zeros(ts.shape[0], dtype=np.int8)
    flag[wh > bound] = FLAG_SPIKE
    flag[wh < 0] = FLAG_NEGATIVE
    return Rows(ts=ts, wh=wh, flag=flag)


# ---------------------------------------------------------------- registers


@dataclass
class Point:
    """A register point: `end` closes the segment before it (the reading of the
    register that was running up to ts), `start` opens the segment after it.
    Equal for a normal read; a meter replacement sets `start` to the new
    meter's first read and leaves `end` to a final read of the old meter."""

    end: int | None = None
    start: int | None = None
    replaced: bool = False

    def encode(self) -> bytes:
        end = "" if self.end is None else str(self.end)
        start = "" if self.start is None else str(self.start)
        return f"{end}|{start}|{int(self.replaced)}".encode()

    @classmethod
    def decode(cls, raw: bytes) -> Point:
        end, start, replaced = raw.decode().split("|")
        return cls(int(end) if end else None, int(start) if start else None, replaced == "1")


def merge_reads(
    points: dict[int, Point], timestamps: np.ndarray, values: np.ndarray, replacements: set[int]
) -> set[int]:
    """Merge a batch of register reads into points (order independent per ts:
    a normal read sets end (and start unless replaced), a replacement read
    sets start). Within a batch the last read of each kind at a ts wins.
    Returns the timestamps whose point changed."""
    normal: dict[int, int] = {}
    replacement: dict[int, int] = {}
    for i, (t, v) in enumerate(zip(timestamps.tolist(), values.tolist(), strict=True)):
        (replacement if i in replacements else normal)[t] = v
    changed: set[int] = set()
    for t, v in replacement.items():
        point = points.setdefault(t, Point())
        before = point.encode()
        point.start, point.replaced = v, True
        if point.encode() != before:
            changed.add(t)
    for t, v in normal.items():
        point = points.setdefault(t, Point())
        before = point.encode()
        point.end = v
        if not point.replaced:
            point.start = v
        if point.encode() != before:
            changed.add(t)
    return changed


def register_rows(points: dict[int, Point], lo: int, hi: int, meter: MeterInfo, max_power_w: int) -> Rows:
    """Intervals of every segment between consecutive points within [lo, hi].

    The energy of a segment spanning k slots is spread evenly (integer Wh,
    remainder to the earliest slots). A decrease is a rollover when the meter
    has a register_max and the wrapped delta is physically plausible, else the
    segment is flagged NEGATIVE; above the power bound it is flagged SPIKE. A
    segment ending at a replacement without a final old-meter read is
    UNMEASURED."""
    stamps = sorted(t for t in points if lo <= t <= hi)
    out_ts: list[np.ndarray] = []
    out_wh: list[np.ndarray] = []
    out_flag: list[np.ndarray] = []
    bound = spike_bound_wh(max_power_w, meter.interval)
    for a, b in pairwise(stamps):
        pa, pb = points[a], points[b]
        k = (b - a) // meter.interval
        slots = np.arange(a, b, meter.interval, dtype=np.int64)
        if pb.end is None or pa.start is None:
            out_ts.append(slots)
            out_wh.append(np.zeros(k, dtype=np.int64))
            out_flag.append(np.full(k, FLAG_UNMEASURED, dtype=np.int8))
            continue
        delta = pb.end - pa.start
        flag = FLAG_NONE
        if delta < 0:
            wrapped = delta + meter.register_max + 1 if meter.register_max else None
            if wrapped is not None and wrapped >= 0 and _wh(wrapped, meter.multiplier) <= bound * k:
                delta = wrapped
            else:
                flag = FLAG_NEGATIVE
        total = _wh(delta, meter.multiplier)
        if flag == FLAG_NONE and total > bound * k:
            flag = FLAG_SPIKE
        base, remainder = divmod(total, k)
        wh = np.full(k, base, dtype=np.int64)
        wh[:remainder] += 1
        out_ts.append(slots)
        out_wh.append(wh)
        out_flag.append(np.full(k, flag, dtype=np.int8))
    if not out_ts:
        empty = np.zeros(0, dtype=np.int64)
        return Rows(empty, empty.copy(), np.zeros(0, dtype=np.int8))
    return Rows(np.concatenate(out_ts), np.concatenate(out_wh), np.concatenate(out_flag))


def _wh(delta: int, multiplier: Fraction) -> int:
    return round(delta * multiplier)  # Fraction rounding is half-even


# ---------------------------------------------------------------- months


@lru_cache(maxsize=4096)
def month_start(year: int, month: int, tz: str) -> int:
    return int(datetime(year, month, 1, tzinfo=ZoneInfo(tz)).timestamp())


def local_month(ts: int, tz: str) -> tuple[int, int]:
    local = datetime.fromtimestamp(ts, ZoneInfo(tz))
    return local.year, local.month


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


@dataclass
class MonthSlice:
    month: str  # YYYY-MM in the meter's time zone
    start: int  # epoch of the month start
    end: int
    lo: int  # index range in the sorted rows
    hi: int


def split_months(ts_sorted: np.ndarray, tz: str) -> list[MonthSlice]:
    if ts_sorted.shape[0] == 0:
        return []
    year, month = local_month(int(ts_sorted[0]), tz)
    last = local_month(int(ts_sorted[-1]), tz)
    result: list[MonthSlice] = []
    while (year, month) <= last:
        start = month_start(year, month, tz)
        end = month_start(*next_month(year, month), tz)
        lo, hi = np.searchsorted(ts_sorted, [start, end])
        if hi > lo:
            result.append(MonthSlice(f"{year:04d}-{month:02d}", start, end, int(lo), int(hi)))
        year, month = next_month(year, month)
    return result


# ------------------------------------------------------------ coverage bitmaps


def bits(raw: bytes, slots: int) -> np.ndarray:
    """A coverage bitmap (one bit per slot, big-endian bytes) as `slots` booleans (missing bytes: 0)."""
    unpacked = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))[:slots]
    if unpacked.shape[0] < slots:
        unpacked = np.concatenate([unpacked, np.zeros(slots - unpacked.shape[0], dtype=np.uint8)])
    return unpacked.astype(bool)


def runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """[lo, hi) runs where mask is true."""
    if not mask.any():
        return
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for lo, hi in zip(edges[::2], edges[1::2], strict=True):
        yield int(lo), int(hi)
