"""The source checkout the dev-kit is installed from (editable, by `make venv`): its root,
its tool binaries (`make tools`) and its pricing policy bundle."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# libs/carbon-devkit/src/carbon_devkit/checkout.py
REPO = Path(__file__).resolve().parents[4]
TOOLS_BIN = Path(os.environ.get("CARBON_TOOLS_BIN", REPO / "tools" / "bin"))
POLICY_BUNDLE = REPO / "policies" / "products"


class ToolMissing(RuntimeError):
    """A project tool binary has not been built."""


def tool(name: str) -> str:
    """Path of a tool binary built into tools/bin; a missing one is an error (a test fails, never skips)."""
    path = TOOLS_BIN / name
    if not path.exists():
        raise ToolMissing(f"{path} is missing: run `make tools`")
    return str(path)


def copy_policy_bundle(target: Path) -> Path:
    """The pricing products bundle (with its .manifest) without its Rego tests, as loan-pricing loads it."""
    shutil.copytree(POLICY_BUNDLE, target, ignore=shutil.ignore_patterns("*_test.rego"))
    return target
