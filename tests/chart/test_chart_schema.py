"""values.schema.json and the chart README's parameter tables are generated (`make chart-schema`).

scripts/gen_chart_schema.py runs bitnami's readme-generator-for-helm (npm, `make node-tools`) over
values.yaml's `## @param` annotations and lays values.schema.constraints.yaml over its schema.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "carbon-platform"
SCRIPT = REPO / "scripts" / "gen_chart_schema.py"
PROFILES = sorted((Path(__file__).resolve().parent / "profiles").glob("*.yaml"))


def generate(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *extra], capture_output=True, text=True, timeout=300
    )


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_chart_schema", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_schema_and_readme_are_the_generated_ones(tmp_path: Path) -> None:
    result = generate(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("values.schema.json", "README.md"):
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        assert fresh == (CHART / name).read_text(encoding="utf-8"), f"{name} is stale: run `make chart-schema`"


def test_a_value_without_param_fails_the_generation(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text((CHART / "values.yaml").read_text(encoding="utf-8") + "undocumentedKey: 1\n", encoding="utf-8")
    result = generate(tmp_path / "out", "--values", str(values))
    assert result.returncode != 0
    assert "Missing metadata for key: undocumentedKey" in result.stderr


def test_a_param_without_value_fails_the_generation(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    values.write_text(text.replace('  imageRegistry: ""\n', "", 1), encoding="utf-8")
    result = generate(tmp_path / "out", "--values", str(values))
    assert result.returncode != 0
    assert "Metadata provided for non existing key: global.imageRegistry" in result.stderr


def test_a_constraint_on_an_unknown_value_is_refused() -> None:
    gen = script()
    tree = {"type": "object", "properties": {"port": {"type": "number", "default": 1}}}
    with pytest.raises(gen.SchemaError, match=r"constraint for prot, which values\.yaml does not have"):
        gen.overlay(tree, {"properties": {"prot": {"minimum": 1}}}, "", {})


def test_constraints_override_types_and_refs_own_their_subtree() -> None:
    gen = script()
    tree = {
        "type": "object",
        "properties": {
            "port": {"type": "number", "description": "d", "default": 1},
            "resources": {"type": "object", "properties": {"cpu": {"type": "string", "default": "1"}}},
        },
    }
    constraints = {
        "properties": {
            "port": {"type": "integer", "minimum": 1},
            "resources": {"$ref": "#/definitions/resources"},
        }
    }
    gen.overlay(tree, constraints, "", {})
    assert tree["properties"]["port"] == {"type": "integer", "description": "d", "default": 1, "minimum": 1}
    assert tree["properties"]["resources"] == {
        "properties": {"cpu": {"default": "1"}},
        "allOf": [{"$ref": "#/definitions/resources"}],
    }


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_every_test_profile_is_valid(profile: Path) -> None:
    from jsonschema import Draft7Validator

    def merged(base: object, override: object) -> object:
        if isinstance(base, dict) and isinstance(override, dict):
            return {**base, **{k: merged(base.get(k), v) for k, v in override.items()}}
        return override

    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    values = merged(yaml.safe_load((CHART / "values.yaml").read_text()), yaml.safe_load(profile.read_text()) or {})
    errors = sorted(e.message for e in Draft7Validator(schema).iter_errors(values))
    assert not errors, errors


def test_every_documented_value_has_a_description() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))

    def missing(node: dict[str, object], path: str) -> list[str]:
        found = []
        for key, child in node.get("properties", {}).items():  # type: ignore[union-attr]
            where = f"{path}.{key}" if path else key
            if "properties" in child and child.get("type", "object") == "object" and "default" not in child:
                found += missing(child, where)
            elif not child.get("description"):
                found.append(where)
        return found

    assert missing(schema, "") == []


def test_every_parameter_row_of_the_readme_has_three_cells() -> None:
    """A `|` in a @param description would split its README row."""
    rows = [line for line in (CHART / "README.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    assert rows
    assert [row[:60] for row in rows if row.count("|") != 4] == []
