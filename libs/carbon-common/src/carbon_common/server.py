"""Server bootstrap shared by every service.

gRPC with the standard health service and reflection, an optional FastAPI
edge, background workers, and a graceful shutdown on SIGTERM/SIGINT: health
turns NOT_SERVING first (so load balancers drain), workers stop, then the
servers finish in-flight calls within the grace period.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from carbon_common import limits, telemetry
from carbon_common import logging as json_logging
from carbon_common.channels import MAX_MESSAGE_BYTES
from carbon_common.errors import ErrorInterceptor
from carbon_common.settings import BaseServiceSettings

log = logging.getLogger(__name__)

Worker = Callable[[threading.Event], None]


@dataclass
class Service:
    """What a service plugs into the bootstrap."""

    name: str
    settings: BaseServiceSettings
    # Adds servicers to the server and returns their full service names.
    register: Callable[[grpc.Server], Iterable[str]]
    http_app: Any = None
    workers: list[Worker] = field(default_factory=list)
    # Extra server interceptors, inside telemetry and outside error mapping.
    interceptors: list[grpc.ServerInterceptor] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)


class Running:
    """A started service; `stop()` is what SIGTERM does."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._uvicorn: Any = None
        settings = service.settings
        self.grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix="grpc"),
            # Size bounds run inside the service's own interceptors (authentication) and
            # before any handler; field rules are the handlers' business, after auth.
            interceptors=[
                *telemetry.server_interceptors(),
                *service.interceptors,
                ErrorInterceptor(request_check=limits.check_sizes),
            ],
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
            ],
        )
        self.health = health.HealthServicer()
        # HealthServicer reports "" as SERVING out of the box; stay NOT_SERVING
        # until start() has brought up every edge.
        self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        names = list(service.register(self.grpc_server))
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self.grpc_server,
        )
        self.service_names = names
        address = f"{settings.bind_host}:{settings.grpc_port}"
        self.grpc_port = self.grpc_server.add_insecure_port(address)
        if self.grpc_port == 0:
            raise RuntimeError(f"cannot listen on {address}")

    def start(self) -> None:
        settings = self.service.settings
        for worker in self.service.workers:
            thread = threading.Thread(target=worker, args=(self.stopping,), name=worker.__name__, daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.service.http_app is not None and settings.http_port:
            import uvicorn

            from carbon_common.http import AdmissionLimit

            telemetry.instrument_fastapi(self.service.http_app)
            telemetry.serve_metrics(self.service.http_app)
            # Outermost of the app's own middleware: a refusal costs no routing and no body; the telemetry
            # around the whole app (instrument_fastapi) still counts it as a 503.
            self.service.http_app.add_middleware(AdmissionLimit, limit=settings.http_max_in_flight)

            config = uvicorn.Config(
                self.service.http_app,
                host=settings.bind_host,
                port=settings.http_port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            )
            self._uvicorn = uvicorn.Server(config)
            sockets = [_reusable_socket(settings.bind_host, settings.http_port)] if settings.reuse_port else None
            thread = threading.Thread(target=self._uvicorn.run, args=(sockets,), name="http", daemon=True)
            thread.start()
            self._threads.append(thread)
            # Report SERVING only once the HTTP edge accepts connections too.
            deadline = time.monotonic() + 10
            while not self._uvicorn.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not self._uvicorn.started:
                raise RuntimeError(f"HTTP edge did not start on {settings.bind_host}:{settings.http_port}")
        # SERVING before the gRPC server accepts, so it never answers NOT_SERVING while starting: with
        # several processes on one port (SO_REUSEPORT) a starting one must not fail a probe meant for all;
        # a connection that reaches its listening socket earlier waits in the backlog instead.
        for name in ["", *self.service_names]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.grpc_server.start()
        log.info(
            "listening",
            extra={
                "grpc": f"{settings.bind_host}:{self.grpc_port}",
                "http": f"{settings.bind_host}:{settings.http_port}" if self._uvicorn else None,
            },
        )

    def stop(self) -> None:
        grace = self.service.settings.shutdown_grace_seconds
        log.info("shutting down", extra={"grace_seconds": grace})
        self.health.enter_graceful_shutdown()
        self.stopping.set()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        self.grpc_server.stop(grace).wait()
        for callback in self.service.on_stop:
            callback()
        for thread in self._threads:
            thread.join(timeout=grace)
        log.info("stopped")


def _reusable_socket(host: str, port: int) -> socket.socket:
    """A listening socket other processes of the same service may bind too (SO_REUSEPORT)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def run(service: Service) -> None:
    """Start the service and block until SIGTERM or SIGINT."""
    json_logging.configure(service.name, service.settings.log_level)
    telemetry.configure(service.name)
    running = Running(service)
    done = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal received", extra={"signal": signal.Signals(signum).name})
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running.start()
    done.wait()
    running.stop()
