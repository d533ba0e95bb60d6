"""ingest-energy: each rule with hand-made edge cases, against a real Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import grpc
import polars as pl
import pytest
import redis
from carbon.v1 import common_pb2, consent_pb2
from carbon.v1 import ingest_energy_pb2 as pb
from carbon.v1 import ingest_energy_pb2_grpc as pb_grpc
from carbon_common.errors import ServiceError
from carbon_common.redis_conn import connect
from carbon_common.server import Service
from carbon_ingest import rawdata
from carbon_ingest.common import ERASURE_STREAM, handle_erasure
from carbon_ingest_energy.core import EnergyCore
from carbon_ingest_energy.grpc_api import EnergyServicer, register
from carbon_ingest_energy.settings import EnergySettings
from carbon_ingest_energy.store import ReadingStore

from tests.ingest.helpers import AllowList, in_process, make_uscc, raw_readings, rpc_error, winning_readings

USCC = make_uscc(1)
OTHER = make_uscc(2)
SCOPE = consent_pb2.CONSENT_SCOPE_ENERGY_METERING
# 2024-03-01T00:00:00+08:00
T0 = int(datetime(2024, 2, 29, 16, 0, tzinfo=UTC).timestamp())
Q = 900


@pytest.fixture
def svc(redis_url: str, tmp_path: Path) -> EnergyServicer:
    settings = EnergySettings(redis_url=redis_url, data_dir=tmp_path, grpc_port=0, http_port=0, max_power_kw=1000)
    store = ReadingStore(connect(redis_url), tmp_path)
    return EnergyServicer(EnergyCore(settings, store, AllowList((USCC, SCOPE))))


def meter(
    svc: EnergyServicer,
    meter_id: str = "m1",
    kind: int = pb.Meter.READING_KIND_INTERVAL,
    multiplier: str = "1",
    register_max: int = 0,
    energy: int = common_pb2.ENERGY_TYPE_ELECTRICITY,
) -> str:
    created = svc.CreateMeter(
        pb.CreateMeterRequest(
            parent=f"enterprises/{USCC}",
            meter_id=meter_id,
            meter=pb.Meter(
                energy_type=energy,
                reading_kind=kind,
                multiplier={"value": multiplier},
                register_max=register_max,
            ),
        ),
        None,
    )
    return created.name


def batch(name: str, rid: str, ts: list[int], values: list[int], repl: list[int] | None = None) -> pb.ReadingBatch:
    return pb.ReadingBatch(meter=name, request_id=rid, timestamps=ts, values=values, replacement_indices=repl or [])


def stream(svc: EnergyServicer, *batches: pb.ReadingBatch) -> pb.StreamReadingsResponse:
    return svc.StreamReadings(iter(batches), None)


def stored(tmp_path: Path) -> dict[int, tuple[int, str | None]]:
    frame = winning_readings(tmp_path)
    return {r["ts"]: (r["wh"], r["flag"]) for r in frame.iter_rows(named=True)}


def test_interval_batch_is_stored_in_the_contract_layout(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc, multiplier="200")
    response = stream(svc, batch(name, "r1", [T0, T0 + Q, T0 + 2 * Q], [10, 20, 30]))
    assert response.readings_stored == 3
    assert response.batches[0].request_id == "r1" and not response.batches[0].replayed
    files = list((tmp_path / "readings").glob("month=*/*.parquet"))
    assert [f.parent.name for f in files] == ["month=2024-03"]  # month in Asia/Shanghai
    assert rawdata.schema_drift(str(files[0]), rawdata.READINGS) == []
    frame = pl.read_parquet(files[0])
    assert frame["wh"].to_list() == [2000, 4000, 6000]  # after the CT ratio
    assert set(frame["energy_type"]) == {"electricity"} and set(frame["meter_id"]) == {"m1"}
    events = redis.Redis.from_url(svc.core.settings.redis_url).xrange("carbon:events:activity")
    assert len(events) == 1
    fields = {k.decode(): v.decode() for k, v in events[0][1].items()}
    assert fields["uscc"] == USCC and fields["source"] == "readings" and fields["months"] == "2024-03"
    assert fields["batch"] == f"{name}/batches/r1" and int(fields["time"]) > 0


def test_fractional_multiplier_rounds_half_even(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc, multiplier="0.5")
    stream(svc, batch(name, "r1", [T0, T0 + Q, T0 + 2 * Q], [1, 3, 5]))
    assert [v[0] for v in stored(tmp_path).values()] == [0, 2, 2]


def test_retry_with_same_request_id_is_replayed_not_stored_twice(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc)
    first = stream(svc, batch(name, "r1", [T0, T0 + Q], [1, 2]))
    again = stream(svc, batch(name, "r1", [T0, T0 + Q], [1, 2]))
    assert again.batches[0].replayed and again.readings_stored == 0
    assert first.batches[0].readings == again.batches[0].readings == 2
    assert raw_readings(tmp_path).height == 2
    with pytest.raises(ServiceError) as error:
        stream(svc, batch(name, "r1", [T0], [5]))
    assert error.value.code == grpc.StatusCode.FAILED_PRECONDITION and error.value.reason == "REQUEST_ID_REUSED"


def files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "readings").glob("month=*/*.parquet"))


def test_a_streams_batches_share_one_file_per_month(svc: EnergyServicer, tmp_path: Path) -> None:
    """Group commit: one window, one file per month for all its meters, one event per batch."""
    m1, m2, m3 = meter(svc, "m1"), meter(svc, "m2"), meter(svc, "m3")
    feb_end = T0 - Q  # 2024-02-29 23:45 local: February
    response = stream(
        svc,
        batch(m2, "b", [T0, T0 + Q], [1, 2]),
        batch(m1, "a", [feb_end, T0], [3, 4]),
        batch(m3, "c", [T0 + 2 * Q], [5]),
        batch(m1, "d", [T0 + Q], [6]),  # m1 again: the window is written first, d starts the next
        batch(m2, "b", [T0, T0 + Q], [1, 2]),  # a retry inside the stream: replayed
    )
    assert [b.request_id for b in response.batches] == ["b", "a", "c", "d", "b"]
    assert [b.replayed for b in response.batches] == [False, False, False, False, True]
    assert response.readings_stored == 6
    layout = sorted((f.parent.name, f.name) for f in files(tmp_path))
    assert [month for month, _ in layout] == ["month=2024-02", "month=2024-03", "month=2024-03"]
    assert layout[0][1] in {layout[1][1], layout[2][1]}  # the first window's February and March files
    raw = raw_readings(tmp_path)
    assert raw.height == 6 and raw.filter(pl.col("meter_id") == "m1").height == 3
    first_window = pl.read_parquet(tmp_path / "readings" / "month=2024-03" / layout[0][1])
    assert first_window["meter_id"].to_list() == ["m1", "m2", "m2", "m3"]  # key order, as indexed
    events = redis.Redis.from_url(svc.core.settings.redis_url).xrange("carbon:events:activity")
    assert sorted(e[1][b"batch"].decode().rsplit("/", 1)[1] for e in events) == ["a", "b", "c", "d"]


def test_window_limits_split_a_stream(svc: EnergyServicer, tmp_path: Path) -> None:
    svc.core.settings = svc.core.settings.model_copy(update={"window_max_batches": 2})
    names = [meter(svc, f"m{i}") for i in range(5)]
    stream(svc, *[batch(n, f"r{i}", [T0], [i]) for i, n in enumerate(names)])
    assert len(files(tmp_path)) == 3  # 2 + 2 + 1
    svc.core.settings = svc.core.settings.model_copy(update={"window_max_batches": 64, "window_max_readings": 3})
    stream(svc, *[batch(n, f"s{i}", [T0 + Q, T0 + 2 * Q], [i, i]) for i, n in enumerate(names)])
    assert len(files(tmp_path)) == 3 + 5  # 2 readings each: a window holds one batch


def test_a_window_that_never_committed_is_replaced_by_any_regrouped_retry(svc: EnergyServicer, tmp_path: Path) -> None:
    """A crash between a window's durable files and its commit: the files hold batches that were
    never acknowledged. Retried in other groupings, each batch is stored exactly once and the
    orphaned files are removed (their names are in the batches' intents)."""
    m1, m2, m3 = meter(svc, "m1"), meter(svc, "m2"), meter(svc, "m3")
    a, b, c = batch(m1, "a", [T0, T0 + Q], [1, 2]), batch(m2, "b", [T0], [3]), batch(m3, "c", [T0 + Q], [4])
    crashed = [svc.core._stage(svc.core.validate(x)) for x in (a, b)]
    svc.core.store.write_window(crashed)  # ...and the process dies before commit
    (orphan,) = files(tmp_path)
    assert raw_readings(tmp_path).height == 3

    stream(svc, b, c)  # b first, with c: removes the orphan (it also held a, never acknowledged)
    assert not orphan.exists() and raw_readings(tmp_path).height == 2
    stream(svc, a)
    raw = raw_readings(tmp_path)
    assert raw.height == 4 and raw.select("meter_id", "ts").n_unique() == 4
    assert stream(svc, a, b, c).readings_stored == 0
    assert not list(redis.Redis.from_url(svc.core.settings.redis_url).scan_iter("carbon:ingest-energy:intent:*"))


def test_duplicates_within_a_batch_last_wins(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc)
    stream(svc, batch(name, "r1", [T0 + Q, T0, T0 + Q, T0], [5, 1, 7, 2]))
    assert stored(tmp_path) == {T0: (2, None), T0 + Q: (7, None)}
    assert raw_readings(tmp_path).height == 2


def test_correction_supersedes_and_late_out_of_order_readings_fill_in(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc)
    stream(svc, batch(name, "a", [T0 + 2 * Q, T0], [30, 10]))
    stream(svc, batch(name, "late", [T0 + Q], [20]))  # late, out of order
    stream(svc, batch(name, "fix", [T0], [11]))  # correction: same meter and ts
    assert stored(tmp_path) == {T0: (11, None), T0 + Q: (20, None), T0 + 2 * Q: (30, None)}


def test_absurd_values_are_flagged_and_counted_not_used(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc)  # bound: 1000 kW × 15 min = 250000 Wh
    response = stream(svc, batch(name, "r1", [T0, T0 + Q, T0 + 2 * Q], [-5, 250_000, 250_001]))
    assert response.batches[0].flagged == 2
    assert stored(tmp_path) == {T0: (-5, "NEGATIVE"), T0 + Q: (250_000, None), T0 + 2 * Q: (250_001, "SPIKE")}
    # a later good value replaces a flagged one, in coverage too
    stream(svc, batch(name, "fix", [T0], [5]))
    cov = svc.GetCoverage(pb.GetCoverageRequest(enterprise=f"enterprises/{USCC}", period="2024-03"), None)
    assert cov.flagged_intervals == 1


def test_register_reads_become_intervals_with_rollover(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc, kind=pb.Meter.READING_KIND_REGISTER, multiplier="10", register_max=9999)
    stream(svc, batch(name, "r1", [T0, T0 + Q, T0 + 2 * Q, T0 + 3 * Q], [9990, 9995, 3, 8]))
    # 9995 -> 3 wraps after 9999: 4 + 1 + 3 = 8 units
    assert stored(tmp_path) == {T0: (50, None), T0 + Q: (80, None), T0 + 2 * Q: (50, None)}


def test_register_decrease_without_rollover_is_flagged_negative(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc, kind=pb.Meter.READING_KIND_REGISTER)
    stream(svc, batch(name, "r1", [T0, T0 + Q, T0 + 2 * Q], [100, 90, 95]))
    assert stored(tmp_path) == {T0: (-10, "NEGATIVE"), T0 + Q: (5, None)}


def test_register_missing_read_is_spread_and_late_read_splits_it(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc, kind=pb.Meter.READING_KIND_REGISTER)
    stream(svc, batch(name, "r1", [T0, T0 + 3 * Q], [100, 110]))
    assert stored(tmp_path) == {T0: (4, None), T0 + Q: (3, None), T0 + 2 * Q: (3, None)}
    stream(svc, batch(name, "late", [T0 + Q], [101]))
    assert stored(tmp_path) == {T0: (1, None), T0 + Q: (5, None), T0 + 2 * Q: (4, None)}


def test_meter_replacement_with_and_without_final_read(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc, kind=pb.Meter.READING_KIND_REGISTER)
    # old meter: 500, 510, final read 515 at T0+2Q; new meter starts at 0 at the same time
    stream(svc, batch(name, "r1", [T0, T0 + Q, T0 + 2 * Q, T0 + 2 * Q, T0 + 3 * Q], [500, 510, 515, 0, 7], [3]))
    assert stored(tmp_path) == {T0: (10, None), T0 + Q: (5, None), T0 + 2 * Q: (7, None)}
    # a second replacement with no final read of the old meter: the interval is unmeasured, not guessed
    stream(svc, batch(name, "r2", [T0 + 4 * Q, T0 + 5 * Q], [50, 60], [0]))
    assert stored(tmp_path)[T0 + 3 * Q] == (0, "UNMEASURED")
    assert stored(tmp_path)[T0 + 4 * Q] == (10, None)


def test_coverage_reports_gaps(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc)
    # 2024-03 has 31 × 96 = 2976 slots; store all but slots 10..19 and the last one
    slots = [i for i in range(2976) if not 10 <= i < 20 and i != 2975]
    stream(svc, batch(name, "r1", [T0 + i * Q for i in slots], [1] * len(slots)))
    cov = svc.GetCoverage(pb.GetCoverageRequest(enterprise=f"enterprises/{USCC}", period="2024-03"), None)
    assert cov.expected_intervals == 2976 and cov.present_intervals == 2965
    assert cov.ratio.value == "0.996304"
    assert [(g.start_time.seconds, g.end_time.seconds) for g in cov.gaps] == [
        (T0 + 10 * Q, T0 + 20 * Q),
        (T0 + 2975 * Q, T0 + 2976 * Q),
    ]
    year = svc.GetCoverage(pb.GetCoverageRequest(enterprise=f"enterprises/{USCC}", period="2024"), None)
    assert year.present_intervals == 2965


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.timestamps.__setitem__(1, T0 + 7), "batches[0].timestamps[1]"),
        (lambda b: b.values.append(1), "batches[0].values"),
        (lambda b: setattr(b, "request_id", ""), "batches[0].request_id"),
        (lambda b: setattr(b, "meter", "meters/x"), "batches[0].meter"),
        (lambda b: b.timestamps.__setitem__(0, 2_000_000_000_0), "batches[0].timestamps[0]"),
        (lambda b: b.replacement_indices.append(0), "batches[0].replacement_indices"),
    ],
)
def test_invalid_batches_name_the_field(svc: EnergyServicer, mutate, field: str) -> None:  # type: ignore[no-untyped-def]
    name = meter(svc)
    bad = batch(name, "r1", [T0, T0 + Q], [1, 2])
    mutate(bad)
    with pytest.raises(ServiceError) as error:
        stream(svc, bad)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.field_violations[0][0] == field


