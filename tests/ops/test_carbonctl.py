"""carbonctl against real things: gRPC health servers (the shared bootstrap on
real ports), a real redis-server, a real ingest service; cluster mode from
kubernetes model objects (no fake API server)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from carbon.v1 import enterprise_pb2_grpc, ingest_energy_pb2, ingest_energy_pb2_grpc
from carbon_common.channels import service_channel
from carbon_common.errors import from_rpc_error
from carbon_common.server import Running, Service
from carbon_common.settings import BaseServiceSettings
from carbon_devkit.checkout import REPO
from carbon_devkit.ports import free_port
from carbon_devkit.processes import start_service
from carbon_devkit.redis_server import start
from carbon_synth import make_uscc
from carbonctl import cli, cluster, ingestion, local
from grpc_health.v1 import health_pb2
from kubernetes.client import (
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1LabelSelector,
    V1ObjectMeta,
    V1PodTemplateSpec,
    V1StatefulSet,
    V1StatefulSetSpec,
    V1StatefulSetStatus,
)

TARGET_VARS = [variable for _, variable in local.SERVICES]


class Trivial(enterprise_pb2_grpc.EnterpriseServiceServicer):
    pass


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Running]]:
    """Six real gRPC servers with health, one per service, targets in CARBON_*_TARGET."""
    running: dict[str, Running] = {}

    def register(server: grpc.Server) -> list[str]:
        enterprise_pb2_grpc.add_EnterpriseServiceServicer_to_server(Trivial(), server)
        return ["carbon.v1.EnterpriseService"]

    try:
        for name, variable in local.SERVICES:
            settings = BaseServiceSettings(service_name=name, grpc_port=free_port(), shutdown_grace_seconds=0.5)
            server = Running(Service(name, settings, register))
            server.start()
            running[name] = server
            monkeypatch.setenv(variable, f"127.0.0.1:{server.grpc_port}")
        yield running
    finally:
        for server in running.values():
            server.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}


# ---------------------------------------------------------------- status --local


def test_status_local_all_healthy(
    stack: dict[str, Running], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "status", "--local", "--redis-url", redis_url)
    assert code == 0, out + err
    rows = table(out)
    assert out.splitlines()[0].split() == ["COMPONENT", "KIND", "TARGET", "STATUS", "DETAIL"]
    for name, server in stack.items():
        assert rows[name][1:4] == ["grpc", f"127.0.0.1:{server.grpc_port}", "SERVING"]
    assert rows["redis"][3] == "PONG"
    assert "aof_enabled=1" in out and "last_write=ok" in out


def test_status_defaults_to_local_and_reads_carbon_redis_url(
    stack: dict[str, Running], redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARBON_REDIS_URL", redis_url)
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["healthy"] is True
    by_name = {c["component"]: c for c in report["components"]}
    assert set(by_name) == {*stack, "redis"}
    assert by_name["redis"]["target"] == redis_url
    assert str(by_name["redis"]["extra"]["aof_enabled"]) == "1"


def test_status_local_reports_down_and_not_serving(
    stack: dict[str, Running], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stack["rating"].stop()
    stack["consent"].health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    code, out, err = run(capsys, "status", "--local", "--redis-url", redis_url, "--timeout", "1")
    assert code == 1
    rows = table(out)
    assert rows["rating"][3] == "UNREACHABLE"
    assert rows["consent"][3] == "NOT_SERVING"
    assert rows["accounting"][3] == "SERVING"
    assert "unhealthy: consent, rating" in err


def test_status_default_targets_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in TARGET_VARS:
        monkeypatch.delenv(variable, raising=False)
    # The `make run` stack by default, the in-cluster ports with --kube (docs/architecture.md's table).
    assert local.service_targets() == [
        ("consent", "127.0.0.1:7051"),
        ("ingest-tax", "127.0.0.1:7052"),
        ("ingest-energy", "127.0.0.1:7053"),
        ("accounting", "127.0.0.1:7054"),
        ("rating", "127.0.0.1:7055"),
        ("loan-pricing", "127.0.0.1:7056"),
    ]
    assert local.service_targets(kube=True, host="10.0.0.1") == [
        ("consent", "10.0.0.1:50051"),
        ("ingest-tax", "10.0.0.1:50052"),
        ("ingest-energy", "10.0.0.1:50053"),
        ("accounting", "10.0.0.1:50054"),
        ("rating", "10.0.0.1:50055"),
        ("loan-pricing", "10.0.0.1:50056"),
    ]
    monkeypatch.delenv("CARBON_REDIS_URL", raising=False)
    assert local.redis_url(None) == "redis://127.0.0.1:6390/0"


def test_status_redis_unreachable(stack: dict[str, Running], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "status", "--local", "--redis-url", f"redis://user:s3cret@127.0.0.1:{free_port()}/0", "--timeout", "1"
    )
    assert code == 1
    assert table(out)["redis"][3] == "UNREACHABLE"
    assert "s3cret" not in out


def test_status_redis_without_aof_is_unhealthy(
    stack: dict[str, Running], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    process = start(tmp_path / "redis", port)
    try:
        redis.Redis(port=port).config_set("appendonly", "no")
        code, out, _ = run(capsys, "status", "--redis-url", f"redis://127.0.0.1:{port}/0")
    finally:
        process.terminate()
        process.wait(10)
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("redis"))
    assert "DEGRADED" in row and "AOF disabled" in row


# ---------------------------------------------------------------- ingestion


def test_ingestion_drain_resume(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = redis.Redis.from_url(redis_url)
    code, out, _ = run(capsys, "ingestion", "drain", "--redis-url", redis_url)
    assert code == 0 and "drained" in out
    assert client.get(ingestion.DRAIN_KEY) == b"1"
    code, out, _ = run(capsys, "ingestion", "status", "--redis-url", redis_url)
    assert code == 0 and out.startswith("ingestion: DRAINED")
    assert "does not exist yet" in out
    code, out, _ = run(capsys, "ingestion", "resume", "--redis-url", redis_url)
    assert code == 0
    assert client.get(ingestion.DRAIN_KEY) is None
    code, out, _ = run(capsys, "ingestion", "status", "--redis-url", redis_url)
    assert out.startswith("ingestion: ACCEPTING")


def test_ingestion_status_shows_groups_pending_and_lag(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = ingestion.ACTIVITY_STREAM
    for i in range(5):
        client.xadd(stream, {"uscc": f"e{i}"})
    client.xgroup_create(stream, "accounting", id="0")
    client.xgroup_create(stream, "rating", id="$")
    client.xreadgroup("accounting", "worker-1", {stream: ">"}, count=2)  # 2 delivered, not acked
    monkeypatch.setenv("CARBON_REDIS_URL", redis_url)

    code, out, _ = run(capsys, "ingestion", "status")
    assert code == 0
    assert f"stream {stream}: 5 entries, 2 consumer group(s)" in out
    rows = table(out.split("\n", 2)[2])
    assert rows["accounting"][1:4] == ["1", "2", "3"]  # consumers, pending, lag
    assert rows["accounting"][4].endswith("s")
    assert rows["rating"][1:5] == ["0", "0", "0", "-"]

    code, out, _ = run(capsys, "ingestion", "status", "--json")
    report = json.loads(out)
    assert report["drained"] is False and report["length"] == 5
    groups = {g["name"]: g for g in report["groups"]}
    assert groups["accounting"]["pending"] == 2 and groups["accounting"]["lag"] == 3
    assert groups["accounting"]["oldest_undelivered_age_s"] >= 0


def test_ingestion_redis_down_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ingestion", "status", "--redis-url", f"redis://127.0.0.1:{free_port()}/0")
    assert code == 2 and "ConnectionError" in err


@pytest.mark.e2e
def test_drain_is_honoured_by_a_real_ingest_service(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (REPO / "services/ingest-energy/src/carbon_ingest_energy/__main__.py").exists()
    env = {
        "CARBON_REDIS_URL": redis_url,
        "CARBON_DATA_DIR": str(tmp_path / "data"),
        "CARBON_CONSENT_TARGET": f"127.0.0.1:{free_port()}",  # never reached while drained
    }
    energy = start_service("ingest-energy", env, tmp_path / "logs")
    try:
        assert run(capsys, "ingestion", "drain", "--redis-url", redis_url)[0] == 0
        stub = ingest_energy_pb2_grpc.EnergyIngestionServiceStub(
            service_channel(energy.target, "operator", "dev-only-insecure-service-secret")
        )
        request = ingest_energy_pb2.CreateMeterRequest(
            parent=f"enterprises/{make_uscc('330800', 1, 1)}",
            meter_id="m-1",
            meter=ingest_energy_pb2.Meter(
                energy_type=1, reading_kind=ingest_energy_pb2.Meter.ReadingKind.READING_KIND_INTERVAL
            ),
        )
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateMeter(request, timeout=10)
        error = from_rpc_error(caught.value)
        assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "INGESTION_DRAINED")
        assert run(capsys, "ingestion", "resume", "--redis-url", redis_url)[0] == 0
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateMeter(request, timeout=10)
        assert from_rpc_error(caught.value).reason != "INGESTION_DRAINED"  # now it goes on to the consent check
    finally:
        energy.stop()


# ---------------------------------------------------------------- status --namespace


def deployment(
    name: str,
    desired: int | None,
    ready: int | None,
    *,
    generation: int = 1,
    observed: int = 1,
    updated: int | None = None,
) -> V1Deployment:
    labels = {"app.kubernetes.io/part-of": "carbon-platform", "app.kubernetes.io/component": name}
    return V1Deployment(
        metadata=V1ObjectMeta(name=f"carbon-{name}", labels=labels, generation=generation),
        spec=V1DeploymentSpec(
            replicas=desired, selector=V1LabelSelector(match_labels=labels), template=V1PodTemplateSpec()
        ),
        status=V1DeploymentStatus(
            ready_replicas=ready, observed_generation=observed, updated_replicas=ready if updated is None else updated
        ),
    )


def statefulset(name: str, desired: int, ready: int | None) -> V1StatefulSet:
    labels = {"app.kubernetes.io/part-of": "carbon-platform", "app.kubernetes.io/name": name}
    return V1StatefulSet(
        metadata=V1ObjectMeta(name=f"carbon-{name}", labels=labels, generation=1),
        spec=V1StatefulSetSpec(
            replicas=desired,
            selector=V1LabelSelector(match_labels=labels),
            service_name=name,
            template=V1PodTemplateSpec(),
        ),
        status=V1StatefulSetStatus(
            replicas=desired, ready_replicas=ready, observed_generation=1, updated_replicas=ready
        ),
    )


def test_cluster_rows_from_kubernetes_objects(capsys: pytest.CaptureFixture[str]) -> None:
    deployments = [
        deployment("rating", 2, 2),
        deployment("consent", 3, 1),
        deployment("accounting", 2, None),
        deployment("loan-pricing", 2, 2, generation=3, observed=2),
        deployment("ingest-tax", 0, None),
    ]
    rows = cluster.workload_rows("carbon", deployments, [statefulset("redis", 1, 1)])
    by_name = {r.component: r for r in rows}
    assert [r.kind for r in rows] == ["Deployment"] * 5 + ["StatefulSet"]
    assert [r.component for r in rows][:5] == ["accounting", "consent", "ingest-tax", "loan-pricing", "rating"]
    assert (by_name["rating"].status, by_name["rating"].healthy, by_name["rating"].detail) == (
        "READY",
        True,
        "ready 2/2",
    )
    assert (by_name["consent"].status, by_name["consent"].healthy) == ("DEGRADED", False)
    assert by_name["consent"].detail == "ready 1/3, updated 1/3"
    assert (by_name["accounting"].status, by_name["accounting"].healthy) == ("UNAVAILABLE", False)
    assert by_name["loan-pricing"].status == "DEGRADED" and "rollout pending" in by_name["loan-pricing"].detail
    assert (by_name["ingest-tax"].status, by_name["ingest-tax"].healthy) == ("SCALED_TO_ZERO", True)
    assert by_name["redis"].target == "carbon/carbon-redis" and by_name["redis"].healthy

    assert cli._print_rows(rows, as_json=False) == 1
    out = capsys.readouterr().out
    assert table(out)["consent"][:4] == ["consent", "Deployment", "carbon/carbon-consent", "DEGRADED"]
    assert cli._print_rows([by_name["rating"], by_name["redis"]], as_json=False) == 0


def test_cluster_label_selector_is_part_of_the_platform() -> None:
    assert cluster.PART_OF == "app.kubernetes.io/part-of=carbon-platform"


def test_cluster_unreachable_api_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    code, _, err = run(capsys, "status", "--namespace", "carbon", "--kubeconfig", str(kubeconfig))
    assert code == 2 and "cannot reach the cluster" in err
    code, _, err = run(capsys, "status", "-n", "carbon", "--kubeconfig", str(tmp_path / "missing"))
    assert code == 2 and "cannot reach the cluster" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--local", "--namespace", "carbon"],
        ["ingestion", "pause"],
        ["ingestion"],
        [],
        ["status", "--timeout", "soon"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert "usage: carbonctl" in capsys.readouterr().err


def test_mode_specific_flags_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "status", "--kubeconfig", "x")[0] == 2
    assert run(capsys, "status", "--namespace", "carbon", "--redis-url", "redis://x")[0] == 2


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "carbonctl"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "status" in result.stdout and "ingestion" in result.stdout
