"""The sharded recompute Indexed Job (values: recompute): off by default; when enabled on object
storage, an Indexed Job of `shards` completions running carbon_accounting.shard with the accounting
image, the object-storage root and credentials, allowed by the NetworkPolicies to reach consent, Redis
and the object storage; kubeconform-valid and accepted by the cluster policies."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from carbon_devkit.checkout import tool

from tests.chart.kubeschemas import materialize
from tests.chart.test_chart import (
    HERE,
    KUBERNETES_VERSION,
    env_of,
    find,
    full,
    helm_template,
    manifests,
    of_kind,
    opa_deny,
    profile_file,
    run,
)

ENABLED = [
    "-f",
    str(profile_file("external-redis")),  # raw data on object storage
    "--set",
    "recompute.enabled=true",
    "--set",
    "recompute.shards=6",
    "--set-json",
    'recompute.periods=["2024","2025-01"]',
]


def rendered() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(helm_template(*ENABLED).stdout) if doc]


def test_off_by_default() -> None:
    assert not [d for d in manifests("defaults") if d["kind"] == "Job"]


def test_indexed_job_runs_one_shard_per_completion_index() -> None:
    docs = rendered()
    (job,) = of_kind(docs, "Job")
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == 6
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "carbon_accounting.shard"]
    assert container["args"] == ["--shards=6", "--period=2024", "--period=2025-01"]
    env = env_of(container)
    assert env["CARBON_DATA_DIR"] == "s3://carbon-raw/prod"
    assert env["CARBON_CONSENT_TARGET"].startswith(full("consent") + ":")
    assert container["envFrom"] == [{"secretRef": {"name": "carbon-object-storage"}}]
    accounting = find(docs, "Deployment", full("accounting"))
    assert container["image"] == accounting["spec"]["template"]["spec"]["containers"][0]["image"]
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    assert "JOB_COMPLETION_INDEX" not in env  # set by Kubernetes for an Indexed Job, read by the command
    # secrets as files, exactly those of the accounting service (service key, Redis URL): none in env
    assert "CARBON_SERVICE_SECRET" not in env and "CARBON_REDIS_URL" not in env
    assert env["CARBON_SECRETS_DIR"] == "/var/run/secrets/carbon"
    assert {"name": "secrets", "mountPath": "/var/run/secrets/carbon", "readOnly": True} in container["volumeMounts"]
    secrets = next(v for v in pod["volumes"] if v["name"] == "secrets")
    accounting_pod = accounting["spec"]["template"]["spec"]
    assert secrets == next(v for v in accounting_pod["volumes"] if v["name"] == "secrets")
    # NetworkPolicies: the shards reach consent (and consent admits them); no ingress to the shards
    policy = find(docs, "NetworkPolicy", full("recompute"))
    assert "ingress" not in policy["spec"]
    consent = find(docs, "NetworkPolicy", full("consent-from-recompute"))
    assert consent["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
        "recompute"
    )


def test_enabled_without_periods_is_refused() -> None:
    result = helm_template("--set", "recompute.enabled=true", check=False)
    assert result.returncode != 0 and "/recompute/periods" in result.stderr, result.stderr


def test_kubeconform_and_cluster_policies_accept_it(tmp_path: Path) -> None:
    schemas = materialize(KUBERNETES_VERSION, tmp_path / "kubeschemas")
    path = tmp_path / "recompute.yaml"
    path.write_text(helm_template(*ENABLED).stdout)
    result = run(
        tool("kubeconform"),
        "-strict",
        "-summary",
        "-kubernetes-version",
        KUBERNETES_VERSION,
        "-schema-location",
        schemas,
        "-schema-location",
        f"{HERE}/schemas/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        path,
        check=False,
    )
    summary = re.search(r"Invalid: (\d+), Errors: (\d+), Skipped: (\d+)", result.stdout)
    assert summary and summary.groups() == ("0", "0", "0"), result.stdout + result.stderr
    assert opa_deny(rendered(), tmp_path) == set()
