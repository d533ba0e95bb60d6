"""The dev-kit's free ports stay out of the kernel's ephemeral range (where any outgoing connection
can take a handed-out port before the service binds it), are free when handed out and never handed out
twice; a service is SERVING only when its own server says so."""

from __future__ import annotations

import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from carbon_devkit import ports
from carbon_devkit.processes import NotServing, ServiceProcess, wait_serving
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    handed = [ports.free_port() for _ in range(50)]
    low = ports.ephemeral_low()
    assert all(ports.LOWEST <= port < low for port in handed), (low, handed)
    for port in handed:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_listening_port_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        # Every draw hits the taken port: the kernel's choice (a different, free port) is the answer.
        monkeypatch.setattr(ports.secrets, "randbelow", lambda _n: taken - ports.LOWEST)
        monkeypatch.setattr(ports, "ephemeral_low", lambda: max(taken + 1, ports.LOWEST + 1_000))
        assert ports.free_port() != taken


def test_a_port_handed_out_is_never_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Between being handed out and being bound a port is free, so only memory keeps a second draw off
    # it: two services of one stack on one port made the later one fail while probes reached the first.
    first = ports.free_port()
    monkeypatch.setattr(ports.secrets, "randbelow", lambda _n: first - ports.LOWEST)
    second = ports.free_port()
    assert second != first
    assert ports.free_port() not in (first, second)


def test_a_service_is_not_taken_as_serving_when_another_server_holds_its_port(tmp_path: Path) -> None:
    # Another process's gRPC server (health "" SERVING) on rating's port: rating is not SERVING there.
    other = grpc.server(ThreadPoolExecutor(max_workers=2))
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, other)
    port = other.add_insecure_port("127.0.0.1:0")
    other.start()
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rating = ServiceProcess("rating", port, ports.free_port(), idle, tmp_path / "rating.log", {})
        with pytest.raises(NotServing, match="rating"):
            wait_serving([rating], timeout=1.5)
    finally:
        idle.kill()
        idle.wait()
        other.stop(None)