def test_meter_validation_and_registry(svc: EnergyServicer) -> None:
    with pytest.raises(ServiceError) as error:
        svc.CreateMeter(
            pb.CreateMeterRequest(
                parent=f"enterprises/{USCC}",
                meter_id="m1",
                meter=pb.Meter(multiplier={"value": "-1"}, time_zone="Mars/Base", interval_seconds=7),
            ),
            None,
        )
    fields = [f for f, _ in error.value.field_violations]
    assert fields == [
        "meter.energy_type",
        "meter.reading_kind",
        "meter.multiplier",
        "meter.time_zone",
        "meter.interval_seconds",
    ]
    name = meter(svc)
    with pytest.raises(ServiceError) as error:
        meter(svc)
    assert error.value.code == grpc.StatusCode.ALREADY_EXISTS
    got = svc.GetMeter(pb.GetMeterRequest(name=name), None)
    assert got.time_zone == "Asia/Shanghai" and got.interval_seconds == 900 and got.multiplier.value == "1"
    meter(svc, "m2")
    page = svc.ListMeters(pb.ListMetersRequest(parent=f"enterprises/{USCC}", page_size=1), None)
    rest = svc.ListMeters(pb.ListMetersRequest(parent=f"enterprises/{USCC}", page_token=page.next_page_token), None)
    assert [m.name.rsplit("/", 1)[1] for m in [*page.meters, *rest.meters]] == ["m1", "m2"]
    with pytest.raises(ServiceError) as error:
        stream(svc, batch(f"enterprises/{USCC}/meters/nope", "r1", [T0], [1]))
    assert error.value.code == grpc.StatusCode.NOT_FOUND


