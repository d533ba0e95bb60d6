"""Overload sheds load instead of collapsing: an HTTP edge holds at most `http_max_in_flight` requests and
refuses the next at once (503 OVERLOADED, Retry-After, the shared error shape; probes exempt)."""

from __future__ import annotations

import asyncio
from concurrent import futures

import httpx
from carbon_common.http import AdmissionLimit, health, service_app
from carbon_common.server import Running, Service
from carbon_common.settings import BaseServiceSettings
from carbon_devkit.ports import free_port
from fastapi import FastAPI


def blocking_app(release: asyncio.Event) -> FastAPI:
    app = service_app("admission test", "v1", "a route that waits until released")
    app.include_router(health)

    @app.get("/v1/slow")
    async def slow() -> dict[str, bool]:
        await release.wait()
        return {"done": True}

    return app


async def wait_until(condition: object, limit: int = 500) -> None:
    for _ in range(limit):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_requests_past_the_bound_are_refused_at_once_and_probes_pass() -> None:
    # A loop of its own on a thread of its own: another test's plugin (Playwright's sync API) may keep
    # an event loop running on the main thread.
    with futures.ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, requests_past_the_bound()).result(timeout=60)


async def requests_past_the_bound() -> None:
    release = asyncio.Event()
    admission = AdmissionLimit(blocking_app(release), limit=2)
    transport = httpx.ASGITransport(app=admission)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        held = [asyncio.create_task(client.get("/v1/slow")) for _ in range(2)]
        await wait_until(lambda: admission.in_flight == 2)

        refused = await client.get("/v1/slow")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        error = refused.json()["error"]
        assert (error["status"], error["details"][0]["reason"]) == ("UNAVAILABLE", "OVERLOADED")
        assert (await client.get("/healthz")).status_code == 200  # an overloaded process is alive

        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert admission.in_flight == 0 and admission.refused == 1
        assert (await client.get("/v1/slow")).status_code == 200


def test_the_openapi_document_declares_retry_after_on_503() -> None:
    document = blocking_app(asyncio.Event()).openapi()
    response = document["paths"]["/v1/slow"]["get"]["responses"]["503"]
    assert "Retry-After" in response["headers"]


def test_every_service_edge_is_bounded_by_its_setting() -> None:
    app = blocking_app(asyncio.Event())
    settings = BaseServiceSettings(grpc_port=0, http_port=free_port(), http_max_in_flight=7)
    running = Running(Service("admission-test", settings, lambda _server: [], http_app=app))
    running.start()
    try:
        [bound] = [m for m in app.user_middleware if m.cls is AdmissionLimit]
        assert bound.kwargs["limit"] == 7
        assert app.user_middleware[0] is bound  # outermost of the app's middleware: a refusal costs no routing
    finally:
        running.stop()
