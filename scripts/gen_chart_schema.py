"""`make chart-schema`: the chart's values.schema.json and README parameter tables, from values.yaml.

bitnami's readme-generator-for-helm (npm, pinned in package.json, `make node-tools`) reads the
`## @param` / `## @section` annotations of charts/carbon-platform/values.yaml: it fails when a value
has no @param or a @param names no value, writes the README's "Parameters" section and an
OpenAPI-style schema with each value's type (inferred from its default), description and default.

The generator has no way to state constraints (enums, ranges, patterns, required keys, closed
objects, conditionals), so those live in values.schema.constraints.yaml (JSON Schema fragments laid
over the generated tree, plus shared `definitions`) and are merged here:

- a constraint on a value that values.yaml does not have is an error (no constraint outlives its value);
- a fragment with `$ref` becomes `allOf: [{$ref}]` (draft-07 ignores keywords beside `$ref`) and the
  referenced definition owns the types of that subtree (e.g. a quantity may be "1", 1 or "500m"
  whatever the default's type is);
- `$mixin: NAME` lays the fragment `mixins.NAME` over the node first (the six service blocks share
  one); unlike a `$ref`, its `additionalProperties: false` then applies to the generated property
  list, so the keys of a closed object are still the ones values.yaml documents;
- any other keyword of the fragment replaces the generated one (e.g. `integer` for a port).

Two gaps of the generator are filled from values.yaml itself: values documented with `[array]` get
their real default and item type (the generator writes the placeholder "[]" with string items), and
values documented with `[object]` (label selectors, whose keys contain dots the generator splits)
are added with their real default.

tests/chart/test_chart_schema.py runs this into a temporary directory and fails on any difference
from the committed files.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "carbon-platform"
VALUES = CHART / "values.yaml"
CONSTRAINTS = CHART / "values.schema.constraints.yaml"
SCHEMA = "values.schema.json"
README = "README.md"
GENERATOR = REPO / "node_modules" / ".bin" / "readme-generator"

# The generator's own grammar for a parameter line (lib/parser.js).
PARAM_LINE = re.compile(r"^\s*##\s*@param\s*(\S+)\s*(\[.*?\])?\s*(.*)$")
# Keywords whose value is a schema or a map of schemas: not paths of values.yaml.
NESTED_SCHEMA_KEYWORDS = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "items", "patternProperties")

Schema = dict[str, Any]


class SchemaError(Exception):
    pass


def run_generator(values: Path, readme: Path, raw_schema: Path) -> None:
    if not GENERATOR.exists():
        raise SchemaError(f"{GENERATOR.relative_to(REPO)} is missing: run `make node-tools`")
    result = subprocess.run(
        [str(GENERATOR), "--values", str(values), "--readme", str(readme), "--schema", str(raw_schema)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
        raise SchemaError("readme-generator-for-helm failed:\n" + "\n".join(errors or [result.stderr.strip()]))


def documented_params(values_text: str) -> dict[str, tuple[list[str], str]]:
    """@param name -> (modifiers, description), as the generator parses them."""
    params = {}
    for line in values_text.splitlines():
        match = PARAM_LINE.match(line)
        if match:
            modifiers = [m.strip() for m in (match.group(2) or "[]")[1:-1].split(",") if m.strip()]
            params[match.group(1)] = (modifiers, match.group(3))
    return params


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def fill_modifier_params(schema: Schema, values: dict[str, Any], params: dict[str, tuple[list[str], str]]) -> None:
    """Give `[array]` / `[object]` values their real default (and item type), adding dropped ones."""
    for name, (modifiers, description) in params.items():
        if not {"array", "object"} & set(modifiers):
            continue
        *parents, leaf = name.split(".")
        node, value = schema, values
        for key in parents:
            node = node.setdefault("properties", {}).setdefault(key, {"type": "object", "properties": {}})
            value = value[key]
        default = value[leaf]
        entry: Schema = {"type": json_type(default), "description": description, "default": default}
        if isinstance(default, list):
            entry["items"] = {"type": json_type(default[0])} if default else {}
        node.setdefault("properties", {})[leaf] = entry


def strip_types(node: Schema) -> None:
    node.pop("type", None)
    node.pop("items", None)
    for child in node.get("properties", {}).values():
        strip_types(child)


def overlay(node: Schema, constraints: Schema, path: str, mixins: dict[str, Schema]) -> None:
    for keyword, fragment in constraints.items():
        if keyword == "$mixin":
            if fragment not in mixins:
                raise SchemaError(f"{CONSTRAINTS.name}: {path} uses the unknown mixin {fragment!r}")
            overlay(node, mixins[fragment], path, mixins)
        elif keyword == "properties":
            children = node.get("properties", {})
            for key, child in fragment.items():
                where = f"{path}.{key}" if path else key
                if key not in children:
                    raise SchemaError(f"{CONSTRAINTS.name}: constraint for {where}, which values.yaml does not have")
                overlay(children[key], child, where, mixins)
        elif keyword == "$ref":
            strip_types(node)
            node["allOf"] = [{"$ref": fragment}, *node.get("allOf", [])]
        else:
            node[keyword] = copy.deepcopy(fragment)


def build_schema(
    raw: Schema, values: dict[str, Any], params: dict[str, tuple[list[str], str]], constraints: Schema
) -> Schema:
    constraints = copy.deepcopy(constraints)
    tree: Schema = {"type": "object", "properties": raw["properties"]}
    fill_modifier_params(tree, values, params)
    head = {key: constraints.pop(key) for key in ("$schema", "$id", "title")}
    definitions = constraints.pop("definitions")
    overlay(tree, constraints, "", constraints.pop("mixins"))
    return {**head, "type": "object", "definitions": definitions, **tree}


def generate(out_dir: Path, values: Path = VALUES) -> list[Path]:
    """Write values.schema.json and README.md (its Parameters section regenerated) into out_dir."""
    values_text = values.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="chart-schema-") as tmp:
        raw_path = Path(tmp) / "raw-schema.json"
        readme = out_dir / README
        if readme.resolve() != (CHART / README).resolve():
            shutil.copyfile(CHART / README, readme)
        run_generator(values, readme, raw_path)
        raw = json.loads(raw_path.read_text(encoding="utf-8"))
    constraints = yaml.safe_load(CONSTRAINTS.read_text(encoding="utf-8"))
    schema = build_schema(raw, yaml.safe_load(values_text), documented_params(values_text), constraints)
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    target = out_dir / SCHEMA
    target.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [target, readme]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=CHART, help="directory to write into (default: the chart)")
    parser.add_argument("--values", type=Path, default=VALUES, help="values file (default: the chart's)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        written = generate(args.out, args.values)
    except SchemaError as error:
        print(error, file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