def test_over_grpc_consent_refusal_drain_and_errors(svc: EnergyServicer, redis_url: str) -> None:
    name = meter(svc)
    service = Service("ingest-energy", svc.core.settings, register(svc.core))
    with in_process(service) as channel:
        stub = pb_grpc.EnergyIngestionServiceStub(channel)
        # no consent for OTHER
        error = rpc_error(
            lambda: stub.CreateMeter(
                pb.CreateMeterRequest(
                    parent=f"enterprises/{OTHER}",
                    meter_id="m1",
                    meter=pb.Meter(energy_type=1, reading_kind=1),
                )
            )
        )
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "CONSENT_REQUIRED"
        error = rpc_error(lambda: stub.StreamReadings(iter([batch(f"enterprises/{OTHER}/meters/m1", "x", [T0], [1])])))
        assert error.code == grpc.StatusCode.PERMISSION_DENIED and error.reason == "CONSENT_REQUIRED"
        # validation arrives as BadRequest
        error = rpc_error(lambda: stub.StreamReadings(iter([batch(name, "x", [T0 + 1], [1])])))
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert error.field_violations[0][0] == "batches[0].timestamps[0]"
        # drained: UNAVAILABLE, then resumed
        client = redis.Redis.from_url(redis_url)
        client.set("carbon:ingest:drain", "1")
        error = rpc_error(lambda: stub.StreamReadings(iter([batch(name, "x", [T0], [1])])))
        assert error.code == grpc.StatusCode.UNAVAILABLE and error.reason == "INGESTION_DRAINED"
        client.delete("carbon:ingest:drain")
        ok = stub.StreamReadings(iter([batch(name, "x", [T0], [1]), batch(name, "y", [T0 + Q], [1])]))
        assert [b.request_id for b in ok.batches] == ["x", "y"] and ok.readings_stored == 2


