"""Exactly-once under kill -9: a client streams batches and records acks while
the test kill -9s ingest-energy (or Redis, with appendfsync always) at chosen
moments of chosen calls (before the call, after its intent record, after its
file is written, after its commit) and restarts it once the client has seen the
outage; the client retries unacked batches. Kills are driven by these observed
events (tests/ingest/kill9.py), never by the clock, so every run makes all its
kills and reaches the checks. The stored activity must equal exactly the
expected set: no loss, no doubles."""

from __future__ import annotations

import random
import threading
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import polars as pl
import pytest
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_energy_pb2 as pb
from carbon.v1 import ingest_energy_pb2_grpc as pb_grpc
from carbon_common.channels import service_channel
from carbon_devkit.credentials import SERVICE_SECRET as SECRET
from carbon_devkit.s3 import RAW_BUCKET
from carbon_devkit.seed import grant_platform
from carbon_ingest import rawdata
from carbon_ingest_energy.store import batch_key, intent_key

from tests.ingest import kill9
from tests.ingest.helpers import make_uscc

pytestmark = pytest.mark.e2e

USCC = make_uscc(41)
T0 = 1_704_038_400  # 2023-12-31T16:00Z = 2024-01-01 00:00 Asia/Shanghai
Q = 900
BATCHES = 240
PER_BATCH = 100
PER_STREAM = 3
METERS = ("main", "boiler", "chiller")
PER_METER = BATCHES // len(METERS) * PER_BATCH
CALLS = BATCHES // PER_STREAM
KILLS = 4


