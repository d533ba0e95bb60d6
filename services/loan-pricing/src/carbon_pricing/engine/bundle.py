"""Policy bundles: the Rego modules and data of every bank loan product.

A bundle is a directory (``policies/products`` in the repository)::

    .manifest                     {"revision": "<string>"}   (manifest.json also accepted)
    pricing_lib/lib.rego          helper package(s), no data.json
    <product>/policy.rego         package <product>, rule ``decision``
    <product>/data.json           {"params": {...}}  -> data.<product>.params
    **/*_test.rego                policy tests: NOT part of the bundle

Layout rules are those of ``opa test <dir>`` / ``opa build -b <dir>``: a
``data.json`` is mounted at the path of its directory relative to the bundle
root, so the same directory gives the same ``data`` document to ``opa test``,
the embedded engine and an OPA server. A *product* is a top-level directory
that holds both ``policy.rego`` and ``data.json``; its id is the directory
name, which is also its Rego package, and its decision is
``data.<product>.decision``.

The bundle version is ``"<revision>@sha256:<first 16 hex digits>"``, where the
digest is SHA-256 over every bundle file (manifest, non-test ``.rego``,
``data.json``) in sorted relative-path order, each framed by its path and
length. It is deterministic: same bytes, same version, on any machine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import BundleLoadError

MANIFEST_NAMES = (".manifest", "manifest.json")
DATA_FILE = "data.json"
POLICY_FILE = "policy.rego"
DECISION_RULE = "decision"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _is_test_module(path: Path) -> bool:
    return path.name.endswith("_test.rego")


@dataclass(frozen=True)
class PolicyBundle:
    """An immutable, fully read snapshot of a bundle directory."""

    revision: str
    digest: str
    #: relative posix path -> Rego source (test modules excluded)
    modules: Mapping[str, str]
    #: the merged base document (``data``) the bundle provides
    data: Mapping[str, Any]
    #: product ids, sorted
    products: tuple[str, ...]
    source: Path | None = field(default=None, compare=False)

    @property
    def version(self) -> str:
        return f"{self.revision}@sha256:{self.digest[:16]}"

    def decision_path(self, product: str) -> str:
        """``<product>/decision``: the rule path (OPA REST / regopy entrypoint)."""
        return f"{product}/{DECISION_RULE}"

    def data_json(self) -> str:
        """The merged data document as canonical JSON text."""
        return json.dumps(dict(self.data), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_directory(cls, root: str | Path) -> PolicyBundle:
        root = Path(root)
        if not root.is_dir():
            raise BundleLoadError(f"policy bundle directory {str(root)!r} does not exist")

        files: dict[str, bytes] = {}
        manifest_name = next((n for n in MANIFEST_NAMES if (root / n).is_file()), None)
        if manifest_name is None:
            raise BundleLoadError(f"{root}: no .manifest (or manifest.json) with a revision")
        files[manifest_name] = (root / manifest_name).read_bytes()

        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root)
            if any(part.startswith(".") for part in rel.parts):
                continue  # .manifest (handled above), .regal/, editor files
            if (path.suffix == ".rego" and not _is_test_module(path)) or path.name == DATA_FILE:
                files[rel.as_posix()] = path.read_bytes()

        revision = _read_revision(root / manifest_name)
        modules: dict[str, str] = {}
        data: dict[str, Any] = {}
        for rel_path, content in files.items():
            if rel_path.endswith(".rego"):
                try:
                    modules[rel_path] = content.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise BundleLoadError(f"{root / rel_path}: not UTF-8") from exc
            elif rel_path.endswith(DATA_FILE) and rel_path not in MANIFEST_NAMES:
                _mount(data, rel_path, _read_json(root / rel_path))

        products = tuple(
            sorted(
                d.name
                for d in root.iterdir()
                if d.is_dir()
                and not d.name.startswith(".")
                and (d / POLICY_FILE).is_file()
                and (d / DATA_FILE).is_file()
            )
        )
        if not products:
            raise BundleLoadError(f"{root}: no product (<product>/{POLICY_FILE} + {DATA_FILE})")
        for product in products:
            if not _IDENTIFIER.match(product):
                raise BundleLoadError(f"{root}: product directory {product!r} is not a Rego identifier")
            params = data.get(product, {}).get("params") if isinstance(data.get(product), dict) else None
            if not isinstance(params, dict):
                raise BundleLoadError(f"{root / product / DATA_FILE}: must hold an object under 'params'")
            version = params.get("product_version")
            if not isinstance(version, str) or not version:
                raise BundleLoadError(f"{root / product / DATA_FILE}: params.product_version must be a string")
            if params.get("product_id", product) != product:
                raise BundleLoadError(
                    f"{root / product / DATA_FILE}: params.product_id is {params['product_id']!r}, "
                    f"expected the directory name {product!r}"
                )

        return cls(
            revision=revision,
            digest=_digest(files),
            modules=MappingProxyType(modules),
            data=MappingProxyType(data),
            products=products,
            source=root,
        )


def _digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for rel_path in sorted(files):
        name = rel_path.encode("utf-8")
        content = files[rel_path]
        h.update(len(name).to_bytes(8, "big"))
        h.update(name)
        h.update(len(content).to_bytes(8, "big"))
        h.update(content)
    return h.hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleLoadError(f"{path}: invalid JSON: {exc}") from exc


def _read_revision(path: Path) -> str:
    manifest = _read_json(path)
    revision = manifest.get("revision") if isinstance(manifest, dict) else None
    if not isinstance(revision, str) or not revision.strip():
        raise BundleLoadError(f"{path}: 'revision' must be a non-empty string")
    return revision


def _mount(data: dict[str, Any], rel_path: str, document: Any) -> None:
    """Place ``document`` at the directory path of ``rel_path`` (OPA loader rules)."""
    parts = rel_path.split("/")[:-1]
    if not parts:
        if not isinstance(document, dict):
            raise BundleLoadError(f"{rel_path}: a root data.json must hold an object")
        _merge(data, document, rel_path)
        return
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise BundleLoadError(f"{rel_path}: data path conflict at {part!r}")
        node = child
    leaf = parts[-1]
    if leaf in node:
        if not (isinstance(node[leaf], dict) and isinstance(document, dict)):
            raise BundleLoadError(f"{rel_path}: data path conflict at {leaf!r}")
        _merge(node[leaf], document, rel_path)
    else:
        node[leaf] = document


def _merge(target: dict[str, Any], source: dict[str, Any], rel_path: str) -> None:
    for key, value in source.items():
        if key in target:
            if isinstance(target[key], dict) and isinstance(value, dict):
                _merge(target[key], value, rel_path)
            else:
                raise BundleLoadError(f"{rel_path}: data key {key!r} defined twice")
        else:
            target[key] = value
