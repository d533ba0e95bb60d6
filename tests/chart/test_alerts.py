"""The chart's alert rules, judged by promtool (built by `make tools`).

The rules are taken from the PrometheusRule the chart renders (files/prometheus-rules.yaml
through `tpl`), written as a plain rule file, checked by `promtool check rules` and unit-tested
by `promtool test rules` with tests/chart/alerts/alerts_test.yaml. Every alert has a runbook
section, and every application metric the rules query is one the services export.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from tests.chart.test_chart import RELEASE, REPO, find, manifests, run
from tests.support.tools import tool

HERE = Path(__file__).resolve().parent


def rendered_rules() -> dict[str, object]:
    rule = find(manifests("high-availability"), "PrometheusRule", RELEASE)
    return {"groups": rule["spec"]["groups"]}


def alerts() -> set[str]:
    return {r["alert"] for group in rendered_rules()["groups"] for r in group["rules"]}  # type: ignore[attr-defined]


def test_promtool_checks_and_unit_tests_the_rendered_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rendered_rules(), sort_keys=False, allow_unicode=True))
    shutil.copy(HERE / "alerts" / "alerts_test.yaml", tmp_path / "alerts_test.yaml")
    checked = run(tool("promtool"), "check", "rules", rules)
    assert "SUCCESS" in checked.stdout
    tested = run(tool("promtool"), "test", "rules", tmp_path / "alerts_test.yaml")
    assert "SUCCESS" in tested.stdout


def test_every_slo_alert_has_a_unit_test() -> None:
    tests = (HERE / "alerts" / "alerts_test.yaml").read_text()
    tested = set(re.findall(r"alertname: (\w+)", tests))
    untested = (
        alerts()
        - tested
        - {
            # plain kube-state-metrics / kubelet comparisons, unchanged from before the SLO rules
            "CarbonServiceDegraded",
            "CarbonPodCrashLooping",
            "CarbonAutoscalerAtMax",
            "CarbonVolumeFillingUp",
        }
    )
    assert untested == set()


def test_every_alert_has_a_runbook_section() -> None:
    runbook = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    for alert in alerts():
        assert re.search(rf"^#+ {alert}$", runbook, re.MULTILINE), f"docs/runbook.md has no section {alert}"


def test_rules_query_only_metrics_the_services_export() -> None:
    """Application metric names in the rules are those carbon_common's exposition produces."""
    text = yaml.safe_dump(rendered_rules())
    used = set(re.findall(r"\b((?:rpc|http|carbon)_[a-z_]+?)(?:_bucket|_count|_sum|_total)?\{", text))
    exported = {
        "rpc_server_duration_milliseconds",
        "http_server_duration_milliseconds",
        "carbon_ingestion_lag_seconds",
        "carbon_audit_lag_seconds",
        "carbon_integrity_checks",
    }
    assert used and used <= exported, used - exported
