"""REST edges answer client mistakes with the error JSON (never a plain-text 500), auth before validation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from carbon_common.http import EXAMPLE_USCC
from carbon_devkit.processes import start_service

ADMIN = "rest-edges-admin-token"


@pytest.fixture(scope="module")
def consent(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    logs = tmp_path_factory.mktemp("rest-edges")
    service = start_service("consent", {"CARBON_REDIS_URL": f"{redis_server}/3", "CARBON_ADMIN_TOKEN": ADMIN}, logs)
    try:
        with httpx.Client(base_url=service.http_base, timeout=10) as client:
            yield client
    finally:
        assert service.stop() == 0


def error_of(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = response.json()["error"]
    assert {"code", "status", "message", "details"} <= set(body)
    assert body["code"] == response.status_code
    return dict(body)


def test_wrong_shapes_are_400_in_the_error_shape(consent: httpx.Client) -> None:
    admin = {"authorization": f"Bearer {ADMIN}"}
    for body in ([1, 2], "text", {"enterprise": [1]}, {"uscc": {"a": 1}}, {"displayName": "x" * 10_000}):
        response = consent.post("/v1/enterprises", json=body, headers=admin)
        assert response.status_code == 400, (body, response.text[:300])
        assert error_of(response)["status"] == "INVALID_ARGUMENT"
        assert len(response.content) < 4000  # never the whole input echoed
    not_json = consent.post("/v1/enterprises", content=b"{nope", headers={**admin, "content-type": "application/json"})
    assert not_json.status_code == 400
    for data_time in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "not a time"):
        check = consent.post(
            "/v1/consents:checkAccess",
            json={
                "enterprise": f"enterprises/{EXAMPLE_USCC}",
                "grantee": "platform",
                "scope": "RATING",
                "dataTime": data_time,
            },
            headers=admin,
        )
        assert check.status_code == 400, (data_time, check.text[:300])
        error_of(check)


def test_authentication_comes_before_validation(consent: httpx.Client) -> None:
    anonymous = consent.post("/v1/enterprises", json=[1, 2])
    assert anonymous.status_code == 401
    assert "fieldViolations" not in anonymous.text


def test_routing_errors_use_the_error_shape(consent: httpx.Client) -> None:
    missing = consent.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert error_of(missing)["status"] == "NOT_FOUND"
    # Two routes serve /v1/enterprises (GET and POST): Allow names both.
    wrong = consent.delete("/v1/enterprises")
    assert wrong.status_code == 405
    error_of(wrong)
    assert {m.strip() for m in wrong.headers["allow"].split(",")} >= {"GET", "POST"}
    # `{uscc}` does not swallow `{uscc}:manageLink`.
    verb = consent.get(f"/v1/enterprises/{EXAMPLE_USCC}:manageLink")
    assert verb.status_code == 405
    assert verb.headers["allow"] == "POST"


def test_pages_stay_out_of_the_api_document(consent: httpx.Client) -> None:
    document = consent.get("/openapi.json").json()
    assert not [p for p in document["paths"] if p.startswith("/consents")]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("security"), f"{method} {path} declares no security"
            assert "422" not in operation["responses"]
            for code, answer in operation["responses"].items():
                if code.startswith(("4", "5")):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, code)


def test_oversized_bodies_are_refused_before_they_are_read(consent: httpx.Client) -> None:
    admin = {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"}
    declared = consent.post("/v1/enterprises", content=b"[" + b"1," * 600_000 + b"1]", headers=admin)
    assert declared.status_code == 413
    assert error_of(declared)["status"] == "RESOURCE_EXHAUSTED"

    def chunks():  # no content-length: counted while it streams
        for _ in range(40):
            yield b" " * 65536

    streamed = consent.post("/v1/enterprises", content=chunks(), headers=admin)
    assert streamed.status_code == 413
    document = consent.get("/openapi.json").json()
    assert "413" in document["paths"]["/v1/enterprises"]["post"]["responses"]
