"""Project-local tool binaries (built by `make tools`)."""

from __future__ import annotations

import os
from pathlib import Path

TOOLS_BIN = Path(os.environ.get("CARBON_TOOLS_BIN", Path(__file__).resolve().parents[2] / "tools" / "bin"))


def tool(name: str) -> str:
    """Path of a tool binary; a missing one fails the test (never skips it)."""
    path = TOOLS_BIN / name
    assert path.exists(), f"{path} is missing: run `make tools`"
    return str(path)
