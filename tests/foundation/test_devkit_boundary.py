"""Dev tooling is a package of its own (libs/carbon-devkit): `make run`, bench/ and the tests use it;
no deployable depends on it or on anything else test-only; `make run` installs only what running needs."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEVKIT = REPO / "libs" / "carbon-devkit"
# Every package of the tree but the dev-kit is production code (a new package is, by default).
PRODUCTION = sorted(
    path.parent for path in REPO.glob("*/*/pyproject.toml") if path.parent.parent.name in {"libs", "services", "ops"}
)
PRODUCTION.remove(DEVKIT)
TEST_ONLY_DISTRIBUTIONS = {
    "carbon-devkit",
    "pytest",
    "pytest-timeout",
    "hypothesis",
    "schemathesis",
    "playwright",
    "checkov",
    "kubernetes-validate",
    "grpcio-tools",
    "duckdb",
    "ruff",
    "mypy",
}
TEST_ONLY_MODULES = {
    "tests",
    "carbon_devkit",
    "pytest",
    "_pytest",
    "hypothesis",
    "schemathesis",
    "playwright",
    "duckdb",
}
# What only the tests need; `make run` must not build or install any of it.
TEST_TOOLS = ("go install", "npm", "chromium", "poppler", "spectral", "kube-score", "promtool", "weed", "kubeconform")


def imported_roots(files: Iterator[Path]) -> Iterator[tuple[Path, str]]:
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                yield from ((path, alias.name.split(".")[0]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield path, node.module.split(".")[0]


def distribution(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_production_packages_are_found() -> None:
    names = {path.name for path in PRODUCTION}
    assert {"carbon-common", "carbon-ingest", "carbon-synth", "carbonctl", "consent", "loan-pricing"} <= names
    assert len(PRODUCTION) >= 11


@pytest.mark.parametrize("package", PRODUCTION, ids=lambda path: path.name)
def test_a_deployable_depends_on_nothing_test_only(package: Path) -> None:
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    declared = {distribution(r) for r in project.get("dependencies", [])}
    for extra in project.get("optional-dependencies", {}).values():
        declared |= {distribution(r) for r in extra}
    assert declared & TEST_ONLY_DISTRIBUTIONS == set()
    sources = list((package / "src").rglob("*.py"))
    assert sources
    imports = {f"{path.relative_to(REPO)}: {root}" for path, root in imported_roots(iter(sources))}
    assert {line for line in imports if line.rsplit(": ", 1)[1] in TEST_ONLY_MODULES} == set()


def test_bench_scripts_and_the_devkit_never_import_tests() -> None:
    files = [*(REPO / "bench").rglob("*.py"), *(REPO / "scripts").rglob("*.py"), *(DEVKIT / "src").rglob("*.py")]
    assert {f"{path.relative_to(REPO)}" for path, root in imported_roots(iter(files)) if root == "tests"} == set()


def test_benchmarks_start_processes_only_through_the_devkit() -> None:
    """No benchmark starts redis-server or a service by hand: no such command in its code (profilers and
    load generators may be subprocesses); the process-starting ones use the dev-kit."""
    from carbon_common import catalog

    launched = {"redis-server", "weed", *(entry.package for entry in catalog.SERVICES)}
    scripts = sorted((REPO / "bench").glob("*.py"))
    for path in scripts:
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        strings = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        }
        assert strings & launched == set(), path.name
    users = {path.name for path, root in imported_roots(iter(scripts)) if root == "carbon_devkit"}
    assert {
        "bench_ingest.py",
        "bench_pricing.py",
        "bench_identity.py",
        "bench_hashchain.py",
        "bench_portfolio.py",
    } <= users


def test_no_image_ships_the_devkit() -> None:
    dockerfiles = sorted(REPO.glob("services/*/Dockerfile"))
    assert dockerfiles
    for dockerfile in dockerfiles:
        assert "carbon-devkit" not in dockerfile.read_text(), dockerfile


def planned_commands(target: str) -> str:
    """What `make <target>` would run on a fresh machine (-B: as if nothing were built yet)."""
    return subprocess.run(
        ["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_make_run_installs_only_what_running_needs() -> None:
    commands = planned_commands("run")
    assert "-m carbon_devkit.local" in commands
    assert "uv pip install" in commands and "-e libs/carbon-devkit" in commands
    assert "redis-server" in commands and "fonts-wqy-zenhei" in commands
    assert [tool for tool in TEST_TOOLS if tool in commands] == []


def test_make_test_brings_the_test_tools() -> None:
    commands = planned_commands("test")
    assert "-m pytest" in commands
    assert [
        tool
        for tool in ("go install", "npm", "chromium", "poppler", "spectral", "kube-score", "promtool")
        if tool not in commands
    ] == []
