"""(c) Hot reload: load_bundle swaps policies on a live engine.

v1 = the shipped bundle; v2 = a copy whose data.json changes the dark-green
discount (a bank tuning numbers, no Rego change) and whose manifest carries a
new revision. The same engine object must answer with v2's terms and report
v2's version. Both engines; the OPA one on a private OPA server process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from carbon_pricing.engine import (
    BundleLoadError,
    EmbeddedEngine,
    OpaServerEngine,
    PolicyBundle,
    PolicyEngine,
    UnknownProduct,
)

from tests.pricing_engine.support import BUNDLE_DIR, TABLE, OpaServer, edit_json

DARK_GREEN = next(row for row in TABLE if row["id"] == "quzhou dark green")


def make_v2(root: Path, bp: int = -65, revision: str = "products-2024.2") -> PolicyBundle:
    edit_json(
        root / "quzhou_tanrongyi" / "data.json",
        lambda d: d["params"]["grades"]["DARK_GREEN"].update(rate_adjustment_bp=bp),
    )
    edit_json(root / ".manifest", lambda d: d.update(revision=revision))
    return PolicyBundle.from_directory(root)


EngineFactory = Callable[[PolicyBundle], PolicyEngine]


@pytest.fixture(params=["embedded", "opa"])
def make_engine(request: pytest.FixtureRequest) -> EngineFactory:
    if request.param == "embedded":
        return EmbeddedEngine
    server: OpaServer = request.getfixturevalue("fresh_opa_server")

    def on_opa(bundle: PolicyBundle) -> PolicyEngine:
        return OpaServerEngine(server.url, bundle)

    return on_opa


def test_reload_changes_terms_and_version(make_engine: EngineFactory, bundle_copy: Path) -> None:
    v1 = PolicyBundle.from_directory(BUNDLE_DIR)
    engine = make_engine(v1)
    try:
        assert engine.bundle_version == v1.version
        assert engine.evaluate("quzhou_tanrongyi", DARK_GREEN["input"])["rate_adjustment_bp"] == -50

        v2 = make_v2(bundle_copy)
        engine.load_bundle(v2)

        assert engine.bundle_version == v2.version != v1.version
        assert v2.version.startswith("products-2024.2@sha256:")
        got = engine.evaluate("quzhou_tanrongyi", DARK_GREEN["input"])
        assert got["rate_adjustment_bp"] == -65
        assert got["reasons"] == [{"code": "RATE_ADJUSTMENT", "message": "grade DARK_GREEN: rate adjustment -65 bp"}]

        engine.load_bundle(v1)  # and back
        assert engine.bundle_version == v1.version
        assert engine.evaluate("quzhou_tanrongyi", DARK_GREEN["input"]) == DARK_GREEN["expected"]
    finally:
        engine.close()


def test_broken_bundle_keeps_the_old_one(make_engine: EngineFactory, bundle_copy: Path) -> None:
    v1 = PolicyBundle.from_directory(BUNDLE_DIR)
    engine = make_engine(v1)
    try:
        policy = bundle_copy / "wuyi_jiantandai" / "policy.rego"
        policy.write_text(policy.read_text(encoding="utf-8") + "\nbroken := {\n", encoding="utf-8")
        with pytest.raises(BundleLoadError):
            engine.load_bundle(PolicyBundle.from_directory(bundle_copy))
        assert engine.bundle_version == v1.version
        for row in TABLE[:10] + TABLE[-10:]:
            assert engine.evaluate(row["product"], row["input"]) == row["expected"]
    finally:
        engine.close()


def test_removed_product_becomes_unknown(make_engine: EngineFactory, bundle_copy: Path) -> None:
    engine = make_engine(PolicyBundle.from_directory(BUNDLE_DIR))
    try:
        for name in ("policy.rego", "policy_test.rego", "data.json"):
            (bundle_copy / "wuyi_jiantandai" / name).unlink()
        (bundle_copy / "wuyi_jiantandai").rmdir()
        engine.load_bundle(PolicyBundle.from_directory(bundle_copy))
        assert engine.products == ("quzhou_tanrongyi", "shenzhen_jiangtandai")
        with pytest.raises(UnknownProduct):
            engine.evaluate("wuyi_jiantandai", TABLE[-1]["input"])
        assert engine.evaluate("quzhou_tanrongyi", DARK_GREEN["input"]) == DARK_GREEN["expected"]
    finally:
        engine.close()


def test_opa_server_holds_exactly_the_new_bundle(fresh_opa_server: OpaServer, bundle_copy: Path) -> None:
    import requests

    engine = OpaServerEngine(fresh_opa_server.url, PolicyBundle.from_directory(BUNDLE_DIR))
    try:
        for name in ("policy.rego", "policy_test.rego", "data.json"):
            (bundle_copy / "wuyi_jiantandai" / name).unlink()
        (bundle_copy / "wuyi_jiantandai").rmdir()
        engine.load_bundle(make_v2(bundle_copy))
        policies = requests.get(f"{fresh_opa_server.url}/v1/policies", timeout=5).json()["result"]
        assert sorted(p["id"] for p in policies) == [
            "carbon_pricing/pricing_lib/lib.rego",
            "carbon_pricing/quzhou_tanrongyi/policy.rego",
            "carbon_pricing/shenzhen_jiangtandai/policy.rego",
        ]
        data = requests.get(f"{fresh_opa_server.url}/v1/data", timeout=5).json()["result"]
        assert "wuyi_jiantandai" not in data
        assert data["quzhou_tanrongyi"]["params"]["grades"]["DARK_GREEN"]["rate_adjustment_bp"] == -65
    finally:
        engine.close()


def test_swaps_under_load_are_atomic(make_engine: EngineFactory, tmp_path: Path) -> None:
    """Threads evaluate while the bundle flips between two versions: every
    answer belongs wholly to one of them, and nothing fails."""
    import shutil

    v1 = PolicyBundle.from_directory(BUNDLE_DIR)
    other = tmp_path / "v2"
    shutil.copytree(BUNDLE_DIR, other)
    v2 = make_v2(other)
    expected = {-50: "grade DARK_GREEN: rate adjustment -50 bp", -65: "grade DARK_GREEN: rate adjustment -65 bp"}

    engine = make_engine(v1)
    errors: list[BaseException] = []
    seen: set[int] = set()
    stop = threading.Event()

    def evaluate() -> None:
        try:
            while not stop.is_set():
                got: dict[str, Any] = engine.evaluate("quzhou_tanrongyi", DARK_GREEN["input"])
                bp = got["rate_adjustment_bp"]
                assert got["reasons"][0]["message"] == expected[bp]
                seen.add(bp)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=evaluate) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        for i in range(8):
            engine.load_bundle(v2 if i % 2 == 0 else v1)
    finally:
        stop.set()
        for t in threads:
            t.join()
        engine.close()
    assert not errors, errors[0]
    assert seen <= {-50, -65} and seen


def test_version_is_deterministic_and_content_addressed(bundle_copy: Path) -> None:
    a = PolicyBundle.from_directory(BUNDLE_DIR)
    b = PolicyBundle.from_directory(bundle_copy)
    assert a.version == b.version and a.digest == b.digest
    # tests and non-bundle files do not count
    (bundle_copy / "wuyi_jiantandai" / "policy_test.rego").write_text("package x_test\n", encoding="utf-8")
    (bundle_copy / "README.md").write_text("notes\n", encoding="utf-8")
    assert PolicyBundle.from_directory(bundle_copy).version == a.version
    # same revision, different data: different version
    edit_json(bundle_copy / "shenzhen_jiangtandai" / "data.json", lambda d: d["params"].update(base_score=65))
    changed = PolicyBundle.from_directory(bundle_copy)
    assert changed.revision == a.revision and changed.version != a.version
    manifest = json.loads((BUNDLE_DIR / ".manifest").read_text(encoding="utf-8"))
    assert a.version == f"{manifest['revision']}@sha256:{a.digest[:16]}"


def test_opa_restart_is_healed_by_repushing(opa_binary: str, tmp_path: Path) -> None:
    """An OPA sidecar that restarts forgets the pushed bundle; the engine
    notices the undefined decision, pushes its current bundle again, retries."""
    server = OpaServer(opa_binary, tmp_path)
    engine = OpaServerEngine(server.url, PolicyBundle.from_directory(BUNDLE_DIR))
    try:
        assert engine.evaluate("quzhou_tanrongyi", DARK_GREEN["input"]) == DARK_GREEN["expected"]
        server.stop()
        server = OpaServer(opa_binary, tmp_path, port=server.port)  # empty again
        assert engine.evaluate("quzhou_tanrongyi", DARK_GREEN["input"]) == DARK_GREEN["expected"]
        assert engine.evaluate("wuyi_jiantandai", TABLE[-1]["input"]) == TABLE[-1]["expected"]
    finally:
        engine.close()
        server.stop()
