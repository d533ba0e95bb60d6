"""Static checks of the service Dockerfiles and of the chart's values documentation.

There is no Docker engine here: the Dockerfiles are checked for the rules the
chart relies on (non-root uid 10001, venv-only runtime stage, the right
`python -m` entry point and ports, pinned base image, build context = repo root).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from carbon_common import catalog

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "carbon-platform"

# service dir -> (Python package, gRPC port, HTTP port in the cluster), from the service catalog
SERVICES = {e.directory: (e.package, e.cluster.grpc, e.cluster.http) for e in catalog.SERVICES}
PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")


def _project(pyproject: Path) -> dict[str, object]:
    return tomllib.loads(pyproject.read_text())["project"]  # type: ignore[no-any-return]


# Local distributions an image may need: the libraries, and a service whose pure domain another service
# applies itself (loan-pricing projects consent's decision rule: the same code, carbon_consent.domain).
LOCAL_LIBS = {
    str(_project(path / "pyproject.toml")["name"]): path
    for parent in ("libs", "services")
    for path in sorted((REPO / parent).iterdir())
    if (path / "pyproject.toml").is_file()
}


def local_dependencies(pyproject: Path) -> list[str]:
    """libs/<dir> (or services/<dir>) paths the distribution needs, transitively, dependencies first."""
    needed: list[str] = []

    def visit(path: Path) -> None:
        for requirement in _project(path).get("dependencies", []):  # type: ignore[attr-defined]
            name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()
            if name in LOCAL_LIBS:
                visit(LOCAL_LIBS[name] / "pyproject.toml")
                lib = f"{LOCAL_LIBS[name].parent.name}/{LOCAL_LIBS[name].name}"
                if lib not in needed:
                    needed.append(lib)

    visit(pyproject)
    return needed


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; comments dropped, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def stages(steps: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for keyword, rest in steps:
        if keyword == "FROM":
            out.append([])
        if out:
            out[-1].append((keyword, rest))
    return out


PDF_SERVICES = {"accounting", "loan-pricing"}
PDF_PACKAGES = {"libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0", "fonts-wqy-zenhei"}


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile(service: str) -> None:
    package, grpc_port, http_port = SERVICES[service]
    steps = instructions(REPO / "services" / service / "Dockerfile")

    args = dict(rest.split("=", 1) for keyword, rest in steps if keyword == "ARG" and "=" in rest)
    assert PINNED_PYTHON.match(args["PYTHON_IMAGE"]), args["PYTHON_IMAGE"]

    builder, runtime = stages(steps)
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE} AS runtime")

    # every local library the service needs (from the pyprojects) is copied and installed, none from PyPI
    libs = local_dependencies(REPO / "services" / service / "pyproject.toml")
    assert libs[:2] == ["libs/carbon-proto", "libs/carbon-common"]
    copied = [shlex.split(rest)[0] for keyword, rest in builder if keyword == "COPY"]
    assert copied == ["constraints.txt", *(f"{lib}/" for lib in libs), f"services/{service}/"]
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: not in the build context (repository root)"
    installs = [rest for keyword, rest in builder if keyword == "RUN" and "pip install" in rest]
    assert len(installs) == 1
    expected = " ".join(["-c constraints.txt", *(f"./{lib}" for lib in libs), f"./services/{service}"])
    assert expected in installs[0]
    assert f"import {package}, carbon_common.healthcheck" in installs[0]  # (then any other package it uses)
    assert (REPO / "services" / service / "src" / package).is_dir()

    # the runtime stage installs nothing but, for the services that print PDF reports, Debian's pango and the
    # CJK font (WeasyPrint lays the reports out with pango; no wheel ships it): no build tools, lists removed
    runs = [rest for keyword, rest in runtime if keyword == "RUN"]
    if service in PDF_SERVICES:
        (run,) = runs
        packages = re.findall(r"--no-install-recommends\s+([^&]+)&&", run)
        assert packages and set(packages[0].split()) == PDF_PACKAGES, run
        assert run.endswith("rm -rf /var/lib/apt/lists/*"), run
    else:
        assert not runs, "the runtime stage installs nothing"
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in runtime
    assert [rest for keyword, rest in runtime if keyword == "USER"] == ["10001:10001"]
    assert runtime[-1][0] == "ENTRYPOINT"
    assert json.loads(runtime[-1][1]) == ["python", "-m", package]
    assert ("EXPOSE", f"{grpc_port} {http_port}") in runtime
    assert "latest" not in (REPO / "services" / service / "Dockerfile").read_text()


def test_values_are_documented() -> None:
    """Every key of values.yaml is documented by a `## @param` line (readme-generator-for-helm style)."""
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*## @param (\S+)", text, re.MULTILINE))
    leaves: list[str] = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        else:
            leaves.append(path)

    walk(yaml.safe_load(text), "")
    paths = {".".join(leaf.split(".")[:i]) for leaf in leaves for i in range(1, leaf.count(".") + 2)}
    # a leaf is documented by its own @param or by one of a parent map (e.g. a label selector)
    undocumented = [
        leaf for leaf in leaves if not any(p in documented for p in paths if leaf == p or leaf.startswith(p + "."))
    ]
    assert undocumented == []
    assert sorted(documented - paths) == [], "@param lines for keys that values.yaml does not have"
