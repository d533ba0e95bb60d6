"""Business metrics of the platform: one function call where the event happens.

Instruments come from the global OpenTelemetry meter that
`carbon_common.telemetry.configure()` installs (`server.run` calls it); before
that they are no-ops, so calling them from tests or scripts is safe. They are
exported with the RPC metrics by the `OTEL_METRICS_EXPORTER` / `OTEL_EXPORTER_OTLP_*`
configuration. Attribute values must stay low-cardinality: never put a USCC,
bank id or quote id in them.

    from carbon_common import metrics

    # ingest-tax / ingest-energy, once per accepted batch (or streamed chunk):
    metrics.ingestion_readings(count, source="tax")           # carbon.ingestion.readings{source}
    metrics.ingestion_lag(seconds, source="energy")          # carbon.ingestion.lag_seconds{source}
    #   seconds = now - the newest data timestamp in the batch (how far behind real time)

    # accounting, per consumed stream entry (lag between emit and processing):
    metrics.ingestion_lag(seconds, source="accounting")
    # accounting, once per account recomputed (stored or found unchanged) and per micro-batch:
    metrics.account_recomputed(period="month")                # carbon.accounting.recomputes{period}
    metrics.micro_batch(events=120, consumer="accounting")    # carbon.microbatch.events{consumer}

    # rating, once per rating computed:
    metrics.rating_issued(scheme="national-2025", grade="AA")  # carbon.ratings{scheme,grade}

    # loan-pricing, once per quote decided:
    metrics.quote_decided(decision=pricing_pb2.Quote.Decision.Name(quote.decision))  # carbon.quotes{decision}

    # consent, once per group commit of access decisions to the audit hash chain:
    metrics.audit_lag(seconds, log="consent")                # carbon.audit.lag_seconds{log}
    #   seconds = commit time - time of the oldest decision in the group

    # loan-pricing's periodic decision-log verification (and any other chain check):
    metrics.integrity_checked(log="decision_log", ok=report["ok"])  # carbon.integrity.checks{log,result}

| instrument | kind | unit | attributes |
|---|---|---|---|
| `carbon.ingestion.readings` | counter | `{reading}` | `source` (tax, energy) |
| `carbon.ingestion.lag_seconds` | histogram | `s` | `source` |
| `carbon.quotes` | counter | `{quote}` | `decision` |
| `carbon.ratings` | counter | `{rating}` | `scheme`, `grade` |
| `carbon.audit.lag_seconds` | histogram | `s` | `log` (consent) |
| `carbon.accounting.recomputes` | counter | `{account}` | `period` (month, year) |
| `carbon.microbatch.events` | histogram | `{event}` | `consumer` (accounting, rating) |
| `carbon.integrity.checks` | counter | `{check}` | `log` (decision_log), `result` (ok, failed) |

Prometheus names (GET /metrics, see `carbon_common.telemetry`): dots become
underscores, counters end in `_total`, units are suffixes:
`carbon_ingestion_readings_total`, `carbon_ingestion_lag_seconds_bucket`,
`carbon_quotes_total`, `carbon_ratings_total`, `carbon_audit_lag_seconds_bucket`,
`carbon_integrity_checks_total`, `carbon_accounting_recomputes_total`, `carbon_microbatch_events_bucket`.

`lag_from(timestamp)` turns a data timestamp (datetime or epoch seconds) into
the lag in seconds for `ingestion_lag`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry import metrics as otel_metrics

METER_NAME = "carbon_common.metrics"

INGESTION_READINGS = "carbon.ingestion.readings"
INGESTION_LAG = "carbon.ingestion.lag_seconds"
QUOTES = "carbon.quotes"
RATINGS = "carbon.ratings"
AUDIT_LAG = "carbon.audit.lag_seconds"
INTEGRITY_CHECKS = "carbon.integrity.checks"
ACCOUNT_RECOMPUTES = "carbon.accounting.recomputes"
MICRO_BATCH_EVENTS = "carbon.microbatch.events"

# Lags span milliseconds (an audit group commit) to days (an invoice uploaded late):
# explicit buckets instead of the SDK's default 0..10000 ones.
LAG_BUCKETS_SECONDS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    *(60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0),
)

# Stream entries per consumer micro-batch (bounded by the consumers' batch caps).
MICRO_BATCH_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)


@dataclass(frozen=True)
class _Spec:
    histogram: bool  # else a counter
    unit: str
    description: str
    buckets: tuple[float, ...] | None = None


_SPECS: dict[str, _Spec] = {
    INGESTION_READINGS: _Spec(False, "{reading}", "Readings/invoice lines accepted"),
    INGESTION_LAG: _Spec(True, "s", "Age of ingested data when it is processed", LAG_BUCKETS_SECONDS),
    AUDIT_LAG: _Spec(
        True, "s", "Time from an audited decision to its entry committed in the hash chain", LAG_BUCKETS_SECONDS
    ),
    INTEGRITY_CHECKS: _Spec(False, "{check}", "Hash-chain verifications by log and result"),
    QUOTES: _Spec(False, "{quote}", "Loan quotes by decision"),
    RATINGS: _Spec(False, "{rating}", "Ratings issued by scheme and grade"),
    ACCOUNT_RECOMPUTES: _Spec(False, "{account}", "Accounts recomputed by the event consumer, by period kind"),
    MICRO_BATCH_EVENTS: _Spec(
        True, "{event}", "Stream entries read together in one consumer micro-batch", MICRO_BATCH_BUCKETS
    ),
}

_lock = threading.Lock()
_counters: dict[str, otel_metrics.Counter] = {}
_histograms: dict[str, otel_metrics.Histogram] = {}

# Instruments are created once from the global meter: a proxy before telemetry.configure(),
# which the SDK swaps for the real instrument when the provider is set.


def _counter(name: str) -> otel_metrics.Counter:
    with _lock:
        if name not in _counters:
            spec = _SPECS[name]
            assert not spec.histogram, name
            meter = otel_metrics.get_meter(METER_NAME)
            _counters[name] = meter.create_counter(name, unit=spec.unit, description=spec.description)
        return _counters[name]


def _histogram(name: str) -> otel_metrics.Histogram:
    with _lock:
        if name not in _histograms:
            spec = _SPECS[name]
            assert spec.histogram, name
            meter = otel_metrics.get_meter(METER_NAME)
            _histograms[name] = meter.create_histogram(
                name, unit=spec.unit, description=spec.description, explicit_bucket_boundaries_advisory=spec.buckets
            )
        return _histograms[name]


def ingestion_readings(count: int, source: str) -> None:
    """`count` readings (meter readings, invoice lines) accepted from `source`."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if count:
        _counter(INGESTION_READINGS).add(count, {"source": source})


