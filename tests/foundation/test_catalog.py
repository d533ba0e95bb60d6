"""The service catalog (carbon_common.catalog) against everything that restates or uses it.

Generated artefacts (chart partial, docs tables) are regenerated and must show
no `git diff`; the services' settings, the code's gRPC calls, the proto
contracts, the rendered chart, `make run` and carbonctl must agree with it;
and no other tracked file may spell a service port outside the checked places.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import carbon.v1
import pytest
import yaml
from carbon_common import catalog
from carbon_devkit import local as local_stack
from carbon_devkit import processes
from carbon_devkit.checkout import tool
from carbonctl import local as carbonctl_local

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "carbon-platform"
COMMON = REPO / "libs" / "carbon-common" / "src" / "carbon_common"


@functools.cache
def proto_methods() -> dict[str, set[str]]:
    """'carbon.v1.ConsentService' -> {'CheckAccess', ...} from the generated descriptors."""
    services: dict[str, set[str]] = {}
    for module in pkgutil.iter_modules(carbon.v1.__path__):
        if module.name.endswith("_pb2"):
            descriptor = importlib.import_module(f"carbon.v1.{module.name}").DESCRIPTOR
            for service in descriptor.services_by_name.values():
                services[service.full_name] = {method.name for method in service.methods}
    return services


def qualified(rpc: str) -> tuple[str, str]:
    service, _, method = rpc.partition("/")
    return f"carbon.v1.{service}", method


# --------------------------------------------------------------------------- generated artefacts


def test_generated_artefacts_match_the_catalog() -> None:
    subprocess.run([sys.executable, "scripts/gen_catalog.py"], cwd=REPO, check=True, capture_output=True)
    from scripts.gen_catalog import GENERATED

    paths = [str(path.relative_to(REPO)) for path in GENERATED]
    diff = subprocess.run(["git", "diff", "--exit-code", "--", *paths], cwd=REPO, capture_output=True, text=True)
    assert diff.returncode == 0, f"`make catalog` changed generated files; commit them:\n{diff.stdout[:4000]}"
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--", *paths], cwd=REPO, capture_output=True, text=True
    )
    assert not untracked.stdout.strip(), f"generated files not in git: {untracked.stdout}"


# --------------------------------------------------------------------------- the catalog itself


def test_catalog_is_consistent_with_the_proto_contracts() -> None:
    methods = proto_methods()
    served = [s for entry in catalog.SERVICES for s in entry.grpc_services]
    assert sorted(served) == sorted(methods), "every carbon.v1 gRPC service is served by exactly one catalog service"
    names = catalog.names()
    assert len(set(names)) == len(names)
    for entry in catalog.SERVICES:
        for call in entry.calls:
            peer = catalog.service(call.peer)
            assert peer.name != entry.name
            for rpc in call.rpcs:
                service, method = qualified(rpc)
                assert service in peer.grpc_services, f"{entry.name} -> {call.peer}: {rpc} is not served by the peer"
                assert method in methods[service], f"{rpc} is not in proto/carbon/v1"
    for client in catalog.CLIENTS:
        assert client.name not in names
        for call in client.calls:
            for rpc in call.rpcs:
                service, method = qualified(rpc)
                assert service in catalog.service(call.peer).grpc_services and method in methods[service], rpc
    ports = [p for e in catalog.SERVICES for p in (e.local.grpc, e.local.http, e.cluster.grpc)]
    assert len(ports) == len(set(ports)), "gRPC and HTTP ports are distinct across services and layouts"


# --------------------------------------------------------------------------- the code's calls


SHARED = {"carbon_common": COMMON, "carbon_ingest": REPO / "libs" / "carbon-ingest" / "src" / "carbon_ingest"}


def _sources(entry: catalog.ServiceEntry) -> list[Path]:
    """The service's package plus the shared-library modules it imports, transitively (the consent gate,
    bank auth, the ingestion services' common wiring)."""
    package = REPO / "services" / entry.directory / "src" / entry.package
    files = sorted(package.rglob("*.py"))
    pending, seen = list(files), set(files)
    while pending:
        text = pending.pop().read_text()
        for library, root in SHARED.items():
            used = re.findall(rf"{library}\.(\w+) import|from {library} import ([\w, ]+)", text)
            for name in {n.strip() for pair in used for names in pair for n in names.split(",") if n.strip()}:
                module = root / f"{name}.py"
                if module.is_file() and module not in seen:
                    seen.add(module)
                    files.append(module)
                    pending.append(module)
    return files


def rpcs_called_in_code(entry: catalog.ServiceEntry) -> set[str]:
    """`Service/Method` of every carbon.v1 stub method the code calls (stubs named, methods invoked)."""
    methods = proto_methods()
    text = "\n".join(path.read_text() for path in _sources(entry))
    stubs = {f"carbon.v1.{name}" for name in re.findall(r"_pb2_grpc\.(\w+)Stub\b", text)}
    stubs -= set(entry.grpc_services)
    invoked = set(re.findall(r"\.([A-Z]\w+)\(", text))
    return {f"{s.removeprefix('carbon.v1.')}/{m}" for s in stubs for m in methods[s] & invoked}