def test_erasure_rewrites_partitions_and_reports(svc: EnergyServicer, tmp_path: Path, redis_url: str) -> None:
    svc.core.gate = AllowList((USCC, SCOPE), (OTHER, SCOPE))
    name = meter(svc)
    other = svc.CreateMeter(
        pb.CreateMeterRequest(
            parent=f"enterprises/{OTHER}", meter_id="m1", meter=pb.Meter(energy_type=1, reading_kind=1)
        ),
        None,
    ).name
    # one stream: one window, one file shared by both enterprises; a second stream: USCC alone
    stream(svc, batch(name, "a", [T0, T0 + Q], [1, 2]), batch(other, "b", [T0], [3]))
    stream(svc, batch(name, "c", [T0 + 2 * Q], [4]))
    assert len(list((tmp_path / "readings").glob("month=*/*.parquet"))) == 2
    client = redis.Redis.from_url(redis_url)
    client.xgroup_create(ERASURE_STREAM, "ingest-energy", id="0", mkstream=True)
    client.xadd(ERASURE_STREAM, {"uscc": USCC, "request_id": "er1"})
    entries = client.xreadgroup("ingest-energy", "t", {ERASURE_STREAM: ">"})
    entry_id, fields = entries[0][1][0]
    handle_erasure(client, "ingest-energy", svc.core.store.erase, entry_id, fields)
    report = json.loads(client.hget("carbon:erasure:er1", "ingest-energy"))
    assert report == {
        "rows_deleted": 3,
        "files_rewritten": 1,
        "files_deleted": 1,
        "redis_keys_deleted": report["redis_keys_deleted"],
    }
    assert report["redis_keys_deleted"] > 0
    assert set(raw_readings(tmp_path)["uscc"]) == {OTHER}
    assert not list(client.scan_iter(f"carbon:ingest-energy:*{USCC}*"))


def test_compaction_keeps_the_winners_in_one_sorted_file(svc: EnergyServicer, tmp_path: Path) -> None:
    name = meter(svc)
    stream(
        svc, batch(name, "a", [T0 + Q, T0], [2, 1]), batch(name, "b", [T0], [5]), batch(name, "c", [T0 + 2 * Q], [3])
    )
    before = winning_readings(tmp_path)
    index_key = "carbon.readings.index"
    for batch_file in (tmp_path / "readings").glob("month=*/*.parquet"):  # batch files carry the index
        assert json.loads(pl.read_parquet_metadata(batch_file)[index_key])["rows"] == pl.read_parquet(batch_file).height
    assert svc.core.store.compact() == 3
    files = list((tmp_path / "readings").glob("month=*/*.parquet"))
    assert len(files) == 1 and files[0].name.startswith("compact-")
    after = pl.read_parquet(files[0])
    assert after.height == 3 and after["ts"].is_sorted()
    assert after.drop("seq").equals(before.drop("seq"))
    index = json.loads(pl.read_parquet_metadata(files[0])[index_key])
    assert index["deduped"] is True and index["segments"]["rows"] == [3]
