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
from carbon_devkit.checkout import tool

from tests.chart.test_chart import (
    CHART,
    RELEASE,
    REPO,
    SERVICES,
    env_of,
    find,
    full,
    helm_template,
    main_container,
    manifests,
    run,
    selects,
)

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


def test_prometheus_reaches_metrics_through_the_network_policies() -> None:
    """ServiceMonitor -> Service port `http` -> container port the app serves /metrics on,
    and each service's NetworkPolicy admits the configured Prometheus pods on that port."""
    docs = manifests("high-availability")
    values = yaml.safe_load((HERE / "profiles" / "high-availability.yaml").read_text())
    assert values["networkPolicy"]["metrics"]["enabled"] is True
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["networkPolicy"]["metrics"]
    monitor = find(docs, "ServiceMonitor", RELEASE)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    prometheus_peer = {"namespaceSelector": defaults["namespaceSelector"], "podSelector": defaults["podSelector"]}
    for name, _, http_port in SERVICES.values():
        service = find(docs, "Service", full(name))
        assert selects(monitor["spec"]["selector"], service["metadata"]["labels"]), name
        port = next(p for p in service["spec"]["ports"] if p["name"] == "http")
        container = main_container(find(docs, "Deployment", full(name)))
        assert (
            port["targetPort"] == "http"
            and {"name": "http", "containerPort": http_port, "protocol": "TCP"} in (container["ports"])
        )
        assert env_of(container)["CARBON_HTTP_PORT"] == str(http_port)  # where server.py mounts /metrics
        rules = find(docs, "NetworkPolicy", full(name))["spec"]["ingress"]
        assert {"from": [prometheus_peer], "ports": [{"protocol": "TCP", "port": "http"}]} in rules, name
    redis = find(docs, "Service", full("redis"))
    assert not selects(monitor["spec"]["selector"], redis["metadata"]["labels"])


def test_service_monitor_refuses_a_blocked_scrape() -> None:
    result = helm_template(
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "networkPolicy.metrics.enabled=false", check=False
    )
    assert result.returncode != 0
    assert "metrics.serviceMonitor.enabled needs networkPolicy.metrics.enabled" in result.stderr
