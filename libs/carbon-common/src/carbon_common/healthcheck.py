"""`python -m carbon_common.healthcheck HOST:PORT [SERVICE]`: exit 0 when SERVING.

Used by the chart's `helm test` hook and by `carbonctl status`.
"""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(target: str, service: str = "", timeout: float = 3.0) -> str:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as error:
            return f"UNREACHABLE ({error.code().name})"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m carbon_common.healthcheck HOST:PORT [SERVICE]", file=sys.stderr)
        return 2
    status = check(argv[1], argv[2] if len(argv) > 2 else "")
    print(f"{argv[1]} {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
