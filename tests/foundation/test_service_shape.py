"""One service shape (GUIDE "Style"): a service's edges — gRPC (`grpc_api.py`) and REST routers (`rest/`
package, one module per resource, FastAPI APIRouter) — call the service's core only: no edge imports a
store module or reaches into a core's store or Redis client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EDGES = sorted(
    [*REPO.glob("services/*/src/*/grpc_api.py"), *REPO.glob("services/*/src/*/**/grpc_api.py")]
    + [p for p in REPO.glob("services/*/src/**/rest/*.py")]
)
FORBIDDEN_ATTRIBUTES = {"store", "redis"}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.rsplit(".", 1)[-1] == "store":
            problems.append(f"line {node.lineno}: imports {node.module}")
        elif isinstance(node, ast.Import):
            problems += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name.endswith(".store")]
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            problems.append(f"line {node.lineno}: reaches .{node.attr}")
    return problems


def test_the_edges_are_found() -> None:
    names = {str(p.relative_to(REPO)) for p in EDGES}
    assert "services/loan-pricing/src/carbon_pricing/grpc_api.py" in names
    assert "services/loan-pricing/src/carbon_pricing/rest/quotes.py" in names
    assert "services/loan-pricing/src/carbon_pricing/portfolio/rest/snapshots.py" in names
    assert "services/consent/src/carbon_consent/rest/pages.py" in names
    assert "services/loan-pricing/src/carbon_pricing/portfolio/rest/page.py" in names
    assert "services/rating/src/carbon_rating/gov/rest/schemes.py" in names


@pytest.mark.parametrize("path", EDGES, ids=lambda p: str(p.relative_to(REPO / "services")))
def test_an_edge_calls_the_core_only(path: Path) -> None:
    assert _problems(path) == []


def test_the_check_sees_a_store_access(tmp_path: Path) -> None:
    bad = tmp_path / "grpc_api.py"
    bad.write_text("from carbon_x.store import Store\n\ndef f(core):\n    return core.store.get('k')\n")
    assert _problems(bad) == ["line 1: imports carbon_x.store", "line 4: reaches .store"]
