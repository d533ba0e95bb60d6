"""kube-score and checkov, third-party judges of the rendered chart, over every values profile.

Zero kube-score CRITICAL findings and zero failed checkov checks, except the entries of
tests/chart/hygiene-allowlist.yaml, each with its reason; an entry that matches nothing any
more fails too, so the allow-list cannot rot. kube-score comes from tools/bin (`make tools`),
checkov from the dev dependencies (requirements-dev.txt). Also: `helm template` renders the
chart without `--kube-version` (make tools builds helm with its real default Kubernetes version).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from carbon_devkit.checkout import tool

from tests.chart.test_chart import (
    CHART,
    HERE,
    NAMESPACE,
    PROFILES,
    RELEASE,
    manifests,
    profile_file,
    rendered_text,
    run,
)

ALLOWLIST = HERE / "hygiene-allowlist.yaml"
KUBE_SCORE_KUBERNETES = "v1.30"


@dataclass(frozen=True)
class Finding:
    tool: str
    profile: str
    check: str
    resource: str
    message: str


@functools.cache
def allowlist() -> dict[str, list[dict[str, object]]]:
    return yaml.safe_load(ALLOWLIST.read_text())  # type: ignore[no-any-return]


def allowed_by(finding: Finding) -> dict[str, object] | None:
    for entry in allowlist()[finding.tool] or []:
        if (
            entry["check"] == finding.check
            and finding.profile in entry["profiles"]  # type: ignore[operator]
            and re.fullmatch(str(entry["resource"]), finding.resource)
        ):
            return entry
    return None


@functools.cache
def rendered_files(directory: str) -> dict[str, Path]:
    paths = {}
    for profile in PROFILES:
        path = Path(directory) / f"{profile}.yaml"
        path.write_text(rendered_text(profile))
        paths[profile] = path
    return paths


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return rendered_files(str(tmp_path_factory.mktemp("rendered")))


def kube_score(profile: str, path: Path) -> list[Finding]:
    result = run(
        tool("kube-score"),
        "score",
        "--output-format",
        "json",
        "--kubernetes-version",
        KUBE_SCORE_KUBERNETES,
        path,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 1 = findings
    findings = []
    for obj in json.loads(result.stdout):
        kind, name = obj["type_meta"]["kind"], obj["object_meta"]["name"]
        for check in obj["checks"]:
            if check["skipped"] or check["grade"] != 1:  # 1 = CRITICAL, 5 = WARNING, 10 = OK
                continue
            for comment in check.get("comments") or [{"path": "", "summary": ""}]:
                resource = f"{kind}/{name}/{comment.get('path', '')}"
                findings.append(Finding("kube-score", profile, check["check"]["id"], resource, comment["summary"]))
    return findings


@pytest.fixture(scope="module")
def checkov_findings(renders: dict[str, Path]) -> list[Finding]:
    """One checkov run over the four rendered profiles (it takes a while to start)."""
    args = [sys.executable, "-m", "checkov.main", "--framework", "kubernetes", "--quiet", "--compact"]
    args += ["--skip-download", "--output", "json"]
    for path in renders.values():
        args += ["--file", str(path)]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(args, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] > 0
    by_file = {path.name: profile for profile, path in renders.items()}
    return [
        Finding("checkov", by_file[Path(c["file_path"]).name], c["check_id"], c["resource"], c["check_name"])
        for c in report["results"]["failed_checks"]
    ]


def _unexplained(findings: list[Finding]) -> list[str]:
    return [f"{f.profile}: {f.check} {f.resource}: {f.message}" for f in findings if allowed_by(f) is None]


@pytest.mark.parametrize("profile", PROFILES)
def test_kube_score_has_no_critical_finding(profile: str, renders: dict[str, Path]) -> None:
    assert _unexplained(kube_score(profile, renders[profile])) == []


def test_checkov_has_no_failed_check(checkov_findings: list[Finding]) -> None:
    assert _unexplained(checkov_findings) == []


def test_allowlist_entries_explain_themselves_and_are_all_used(
    checkov_findings: list[Finding], renders: dict[str, Path]
) -> None:
    findings = checkov_findings + [f for p in PROFILES for f in kube_score(p, renders[p])]
    used = {id(entry) for f in findings if (entry := allowed_by(f)) is not None}
    data = allowlist()
    assert set(data) == {"checkov", "kube-score"}
    for tool_name, entries in data.items():
        for entry in entries or []:
            assert len(str(entry.get("why", ""))) >= 40, f"{tool_name} {entry['check']}: say why"
            assert set(entry["profiles"]) <= set(PROFILES)  # type: ignore[arg-type]
            assert id(entry) in used, f"stale allow-list entry {tool_name} {entry['check']} {entry['resource']}"
    assert len([e for entries in data.values() for e in entries or []]) <= 6, "the allow-list must stay short"


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_template_needs_no_kube_version_flag(profile: str) -> None:
    result = run(tool("helm"), "template", RELEASE, CHART, "--namespace", NAMESPACE, "-f", profile_file(profile))
    # same objects as the suite's own renders (Secrets the chart may create hold random values)
    objects = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(result.stdout) if d]
    assert objects == [(d["kind"], d["metadata"]["name"]) for d in manifests(profile)]
