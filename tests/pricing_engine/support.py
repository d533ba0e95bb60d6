"""Helpers for the loan-pricing policy engine tests: paths, a real OPA server
process, and the decision table (decision_table.yaml)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
BUNDLE_DIR = REPO / "policies" / "products"
TABLE_FILE = Path(__file__).with_name("decision_table.yaml")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class OpaServer:
    """A real OPA server process on a free local port."""

    def __init__(self, binary: str | Path, log_dir: Path, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = (log_dir / f"opa-{self.port}-{time.monotonic_ns()}.log").open("wb")
        self.process = subprocess.Popen(
            [str(binary), "run", "--server", "--addr", f"127.0.0.1:{self.port}", "--log-level", "error"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"opa exited with {self.process.returncode}; see {self._log.name}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"opa did not become healthy on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")


# -- the decision table -------------------------------------------------------


def _merge(base: dict[str, Any] | None, patch: Any) -> Any:
    if patch is None:
        return None
    merged = dict(base or {})
    merged.update(patch)
    return merged


def load_table() -> list[dict[str, Any]]:
    """Rows of decision_table.yaml as {id, product, input, expected}."""
    spec = yaml.safe_load(TABLE_FILE.read_text(encoding="utf-8"))
    defaults = spec["defaults"]
    rows = []
    for row in spec["rows"]:
        product = row["product"]
        base = defaults["products"][product]
        policy_input = {
            "product": product,
            "request": dict(defaults["request"]),
            "rating": _merge(base["rating"], row.get("rating", {})),
            "account": _merge(base["account"], row.get("account", {})),
        }
        want = row["expect"]
        expected = {
            "decision": want["decision"],
            "rate_adjustment_bp": want.get("bp", 0),
            "credit_line_effect": {
                "kind": want.get("credit", "NONE"),
                "amount_cny": want.get("amount_cny", "0.00"),
            },
            "tenor_effect_months": want.get("tenor", 0),
            "reasons": [{"code": code, "message": message} for code, message in want["reasons"]],
            "product_version": want.get("product_version", defaults["product_version"]),
        }
        rows.append({"id": row["id"], "product": product, "input": policy_input, "expected": expected})
    return rows


TABLE = load_table()
