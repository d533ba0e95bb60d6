"""Every service's OpenAPI document, judged by third-party tools over the running services.

- spectral (`spectral:oas` ruleset, built into tools/bin by `make tools`) lints
  each exported document: zero errors.
- schemathesis generates requests from each document (examples, coverage and
  fuzzing phases, bounded examples) and runs all its checks on every answer:
  no 5xx, documented status codes, content types, headers and bodies, invalid
  data rejected, declared security enforced. Credentials come from the
  document itself: each operation's first security alternative the test holds
  a credential for.

Statuses that valid-by-schema data may still get: 400 when a rule the schema
cannot express fails (the USCC check character, cross-field rules such as a
data window's order), besides schemathesis's defaults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from carbon_devkit.checkout import REPO, tool
from carbon_devkit.credentials import (
    ADMIN_TOKEN,
    GOV_APPROVER_TOKEN,
    GOV_DRAFTER_TOKEN,
    PRICING_ADMIN_TOKEN,
    SERVICE_SECRET,
)
from carbon_devkit.stack import Stack, start_platform
from jsonschema import Draft202012Validator

HERE = Path(__file__).parent
SERVICES = ("consent", "ingest-tax", "ingest-energy", "accounting", "rating", "loan-pricing")
MAX_EXAMPLES = 12
GOV_DRAFTER, GOV_APPROVER = GOV_DRAFTER_TOKEN, GOV_APPROVER_TOKEN
CALLS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The platform's rate limits are generous (carbon_devkit.stack): fuzzing is not a load test.
    running = start_platform(tmp_path_factory.mktemp("openapi"), {"CARBON_LOG_LEVEL": "WARNING"}, wait=180)
    yield running
    running.stop()
    print(f"\nschemathesis calls per service: {dict(CALLS)}")


@pytest.fixture(scope="module")
def bank_key(platform: Stack) -> str:
    created = httpx.post(
        f"{platform.http('consent')}/v1/banks",
        json={"bankId": "fuzz-bank", "displayName": "Fuzz bank"},
        headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["apiKey"])


def _document(platform: Stack, service: str) -> dict[str, Any]:
    response = httpx.get(f"{platform.http(service)}/openapi.json", timeout=10)
    assert response.status_code == 200, f"{service}: {response.status_code}"
    return dict(response.json())


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_spectral_finds_no_errors(platform: Stack, service: str, tmp_path: Path) -> None:
    document = tmp_path / f"{service}.json"
    document.write_text(json.dumps(_document(platform, service)))
    ruleset = tmp_path / ".spectral.yaml"
    ruleset.write_text('extends: ["spectral:oas"]\n')
    result = subprocess.run(
        [tool("spectral"), "lint", "--ruleset", str(ruleset), "--format", "json", "--quiet", str(document)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f.get("severity") == 0]
    print(f"\nspectral {service}: {len(errors)} errors, {len(findings) - len(errors)} warnings/hints")
    assert errors == [], json.dumps(errors, indent=1, ensure_ascii=False)[:4000]


def test_examples_pass_their_own_schemas(platform: Stack, service: str) -> None:
    """Every example in the document (schemas and request bodies) validates against its schema."""
    document = _document(platform, service)
    components = document.get("components", {})
    checked = 0

    def validate(example: Any, schema: dict[str, Any], where: str) -> None:
        nonlocal checked
        errors = list(Draft202012Validator({**schema, "components": components}).iter_errors(example))
        assert not errors, f"{service} {where}: {errors[0].message}"
        checked += 1

    for name, schema in components.get("schemas", {}).items():
        for example in schema.get("examples", []):
            validate(example, schema, f"components.schemas.{name}")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                examples = [media["example"]] if "example" in media else []
                examples += [e.get("value") for e in media.get("examples", {}).values()]
                examples += media.get("schema", {}).get("examples", [])
                for example in examples:
                    validate(example, media["schema"], f"{method} {path}")
    if service in ("consent", "loan-pricing"):
        assert checked, f"{service}: the request bodies carry examples"


def test_schemathesis_finds_nothing(platform: Stack, bank_key: str, service: str, tmp_path: Path) -> None:
    base = platform.http(service)
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.openapi_auth",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
        "CARBON_FUZZ_SERVICE_SECRET": SERVICE_SECRET,
        "CARBON_FUZZ_AUDIENCE": service,
        "CARBON_FUZZ_ADMIN_TOKEN": PRICING_ADMIN_TOKEN if service == "loan-pricing" else ADMIN_TOKEN,
        "CARBON_FUZZ_GOV_DRAFTER": GOV_DRAFTER,
        "CARBON_FUZZ_GOV_APPROVER": GOV_APPROVER,
        "CARBON_FUZZ_BANK_KEY": bank_key,
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "--no-color",
            "run",
            f"{base}/openapi.json",
            "--url",
            base,
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "1",
            "--seed",
            "12",
            "--request-timeout",
            "30",
            "--report",
            "ndjson",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # schemathesis keeps its cache under the working directory
        env=env,
    )
    CALLS[service] = _count_calls(tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def _count_calls(report_dir: Path) -> int:
    """Requests schemathesis sent, from its ndjson event report."""
    total = 0
    for path in report_dir.glob("*.ndjson"):
        total += path.read_text().count('"request":')
    return total
