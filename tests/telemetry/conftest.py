"""Telemetry fixtures: the process-wide OpenTelemetry SDK with in-memory exporters,
real gRPC servers (carbon_common.server.Running) on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from carbon_common import telemetry
from carbon_common.server import Running, Service
from carbon_common.settings import BaseServiceSettings
from carbon_devkit.ports import free_port
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Otel:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def metric_points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        points: list[Any] = []
        for resource_metrics in data.resource_metrics if data else []:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


_OTEL: Otel | None = None


@pytest.fixture(scope="session")
def otel_session() -> Otel:
    # The global providers can be set once per process: the first telemetry
    # test installs them with in-memory exporters next to the usual ones.
    global _OTEL
    if _OTEL is None:
        spans = InMemorySpanExporter()
        reader = InMemoryMetricReader()
        installed = telemetry.configure("carbon-tests", [SimpleSpanProcessor(spans)], [reader])
        assert installed, "telemetry was configured before the telemetry tests; run them in their own process"
        _OTEL = Otel(spans, reader)
    return _OTEL


@pytest.fixture
def otel(otel_session: Otel) -> Otel:
    otel_session.spans.clear()
    return otel_session


RegisterFn = Callable[[grpc.Server], list[str]]


@pytest.fixture
def grpc_servers() -> Iterator[Callable[[str, RegisterFn], Running]]:
    """Start real gRPC servers with the shared bootstrap; stopped after the test."""
    started: list[Running] = []

    def start(name: str, register: RegisterFn) -> Running:
        settings = BaseServiceSettings(service_name=name, grpc_port=free_port(), shutdown_grace_seconds=1)
        running = Running(Service(name, settings, register))
        running.start()
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        running.stop()
