"""EnergyIngestionService: meter registry, streamed readings, coverage."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

import grpc
import numpy as np
from carbon.v1 import common_pb2, consent_pb2
from carbon.v1 import ingest_energy_pb2 as pb
from carbon.v1 import ingest_energy_pb2_grpc as pb_grpc
from carbon_common import limits, metrics
from carbon_common.decimals import RATIO_PLACES, quantize
from carbon_common.errors import (
    already_exists,
    failed_precondition,
    invalid_argument,
    invalid_arguments,
    not_found,
    unavailable,
)
from carbon_common.limits import LimitError
from carbon_common.names import parse_child, parse_enterprise, parse_period, validate_id
from carbon_ingest.common import (
    DRAIN_KEY,
    KeyedLocks,
    SeqClock,
    redis_errors,
    require_not_drained,
    validate_request_id,
)
from google.type import decimal_pb2

from carbon_ingest_energy import readings as rd
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import P, ReadingStore, Staged, batch_key, fingerprint

log = logging.getLogger(__name__)
GRANTEE = "platform"
SCOPE = consent_pb2.CONSENT_SCOPE_ENERGY_METERING
DEFAULT_TZ = "Asia/Shanghai"


class Gate(Protocol):
    def require(self, uscc: str, grantee: str, scope: int, data_time: datetime | None = None) -> str: ...


def energy_type_name(value: int) -> str:
    return common_pb2.EnergyType.Name(value).removeprefix("ENERGY_TYPE_").lower()


def meter_info(uscc: str, meter_id: str, meter: pb.Meter) -> rd.MeterInfo:
    multiplier = Fraction(Decimal(meter.multiplier.value)) if meter.multiplier.value else Fraction(1)
    return rd.MeterInfo(
        uscc=uscc,
        meter_id=meter_id,
        energy_type=energy_type_name(meter.energy_type),
        register=meter.reading_kind == pb.Meter.READING_KIND_REGISTER,
        multiplier=multiplier,
        time_zone=meter.time_zone or DEFAULT_TZ,
        interval=meter.interval_seconds or 900,
        register_max=meter.register_max,
    )


def validate_meter(meter: pb.Meter, prefix: str = "meter") -> pb.Meter:
    """Checks every field; returns the meter with defaults filled in."""
    violations: list[tuple[str, str]] = []
    if (
        meter.energy_type == common_pb2.ENERGY_TYPE_UNSPECIFIED
        or meter.energy_type not in common_pb2.EnergyType.values()
    ):
        violations.append((f"{prefix}.energy_type", "is required and must be a known EnergyType"))
    if meter.reading_kind not in (pb.Meter.READING_KIND_INTERVAL, pb.Meter.READING_KIND_REGISTER):
        violations.append((f"{prefix}.reading_kind", "must be READING_KIND_INTERVAL or READING_KIND_REGISTER"))
    if meter.multiplier.value:
        try:
            value = limits.parse_decimal(meter.multiplier.value, f"{prefix}.multiplier")
            if value <= 0 or value > 1_000_000:
                violations.append((f"{prefix}.multiplier", "must be a decimal in (0, 1000000]"))
            elif Fraction(value).denominator > 10**6:
                violations.append((f"{prefix}.multiplier", "at most 6 decimal places"))
        except LimitError as error:
            violations.extend(error.field_violations)
    if meter.time_zone:
        try:
            limits.check_time_zone(meter.time_zone, f"{prefix}.time_zone")
        except LimitError as error:
            violations.extend(error.field_violations)
    if meter.interval_seconds and meter.interval_seconds not in rd.ALLOWED_INTERVALS:
        violations.append((f"{prefix}.interval_seconds", f"must be one of {list(rd.ALLOWED_INTERVALS)}"))
    if meter.register_max < 0:
        violations.append((f"{prefix}.register_max", "must not be negative"))
    if meter.register_max and meter.reading_kind != pb.Meter.READING_KIND_REGISTER:
        violations.append((f"{prefix}.register_max", "only for READING_KIND_REGISTER meters"))
    if violations:
        raise invalid_arguments(violations)
    filled = pb.Meter()
    filled.CopyFrom(meter)
    if not filled.multiplier.value:
        filled.multiplier.value = "1"
    filled.time_zone = filled.time_zone or DEFAULT_TZ
    filled.interval_seconds = filled.interval_seconds or 900
    return filled


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


class EnergyIngestion(pb_grpc.EnergyIngestionServiceServicer):
    def __init__(self, settings: EnergySettings, store: ReadingStore, gate: Gate) -> None:
        self.settings = settings
        self.store = store
        self.gate = gate
        self.redis = store.redis
        self.locks = KeyedLocks()
        self.clock = SeqClock()
        self._meters: dict[tuple[str, str], tuple[pb.Meter, rd.MeterInfo]] = {}
        self.max_power_w = settings.max_power_kw * 1000

    # ------------------------------------------------------------ registry

    def CreateMeter(self, request: pb.CreateMeterRequest, context: Any) -> pb.Meter:
        uscc = parse_enterprise(request.parent, "parent")
        meter_id = validate_id(request.meter_id, "meter_id")
        if not request.HasField("meter"):
            raise invalid_argument("meter", "is required")
        meter = validate_meter(request.meter)
        meter.name = f"enterprises/{uscc}/meters/{meter_id}"
        meter.create_time.FromDatetime(datetime.now(UTC).replace(microsecond=0))
        require_not_drained(self.redis)
        self.gate.require(uscc, GRANTEE, SCOPE)
        key = f"{P}meter:{uscc}:{meter_id}"
        with redis_errors():
            created = self.redis.set(key, meter.SerializeToString(), nx=True)
            if not created:
                existing = pb.Meter.FromString(self.redis.get(key) or b"")
                raise already_exists(existing.name)
            self.redis.zadd(f"{P}meters:{uscc}", {meter_id: 0})
        return meter

    def _meter(self, uscc: str, meter_id: str, field: str) -> tuple[pb.Meter, rd.MeterInfo]:
        cached = self._meters.get((uscc, meter_id))
        if cached is not None:
            return cached
        with redis_errors():
            raw = self.redis.get(f"{P}meter:{uscc}:{meter_id}")
        if raw is None:
            raise not_found(f"enterprises/{uscc}/meters/{meter_id}")
        meter = pb.Meter.FromString(raw)
        entry = (meter, meter_info(uscc, meter_id, meter))
        self._meters[(uscc, meter_id)] = entry
        return entry

    def forget(self, uscc: str) -> None:
        for key in [k for k in self._meters if k[0] == uscc]:
            self._meters.pop(key, None)

    def GetMeter(self, request: pb.GetMeterRequest, context: Any) -> pb.Meter:
        uscc, meter_id = parse_child(request.name, "meters", "name")
        return self._meter(uscc, meter_id, "name")[0]

    def ListMeters(self, request: pb.ListMetersRequest, context: Any) -> pb.ListMetersResponse:
        uscc = parse_enterprise(request.parent, "parent")
        if request.page_size < 0:
            raise invalid_argument("page_size", "must not be negative")
        size = min(request.page_size or 100, 1000)
        start = f"({request.page_token}" if request.page_token else "-"
        with redis_errors():
            ids = [m.decode() for m in self.redis.zrangebylex(f"{P}meters:{uscc}", start, "+", start=0, num=size + 1)]
        response = pb.ListMetersResponse()
        for meter_id in ids[:size]:
            response.meters.append(self._meter(uscc, meter_id, "parent")[0])
        if len(ids) > size:
            response.next_page_token = ids[size - 1]
        return response

    # ------------------------------------------------------------ readings

    def StreamReadings(self, request_iterator: Iterable[pb.ReadingBatch], context: Any) -> pb.StreamReadingsResponse:
        """Batches are validated as they arrive and written in windows (group commit): the
        batches of one window share one file per month, one filesystem sync and one Redis
        transaction. The response, sent after the last window committed, acknowledges them all."""
        slots: list[pb.BatchResult | Batch] = []
        window: list[Batch] = []
        for k, message in enumerate(request_iterator):
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
        with redis_errors():
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(DRAIN_KEY)
            pipe.hmget(batch_key(uscc, request_id), ["fp", "result"])
            drain, record = pipe.execute()
        if drain is not None and drain.strip() in (b"1", b"true"):
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
        _, meter = self._meter(uscc, meter_id, f"{prefix}meter")
        rd.validate_columns(timestamps, values, meter, int(time.time()), self.settings.max_future_seconds, prefix)
        if replacements:
            if not meter.register:
                raise invalid_argument(f"{prefix}replacement_indices", "only for register meters")
            for j, index in enumerate(replacements):
                if not 0 <= index < timestamps.shape[0]:
                    raise invalid_argument(f"{prefix}replacement_indices[{j}]", f"index {index} out of range")
        fp = fingerprint(message.meter, timestamps, values, replacements)
        batch = Batch(meter, request_id, fp, timestamps, values, set(replacements))
        known = self.store.decode_record(record)
        return batch.replay(known) if known is not None else batch

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
            staged, current = self.store.write_window(staged)
            bitmaps = [self.store.coverage_updates(s, c) for s, c in zip(staged, current, strict=True)]
            self.store.commit(staged, bitmaps)

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

    def GetCoverage(self, request: pb.GetCoverageRequest, context: Any) -> pb.Coverage:
        uscc = parse_enterprise(request.enterprise, "enterprise")
        period = parse_period(request.period, "period")
        months = [period] if len(period) == 7 else [f"{period}-{m:02d}" for m in range(1, 13)]
        with redis_errors():
            meter_ids = [m.decode() for m in self.redis.zrange(f"{P}meters:{uscc}", 0, -1)]
        coverage = pb.Coverage(enterprise=request.enterprise, period=period)
        now = int(time.time())
        gaps: list[pb.Gap] = []
        for meter_id in meter_ids:
            meter_pb, meter = self._meter(uscc, meter_id, "enterprise")
            created = meter_pb.create_time.seconds
            for month in months:
                year, mon = int(month[:4]), int(month[5:])
                start = rd.month_start(year, mon, meter.time_zone)
                end = rd.month_start(*rd.next_month(year, mon), meter.time_zone)
                slots = (end - start) // meter.interval
                present_raw, flagged_raw = self.store.bitmaps(uscc, meter_id, month)
                present = _bits(present_raw, slots)
                flagged = _bits(flagged_raw, slots)
                first_data = int(np.argmax(present | flagged)) if (present | flagged).any() else slots
                first_created = max(0, -(-(created - start) // meter.interval))
                lo = min(first_data, first_created)
                hi = min(slots, max(0, (now - start) // meter.interval))
                if hi <= lo:
                    continue
                coverage.expected_intervals += hi - lo
                coverage.present_intervals += int(present[lo:hi].sum())
                coverage.flagged_intervals += int(flagged[lo:hi].sum())
                for run_lo, run_hi in _runs(present[lo:hi] == 0):
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


def _bits(raw: bytes, slots: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))[:slots]
    if bits.shape[0] < slots:
        bits = np.concatenate([bits, np.zeros(slots - bits.shape[0], dtype=np.uint8)])
    return bits.astype(bool)


def _runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """[lo, hi) runs where mask is true."""
    if not mask.any():
        return
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for lo, hi in zip(edges[::2], edges[1::2], strict=True):
        yield int(lo), int(hi)


def register(server: grpc.Server, servicer: EnergyIngestion) -> list[str]:
    pb_grpc.add_EnergyIngestionServiceServicer_to_server(servicer, server)
    return [pb.DESCRIPTOR.services_by_name["EnergyIngestionService"].full_name]
