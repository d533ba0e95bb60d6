"""Offline Kubernetes JSON schemas for kubeconform.

The `kubernetes-validate` wheel bundles the Kubernetes OpenAPI schemas as
`kubernetes-json-schema/v<version>-local-strict/<kind>-<group>-<version>.json`,
but they are not standalone: every file has `"$id": "https://kubernetes.io/api/..."`
and `"$ref": "/api/_definitions.json#/$defs/..."`, so kubeconform would fetch
https://kubernetes.io/api/_definitions.json (no network here: the schema does
not compile and kubeconform reports "could not find schema").

`materialize()` copies one version into a directory kubeconform can read with
a local `-schema-location` template: it drops the `$id`s and embeds in each
file the definitions it references (`"$ref": "#/$defs/..."`), i.e. makes them
standalone. Nothing is downloaded.

CLI (prints the -schema-location template):
    python tests/chart/kubeschemas.py --kubernetes-version 1.30.0 --out build/kubeschemas
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DIR_TEMPLATE = "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
FILE_TEMPLATE = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
_DONE_MARKER = ".complete"


def source_dir(kubernetes_version: str) -> Path:
    """Directory of the strict schemas bundled by kubernetes-validate."""
    try:
        import kubernetes_validate
    except ImportError as exc:  # pragma: no cover - message for humans
        raise RuntimeError("the Python package kubernetes-validate is not installed: run `make setup`") from exc
    root = Path(kubernetes_validate.__file__).resolve().parent / "kubernetes-json-schema"
    src = root / f"v{kubernetes_version}-local-strict"
    if not src.is_dir():
        available = sorted(p.name for p in root.glob("v*-local-strict"))
        raise RuntimeError(f"kubernetes-validate has no schemas for {kubernetes_version}; available: {available}")
    return src


def _refs(node: object) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and "#/$defs/" in ref:
                found.add(ref.split("#/$defs/", 1)[1])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def materialize(kubernetes_version: str, out_root: Path) -> str:
    """Write standalone strict schemas under out_root, return the kubeconform location template.

    Each <kind>.json gets its own "$defs" holding exactly the definitions it
    reaches, so kubeconform compiles small self-contained documents.
    """
    out_root = Path(out_root).resolve()
    out = out_root / f"v{kubernetes_version}-standalone-strict"
    if not (out / _DONE_MARKER).exists():
        out.mkdir(parents=True, exist_ok=True)
        src = source_dir(kubernetes_version)
        definitions = json.loads((src / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
        closure: dict[str, set[str]] = {}

        def reachable(names: set[str]) -> set[str]:
            seen: set[str] = set()
            todo = list(names)
            while todo:
                name = todo.pop()
                if name in seen or name not in definitions:
                    continue
                seen.add(name)
                if name not in closure:
                    closure[name] = _refs(definitions[name])
                todo.extend(closure[name] - seen)
            return seen

        for path in src.glob("*.json"):
            if path.name == "_definitions.json":
                continue
            document = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(document, dict):
                document.pop("$id", None)
                needed = reachable(_refs(document))
                if needed:
                    document["$defs"] = {name: definitions[name] for name in sorted(needed)}
            text = json.dumps(document).replace('"/api/_definitions.json#/$defs/', '"#/$defs/')
            (out / path.name).write_text(text, encoding="utf-8")
        (out / _DONE_MARKER).write_text(kubernetes_version, encoding="utf-8")
    return f"{out_root}/{DIR_TEMPLATE}/{FILE_TEMPLATE}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", default="1.30.0")
    parser.add_argument("--out", type=Path, default=Path("build/kubeschemas"))
    args = parser.parse_args(argv)
    print(materialize(args.kubernetes_version, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
