"""Helpers for the ingestion tests: valid USCCs, an in-process consent check,
reading the stored Parquet activity back, an in-process gRPC server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import polars as pl
from carbon.v1 import consent_pb2
from carbon.v1 import ingest_energy_pb2 as energy_pb
from carbon_common.errors import ServiceError, from_rpc_error, permission_denied
from carbon_common.names import uscc_check_char
from carbon_common.server import Running, Service
from carbon_ingest import rawdata


def make_uscc(n: int) -> str:
    body = f"91330100MA{n:07d}"
    return body + uscc_check_char(body)


class AllowList:
    """A real, in-process consent decision with the ConsentGate interface."""

    def __init__(self, *allowed: tuple[str, int]) -> None:
        self.allowed = set(allowed)
        self.calls = 0

    def require(self, uscc: str, grantee: str, scope: int, data_time: datetime | None = None) -> str:
        self.calls += 1
        if grantee != "platform" or (uscc, scope) not in self.allowed:
            raise permission_denied(
                "CONSENT_REQUIRED",
                f"{grantee} has no authorised consent for enterprises/{uscc}",
                enterprise=f"enterprises/{uscc}",
                grantee=grantee,
                scope=consent_pb2.ConsentScope.Name(scope),
            )
        return f"enterprises/{uscc}/consents/test"


def create_meter(servicer: Any, uscc: str, meter_id: str) -> str:
    """Register an interval electricity meter through an in-process EnergyServicer; its name."""
    request = energy_pb.CreateMeterRequest(
        parent=f"enterprises/{uscc}", meter_id=meter_id, meter=energy_pb.Meter(energy_type=1, reading_kind=1)
    )
    return str(servicer.CreateMeter(request, None).name)


def batch(name: str, rid: str, ts: list[int], values: list[int]) -> energy_pb.ReadingBatch:
    return energy_pb.ReadingBatch(meter=name, request_id=rid, timestamps=ts, values=values)


def winning_readings(data_dir: Path) -> pl.DataFrame:
    frame = raw_readings(data_dir)
    if not frame.height:
        return frame
    return frame.sort("seq").unique(["uscc", "meter_id", "ts"], keep="last").sort(["uscc", "meter_id", "ts"])


def raw_rows(data_dir: Path, kind: str) -> pl.DataFrame:
    """Every stored row of a kind, on either backend (local directory or s3:// root)."""
    files = sorted(rawdata.iter_files(data_dir, kind))
    return rawdata.scan(files).collect() if files else pl.DataFrame(schema=rawdata.SCHEMAS[kind])


def raw_readings(data_dir: Path) -> pl.DataFrame:
    return raw_rows(data_dir, rawdata.READINGS)


@contextmanager
def running(service: Service) -> Iterator[str]:
    """The service in this process (real gRPC on a free port; yields its target), stopped as SIGTERM
    stops it: its background workers (sweeps, compaction, projection tails) must not outlive the test
    and act on the next one's Redis."""
    served = Running(service)
    served.start()
    try:
        yield f"127.0.0.1:{served.grpc_port}"
    finally:
        served.stop()


@contextmanager
def in_process(service: Service) -> Iterator[grpc.Channel]:
    """`running`, with a plain channel to it."""
    with running(service) as target, grpc.insecure_channel(target) as channel:
        yield channel


def rpc_error(call: Any) -> ServiceError:
    try:
        call()
    except grpc.RpcError as error:
        return from_rpc_error(error)
    raise AssertionError("expected an RPC error")