@pytest.mark.parametrize("name", catalog.names())
def test_the_code_calls_exactly_the_catalogued_rpcs(name: str) -> None:
    entry = catalog.service(name)
    catalogued = {rpc for call in entry.calls for rpc in call.rpcs}
    assert rpcs_called_in_code(entry) == catalogued


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize("name", catalog.names())
def test_settings_declare_their_peers_targets_with_local_defaults(name: str) -> None:
    entry = catalog.service(name)
    fields = catalog.settings_class(entry).model_fields
    targets = {field: info.default for field, info in fields.items() if field.endswith("_target")}
    assert targets == {catalog.service(peer).target_field: catalog.service(peer).local_target() for peer in entry.peers}
    assert fields["service_name"].default == entry.name
    assert (fields["grpc_port"].default, fields["http_port"].default) == (entry.local.grpc, entry.local.http)
    variables = catalog.env_variables(entry)
    assert {catalog.service(peer).target_variable for peer in entry.peers} <= variables


# --------------------------------------------------------------------------- launchers and carbonctl


def test_make_run_launchers_and_carbonctl_read_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {e.name: (e.local.grpc, e.local.http) for e in catalog.SERVICES} == local_stack.PORTS
    assert local_stack.PACKAGES == processes.SERVICE_PACKAGES == {e.name: e.package for e in catalog.SERVICES}
    assert {e.name: e.target_variable for e in catalog.SERVICES} == processes.TARGET_VARS
    env = local_stack.stack_env()
    for entry in catalog.SERVICES:
        assert env[entry.target_variable] == f"127.0.0.1:{entry.local.grpc}"
    for entry in catalog.SERVICES:
        monkeypatch.delenv(entry.target_variable, raising=False)
    assert carbonctl_local.service_targets() == [(e.name, f"127.0.0.1:{e.local.grpc}") for e in catalog.SERVICES]
    assert carbonctl_local.service_targets(kube=True) == [
        (e.name, f"127.0.0.1:{e.cluster.grpc}") for e in catalog.SERVICES
    ]


# --------------------------------------------------------------------------- the chart


PROFILES = ("defaults", "external-redis", "embedded-policy-engine", "high-availability")


@functools.cache
def rendered(profile: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            tool("helm"),
            "template",
            "carbon-platform",
            str(CHART),
            "--namespace",
            "carbon",
            "--kube-version",
            "1.30.0",
            "-f",
            str(REPO / "tests" / "chart" / "profiles" / f"{profile}.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_chart_values_ports_are_the_catalogs_cluster_ports() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for entry in catalog.SERVICES:
        assert values[entry.values_key]["ports"] == {"grpc": entry.cluster.grpc, "http": entry.cluster.http}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", catalog.names())
def test_chart_wires_each_service_as_catalogued(name: str, profile: str) -> None:
    entry = catalog.service(name)
    deployment = next(
        d
        for d in rendered(profile)
        if d["kind"] == "Deployment" and d["metadata"]["labels"].get("app.kubernetes.io/component") == name
    )
    spec = deployment["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == name)
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    carbon_vars = {k for k in env if k.startswith("CARBON_")}
    unknown = carbon_vars - catalog.env_variables(entry)
    assert not unknown, f"the chart sets variables {name} does not read: {sorted(unknown)}"
    targets = {k: v for k, v in env.items() if k.endswith("_TARGET")}
    assert targets == {
        catalog.service(p).target_variable: f"carbon-platform-{p}:{catalog.service(p).cluster.grpc}"
        for p in entry.peers
    }


@pytest.mark.parametrize("name", catalog.names())
def test_public_routes_are_served_and_only_they_are_exposed(name: str) -> None:
    entry = catalog.service(name)
    package = REPO / "services" / entry.directory / "src" / entry.package
    paths = {p for f in package.rglob("*.py") for p in re.findall(r"[\"'](/[\w{}/:.-]*)[\"']", f.read_text())}
    for prefix in entry.public_routes:
        assert any(p == prefix or p.startswith(prefix.rstrip("/") + "/") for p in paths), (name, prefix)
    hosts = yaml.safe_load((CHART / "values.yaml").read_text())["ingress"]["hosts"]
    assert bool(hosts[entry.values_key]) is bool(entry.public_routes), "ingress hosts by default = public services"


# --------------------------------------------------------------------------- restated facts


# Places allowed to spell a service port: the catalog, files generated from it, and places
# a test above or tests/chart/test_images.py compares with it.
# The chart README's parameter table is generated from values.yaml (make chart-schema; its own drift test).
PORT_ALLOWED = re.compile(
    r"^(libs/carbon-common/src/carbon_common/catalog\.py|README\.md|docs/(architecture|runbook)\.md"
    r"|charts/carbon-platform/(values\.yaml|values\.schema\.json|templates/_catalog\.tpl|README\.md)"
    r"|services/[a-z-]+/Dockerfile|tests/ops/test_carbonctl\.py|policies/cluster/.*_test\.rego)$"
)


def test_no_other_file_restates_a_service_port() -> None:
    ports = {p for e in catalog.SERVICES for p in (e.local.grpc, e.cluster.grpc)}
    pattern = r"\b(" + "|".join(str(p) for p in sorted(ports)) + r")\b"
    listed = subprocess.run(["git", "grep", "-lE", pattern], cwd=REPO, capture_output=True, text=True).stdout.split()
    offenders = [path for path in listed if not PORT_ALLOWED.match(path)]
    assert not offenders, f"service ports restated outside the catalog: {offenders}"
