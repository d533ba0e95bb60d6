"""Use cases of ingest-energy: the meter registry, streamed readings written in windows (group
commit), coverage. The edges (grpc_api) parse names and call these; storage is store.py."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

import numpy as np
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_energy_pb2 as pb
from carbon_common import limits, metrics
from carbon_common.decimals import RATIO_PLACES, quantize
from carbon_common.errors import already_exists, failed_precondition, invalid_argument, not_found, unavailable
from carbon_common.names import parse_child
from carbon_ingest.common import KeyedLocks, SeqClock, require_not_drained, validate_request_id
from google.type import decimal_pb2

from carbon_ingest_energy import domain as rd
from carbon_ingest_energy.convert import meter_info
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import ReadingStore, Staged, fingerprint

GRANTEE = "platform"
SCOPE = consent_pb2.CONSENT_SCOPE_ENERGY_METERING
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


class Gate(Protocol):
    def require(self, uscc: str, grantee: str, scope: int, data_time: datetime | None = None) -> str: ...


@dataclass(eq=False)
class Batch:
    """A validated batch of a stream, waiting for its window to be written."""

    meter: rd.MeterInfo
    request_id: str
    fp: str
    timestamps: np.ndarray
    values: np.ndarray
    replacements: set[int] = field(default_factory=set)
    result: pb.BatchResult = field(default_factory=pb.BatchResult)

    @property
    def readings(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def record_key(self) -> tuple[str, str]:
        return (self.meter.uscc, self.request_id)

    def replay(self, known: tuple[str, pb.BatchResult]) -> pb.BatchResult:
        """The stored result of this request id, unless it was used for different content."""
        fp, result = known
        if fp != self.fp:
            raise failed_precondition(
                "REQUEST_ID_REUSED",
                f"request_id {self.request_id!r} was already used for a different batch",
                request_id=self.request_id,
            )
        result.replayed = True
        return result


class EnergyCore:
    def __init__(self, settings: EnergySettings, store: ReadingStore, gate: Gate) -> None:
        self.settings = settings
        self.store = store
        self.gate = gate
        self.locks = KeyedLocks()
        self.clock = SeqClock()
        self._meters: dict[tuple[str, str], tuple[pb.Meter, rd.MeterInfo]] = {}
        self.max_power_w = settings.max_power_kw * 1000

    # ------------------------------------------------------------ registry

    def create_meter(self, uscc: str, meter_id: str, meter: pb.Meter) -> pb.Meter:
        """Register a validated meter (convert.validate_meter) under the platform's consent."""
        meter.name = f"enterprises/{uscc}/meters/{meter_id}"
        meter.create_time.FromDatetime(datetime.now(UTC).replace(microsecond=0))
        require_not_drained(self.store.redis)
        self.gate.require(uscc, GRANTEE, SCOPE)
        existing = self.store.add_meter(uscc, meter_id, meter)
        if existing is not None:
            raise already_exists(existing.name)
        return meter

    def meter(self, uscc: str, meter_id: str) -> tuple[pb.Meter, rd.MeterInfo]:
        cached = self._meters.get((uscc, meter_id))
        if cached is not None:
            return cached
        meter = self.store.meter(uscc, meter_id)
        if meter is None:
            raise not_found(f"enterprises/{uscc}/meters/{meter_id}")
        entry = (meter, meter_info(uscc, meter_id, meter))
        self._meters[(uscc, meter_id)] = entry
        return entry

    def list_meters(self, uscc: str, page_size: int, page_token: str) -> pb.ListMetersResponse:
        if page_size < 0:
            raise invalid_argument("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        ids = self.store.meter_ids_after(uscc, page_token, size + 1)
        response = pb.ListMetersResponse()
        for meter_id in ids[:size]:
            response.meters.append(self.meter(uscc, meter_id)[0])
        if len(ids) > size:
            response.next_page_token = ids[size - 1]
        return response

    def forget(self, uscc: str) -> None:
        for key in [k for k in self._meters if k[0] == uscc]:
            self._meters.pop(key, None)

    def erase(self, uscc: str) -> dict[str, int]:
        """Erasure of an enterprise's readings and hot state (the erasure stream's handler)."""
        self.forget(uscc)
        return self.store.erase(uscc)

    # ------------------------------------------------------------ readings

    def ingest(self, batches: Iterable[pb.ReadingBatch]) -> pb.StreamReadingsResponse:
        """Batches are validated as they arrive and written in windows (group commit): the
        batches of one window share one file per month, one filesystem sync and one Redis
        transaction. The response, sent after the last window committed, acknowledges them all."""
        slots: list[pb.BatchResult | Batch] = []
        window: list[Batch] = []
        for k, message in enumerate(batches):
            batch = self.validate(message, prefix=f"batches[{k}].")
            slots.append(batch)
            if isinstance(batch, pb.BatchResult):
                continue  # replayed
            if not self._fits(window, batch):
                self.store_window(window)
                window = []
            window.append(batch)
        self.store_window(window)
        response = pb.StreamReadingsResponse()
        for slot in slots:
            result = slot if isinstance(slot, pb.BatchResult) else slot.result
            response.batches.append(result)
            if not result.replayed:
                response.readings_stored += result.readings
        stored = [s for s in slots if isinstance(s, Batch) and not s.result.replayed and len(s.timestamps)]
        if stored:
            metrics.ingestion_readings(int(response.readings_stored), source="energy")
            metrics.ingestion_lag(metrics.lag_from(max(int(b.timestamps.max()) for b in stored)), source="energy")
        return response

    def _fits(self, window: list[Batch], batch: Batch) -> bool:
        """Whether batch may join window: limits, and one batch per meter and per request id
        (coverage and register points are read-modify-write per meter)."""
        return not window or (
            len(window) < self.settings.window_max_batches
            and sum(b.readings for b in window) + batch.readings <= self.settings.window_max_readings
            and all(b.meter.name != batch.meter.name and b.record_key != batch.record_key for b in window)
        )

    def validate(self, message: pb.ReadingBatch, prefix: str = "") -> Batch | pb.BatchResult:
        """Names, drain switch, consent and every reading checked; a batch already stored
        (same request id and content) is answered from its idempotency record."""
        uscc, meter_id = parse_child(message.meter, "meters", f"{prefix}meter")
        request_id = validate_request_id(message.request_id, f"{prefix}request_id")
        timestamps = np.array(message.timestamps, dtype=np.int64)
        values = np.array(message.values, dtype=np.int64)
        replacements = list(message.replacement_indices)
        drained, record = self.store.drain_and_record(uscc, request_id)
        if drained:
            raise unavailable("INGESTION_DRAINED", "ingestion is drained for maintenance; retry later")
        # Consent first (nothing about the meter is revealed without it); its
        # data window must cover every reading in the batch. The edges are
        # range-checked first: a timestamp like 2**40 is no datetime at all.
        if timestamps.size:
            for index in (int(timestamps.argmin()), int(timestamps.argmax())):
                limits.check_epoch_seconds(int(timestamps[index]), f"{prefix}timestamps[{index}]")
        edges = (int(timestamps.min()), int(timestamps.max())) if timestamps.size else (int(time.time()),)
        for edge in sorted(set(edges)):
            self.gate.require(uscc, GRANTEE, SCOPE, datetime.fromtimestamp(edge, UTC))
        _, meter = self.meter(uscc, meter_id)
        rd.validate_columns(timestamps, values, meter, int(time.time()), self.settings.max_future_seconds, prefix)
        if replacements:
            if not meter.register:
                raise invalid_argument(f"{prefix}replacement_indices", "only for register meters")
            for j, index in enumerate(replacements):
                if not 0 <= index < timestamps.shape[0]:
                    raise invalid_argument(f"{prefix}replacement_indices[{j}]", f"index {index} out of range")
        fp = fingerprint(message.meter, timestamps, values, replacements)
        batch = Batch(meter, request_id, fp, timestamps, values, set(replacements))
        return batch.replay(record) if record is not None else batch

    def store_window(self, window: list[Batch]) -> None:
        """Write and commit a window's batches; each gets its result (a batch committed
        meanwhile by another stream becomes a replay)."""
        if not window:
            return
        with contextlib.ExitStack() as held:
            for name in sorted({b.meter.name for b in window}):
                held.enter_context(self.locks.hold(name))
            # records seen before the locks are final; look again under them
            staged: list[Staged] = []
            for batch, known in zip(window, self.store.lookup_many([b.record_key for b in window]), strict=True):
                if known is not None:
                    batch.result = batch.replay(known)
                else:
                    staged.append(self._stage(batch))
            if not staged:
                return
            staged, current, files = self.store.write_window(staged)
            bitmaps = [self.store.coverage_updates(s, c) for s, c in zip(staged, current, strict=True)]
            self.store.commit(staged, bitmaps, files)

    def _stage(self, batch: Batch) -> Staged:
        meter = batch.meter
        points = changed = None
        if meter.register:
            lo, hi = int(batch.timestamps.min()), int(batch.timestamps.max())
            points, window_lo, window_hi = self.store.load_points(meter, lo, hi)
            changed = rd.merge_reads(points, batch.timestamps, batch.values, batch.replacements)
            rows = rd.register_rows(points, window_lo, window_hi, meter, self.max_power_w)
        else:
            rows = rd.interval_rows(batch.timestamps, batch.values, meter, self.max_power_w)
        flagged = int(np.count_nonzero((rows.flag == rd.FLAG_NEGATIVE) | (rows.flag == rd.FLAG_SPIKE)))
        batch.result = pb.BatchResult(request_id=batch.request_id, readings=batch.readings, flagged=flagged)
        return Staged(
            meter=meter,
            request_id=batch.request_id,
            fp=batch.fp,
            rows=rows,
            slices=rd.split_months(rows.ts, meter.time_zone),
            seq=self.clock.next(),
            points=points,
            changed_points=changed,
            result=batch.result,
        )

    # ------------------------------------------------------------ coverage

    def coverage(self, enterprise: str, uscc: str, period: str) -> pb.Coverage:
        """Expected, present and flagged slots of every meter of the enterprise in `period` (YYYY or YYYY-MM)."""
        months = [period] if len(period) == 7 else [f"{period}-{m:02d}" for m in range(1, 13)]
        coverage = pb.Coverage(enterprise=enterprise, period=period)
        now = int(time.time())
        gaps: list[pb.Gap] = []
        for meter_id in self.store.meter_ids(uscc):
            meter_pb, meter = self.meter(uscc, meter_id)
            created = meter_pb.create_time.seconds
            for month in months:
                year, mon = int(month[:4]), int(month[5:])
                start = rd.month_start(year, mon, meter.time_zone)
                end = rd.month_start(*rd.next_month(year, mon), meter.time_zone)
                slots = (end - start) // meter.interval
                present_raw, flagged_raw = self.store.bitmaps(uscc, meter_id, month)
                present = rd.bits(present_raw, slots)
                flagged = rd.bits(flagged_raw, slots)
                first_data = int(np.argmax(present | flagged)) if (present | flagged).any() else slots
                first_created = max(0, -(-(created - start) // meter.interval))
                lo = min(first_data, first_created)
                hi = min(slots, max(0, (now - start) // meter.interval))
                if hi <= lo:
                    continue
                coverage.expected_intervals += hi - lo
                coverage.present_intervals += int(present[lo:hi].sum())
                coverage.flagged_intervals += int(flagged[lo:hi].sum())
                for run_lo, run_hi in rd.runs(present[lo:hi] == 0):
                    if len(gaps) >= self.settings.max_gaps_reported:
                        break
                    gap = pb.Gap(meter=meter_pb.name)
                    gap.start_time.FromSeconds(start + (lo + run_lo) * meter.interval)
                    gap.end_time.FromSeconds(start + (lo + run_hi) * meter.interval)
                    gaps.append(gap)
        coverage.gaps.extend(gaps)
        ratio = (
            quantize(Decimal(coverage.present_intervals) / Decimal(coverage.expected_intervals), RATIO_PLACES)
            if coverage.expected_intervals
            else Decimal(0)
        )
        coverage.ratio.CopyFrom(decimal_pb2.Decimal(value=format(ratio, "f")))
        return coverage
