"""A Redis outage is UNAVAILABLE (retryable) at every edge, never INTERNAL."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
from carbon.v1 import enterprise_pb2, enterprise_pb2_grpc
from carbon_common.errors import from_rpc_error
from carbon_devkit.ports import free_port
from carbon_devkit.processes import start_service
from carbon_devkit.redis_server import start as start_redis
from carbon_synth import make_uscc

ADMIN = "outage-admin-token"


def test_redis_down_is_unavailable_over_grpc_and_rest(tmp_path: Path) -> None:
    port = free_port()
    redis_process = start_redis(tmp_path / "redis", port)
    consent = start_service(
        "consent", {"CARBON_REDIS_URL": f"redis://127.0.0.1:{port}/0", "CARBON_ADMIN_TOKEN": ADMIN}, tmp_path / "logs"
    )
    try:
        redis_process.kill()
        redis_process.wait()
        stub = enterprise_pb2_grpc.EnterpriseServiceStub(grpc.insecure_channel(consent.target))
        name = f"enterprises/{make_uscc('330800', 1, 1)}"
        try:
            stub.GetEnterprise(
                enterprise_pb2.GetEnterpriseRequest(name=name),
                metadata=(("authorization", f"Bearer {ADMIN}"),),
                timeout=10,
            )
            raise AssertionError("expected an error with Redis down")
        except grpc.RpcError as error:
            converted = from_rpc_error(error)
            assert (converted.code, converted.reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")
        response = httpx.get(
            f"{consent.http_base}/v1/enterprises", headers={"authorization": f"Bearer {ADMIN}"}, timeout=10
        )
        assert response.status_code == 503
        assert response.json()["error"]["details"][0]["reason"] == "STORE_UNAVAILABLE"
    finally:
        assert consent.stop() == 0
