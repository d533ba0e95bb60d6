"""The proto contracts: generated code is fresh, buf lint is clean."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

from carbon_devkit.checkout import tool

REPO = Path(__file__).resolve().parents[2]
GENERATED = REPO / "libs" / "carbon-proto" / "src" / "carbon"


def test_generated_stubs_match_the_protos(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "scripts" / "gen_proto.py"), "--out", str(tmp_path)], check=True)
    fresh = _sources(tmp_path / "carbon", tmp_path)
    committed = _sources(GENERATED, GENERATED.parent)
    assert fresh == committed, "generated file set differs: run `make proto` and commit"
    stale = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, GENERATED.parent / p, shallow=False)]
    assert not stale, f"stale generated code (run `make proto`): {stale}"


def _sources(root: Path, base: Path) -> list[Path]:
    return sorted(p.relative_to(base) for p in root.rglob("*") if p.suffix in {".py", ".pyi"})


def test_buf_lint_is_clean() -> None:
    result = subprocess.run([tool("buf"), "lint"], cwd=REPO / "proto", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_has_a_contract() -> None:
    from carbon.v1 import (
        accounting_pb2,
        consent_pb2,
        enterprise_pb2,
        ingest_energy_pb2,
        ingest_tax_pb2,
        pricing_pb2,
        rating_pb2,
    )

    services = {
        name
        for module in (
            accounting_pb2,
            consent_pb2,
            enterprise_pb2,
            ingest_energy_pb2,
            ingest_tax_pb2,
            pricing_pb2,
            rating_pb2,
        )
        for name in module.DESCRIPTOR.services_by_name
    }
    assert services >= {
        "ConsentService",
        "BankService",
        "EnterpriseService",
        "TaxIngestionService",
        "EnergyIngestionService",
        "AccountingService",
        "RatingService",
        "PricingService",
    }
