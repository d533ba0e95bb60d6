"""The Helm chart, checked without a cluster by the real tool binaries.

For every values profile under tests/chart/profiles/: `helm lint --strict`,
`helm template`, kubeconform -strict against the Kubernetes schemas bundled
by kubernetes-validate (made usable offline by kubeschemas.py), and the
cluster policies (policies/cluster) evaluated by `opa eval`. Then the
content: service wiring, network matrix, RBAC, secrets, probes; deliberately
broken manifests must be denied by the policies, and bad values must be
refused by values.schema.json with a readable message.

Binaries come from $CARBON_TOOLS_BIN (default <repo>/tools/bin); a missing
one FAILS the test with "run `make tools`" (carbon_devkit.checkout.tool).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from carbon_accounting.settings import AccountingSettings
from carbon_common import catalog
from carbon_devkit.checkout import tool
from pydantic_core import PydanticUndefined

from tests.chart.kubeschemas import materialize

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "carbon-platform"
HERE = Path(__file__).resolve().parent
PROFILES = ("defaults", "external-redis", "embedded-policy-engine", "high-availability")
KUBERNETES_VERSION = "1.30.0"
RELEASE = "carbon-platform"
NAMESPACE = "carbon"
CLUSTER_POLICIES = REPO / "policies" / "cluster"
BUNDLE_SOURCE = REPO / "policies" / "products"
BUNDLE_COPY = CHART / "files" / "policies"

# From the service catalog (the chart's _catalog.tpl is generated from it; values.yaml's ports must agree).
# values key -> (service name, gRPC port, HTTP port) in the cluster
SERVICES = {e.values_key: (e.name, e.cluster.grpc, e.cluster.http) for e in catalog.SERVICES}
NAMES = [name for name, _, _ in SERVICES.values()]
# Who may call whom over gRPC (the code's peer targets; NetworkPolicies must match exactly).
CALLS = {e.name: set(e.peers) for e in catalog.SERVICES}
TARGET_VARS = {e.name: e.target_variable for e in catalog.SERVICES}
DATA_SERVICES = {e.name for e in catalog.SERVICES if e.raw_data}

Manifest = dict[str, Any]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --------------------------------------------------------------------------- helpers


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=REPO)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def helm_template(*args: str | Path, chart: Path = CHART, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(
        tool("helm"),
        "template",
        RELEASE,
        chart,
        "--namespace",
        NAMESPACE,
        *args,
        check=check,
    )


def profile_file(profile: str) -> Path:
    return HERE / "profiles" / f"{profile}.yaml"


@functools.cache
def rendered_text(profile: str) -> str:
    return helm_template("-f", profile_file(profile)).stdout


@functools.cache
def _parsed(profile: str) -> list[Manifest]:
    return [doc for doc in yaml.load_all(rendered_text(profile), Loader=_Loader) if doc]


def manifests(profile: str) -> list[Manifest]:
    """A fresh copy (tests may mutate it) of every rendered object."""
    return copy.deepcopy(_parsed(profile))


def find(docs: list[Manifest], kind: str, name: str) -> Manifest:
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected one {kind}/{name}, found {len(hits)}"
    return hits[0]


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [d for d in docs if d["kind"] == kind]


def full(name: str) -> str:
    return f"{RELEASE}-{name}"


def pod_spec(deployment: Manifest) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def main_container(deployment: Manifest) -> dict[str, Any]:
    name = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
    return next(c for c in pod_spec(deployment)["containers"] if c["name"] == name)


SECRETS_DIR = "/var/run/secrets/carbon"


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def secret_files(deployment: Manifest) -> dict[str, tuple[str, str]]:
    """File name in CARBON_SECRETS_DIR -> (Secret, key), from the projected `secrets` volume."""
    volume = {v["name"]: v for v in pod_spec(deployment)["volumes"]}["secrets"]
    return {
        item["path"]: (source["secret"]["name"], item["key"])
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def opa_deny(docs: list[Manifest], tmp_path: Path) -> set[str]:
    """data.cluster.deny of the real policies over these manifests, by `opa eval`."""
    input_path = tmp_path / "input.json"
    input_path.write_text(json.dumps({"manifests": docs}))
    result = run(tool("opa"), "eval", "--format", "json", "-d", CLUSTER_POLICIES, "-i", input_path, "data.cluster.deny")
    output = json.loads(result.stdout)
    return set(output["result"][0]["expressions"][0]["value"])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels + In/NotIn/Exists/DoesNotExist, as Kubernetes evaluates them."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def pod_labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "carbon-platform",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": component,
    }


@pytest.fixture(scope="session")
def schema_location(tmp_path_factory: pytest.TempPathFactory) -> str:
    return materialize(KUBERNETES_VERSION, tmp_path_factory.mktemp("kubeschemas"))


# --------------------------------------------------------------------------- lint, schemas, policies


def test_every_profile_exists() -> None:
    present = {p.stem for p in (HERE / "profiles").glob("*.yaml")}
    assert present == set(PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_strict(profile: str) -> None:
    result = run(tool("helm"), "lint", "--strict", "-f", profile_file(profile), CHART)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("profile", PROFILES)
def test_kubeconform_strict(profile: str, schema_location: str, tmp_path: Path) -> None:
    path = tmp_path / f"{profile}.yaml"
    path.write_text(rendered_text(profile))
    result = run(
        tool("kubeconform"),
        "-strict",
        "-summary",
        "-kubernetes-version",
        KUBERNETES_VERSION,
        "-schema-location",
        schema_location,
        # CRDs (PrometheusRule) are not in kubernetes-validate: a strict subset schema lives here.
        "-schema-location",
        f"{HERE}/schemas/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        path,
        check=False,
    )
    summary = re.search(
        r"Summary: (\d+) resources? found in 1 file - Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)",
        result.stdout,
    )
    assert summary, result.stdout + result.stderr
    found, valid, invalid, errors, skipped = map(int, summary.groups())
    assert (invalid, errors, skipped) == (0, 0, 0), result.stdout
    assert found == valid == len(manifests(profile))
    assert result.returncode == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_cluster_policies_allow_the_chart(profile: str, tmp_path: Path) -> None:
    assert opa_deny(manifests(profile), tmp_path) == set()


def _drop_limits(docs: list[Manifest]) -> None:
    del main_container(find(docs, "Deployment", full("consent")))["resources"]["limits"]


def _latest_tag(docs: list[Manifest]) -> None:
    container = main_container(find(docs, "Deployment", full("rating")))
    container["image"] = "registry.example.cn/carbon/rating:latest"


def _untagged_redis(docs: list[Manifest]) -> None:
    pod_spec(find(docs, "StatefulSet", full("redis")))["containers"][0]["image"] = "redis"


def _drop_pdb(docs: list[Manifest]) -> None:
    docs.remove(find(docs, "PodDisruptionBudget", full("accounting")))


def _drop_network_policies(docs: list[Manifest]) -> None:
    docs[:] = [d for d in docs if d["kind"] != "NetworkPolicy"]


def _drop_sidecar_probe(docs: list[Manifest]) -> None:
    spec = pod_spec(find(docs, "Deployment", full("loan-pricing")))
    del next(c for c in spec["initContainers"] if c["name"] == "opa")["readinessProbe"]


def _root_container(docs: list[Manifest]) -> None:
    main_container(find(docs, "Deployment", full("consent")))["securityContext"]["runAsNonRoot"] = False


def _writable_root(docs: list[Manifest]) -> None:
    main_container(find(docs, "Deployment", full("ingest-tax")))["securityContext"]["readOnlyRootFilesystem"] = False


BROKEN: dict[str, tuple[Callable[[list[Manifest]], None], set[str]]] = {
    "limits removed": (
        _drop_limits,
        {
            f'Deployment/{full("consent")}: container "consent" has no resources.limits.cpu',
            f'Deployment/{full("consent")}: container "consent" has no resources.limits.memory',
        },
    ),
    "latest tag": (
        _latest_tag,
        {
            f'Deployment/{full("rating")}: container "rating" image "registry.example.cn/carbon/rating:latest"'
            " uses the mutable tag latest",
        },
    ),
    "untagged image": (
        _untagged_redis,
        {
            f'StatefulSet/{full("redis")}: container "redis" image "redis" has no tag (pin a version or a digest)',
        },
    ),
    "PDB removed": (_drop_pdb, {f"Deployment/{full('accounting')}: no PodDisruptionBudget selects its pods"}),
    "NetworkPolicies removed": (
        _drop_network_policies,
        {
            *(f"Deployment/{full(name)}: no NetworkPolicy selects its pods" for name in NAMES),
            f"StatefulSet/{full('redis')}: no NetworkPolicy selects its pods",
        },
    ),
    "sidecar probe removed": (
        _drop_sidecar_probe,
        {
            f'Deployment/{full("loan-pricing")}: container "opa" has no readinessProbe',
        },
    ),
    "root container": (
        _root_container,
        {
            f'Deployment/{full("consent")}: container "consent" must set securityContext.runAsNonRoot=true'
            " (container or pod)",
        },
    ),
    "writable root filesystem": (
        _writable_root,
        {
            f'Deployment/{full("ingest-tax")}: container "ingest-tax" must set'
            " securityContext.readOnlyRootFilesystem=true",
        },
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_cluster_policies_deny_broken_manifests(case: str, tmp_path: Path) -> None:
    mutate, expected = BROKEN[case]
    docs = manifests("defaults")
    mutate(docs)
    assert opa_deny(docs, tmp_path) == expected


# --------------------------------------------------------------------------- values.schema.json


REJECTED = {
    "replicas below 1": (["--set", "consent.replicaCount=0"], "at '/consent/replicaCount': minimum: got 0, want 1"),
    "latest service tag": (
        ["--set", "rating.image.tag=latest"],
        "at '/rating/image/tag': value must be 'a pinned version tag (the mutable tag latest is not allowed)'",
    ),
    "latest default tag": (["--set", "image.tag=latest"], "at '/image/tag': value must be 'a pinned version tag"),
    "latest opa tag": (["--set", "pricing.opa.image.tag=latest"], "at '/pricing/opa/image/tag': value must be"),
    "unknown policy engine": (
        ["--set", "pricing.policyEngine=wasm"],
        "at '/pricing/policyEngine': value must be one of 'embedded', 'opa'",
    ),
    "unknown redis mode": (
        ["--set", "redis.mode=sentinel"],
        "at '/redis/mode': value must be one of 'internal', 'external'",
    ),
    "external redis without secret": (
        ["--set", "redis.mode=external"],
        "at '/redis/external/existingSecret': minLength: got 0, want 1",
    ),
    "no limits": (["--set", "ingestTax.resources.limits=null"], "at '/ingestTax/resources': missing property 'limits'"),
    "object storage without url": (
        ["--set", "data.mode=objectStorage"],
        "at '/data/objectStorage/url': minLength: got 0, want 1",
    ),
    "misspelt key": (["--set", "consent.replicas=3"], "at '/consent': additional properties 'replicas' not allowed"),
    "no service secret": (
        ["--set", "serviceSecret.existingSecret="],
        "at '/serviceSecret/existingSecret': minLength: got 0, want 1",
    ),
    "root allowed": (
        ["--set", "containerSecurityContext.runAsNonRoot=false"],
        "at '/containerSecurityContext/runAsNonRoot': value must be true",
    ),
    "unknown log level": (["--set", "logLevel=TRACE"], "at '/logLevel': value must be one of"),
    "ingress TLS without secret": (
        ["--set", "ingress.enabled=true", "--set", "ingress.tls.secretName="],
        "at '/ingress/tls/secretName': minLength: got 0, want 1",
    ),
    "scheme file type": (
        ["--set-json", 'rating.publishedSchemes=[{"name": "x", "data": {"scheme.txt": "a"}}]'],
        "'scheme.txt' does not match pattern",
    ),
    # cross-field rules checked by the templates (carbon.validateValues)
    "hpa bounds": (
        ["--set", "consent.autoscaling.minReplicas=4", "--set", "consent.autoscaling.maxReplicas=2"],
        "consent.autoscaling.maxReplicas (2) must be >= consent.autoscaling.minReplicas (4)",
    ),
    "pdb both bounds": (
        ["--set", "accounting.pdb.minAvailable=1"],
        "accounting.pdb: set only one of minAvailable / maxUnavailable",
    ),
}


@pytest.mark.parametrize("case", REJECTED)
def test_bad_values_are_rejected_with_a_clear_message(case: str) -> None:
    args, message = REJECTED[case]
    result = helm_template(*args, check=False)
    assert result.returncode != 0, f"helm template accepted {args}"
    assert message in result.stderr, result.stderr


# --------------------------------------------------------------------------- content


@pytest.mark.parametrize("profile", PROFILES)
def test_every_service_is_fully_wired(profile: str) -> None:
    docs = manifests(profile)
    values = yaml.safe_load(profile_file(profile).read_text()) or {}
    for key, (name, grpc_port, http_port) in SERVICES.items():
        deployment = find(docs, "Deployment", full(name))
        spec = pod_spec(deployment)
        container = main_container(deployment)
        env = env_of(container)

        service = find(docs, "Service", full(name))
        assert {(p["name"], p["port"]) for p in service["spec"]["ports"]} == {("grpc", grpc_port), ("http", http_port)}
        assert {(p["name"], p["containerPort"]) for p in container["ports"]} == {
            ("grpc", grpc_port),
            ("http", http_port),
        }

        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["grpc"] == {"port": grpc_port}, (name, probe)

        security = container["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {v["name"]: v for v in spec["volumes"]}["tmp"]["emptyDir"]
        assert set(container["resources"]["limits"]) >= {"cpu", "memory"}
        assert set(container["resources"]["requests"]) >= {"cpu", "memory"}
        assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} == {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }

        assert env["CARBON_BIND_HOST"] == "0.0.0.0"
        assert env["CARBON_GRPC_PORT"] == str(grpc_port)
        assert env["CARBON_HTTP_PORT"] == str(http_port)
        # secrets are files (CARBON_SECRETS_DIR), never env vars
        assert env["CARBON_SECRETS_DIR"] == SECRETS_DIR
        assert {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True} in container["volumeMounts"]
        assert not [
            e["name"]
            for c in all_containers(spec)
            for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        ]
        files = secret_files(deployment)
        assert files["carbon_service_secret"] == ("carbon-service-secret", "service-secret")
        if values.get("redis", {}).get("mode", "internal") == "internal":
            assert env["CARBON_REDIS_URL"] == f"redis://{full('redis')}:6379/0"
            assert files["carbon_redis_password"] == ("carbon-redis", "redis-password")
        else:
            assert "CARBON_REDIS_URL" not in env
            assert files["carbon_redis_url"] == ("carbon-redis-url", "redis-url")
        assert "CARBON_DEV_MODE" not in env
        targets = {peer for peer, var in TARGET_VARS.items() if var in env}
        assert targets == CALLS[name], name
        for peer in targets:
            peer_port = next(g for n, g, _ in SERVICES.values() if n == peer)
            assert env[TARGET_VARS[peer]] == f"{full(peer)}:{peer_port}"

        sa = find(docs, "ServiceAccount", full(name))
        talks_to_api = name == "rating" and values.get("rating", {}).get("schemeSource", "configmap") == "configmap"
        assert sa["automountServiceAccountToken"] is talks_to_api
        assert spec["automountServiceAccountToken"] is talks_to_api
        assert spec["serviceAccountName"] == full(name)

        pdbs = [p for p in of_kind(docs, "PodDisruptionBudget") if selects(p["spec"]["selector"], pod_labels(name))]
        assert len(pdbs) == 1, name
        hpas = [
            h for h in of_kind(docs, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == full(name)
        ]
        autoscaled = values.get(key, {}).get("autoscaling", {}).get("enabled", True)
        assert len(hpas) == (1 if autoscaled else 0), name
        assert ("replicas" in deployment["spec"]) is not autoscaled
        if autoscaled:
            assert hpas[0]["apiVersion"] == "autoscaling/v2"


def test_otel_variables_only_when_an_endpoint_is_set() -> None:
    for name in NAMES:
        assert not any(
            k.startswith("OTEL_") for k in env_of(main_container(find(manifests("defaults"), "Deployment", full(name))))
        )
        env = env_of(main_container(find(manifests("external-redis"), "Deployment", full(name))))
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4317"
        assert env["OTEL_SERVICE_NAME"] == name
        attributes = dict(pair.split("=", 1) for pair in env["OTEL_RESOURCE_ATTRIBUTES"].split(","))
        assert attributes["deployment.environment"] == "staging"
        assert attributes["k8s.cluster.name"] == "staging-1"
        assert attributes["k8s.pod.name"] == "$(K8S_POD_NAME)"


def test_opa_sidecar_listens_on_localhost_only() -> None:
    deployment = find(manifests("defaults"), "Deployment", full("loan-pricing"))
    spec = pod_spec(deployment)
    opa = next(c for c in spec["initContainers"] if c["name"] == "opa")
    assert opa["restartPolicy"] == "Always"  # native sidecar: up before the service starts
    assert re.fullmatch(r"docker\.io/openpolicyagent/opa:1\.\d+\.\d+-static", opa["image"])
    assert opa["args"][:2] == ["run", "--server"]
    assert "--addr=127.0.0.1:8181" in opa["args"]
    assert not any(a.startswith("--bundle") for a in opa["args"])  # the service pushes its bundle
    assert [c["name"] for c in spec["containers"]] == ["loan-pricing"]
    env = env_of(main_container(deployment))
    assert env["CARBON_POLICY_ENGINE"] == "opa"
    assert env["CARBON_OPA_URL"] == "http://127.0.0.1:8181"
    assert env["CARBON_BUNDLE_DIR"] == "/var/lib/carbon/policies"

    plain = pod_spec(find(manifests("external-redis"), "Deployment", full("loan-pricing")))
    assert [c["name"] for c in plain["containers"]] == ["loan-pricing", "opa"]
    assert [c["name"] for c in plain["initContainers"]] == ["bundle"]


def test_embedded_policy_engine_has_no_sidecar() -> None:
    deployment = find(manifests("embedded-policy-engine"), "Deployment", full("loan-pricing"))
    spec = pod_spec(deployment)
    assert [c["name"] for c in spec["containers"]] == ["loan-pricing"]
    assert [c["name"] for c in spec["initContainers"]] == ["bundle"]
    env = env_of(main_container(deployment))
    assert env["CARBON_POLICY_ENGINE"] == "embedded"
    assert "CARBON_OPA_URL" not in env
    assert env["CARBON_BUNDLE_DIR"] == "/var/lib/carbon/policies"


def test_internal_redis() -> None:
    docs = manifests("defaults")
    statefulset = find(docs, "StatefulSet", full("redis"))
    container = pod_spec(statefulset)["containers"][0]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    # the password comes from the mounted Secret file, never from an env var
    assert container["command"][:2] == ["sh", "-c"]
    assert '--requirepass "$(cat /var/run/secrets/redis/password)"' in container["command"][2]
    assert container["command"][2].startswith('exec redis-server "$@"')
    assert "env" not in container
    password = {v["name"]: v for v in pod_spec(statefulset)["volumes"]}["password"]["secret"]
    assert password["secretName"] == "carbon-redis"
    assert password["items"] == [{"key": "redis-password", "path": "password"}]
    assert "/var/run/secrets/redis/password" in container["readinessProbe"]["exec"]["command"][2]
    assert re.fullmatch(r"docker\.io/library/redis:\d+\.\d+\.\d+-alpine", container["image"])
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]["tcpSocket"] and container["readinessProbe"]["exec"]
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    consent = find(docs, "Deployment", full("consent"))
    assert env_of(main_container(consent))["CARBON_REDIS_URL"] == f"redis://{full('redis')}:6379/0"
    assert secret_files(consent)["carbon_redis_password"] == ("carbon-redis", "redis-password")
    find(docs, "Service", full("redis"))


def test_external_redis() -> None:
    docs = manifests("external-redis")
    assert not of_kind(docs, "StatefulSet")
    assert not [d for d in docs if d["metadata"]["name"].startswith(full("redis"))]
    for name in NAMES:
        deployment = find(docs, "Deployment", full(name))
        assert "CARBON_REDIS_URL" not in env_of(main_container(deployment))
        files = secret_files(deployment)
        assert files["carbon_redis_url"] == ("carbon-redis-url", "redis-url")
        assert "carbon_redis_password" not in files
        egress = find(docs, "NetworkPolicy", full(name))["spec"]["egress"]
        assert {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 6380}]} in egress


def _grpc_callers(policy: Manifest, grpc_port: int) -> set[str]:
    """Components of this release allowed in on the gRPC port by a policy (helm test pods excluded)."""
    callers = set()
    for rule in policy["spec"].get("ingress", []):
        if not any(p["port"] in ("grpc", grpc_port) for p in rule.get("ports", [])):
            continue
        for peer in rule.get("from", []):
            assert "namespaceSelector" not in peer and "ipBlock" not in peer, "gRPC must stay in the namespace"
            callers |= {n for n in NAMES if selects(peer["podSelector"], pod_labels(n))}
    return callers


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policy_matrix(profile: str) -> None:
    docs = manifests(profile)
    policies = of_kind(docs, "NetworkPolicy")
    deny = find(docs, "NetworkPolicy", full("default-deny"))
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    assert deny["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "carbon-platform", "app.kubernetes.io/instance": RELEASE}
    }
    dns = find(docs, "NetworkPolicy", full("allow-dns"))
    assert {p["port"] for p in dns["spec"]["egress"][0]["ports"]} == {53}

    for name, grpc_port, _ in SERVICES.values():
        own = [p for p in policies if selects(p["spec"]["podSelector"], pod_labels(name))]
        callers: set[str] = set()
        for policy in own:
            callers |= _grpc_callers(policy, grpc_port)
        assert callers == {caller for caller, callees in CALLS.items() if name in callees}, name

        egress = find(docs, "NetworkPolicy", full(name))["spec"]["egress"]
        callees = {
            n
            for rule in egress
            for peer in rule.get("to", [])
            if "podSelector" in peer
            for n in NAMES
            if selects(peer["podSelector"], pod_labels(n))
        }
        assert callees == CALLS[name], name
        api_ports = {p["port"] for rule in egress for p in rule["ports"] if p["port"] in (443, 6443)}
        talks_to_api = name == "rating" and profile != "embedded-policy-engine"
        if name in DATA_SERVICES and profile == "external-redis":
            assert api_ports == {443}  # object storage
        else:
            assert api_ports == ({443, 6443} if talks_to_api else set()), name


def test_ingress_and_its_network_policies() -> None:
    docs = manifests("high-availability")
    ingress = find(docs, "Ingress", RELEASE)
    hosts = {rule["host"]: rule["http"]["paths"][0]["backend"]["service"] for rule in ingress["spec"]["rules"]}
    assert hosts == {
        "consent.carbon.example.cn": {"name": full("consent"), "port": {"name": "http"}},
        "ingest.carbon.example.cn": {"name": full("ingest-tax"), "port": {"name": "http"}},
        "reports.carbon.example.cn": {"name": full("accounting"), "port": {"name": "http"}},
        "rating.carbon.example.cn": {"name": full("rating"), "port": {"name": "http"}},
        "pricing.carbon.example.cn": {"name": full("loan-pricing"), "port": {"name": "http"}},
    }
    assert ingress["spec"]["tls"] == [{"secretName": "carbon-platform-tls", "hosts": list(hosts)}]
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    exposed = {backend["name"] for backend in hosts.values()}
    for name in NAMES:
        rules = find(docs, "NetworkPolicy", full(name))["spec"]["ingress"]
        from_controller = [
            r
            for r in rules
            if any(
                p.get("podSelector") == {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}} for p in r["from"]
            )
        ]
        assert bool(from_controller) is (full(name) in exposed), name
        for rule in from_controller:
            assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    consent = env_of(main_container(find(docs, "Deployment", full("consent"))))
    assert consent["CARBON_PUBLIC_BASE_URL"] == "https://consent.carbon.example.cn"


def test_rating_rbac_is_least_privilege() -> None:
    docs = manifests("defaults")
    role = find(docs, "Role", f"{full('rating')}-schemes-reader")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    binding = find(docs, "RoleBinding", f"{full('rating')}-schemes-reader")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": full("rating"), "namespace": NAMESPACE}]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    env = env_of(main_container(find(docs, "Deployment", full("rating"))))
    assert env["CARBON_SCHEME_SOURCE"] == "configmap"
    assert env["CARBON_CONFIGMAP_NAMESPACE"] == NAMESPACE
    for profile in PROFILES:
        kinds = {d["kind"] for d in manifests(profile)}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, profile
    embedded = manifests("embedded-policy-engine")
    assert not of_kind(embedded, "Role") and not of_kind(embedded, "RoleBinding")
    assert env_of(main_container(find(embedded, "Deployment", full("rating"))))["CARBON_SCHEME_SOURCE"] == "redis"


def test_published_scheme_configmaps() -> None:
    docs = manifests("high-availability")
    scheme = find(docs, "ConfigMap", full("scheme-huzhou-carbon-efficiency"))
    assert scheme["metadata"]["labels"]["carbon.example.cn/scheme"] == "true"
    assert yaml.safe_load(scheme["data"]["scheme.yaml"])["id"] == "huzhou-carbon-efficiency"


def test_secrets_are_only_referenced_unless_creation_is_allowed() -> None:
    for profile in ("defaults", "external-redis", "high-availability"):
        assert not of_kind(manifests(profile), "Secret"), profile
    created = {s["metadata"]["name"]: s for s in of_kind(manifests("embedded-policy-engine"), "Secret")}
    assert set(created) == {"carbon-service-secret", "carbon-redis"}
    for secret in created.values():
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # values.yaml names Secrets but never holds a secret value
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")
        elif isinstance(node, str) and re.search(r"\.(\w*password|\w*token|secret|secretValue)$", path, re.I):
            assert node == "", f"{path} holds a value"

    walk(values, "")
    consent = secret_files(find(manifests("defaults"), "Deployment", full("consent")))
    assert consent["carbon_admin_token"] == ("carbon-consent", "admin-token")
    assert consent["carbon_link_secret"] == ("carbon-consent", "link-secret")


def test_shared_raw_data_volume() -> None:
    docs = manifests("defaults")
    claim = find(docs, "PersistentVolumeClaim", full("data"))
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for name in NAMES:
        deployment = find(docs, "Deployment", full(name))
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        env = env_of(main_container(deployment))
        if name in DATA_SERVICES | {"loan-pricing"}:  # loan-pricing keeps activated bundles there
            assert volumes["data"]["persistentVolumeClaim"]["claimName"] == full("data")
            assert env["CARBON_DATA_DIR"] == "/var/lib/carbon/data"
        else:
            assert "data" not in volumes and "CARBON_DATA_DIR" not in env
    external = manifests("external-redis")
    assert not of_kind(external, "PersistentVolumeClaim")
    for name in DATA_SERVICES:
        container = main_container(find(external, "Deployment", full(name)))
        assert env_of(container)["CARBON_DATA_DIR"] == "s3://carbon-raw/prod"
        assert container["envFrom"] == [{"secretRef": {"name": "carbon-object-storage"}}]


def test_prometheus_rule_alerts_are_documented() -> None:
    assert not of_kind(manifests("defaults"), "PrometheusRule")
    rule = find(manifests("high-availability"), "PrometheusRule", RELEASE)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = {r["alert"] for group in rule["spec"]["groups"] for r in group["rules"]}
    assert alerts >= {"CarbonServiceDown", "CarbonRedisDown"}
    runbook = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    for alert in alerts:
        assert re.search(rf"^#+ {alert}$", runbook, re.MULTILINE), f"docs/runbook.md has no section {alert}"


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_test_pods_check_every_service(profile: str) -> None:
    pods = [p for p in of_kind(manifests(profile), "Pod") if p["metadata"]["annotations"]["helm.sh/hook"] == "test"]
    targets = set()
    for pod in pods:
        (container,) = pod["spec"]["containers"]
        assert container["command"][:3] == ["python", "-m", "carbon_common.healthcheck"]
        targets.add(container["command"][3])
        assert pod["spec"]["restartPolicy"] == "Never"
    assert targets == {f"{full(name)}:{grpc}" for name, grpc, _ in SERVICES.values()}


@pytest.mark.parametrize("profile", PROFILES)
def test_notes_render(profile: str, tmp_path: Path) -> None:
    # helm template never prints NOTES.txt: render it through a throw-away template.
    chart = tmp_path / "carbon-platform"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "zz-notes.yaml").write_text(
        'notes: {{ include "carbon-platform/templates/NOTES.txt" . | toJson }}\n'
    )
    result = helm_template("-f", profile_file(profile), "--show-only", "templates/zz-notes.yaml", chart=chart)
    notes = yaml.safe_load(result.stdout.split("---", 1)[1])["notes"]
    assert f"helm test {RELEASE} -n {NAMESPACE}" in notes
    assert "carbon-service-secret (service-secret)" in notes


# --------------------------------------------------------------------------- pricing policy bundle


def _bundle_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and (
            p.name in (".manifest", "manifest.json")
            or p.suffix == ".json"
            or (p.suffix == ".rego" and not p.name.endswith("_test.rego"))
        )
    }


def test_chart_bundle_copy_is_in_sync() -> None:
    assert _bundle_files(BUNDLE_COPY) == _bundle_files(BUNDLE_SOURCE), (
        "charts/carbon-platform/files/policies is stale: run `make chart-policies`"
    )


def test_bundle_init_container_rebuilds_the_bundle(tmp_path: Path) -> None:
    """Feed the init container's script a ConfigMap volume laid out as the kubelet does it
    (files in a timestamped dir, `..data` symlink, one symlink per key) and compare."""
    docs = manifests("defaults")
    configmap = find(docs, "ConfigMap", full("pricing-policies"))
    spec = pod_spec(find(docs, "Deployment", full("loan-pricing")))
    init = next(c for c in spec["initContainers"] if c["name"] == "bundle")
    assert init["command"][:2] == ["python", "-c"]
    assert {v["name"]: v for v in spec["volumes"]}["bundle-src"]["configMap"]["name"] == full("pricing-policies")

    volume, output = tmp_path / "bundle-src", tmp_path / "policies"
    timestamped = volume / "..2026_01_01_00_00_00.000000001"
    timestamped.mkdir(parents=True)
    output.mkdir()
    for key, text in configmap["data"].items():
        (timestamped / key).write_bytes(text.encode())
        (volume / key).symlink_to(Path("..data") / key)
    (volume / "..data").symlink_to(timestamped.name)

    script = (
        init["command"][2]
        .replace("/etc/carbon/bundle-src", str(volume))
        .replace("/var/lib/carbon/policies", str(output))
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=60)
    assert _bundle_files(output) == _bundle_files(BUNDLE_SOURCE)
    # and loan-pricing's own reader (CARBON_BUNDLE_DIR) sees the same bundle version
    from carbon_pricing.engine.bundle import PolicyBundle

    assert PolicyBundle.from_directory(output).version == PolicyBundle.from_directory(BUNDLE_SOURCE).version


def test_bundle_keys_map_back_to_paths() -> None:
    data = find(manifests("defaults"), "ConfigMap", full("pricing-policies"))["data"]
    assert ".manifest" in data
    assert not [k for k in data if k.endswith("_test.rego")]
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", k) for k in data)
    assert {k.replace("--", "/") for k in data} == set(_bundle_files(BUNDLE_SOURCE))


def test_policy_checksum_rolls_the_pods() -> None:
    base = find(manifests("defaults"), "Deployment", full("loan-pricing"))
    annotations = base["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/policies"])


def test_rendering_is_deterministic() -> None:
    first = helm_template("-f", profile_file("high-availability")).stdout
    assert first == helm_template("-f", profile_file("high-availability")).stdout


ACCOUNTING_EVENT_VALUES = {  # values key under accounting.events -> AccountingSettings field
    "batchMax": "events_batch_max",
    "batchMs": "events_batch_ms",
    "leaseMs": "lease_ms",
    "claimIdleMs": "claim_idle_ms",
}


def test_accounting_consumer_values_are_the_settings_with_their_defaults_and_bounds() -> None:
    """The chart's micro-batch and lease values set the settings of the same name: each value's default
    equals the settings default, its schema bounds the field's bounds, and it renders as the variable
    the settings read — so neither side can drift."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())["accounting"]["events"]
    schema = json.loads((CHART / "values.schema.json").read_text())
    bounds = schema["properties"]["accounting"]["properties"]["events"]["properties"]
    env = env_of(main_container(find(manifests("defaults"), "Deployment", full("accounting"))))
    assert set(values) == set(ACCOUNTING_EVENT_VALUES)
    for key, field_name in ACCOUNTING_EVENT_VALUES.items():
        field = AccountingSettings.model_fields[field_name]
        assert field.default is not PydanticUndefined and values[key] == field.default, key
        limits = {type(m).__name__: m for m in field.metadata}
        assert bounds[key]["minimum"] == limits["Ge"].ge and bounds[key]["maximum"] == limits["Le"].le, key
        assert env[f"CARBON_{field_name.upper()}"] == str(values[key]), key
