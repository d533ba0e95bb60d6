"""Engine API: errors, factory, input handling, bundle validation."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from carbon_pricing.engine import (
    BundleLoadError,
    EmbeddedEngine,
    OpaServerEngine,
    PolicyBundle,
    PolicyEngine,
    PolicyEngineUnavailable,
    PolicyEvaluationError,
    UnknownProduct,
    engine_from_settings,
)

from tests.pricing_engine.support import BUNDLE_DIR, TABLE, OpaServer, edit_json

ROW = TABLE[0]


def test_bundle_layout(bundle: PolicyBundle) -> None:
    assert bundle.products == ("quzhou_tanrongyi", "shenzhen_jiangtandai", "wuyi_jiantandai")
    assert sorted(bundle.modules) == [
        "pricing_lib/lib.rego",
        "quzhou_tanrongyi/policy.rego",
        "shenzhen_jiangtandai/policy.rego",
        "wuyi_jiantandai/policy.rego",
    ]
    assert set(bundle.data) == set(bundle.products)
    assert bundle.decision_path("wuyi_jiantandai") == "wuyi_jiantandai/decision"


def test_factory_builds_both_kinds(opa_server: OpaServer) -> None:
    embedded = engine_from_settings("embedded", None, BUNDLE_DIR)
    remote = engine_from_settings("opa", opa_server.url, BUNDLE_DIR)
    try:
        assert isinstance(embedded, EmbeddedEngine) and isinstance(embedded, PolicyEngine)
        assert isinstance(remote, OpaServerEngine) and isinstance(remote, PolicyEngine)
        assert embedded.evaluate(ROW["product"], ROW["input"]) == ROW["expected"]
        assert remote.evaluate(ROW["product"], ROW["input"]) == ROW["expected"]
    finally:
        embedded.close()
        remote.close()


def test_factory_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="unknown policy engine kind"):
        engine_from_settings("wasm", None, BUNDLE_DIR)
    with pytest.raises(ValueError, match="opa_url"):
        engine_from_settings("opa", None, BUNDLE_DIR)
    with pytest.raises(BundleLoadError):
        engine_from_settings("embedded", None, BUNDLE_DIR / "nope")


def test_unknown_product(embedded: EmbeddedEngine, opa_engine: OpaServerEngine) -> None:
    for engine in (embedded, opa_engine):
        with pytest.raises(UnknownProduct) as info:
            engine.evaluate("jiangshan_tanrongtong", {"product": "jiangshan_tanrongtong"})
        assert info.value.product == "jiangshan_tanrongtong"
        assert "quzhou_tanrongyi" in str(info.value)


def test_input_product_must_match(embedded: EmbeddedEngine) -> None:
    with pytest.raises(PolicyEvaluationError, match=r"input\.product"):
        embedded.evaluate("wuyi_jiantandai", ROW["input"])


def test_unserialisable_input(embedded: EmbeddedEngine) -> None:
    with pytest.raises(PolicyEvaluationError, match="JSON"):
        embedded.evaluate(ROW["product"], {**ROW["input"], "request": {"at": object()}})


def test_out_of_range_floats_are_refused_by_both(embedded: EmbeddedEngine, opa_engine: OpaServerEngine) -> None:
    # rego-cpp cannot evaluate with a double that underflows (std::stod)
    tiny = {**ROW["input"], "account": {**ROW["input"]["account"], "quality_score": 2.2250738585072014e-308}}
    for engine in (embedded, opa_engine):
        with pytest.raises(PolicyEvaluationError, match="float range"):
            engine.evaluate(ROW["product"], tiny)


def test_decimal_inputs_are_accepted(embedded: EmbeddedEngine) -> None:
    policy_input = {**ROW["input"], "request": {"amount_cny": Decimal("1000000.00")}}
    assert embedded.evaluate(ROW["product"], policy_input) == ROW["expected"]


def test_unreachable_opa_server(bundle: PolicyBundle, opa_server: OpaServer) -> None:
    engine = OpaServerEngine(opa_server.url, bundle)
    engine._client_kwargs["port"] = 1  # nothing listens there
    engine._local = type(engine._local)()  # drop the cached client
    try:
        with pytest.raises(PolicyEngineUnavailable):
            engine.evaluate(ROW["product"], ROW["input"])
    finally:
        engine.close()
    with pytest.raises(BundleLoadError, match="unreachable"):
        OpaServerEngine("http://127.0.0.1:1", bundle, retries=0)


def test_bad_opa_url(bundle: PolicyBundle) -> None:
    with pytest.raises(ValueError):
        OpaServerEngine("127.0.0.1:8181", bundle)


def test_policy_without_decision_is_an_evaluation_error(bundle_copy: Path) -> None:
    policy = bundle_copy / "quzhou_tanrongyi" / "policy.rego"
    policy.write_text(
        policy.read_text(encoding="utf-8").replace("\ndecision := _decision", "\nrenamed := _decision"),
        encoding="utf-8",
    )
    engine = EmbeddedEngine(PolicyBundle.from_directory(bundle_copy))
    with pytest.raises(PolicyEvaluationError):
        engine.evaluate(ROW["product"], ROW["input"])


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda root: (root / ".manifest").unlink(), "manifest"),
        (lambda root: (root / ".manifest").write_text('{"revision": ""}'), "revision"),
        (lambda root: (root / "wuyi_jiantandai" / "data.json").write_text("{not json"), "invalid JSON"),
        (
            lambda root: edit_json(
                root / "wuyi_jiantandai" / "data.json", lambda d: d["params"].update(product_id="x")
            ),
            "product_id",
        ),
        (
            lambda root: edit_json(
                root / "wuyi_jiantandai" / "data.json", lambda d: d["params"].pop("product_version")
            ),
            "product_version",
        ),
    ],
    ids=["no manifest", "empty revision", "bad json", "product_id mismatch", "no product_version"],
)
def test_malformed_bundles_are_rejected(bundle_copy: Path, breakage: Callable[[Path], object], message: str) -> None:
    breakage(bundle_copy)
    with pytest.raises(BundleLoadError, match=message):
        PolicyBundle.from_directory(bundle_copy)


def test_manifest_json_is_accepted(bundle_copy: Path) -> None:
    (bundle_copy / ".manifest").rename(bundle_copy / "manifest.json")
    assert (
        PolicyBundle.from_directory(bundle_copy).revision
        == json.loads((BUNDLE_DIR / ".manifest").read_text(encoding="utf-8"))["revision"]
    )