def make_batches(meters: list[str]) -> list[pb.ReadingBatch]:
    """Consecutive batches go to different meters, so a stream's batches share a window
    (one file per month, one commit): a kill can orphan a window of several batches."""
    rng = np.random.default_rng(7)
    batches = []
    for b in range(BATCHES):
        ts = T0 + Q * (b // len(meters) * PER_BATCH + np.arange(PER_BATCH, dtype=np.int64))
        rng.shuffle(ts)  # out of order within the batch
        values = (ts // Q) % 1000 + 1
        batches.append(
            pb.ReadingBatch(meter=meters[b % len(meters)], request_id=f"batch-{b:04d}", timestamps=ts, values=values)
        )
    return batches


class Client(threading.Thread):
    """Streams PER_STREAM batches per call; an ack is the call's response. Call i passes
    the test's gate before each attempt."""

    def __init__(self, target: str, batches: list[pb.ReadingBatch], gates: kill9.Gates) -> None:
        super().__init__(daemon=True)
        self.target = target
        self.batches = batches
        self.gates = gates
        self.acked: set[str] = set()
        self.calls_acked = 0
        self.failures = 0
        self.replayed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            channel = service_channel(self.target, "meter-feed", SECRET)
            stub = pb_grpc.EnergyIngestionServiceStub(channel)
            pending = list(self.batches)
            while pending:
                chunk = pending[:PER_STREAM]
                self.gates.before_call(self.calls_acked)
                try:
                    response = stub.StreamReadings(iter(chunk), timeout=20)
                except grpc.RpcError as error:
                    if error.code() not in (
                        grpc.StatusCode.UNAVAILABLE,
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        grpc.StatusCode.UNKNOWN,
                        grpc.StatusCode.CANCELLED,
                    ):
                        raise
                    self.failures += 1
                    time.sleep(0.05)
                    continue
                assert [b.request_id for b in response.batches] == [b.request_id for b in chunk]
                self.acked.update(b.request_id for b in response.batches)
                self.replayed += sum(b.replayed for b in response.batches)
                self.calls_acked += 1
                pending = pending[PER_STREAM:]
            channel.close()
        except BaseException as error:  # surfaced by the test
            self.error = error


@pytest.mark.parametrize(
    ("victim", "backend"), [("ingest-energy", "local"), ("redis", "local"), ("ingest-energy", "s3")]
)
def test_kill9_loses_nothing_acknowledged_and_doubles_nothing(
    tmp_path: Path, victim: str, backend: str, request: pytest.FixtureRequest
) -> None:
    data_root, storage_env = str(tmp_path / "data"), {}
    if backend == "s3":  # raw data on SeaweedFS: a kill between PUT and commit leaves an object to clean
        server = request.getfixturevalue("s3_env")  # AWS_* set in this process too (listing, reading back)
        data_root, storage_env = f"s3://{RAW_BUCKET}/{uuid.uuid4().hex}", server.environ()
    stack = kill9.start_stack(tmp_path, data_root=data_root, storage_env=storage_env)
    try:
        grant_platform(stack.consent.target, USCC, [consent_pb2.CONSENT_SCOPE_ENERGY_METERING])
        service = stack.start("ingest-energy")
        with service_channel(service.target, "meter-feed", SECRET) as channel:
            stub = pb_grpc.EnergyIngestionServiceStub(channel)
            meters = [
                stub.CreateMeter(
                    pb.CreateMeterRequest(
                        parent=f"enterprises/{USCC}",
                        meter_id=meter_id,
                        meter=pb.Meter(
                            energy_type=1, reading_kind=pb.Meter.READING_KIND_INTERVAL, multiplier={"value": "2"}
                        ),
                    )
                ).name
                for meter_id in METERS
            ]
        batches = make_batches(meters)
        seed = time.time_ns()
        plan = kill9.choose_kills(random.Random(seed), CALLS, KILLS)
        gates = kill9.Gates(kill9.gate_calls(plan))
        relay = kill9.Relay(service.grpc_port)  # the client reaches the service through it
        client = Client(relay.target, batches, gates)
        started = time.monotonic()
        client.start()

        def keys_of(call: int) -> kill9.CallKeys:
            ids = [b.request_id for b in batches[call * PER_STREAM : (call + 1) * PER_STREAM]]
            return kill9.CallKeys([intent_key(USCC, i) for i in ids], [batch_key(USCC, i) for i in ids])

        kills = kill9.run_kills(stack, victim, client, gates, relay, plan, keys_of, Path(data_root) / "readings")
        context = f"victim={victim} seed={seed} plan={plan}"
        kill9.finish(client, relay, kills, KILLS, lambda: client.replayed, context)
        assert client.acked == {b.request_id for b in batches}
        print(kill9.summary(victim, kills, client.failures, time.monotonic() - started), f"replayed={client.replayed}")

        files = sorted(rawdata.iter_files(data_root, rawdata.READINGS))
        raw = rawdata.scan(files).collect()
        per_file_meters = [rawdata.scan([f]).select(pl.col("meter_id").n_unique()).collect().item() for f in files]
        expected_ts = T0 + Q * np.arange(PER_METER, dtype=np.int64)
        # no doubles: every reading stored exactly once, not merely deduplicable
        assert raw.height == len(METERS) * PER_METER
        for meter_id in METERS:
            got = raw.filter(pl.col("meter_id") == meter_id).sort("ts")
            assert got["ts"].to_numpy().tolist() == expected_ts.tolist(), meter_id
            assert got["wh"].to_numpy().tolist() == (2 * ((expected_ts // Q) % 1000 + 1)).tolist()
        assert raw["flag"].null_count() == raw.height
        assert any(n > 1 for n in per_file_meters)  # windows of several batches
        # no orphan: the retries deleted every uncommitted attempt, so readers through the commit
        # record see every object there is (a name may stay announced only if its object is gone)
        import redis as redis_lib

        hot = redis_lib.Redis.from_url(stack.redis.url)
        assert sorted(rawdata.iter_files(rawdata.Committed(data_root, hot), rawdata.READINGS)) == files
        # the hot state agrees: coverage counts every slot once
        with service_channel(stack.services["ingest-energy"].target, "meter-feed", SECRET) as channel:
            stub = pb_grpc.EnergyIngestionServiceStub(channel)
            present = stub.GetCoverage(
                pb.GetCoverageRequest(enterprise=f"enterprises/{USCC}", period="2024")
            ).present_intervals
        assert present == len(METERS) * PER_METER
        # every acknowledged batch emitted its event (retries may add one more for a batch never acked before)
        events = hot.xrange("carbon:events:activity", count=100_000)
        assert {e[1][b"batch"].decode().rsplit("/", 1)[1] for e in events} == client.acked
    finally:
        stack.stop()
