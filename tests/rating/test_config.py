"""Scheme documents: JSON Schema + semantic validation by field, new schemes without code, plug-ins,
ConfigMaps, registry snapshots, the audit chain and government tokens."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
import redis
from carbon_common.errors import ServiceError
from carbon_rating import audit, gov, plugins, registry
from carbon_rating import scheme as sc
from carbon_rating.builtin import builtin_documents
from kubernetes.client import V1ConfigMap, V1ObjectMeta

from tests.rating.helpers import document, rate, row


def fields(violations: list[tuple[str, str]]) -> list[str]:
    return [f for f, _ in violations]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"grading__bands__2__value": "1.2x"}, "grading.bands[2].value"),
        ({"grading__bands__2__op": "=<"}, "grading.bands[2].op"),
        ({"grading__bands__1__grade": "9"}, "grading.bands[1].grade"),
        ({"grading__indicator": "Q"}, "grading.indicator"),
        ({"indicators__0__metric": "vibes"}, "indicators[0].metric"),
        ({"scheme_id": "Bad Id"}, "scheme_id"),
        ({"benchmark__min_sample": 0}, "benchmark.min_sample"),
    ],
)
def test_validation_errors_name_the_field(changes: dict[str, object], field: str) -> None:
    assert field in fields(sc.validate(document("zhejiang-carbon-efficiency", **changes)))


def test_semantic_checks() -> None:
    doc = document("shenzhen-aaa")
    doc["grading"]["components"][0]["weight"] = "0.3"
    assert "grading.components" in fields(sc.validate(doc))  # weights sum to 1.05
    doc = document("zhejiang-carbon-efficiency")
    doc["grading"]["bands"] = doc["grading"]["bands"][:-1]  # no otherwise band
    assert "grading.bands[3]" in fields(sc.validate(doc))
    doc = document("quzhou-four-colour")
    doc["grading"]["rules"] = doc["grading"]["rules"][:-1]
    assert "grading.rules[2]" in fields(sc.validate(doc))


def test_yaml_numbers_become_exact_decimals() -> None:
    text = json.dumps(builtin_documents()["zhejiang-carbon-efficiency"]).replace('"1.2"', "1.2")
    doc, problems = sc.parse_text(text)
    assert not problems and doc is not None and doc["grading"]["bands"][2]["value"] == "1.2"
    assert sc.parse_text("a: [")[1][0][0].startswith("line")


def test_a_new_scheme_is_pure_configuration() -> None:
    """E.g. a Qinghai-style scheme: intensity reduction rate and green-power share, three grades."""
    doc = {
        "scheme_id": "qinghai-green-progress",
        "display_name": {"en": "Qinghai green progress", "zh": "青海绿色进步评价"},
        "indicators": [
            {"id": "G", "metric": "clean_energy_share", "display_name": {"en": "green power share", "zh": "绿电占比"}},
            {
                "id": "K",
                "metric": "relative_intensity_revenue",
                "display_name": {"en": "relative intensity", "zh": "相对强度"},
            },
        ],
        "grades": [
            {"id": "LEADING", "label": {"en": "leading", "zh": "领先"}},
            {"id": "PROGRESSING", "label": {"en": "progressing", "zh": "进步"}},
            {"id": "LAGGING", "label": {"en": "lagging", "zh": "落后"}},
        ],
        "grading": {
            "method": "rules",
            "rules": [
                {
                    "grade": "LEADING",
                    "all": [
                        {"indicator": "G", "op": ">=", "value": "0.5"},
                        {"indicator": "K", "op": "<", "value": "1"},
                    ],
                },
                {"grade": "PROGRESSING", "any": [{"indicator": "G", "op": ">=", "value": "0.2"}]},
                {"grade": "LAGGING"},
            ],
        },
        "benchmark": {
            "min_sample": 1,
            "official": [
                {"metric": "intensity_revenue", "industry": "C26", "period": "2023", "value": "2", "source": "test"}
            ],
        },
        "sources": {"grading.rules": "illustrative"},
    }
    assert sc.validate(doc) == []
    assert rate(doc, [row("E1", clean="0.5", l_rev="1.999999")], "E1").grade == "LEADING"
    assert rate(doc, [row("E1", clean="0.5", l_rev="2")], "E1").grade == "PROGRESSING"
    assert rate(doc, [row("E1", clean="0.199999", l_rev="1")], "E1").grade == "LAGGING"


class HalfPlugin:
    """Exotic logic: grade A when K is below half of params.limit."""

    def validate(self, params, indicator_ids, grade_ids):
        return [] if "limit" in params else [("grading.params.limit", "is required")]

    def grade(self, params, values):
        k = values["K"]
        if k is None:
            return plugins.PluginDecision(None, missing=("K",))
        ok = k * 2 < Fraction(params["limit"])
        return plugins.PluginDecision("A" if ok else "B", deciding=(f"2K {'<' if ok else '>='} {params['limit']}",))


def test_plugin_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "half_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: half-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[carbon.rating.schemes]\nhalf = tests.rating.test_config:HalfPlugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = plugins.load_plugins()
    assert "half" in loaded
    doc = {
        "scheme_id": "exotic",
        "display_name": {"en": "exotic", "zh": "特殊"},
        "indicators": [{"id": "K", "metric": "relative_intensity_value_added", "display_name": {"en": "K", "zh": "K"}}],
        "grades": [{"id": "A", "label": {"en": "A", "zh": "A"}}, {"id": "B", "label": {"en": "B", "zh": "B"}}],
        "grading": {"method": "plugin", "plugin": "half", "params": {}},
        "benchmark": {
            "official": [
                {"metric": "intensity_value_added", "industry": "C", "period": "2023", "value": "1", "source": "t"}
            ]
        },
    }
    assert fields(sc.validate(doc, loaded)) == ["grading.params.limit"]
    assert fields(sc.validate(doc, {})) == ["grading.plugin"]
    doc["grading"]["params"] = {"limit": "1"}
    scheme = sc.compile_scheme(doc, loaded)
    from carbon_rating.benchmarks import build_table
    from carbon_rating.vectorised import grade_frame, population_frame

    rows = [row("E1", l_va="0.49"), row("E2", l_va="0.5")]
    frame = population_frame(rows)
    table = build_table(frame, scheme.benchmark)
    slow = {r.uscc: sc.evaluate(scheme, r, {}, table, loaded).grade for r in rows}
    assert slow == {"E1": "A", "E2": "B"}
    fast = dict(grade_frame(scheme, frame, "2023", table=table, plugins=loaded).select("uscc", "grade").iter_rows())
    assert fast == slow
    sys.modules.pop("half_plugin", None)


def test_configmap_documents_are_parsed_and_imported(redis_url: str) -> None:
    doc = document("shenzhen-aaa", version="2024-09")
    doc["grading"]["cutoffs"][0]["value"] = "92"
    import yaml

    good = V1ConfigMap(
        metadata=V1ObjectMeta(
            name="sz",
            namespace="rating",
            labels={"carbon.example.cn/scheme": "true"},
            annotations={registry.EFFECTIVE_ANNOTATION: "2024-09-01T00:00:00Z"},
        ),
        data={"scheme.yaml": yaml.safe_dump(doc, allow_unicode=True), "README": "ignored"},
    )
    bad = V1ConfigMap(metadata=V1ObjectMeta(name="bad", namespace="rating"), data={"x.yaml": "scheme_id: x\n"})
    parsed = registry.documents_from_configmaps([good, bad])
    assert parsed[0][1] == "2024-09-01T00:00:00Z" and parsed[0][2] == []
    assert parsed[1][2] and parsed[1][2][0][0].startswith("configmap/rating/bad/x.yaml")

    client = redis.Redis.from_url(redis_url)
    store = registry.SchemeStore(client)
    store.seed(builtin_documents().values())
    assert registry.import_configmaps(store, [good, bad]) == ["shenzhen-aaa/2024-09"]
    assert registry.import_configmaps(store, [good]) == []  # idempotent; published versions are immutable
    replica = registry.SchemeRegistry(client)
    replica.refresh()
    assert replica.active("shenzhen-aaa").version == "2024-09"  # type: ignore[union-attr]
    assert replica.active("shenzhen-aaa", datetime(2024, 8, 31, tzinfo=UTC)).version == "1"  # type: ignore[union-attr]


def test_future_effective_time_and_snapshots(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    store = registry.SchemeStore(client)
    store.seed(builtin_documents().values())
    replica = registry.SchemeRegistry(client)
    replica.refresh()
    v1 = replica.active("zhejiang-carbon-efficiency")
    draft = store.create_draft(document("zhejiang-carbon-efficiency", grading__bands__2__value="1.0"), "alice")
    with pytest.raises(ServiceError) as caught:
        store.approve("zhejiang-carbon-efficiency", draft.version, "alice")
    assert caught.value.reason == "FOUR_EYES"
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    store.approve("zhejiang-carbon-efficiency", draft.version, "bob", future)
    assert replica.refresh()
    assert replica.active("zhejiang-carbon-efficiency") is v1  # same immutable object until the effective time
    tomorrow = datetime.now(UTC) + timedelta(days=1, minutes=1)
    assert replica.active("zhejiang-carbon-efficiency", tomorrow).version == draft.version  # type: ignore[union-attr]
    with pytest.raises(ServiceError) as caught:
        store.update_draft("zhejiang-carbon-efficiency", draft.version, document("zhejiang-carbon-efficiency"), "alice")
    assert caught.value.reason == "VERSION_IMMUTABLE"


def test_audit_chain_detects_tampering(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    store = registry.SchemeStore(client)
    store.seed(builtin_documents().values())
    store.create_draft(document("quzhou-four-colour"), "alice")
    items = audit.entries(client)
    assert [e.action for e in items] == ["publish", "publish", "publish", "draft"]
    assert [e.seq for e in items] == [1, 2, 3, 4] and items[3].actor == "alice"
    assert audit.verify(client) == (True, None)
    forged = json.loads(client.lindex(audit.AUDIT_KEY, 1))  # type: ignore[arg-type]
    forged["body"]["actor"] = "mallory"
    client.lset(audit.AUDIT_KEY, 1, json.dumps(forged))
    assert audit.verify(client) == (False, 2)


def test_gov_tokens() -> None:
    users = gov.parse_tokens("alice:drafter:aaaaaaaaaaaaaaaaaaaa, bob:approver:bbbbbbbbbbbbbbbbbbbb")
    assert sorted((u.name, u.role) for u in users.values()) == [("alice", "drafter"), ("bob", "approver")]
    assert "aaaaaaaaaaaaaaaaaaaa" not in repr(users)
    for bad in ("alice:admin:aaaaaaaaaaaaaaaaaaaa", "alice:drafter:short", "nonsense"):
        with pytest.raises(ValueError):
            gov.parse_tokens(bad)
    assert gov.parse_effective("2025-01-01") == "2024-12-31T16:00:00.000000Z"  # naive = UTC+8


def test_dev_tokens_file_is_private(tmp_path: Path) -> None:
    spec, path = gov.dev_tokens(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_text().strip() == spec
    assert {u.name for u in gov.parse_tokens(spec).values()} == {"dev-drafter", "dev-approver"}