def ingestion_lag(seconds: float, source: str) -> None:
    """How old the data was when `source` processed it, in seconds (clamped at 0)."""
    _histogram(INGESTION_LAG).record(max(0.0, float(seconds)), {"source": source})


def quote_decided(decision: str) -> None:
    """One loan quote decided (`decision`: the Quote.Decision name, e.g. DECISION_APPROVE)."""
    _counter(QUOTES).add(1, {"decision": decision})


def rating_issued(scheme: str, grade: str) -> None:
    """One rating computed under `scheme` (scheme id, not version) with `grade`."""
    _counter(RATINGS).add(1, {"scheme": scheme, "grade": grade})


def audit_lag(seconds: float, log: str) -> None:
    """How long an audited decision waited before its entry was committed to `log`'s hash chain."""
    _histogram(AUDIT_LAG).record(max(0.0, float(seconds)), {"log": log})


def integrity_checked(log: str, ok: bool) -> None:
    """One verification of `log`'s hash chain finished: intact (`ok`) or not."""
    _counter(INTEGRITY_CHECKS).add(1, {"log": log, "result": "ok" if ok else "failed"})


def account_recomputed(period: str, count: int = 1) -> None:
    """`count` accounts of a `period` kind ("month" or "year") recomputed by the event consumer."""
    if count:
        _counter(ACCOUNT_RECOMPUTES).add(count, {"period": period})


def micro_batch(events: int, consumer: str) -> None:
    """One micro-batch of `events` stream entries read together by `consumer`."""
    _histogram(MICRO_BATCH_EVENTS).record(max(0, int(events)), {"consumer": consumer})


def lag_from(timestamp: datetime | float | int, now: float | None = None) -> float:
    """Seconds between a data timestamp (aware datetime, naive = UTC, or epoch seconds) and now."""
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        epoch = timestamp.timestamp()
    else:
        epoch = float(timestamp)
    return max(0.0, (time.time() if now is None else now) - epoch)
