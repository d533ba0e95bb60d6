"""(d) The Rego unit tests, `opa check --strict` and Regal, run as the CI would."""

from __future__ import annotations

import json
import subprocess

from carbon_devkit.checkout import tool

from tests.pricing_engine.support import BUNDLE_DIR, REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO, capture_output=True, text=True, timeout=300)


def test_opa_test_passes() -> None:
    result = run(tool("opa"), "test", str(BUNDLE_DIR), "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "PASS:" in result.stdout


def test_opa_test_coverage_at_least_95_percent() -> None:
    result = run(tool("opa"), "test", str(BUNDLE_DIR), "--coverage")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["coverage"] >= 95


def test_opa_check_strict() -> None:
    result = run(tool("opa"), "check", "--strict", str(BUNDLE_DIR))
    assert result.returncode == 0, result.stdout + result.stderr


def test_opa_fmt_clean() -> None:
    result = run(tool("opa"), "fmt", "--list", str(BUNDLE_DIR))
    assert result.returncode == 0 and result.stdout.strip() == "", f"run `opa fmt -w`: {result.stdout}"


def test_regal_lint_clean() -> None:
    result = run(tool("regal"), "lint", str(BUNDLE_DIR))
    assert result.returncode == 0, result.stdout + result.stderr
