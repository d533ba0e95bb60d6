"""Ingestion benchmark: readings/second acknowledged durably by ingest-energy.

Starts real processes (redis-server, consent, ingest-energy) on loopback,
grants the platform consent, registers meters, then streams synthetic
15-minute interval readings in big columnar batches over gRPC from several
client threads. A reading counts when the response of its stream has
acknowledged it, i.e. after its Parquet file was synced to disk and renamed and
its idempotency record committed (the service group-commits the batches of a
stream: one file per month, one syncfs and one Redis transaction per window).
Also reports the CPU seconds each process spent in the timed window. Prints one
JSON object on the last line.

    .venv/bin/python bench/bench_ingest.py [--meters 256] [--days 365] [--batch-days 365] [--streams 3]
                                           [--backend local|s3]

--backend s3: raw data on a local SeaweedFS (tools/bin/weed, `make seaweedfs`) through its S3
gateway: an ack then means the objects' PUTs completed (and the Redis commit).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_energy_pb2 as pb
from carbon.v1 import ingest_energy_pb2_grpc as pb_grpc
from carbon_common.channels import service_channel
from carbon_common.names import uscc_check_char
from carbon_devkit.credentials import SERVICE_SECRET
from carbon_devkit.s3 import RAW_BUCKET, seaweedfs
from carbon_devkit.seed import grant_platform
from carbon_devkit.stack import start_stack
from carbon_ingest import rawdata
from cpu import CpuMeter

Q = 900
METHOD = "/carbon.v1.EnergyIngestionService/StreamReadings"


def uscc(n: int) -> str:
    body = f"91330800MA{n:07d}"
    return body + uscc_check_char(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=256)
    parser.add_argument("--enterprises", type=int, default=8)
    parser.add_argument("--days", type=int, default=365, help="days of 15-min readings per meter")
    parser.add_argument("--batch-days", type=int, default=365, help="days per ReadingBatch")
    parser.add_argument("--batches-per-stream", type=int, default=4)
    parser.add_argument("--streams", type=int, default=3, help="concurrent client streams")
    parser.add_argument("--backend", choices=["local", "s3"], default="local", help="where raw data goes")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        data_root, storage_env = str(root / "data"), {}
        if args.backend == "s3":
            server = cleanup.enter_context(seaweedfs(root / "seaweedfs"))
            server.create_bucket(RAW_BUCKET)
            data_root, storage_env = f"s3://{RAW_BUCKET}/bench", server.environ()
        run(args, root, data_root, storage_env)


def run(args: argparse.Namespace, root: Path, data_root: str, storage_env: dict[str, str]) -> None:
    env = {"CARBON_LOG_LEVEL": "WARNING", "CARBON_DATA_DIR": data_root, **storage_env}
    stack = start_stack(root, ["consent"], env=env, wait=180)
    try:
        enterprises = [uscc(100 + i) for i in range(args.enterprises)]
        for e in enterprises:
            grant_platform(stack.consent.target, e, [consent_pb2.CONSENT_SCOPE_ENERGY_METERING])
        service = stack.start("ingest-energy", {"CARBON_GRPC_WORKERS": "8"})
        channel = service_channel(service.target, "meter-feed", SERVICE_SECRET)
        stub = pb_grpc.EnergyIngestionServiceStub(channel)
        meters = []
        for m in range(args.meters):
            created = stub.CreateMeter(
                pb.CreateMeterRequest(
                    parent=f"enterprises/{enterprises[m % len(enterprises)]}",
                    meter_id=f"m{m:04d}",
                    meter=pb.Meter(
                        energy_type=1, reading_kind=pb.Meter.READING_KIND_INTERVAL, multiplier={"value": "40"}
                    ),
                )
            )
            meters.append(created.name)

        # Pre-serialised batches: the figure measures the service, not the client's protobuf building.
        end = (int(time.time()) // 86400 - 1) * 86400 - 8 * 3600  # a local midnight in the past
        start = end - args.days * 86400
        per_batch = args.batch_days * 96
        rng = np.random.default_rng(1)
        payloads: list[tuple[bytes, int]] = []
        for m, name in enumerate(meters):
            ts_all = np.arange(start, end, Q, dtype=np.int64)
            values_all = rng.integers(0, 5000, ts_all.shape[0], dtype=np.int64)
            for b, lo in enumerate(range(0, ts_all.shape[0], per_batch)):
                ts = ts_all[lo : lo + per_batch]
                batch = pb.ReadingBatch(meter=name, request_id=f"bench-{m}-{b}")
                batch.timestamps.extend(ts.tolist())
                batch.values.extend(values_all[lo : lo + per_batch].tolist())
                payloads.append((batch.SerializeToString(), int(ts.shape[0])))
        streams = [payloads[i : i + args.batches_per_stream] for i in range(0, len(payloads), args.batches_per_stream)]
        total = sum(n for _, n in payloads)
        call = channel.stream_unary(
            METHOD, request_serializer=lambda b: b, response_deserializer=pb.StreamReadingsResponse.FromString
        )
        acked = 0
        lock = threading.Lock()
        queue = list(range(len(streams)))

        def client() -> None:
            nonlocal acked
            while True:
                with lock:
                    if not queue:
                        return
                    index = queue.pop()
                chunk = streams[index]
                response = call(iter([p for p, _ in chunk]), timeout=600)
                stored = sum(b.readings for b in response.batches if not b.replayed)
                with lock:
                    acked += stored

        pids = {
            "ingest-energy": service.process.pid,
            "consent": stack.consent.process.pid,
            "redis": stack.redis_process.pid,
            "client": os.getpid(),
        }
        meter = CpuMeter(pids)
        began = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.streams)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        cpu = meter.used()
        channel.close()
        data_bytes = stored_bytes(data_root, storage_env)
        result = {
            "benchmark": "ingest-energy StreamReadings, loopback gRPC, durable acks",
            "backend": args.backend,
            "readings_acknowledged": acked,
            "readings_expected": total,
            "seconds": round(elapsed, 3),
            "readings_per_second": round(acked / elapsed),
            "batches": len(payloads),
            "readings_per_batch": per_batch,
            "meters": args.meters,
            "client_streams": args.streams,
            "parquet_bytes": data_bytes,
            "cpu_seconds": cpu,
            "service_cpu_us_per_reading": round(cpu["ingest-energy"] / max(acked, 1) * 1e6, 3),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result))
    finally:
        stack.stop()


def stored_bytes(data_root: str, storage_env: dict[str, str]) -> int:
    os.environ.update(storage_env)  # the AWS_* variables rawdata reads
    location = rawdata.object_root(data_root)
    if location is None:
        return sum(f.stat().st_size for f in Path(data_root).rglob("*.parquet"))
    import obstore

    return sum(o["size"] for batch in obstore.list(location.store, location.join()) for o in batch)


if __name__ == "__main__":
    main()
