"""FastAPI edge helpers: the same error shape as gRPC, bank authentication."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from carbon_common.errors import STORE_DOWN, ServiceError, invalid_arguments, store_unavailable, unauthenticated
from carbon_common.identity import SERVICE_HEADER, TOKEN_HEADER, Caller, ServiceVerifier


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, error: ServiceError) -> JSONResponse:
        return JSONResponse(error.to_json(), status_code=error.http_status)

    async def _store_down(_request: Request, _error: Exception) -> JSONResponse:
        error = store_unavailable()
        return JSONResponse(error.to_json(), status_code=error.http_status)

    for kind in STORE_DOWN:
        app.add_exception_handler(kind, _store_down)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        violations = [(_field_path(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in error.errors()]
        converted = invalid_arguments(violations)
        return JSONResponse(converted.to_json(), status_code=converted.http_status)


def _field_path(location: Any) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def require_service(verifier: ServiceVerifier) -> Callable[[Request], Caller]:
    """FastAPI dependency: the request must carry a valid platform service token (one use)."""

    def dependency(request: Request) -> Caller:
        name = request.headers.get(SERVICE_HEADER, "")
        token = request.headers.get(TOKEN_HEADER, "")
        if name or token:
            return verifier.verify(name, token)
        raise unauthenticated("UNAUTHENTICATED_SERVICE", "this endpoint is only for platform services (upload portal)")

    return dependency
