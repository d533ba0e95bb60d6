"""Event contracts: every Redis stream and its messages are defined once (carbon_common.events), every
producer and consumer goes through them, and every message round-trips through a real stream."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from carbon_common import events

REPO = Path(__file__).resolve().parents[2]
EVENTS_MODULE = REPO / "libs" / "carbon-common" / "src" / "carbon_common" / "events.py"
STREAM_NAME = re.compile(r"carbon:events:[a-z][a-z0-9_-]*")
# Code that touches a stream without reading its messages, and why.
READS_NO_MESSAGES = {
    "ops/carbonctl/src/carbonctl/ingestion.py": "counts entries and consumer-group lag; never reads fields",
    # the generic tail decodes with the events.Stream its subclass passes (events.CONSENT, events.RATINGS)
    "libs/carbon-common/src/carbon_common/projection.py": "decodes with the registered Stream it is given",
}
T = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)

SAMPLES: dict[type[events.Event], dict[str, Any]] = {
    events.ActivityRecorded: {
        "uscc": "91330000MA2XXXXX1A",
        "source": "invoices",
        "months": ("2025-01", "2025-02"),
        "batch": "enterprises/91330000MA2XXXXX1A/invoiceBatches/b-1",
        "time": 1767323045123,
    },
    events.ErasureRequested: {"uscc": "91330000MA2XXXXX1A", "request_id": "er-1"},
    events.AccountStored: {
        "uscc": "91330000MA2XXXXX1A",
        "period": "2025-01",
        "input_digest": "ab" * 32,
        "compute_time": T,
        "industry_code": "C2611",
        "province_code": "330000",
        "region_code": "330800",
        "factor_set_version": "cn-2024.1",
        "total_tco2": Decimal("1234.567891"),
        "energy_tce": Decimal("0"),
        "value_added_cny": Decimal("-12.50"),
        "intensity_value_added": Decimal("1E-6"),
        "green_electricity_share": Decimal("0.250000"),
        "quality_score": Decimal("0.912345"),
        "reduction_tco2": Decimal("-37.5"),
    },
    events.BankChanged: {"bank": "banks/b1", "change": "CREATED", "display_name": "银行 B1", "time": T},
    events.ApiKeyChanged: {"bank": "banks/b1", "key_hash": "0f" * 32, "change": "REVOKED", "time": T},
    events.ConsentChanged: {
        "consent": "enterprises/91330000MA2XXXXX1A/consents/c1",
        "enterprise": "enterprises/91330000MA2XXXXX1A",
        "grantee": "banks/b1",
        "scopes": ("RATING", "CARBON_ACCOUNT"),
        "purpose": "CREDIT_ASSESSMENT",
        "state": "REVOKED",
        "from_state": "AUTHORIZED",
        "data_start": T,
        "data_end": T,
        "expire_time": T,
        "create_time": T,
        "transition_time": T,
        "actor": "enterprises/91330000MA2XXXXX1A",
        "reason": "不再合作, with a comma",
        "audit_seq": 42,
    },
    events.ConsentHeartbeat: {"time": T, "instance": "consent-0"},
    events.RatingChanged: {
        "rating": "enterprises/91330000MA2XXXXX1A/ratings/quzhou",
        "enterprise": "enterprises/91330000MA2XXXXX1A",
        "grade": "DARK_GREEN",
        "score": Decimal("87.50"),
        "scheme": "quzhou_tanrongyi",
        "scheme_version": "2",
        "account": "enterprises/91330000MA2XXXXX1A/accounts/2025",
        "account_period": "2025",
        "input_digest": "cd" * 32,
        "factor_set_version": "cn-2024.1",
        "quality_score": Decimal("0.9500"),
        "reduction_tco2": Decimal("-12.345678"),
        "rate_time": T,
    },
    events.AccessDecided: {
        "decision_id": "banks/b1/quotes/q1",
        "bank": "banks/b1",
        "enterprise": "enterprises/91330000MA2XXXXX1A",
        "scope": "RATING",
        "data_start": T,
        "data_end": T,
        "consent": "enterprises/91330000MA2XXXXX1A/consents/c1",
        "allowed": True,
        "reason": "CONSENT_AUTHORIZED",
        "quote": "banks/b1/quotes/q1",
        "consent_position": "1767323045123-0",
        "rating_position": "1767323045000-3",
        "time": T,
    },
}
MESSAGES = [(stream, message) for stream in events.STREAMS.values() for message in stream.messages]


def _production_sources() -> list[Path]:
    roots = [*REPO.glob("services/*/src"), *REPO.glob("libs/*/src"), *REPO.glob("ops/*/src"), REPO / "scripts"]
    return sorted(
        p for root in roots for p in root.rglob("*.py") if "carbon-proto" not in p.parts and p != EVENTS_MODULE
    )


def test_every_stream_name_is_spelt_only_in_the_events_module() -> None:
    spelt = [
        f"{p.relative_to(REPO)}:{node.lineno}"
        for p in _production_sources()
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("carbon:events:")
    ]
    assert not spelt, f"use carbon_common.events.<STREAM>.name instead of the literal: {spelt}"


def test_the_docs_name_only_registered_streams() -> None:
    documents = [*REPO.glob("docs/*.md"), *REPO.glob("*.md"), *REPO.glob("services/*/README.md")]
    named = {m for d in documents for m in STREAM_NAME.findall(d.read_text())}
    assert named <= set(events.STREAMS), named - set(events.STREAMS)


def _calls(tree: ast.AST, method: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == method
    ]


STREAM_VARS = {name for name, value in vars(events).items() if isinstance(value, events.Stream)}


def _stream_calls(tree: ast.AST, method: str) -> list[ast.Call]:
    """Calls `events.<STREAM>.<method>(...)` (or `<STREAM>.<method>` imported by name)."""
    out = []
    for call in _calls(tree, method):
        target = call.func.value  # type: ignore[attr-defined]
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in STREAM_VARS:
            out.append(call)
    return out


def test_producers_and_consumers_go_through_the_contracts() -> None:
    """No XADD but Stream.add; whoever reads stream entries decodes them with a registered stream."""
    raw_adds, undecoded, producers, consumers = [], [], set(), set()
    for path in _production_sources():
        tree = ast.parse(path.read_text())
        relative = str(path.relative_to(REPO))
        raw_adds += [f"{relative}:{c.lineno}" for c in _calls(tree, "xadd")]
        if _stream_calls(tree, "add"):
            producers.add(relative.split("/src/")[0])
        reads = [c for m in ("xreadgroup", "xread", "xrange", "xrevrange") for c in _calls(tree, m)]
        if reads and relative not in READS_NO_MESSAGES:
            if _stream_calls(tree, "decode"):
                consumers.add(relative.split("/src/")[0])
            else:
                undecoded.append(relative)
    assert not raw_adds, f"XADD outside carbon_common.events (use events.<STREAM>.add): {raw_adds}"
    assert not undecoded, f"stream readers that do not decode with carbon_common.events: {undecoded}"
    # the producers and consumers of today's streams are all found (so the checks above are not vacuous)
    assert producers >= {"services/ingest-tax", "services/ingest-energy", "services/accounting", "services/consent"}
    assert consumers >= {
        "services/accounting",
        "services/rating",
        "libs/carbon-common",
    }  # erasure: carbon_common.erasure


def test_every_message_type_has_a_sample_here() -> None:
    assert {message for _, message in MESSAGES} == set(SAMPLES), "add a sample for the new message type"
    assert len({stream.name for stream in events.STREAMS.values()}) == len(events.STREAMS)
    assert all(name.startswith("carbon:events:") for name in events.STREAMS)


@pytest.mark.parametrize(("stream", "message"), MESSAGES, ids=lambda v: getattr(v, "__name__", getattr(v, "name", "")))
def test_every_message_round_trips_through_a_real_stream(
    redis_url: str, stream: events.Stream[Any], message: type[events.Event]
) -> None:
    client = redis.Redis.from_url(redis_url)
    sent = message.create(**SAMPLES[message])
    assert sent.version == message.VERSION
    entry_id = stream.add(client, sent)
    read: Any = client.xrange(stream.name)
    [(read_id, fields)] = read
    assert read_id == entry_id and all(isinstance(v, bytes) for v in fields.values())
    assert fields[b"version"] == str(message.VERSION).encode()
    received = stream.decode(fields)
    assert received == sent and type(received) is message
    with pytest.raises(Exception):  # noqa: B017 - frozen: a consumer cannot change what it was sent
        received.version = 99


def test_messages_written_before_the_contracts_still_decode() -> None:
    """Field maps exactly as the producers wrote them before (no version): version 1."""
    activity = events.ACTIVITY.decode(
        {b"uscc": b"U1", b"source": b"readings", b"months": b"2024-01,2024-02", b"batch": b"b1", b"time": b"17"}
    )
    assert (activity.version, activity.months, activity.time) == (1, ("2024-01", "2024-02"), 17)
    stored = events.ACCOUNTS.decode({b"uscc": b"U1", b"period": b"2024", b"input_digest": b"d"})
    assert stored.account == "enterprises/U1/accounts/2024" and not stored.carries_figures
    assert events.ERASURE.decode({b"uscc": b"U1", b"request_id": b"e1"}).request_id == "e1"


def test_an_activity_event_keeps_the_comma_wire_format_and_sorts_months() -> None:
    fields = events.ACTIVITY.encode(
        events.ActivityRecorded.now("U1", "invoices", ["2025-02", "2025-01", "2025-02"], "b")
    )
    assert fields["months"] == "2025-01,2025-02" and fields["version"] == "1"


@pytest.mark.parametrize(
    ("stream", "fields", "complaint"),
    [
        (events.ACTIVITY, {"uscc": "U1", "source": "s", "months": "2025-01", "version": "99"}, "newer"),
        (events.ACTIVITY, {"source": "s", "months": "2025-01"}, "uscc"),
        (events.ACCOUNTS, {"uscc": "U1", "period": "x" * 500}, "period"),
        (events.CONSENT, {"type": "no-such-type", "time": "2026-01-01T00:00:00Z"}, "unknown message type"),
        (events.CONSENT, {"type": "heartbeat", "time": "not a time"}, "time"),
        (
            events.CONSENT,
            {
                "type": "api_key",
                "bank": "banks/b",
                "key_hash": "short",
                "change": "ADDED",
                "time": "2026-01-01T00:00:00Z",
            },
            "key_hash",
        ),
        (events.CONSENT, {"type": "consent", "scopes": "[not json"}, "not JSON"),
    ],
)
def test_a_message_that_is_not_one_is_refused_clearly(
    stream: events.Stream[Any], fields: dict[str, str], complaint: str
) -> None:
    with pytest.raises(events.EventDecodeError, match=re.escape(complaint)) as caught:
        stream.decode(fields)
    assert len(str(caught.value)) < 600  # bounded: never the whole input echoed back


def test_a_message_is_only_accepted_by_its_own_stream() -> None:
    with pytest.raises(TypeError, match="not a message of carbon:events:activity"):
        events.ACTIVITY.encode(events.ErasureRequested.create(uscc="U1", request_id="e1"))  # type: ignore[arg-type]
