"""FastAPI edge helpers: the same error shape as gRPC, bank authentication, truthful OpenAPI.

Every service's HTTP edge calls `install_error_handlers(app)`, which
- answers every error, including a client's wrong-shape body, an unknown
  path and an unexpected crash, with the google.rpc.Status JSON body
  (`ErrorResponse`), never a plain-text 500;
- finishes the app's OpenAPI document: the error body declared for the 4xx/5xx
  answers an operation can give (400 for any input, 401/403 where it declares
  security, 429 where it is rate limited, 500/503 everywhere) instead of
  FastAPI's 422 `HTTPValidationError` that the service never sends, and the
  security schemes (`SECURITY_SCHEMES`) its operations name through
  `security(...)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from carbon_common.docs import install_offline_docs
from carbon_common.errors import (
    DOMAIN,
    STORE_DOWN,
    ServiceError,
    invalid_arguments,
    store_unavailable,
    unauthenticated,
    unavailable,
)
from carbon_common.identity import SERVICE_HEADER, TOKEN_HEADER, Caller, ServiceVerifier, bearer_token
from carbon_common.names import uscc_check_char

_Credential = TypeVar("_Credential")

# ---------------------------------------------------------------- path parameters

# The shape only; the check character (GB 32100-2015) is verified by names.validate_uscc -> 400.
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
EXAMPLE_USCC = "91330800MA2A0B1C2" + uscc_check_char("91330800MA2A0B1C2")
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
PERIOD_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$"


class SegmentConvertor(Convertor[str]):
    """`{name:segment}`: one path segment without ':', so `/things/{id}` never swallows `/things/{id}:verb`."""

    regex = "[^/:]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("segment", SegmentConvertor())

UsccPath = Annotated[
    str,
    Path(
        min_length=18,
        max_length=18,
        pattern=USCC_PATTERN,
        description="Unified social credit code (18 characters, GB 32100-2015)",
        examples=[EXAMPLE_USCC],
    ),
]
IdPath = Annotated[
    str, Path(min_length=1, max_length=63, pattern=ID_PATTERN, description="AIP-122 resource id", examples=["demo"])
]
PeriodPath = Annotated[
    str, Path(min_length=4, max_length=7, pattern=PERIOD_PATTERN, description="YYYY or YYYY-MM", examples=["2024"])
]

# ---------------------------------------------------------------- the error body, as a schema


class FieldViolation(BaseModel):
    field: str = Field(description="Path of the offending field, e.g. consent.dataWindow.startTime")
    description: str


class ErrorDetail(BaseModel):
    """One google.rpc detail: ErrorInfo, BadRequest or RetryInfo (by `@type`)."""

    model_config = ConfigDict(populate_by_name=True)

    type: str = Field(
        alias="@type",
        description="type.googleapis.com/google.rpc.ErrorInfo | .BadRequest | .RetryInfo",
        examples=["type.googleapis.com/google.rpc.ErrorInfo"],
    )
    reason: str | None = Field(default=None, description="ErrorInfo: UPPER_SNAKE_CASE reason")
    domain: str | None = Field(default=None, description="ErrorInfo: carbon.example.cn")
    metadata: dict[str, str] | None = Field(default=None, description="ErrorInfo: extra facts about the error")
    fieldViolations: list[FieldViolation] | None = Field(default=None, description="BadRequest")
    retryDelay: str | None = Field(default=None, description="RetryInfo: e.g. 1.500s")


class ErrorStatus(BaseModel):
    code: int = Field(description="HTTP status code", examples=[400])
    status: str = Field(description="google.rpc.Code name", examples=["INVALID_ARGUMENT"])
    message: str = Field(description="Developer-facing message; quotes at most a short prefix of any input")
    details: list[ErrorDetail]


class ErrorResponse(BaseModel):
    """google.rpc.Status as JSON (AIP-193): the body of every 4xx/5xx answer."""

    error: ErrorStatus


# ---------------------------------------------------------------- security schemes

# Every credential a platform HTTP edge accepts. Operations name theirs with
# `openapi_extra=security(...)`; each document lists only the schemes it uses.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {  # OpenAPI Security Scheme Objects
    "bankApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A bank's API key (ck_...), issued by the consent service: `Authorization: Bearer <key>`",
    },
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The service's administrator token (CARBON_ADMIN_TOKEN / CARBON_PRICING_ADMIN_TOKEN)",
    },
    "enterpriseLink": {
        "type": "http",
        "scheme": "bearer",
        "description": "An enterprise's signed one-click or management link token (lk_...), or an OIDC token",
    },
    "serviceName": {
        "type": "apiKey",
        "in": "header",
        "name": SERVICE_HEADER,
        "description": "Platform service identity: the calling service's name (with x-carbon-service-token)",
    },
    "serviceToken": {
        "type": "apiKey",
        "in": "header",
        "name": TOKEN_HEADER,
        "description": "Platform service identity: HMAC token over the service name and time",
    },
    "govToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A government user's API token (CARBON_GOV_TOKENS): `Authorization: Bearer <token>`",
    },
    "govCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "carbon_gov_token",
        "description": "The government page session cookie set by POST /login",
    },
    "bankCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "carbon_bank_key",
        "description": "The bank page's login cookie (the API key; HttpOnly, SameSite=Strict), set by POST /bank/login",
    },
    "reportLink": {
        "type": "apiKey",
        "in": "query",
        "name": "signature",
        "description": "The enterprise's signed report link: `signature` (with `expires`) in the query",
    },
}

# Both headers together identify a platform service (AND in OpenAPI terms).
PLATFORM_SERVICE: dict[str, list[str]] = {"serviceName": [], "serviceToken": []}


def security(*alternatives: str | Mapping[str, list[str]]) -> dict[str, list[dict[str, list[str]]]]:
    """`openapi_extra` naming the credentials an operation accepts (any one alternative)."""
    requirements: list[dict[str, list[str]]] = [
        {alt: []} if isinstance(alt, str) else dict(alt) for alt in alternatives
    ]
    for requirement in requirements:
        unknown = set(requirement) - set(SECURITY_SCHEMES)
        if unknown:
            raise ValueError(f"unknown security schemes {sorted(unknown)}")
    return {"security": requirements}


# ---------------------------------------------------------------- liveness

health = APIRouter()


@health.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """Liveness of the HTTP edge (a probe, not in the OpenAPI document)."""
    return {"status": "ok"}


# ---------------------------------------------------------------- handlers


_HTTP_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "RESOURCE_EXHAUSTED",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


def error_json(status: int, message: str, reason: str) -> dict[str, JsonValue]:
    """The error body for answers that do not come from a ServiceError (routing, crashes)."""
    return {
        "error": {
            "code": status,
            "status": _HTTP_STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"),
            "message": message,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": DOMAIN,
                    "metadata": {},
                }
            ],
        }
    }


# JSON bodies larger than this are refused before they are read whole (uploads pass their own bound).
MAX_BODY_BYTES = 1024 * 1024


class BodyLimitMiddleware:
    """413 in the error shape for request bodies over `max_bytes` (declared or streamed); the routes whose
    path matches a pattern of `route_limits` (upload routes) have that bound instead."""

    def __init__(self, app: ASGIApp, max_bytes: int, route_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.route_limits = [(re.compile(pattern), bound) for pattern, bound in (route_limits or {}).items()]

    def bound(self, path: str) -> int:
        return next((bound for pattern, bound in self.route_limits if pattern.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.bound(str(scope.get("path", "")))
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(scope, receive, send, max_bytes)
            return
        if declared:  # the server holds the body to its declared length
            await self.app(scope, receive, send)
            return
        # Chunked (no length): read it up to the bound before the application sees any of it.
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > max_bytes:
                await self._refuse(scope, receive, send, max_bytes)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        body = error_json(413, f"request body larger than {max_bytes} bytes", "BODY_TOO_LARGE")
        await JSONResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)


def install_error_handlers(
    app: FastAPI, max_body_bytes: int = MAX_BODY_BYTES, route_body_limits: Mapping[str, int] | None = None
) -> None:
    """`route_body_limits`: path regex (full match) -> a larger bound for that route's body (uploads);
    the route states it in its OpenAPI request body."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes, route_limits=route_body_limits)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, error: ServiceError) -> JSONResponse:
        return JSONResponse(error.to_json(), status_code=error.http_status, headers=_error_headers(error))

    async def _store_down(_request: Request, _error: Exception) -> JSONResponse:
        error = store_unavailable()
        return JSONResponse(error.to_json(), status_code=error.http_status)

    for kind in STORE_DOWN:
        app.add_exception_handler(kind, _store_down)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        violations = [(_field_path(e.get("loc", ())), _short(str(e.get("msg", "invalid")))) for e in error.errors()]
        converted = invalid_arguments(violations[:50])
        return JSONResponse(converted.to_json(), status_code=converted.http_status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # Routing answers (unknown path 404, undeclared method 405 with Allow) in the same shape.
        reason = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "HTTP_ERROR")
        message = str(error.detail) if isinstance(error.detail, str) else "request refused"
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return JSONResponse(
            error_json(error.status_code, _short(message), reason), status_code=error.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _error: Exception) -> JSONResponse:
        # Starlette logs the exception; the client learns nothing about it.
        return JSONResponse(error_json(500, "internal error", "INTERNAL"), status_code=500)

    _finish_openapi(app)


class AdmissionLimit:
    """ASGI middleware: at most `limit` requests in one process at once. Past it a request is refused
    at once with 503 `OVERLOADED` and `Retry-After`, in the shared error shape. Without a bound, a
    process offered more than it can serve queues without limit: every request waits longer than its
    client, and the work done is for callers that have gone (goodput collapses to a fraction of
    capacity). With it, the process serves at its capacity with bounded queueing and sheds the rest
    cheaply. Probes and metrics are not counted: an overloaded process is alive and ready."""

    EXEMPT = frozenset({"/healthz", "/readyz", "/livez", "/metrics"})
    RETRY_AFTER_SECONDS = 1

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0  # one event loop per process: no lock needed
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.refused += 1
            error = unavailable("OVERLOADED", "the service is at capacity; retry after the time in Retry-After")
            response = JSONResponse(
                error.to_json(), status_code=error.http_status, headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)}
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def service_app(
    title: str,
    version: str,
    description: str,
    *,
    lifespan: Lifespan[FastAPI] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    route_body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """A service's HTTP edge: the shared error shape and body bounds, and /docs served offline (FastAPI's
    own /docs and /redoc load Swagger UI from a CDN)."""
    app = FastAPI(
        title=title, version=version, description=description, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    install_error_handlers(app, max_body_bytes, route_body_limits)
    install_offline_docs(app)
    return app


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only the first route's), routes
    of included routers (one per resource) as well as the app's own."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.router.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _error_headers(error: ServiceError) -> dict[str, str]:
    retry_after = getattr(error, "retry_after_seconds", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else {}


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _field_path(location: Any) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header", "cookie")]
    return _short(".".join(parts), 120) or "request"


def refuse_anonymous(credential: _Credential | None, reason: str, message: str) -> _Credential:
    """The REST edges' credential rule: no credential, 401 UNAUTHENTICATED with this reason, before
    the request's input is validated (so an anonymous caller learns nothing about the input rules)."""
    if not credential:
        raise unauthenticated(reason, message)
    return credential


def _bank_key(request: Request, cookie: str) -> str:
    return refuse_anonymous(
        bearer_token(request.headers.get("authorization", "")) or (request.cookies.get(cookie, "") if cookie else ""),
        "UNAUTHENTICATED_BANK",
        "missing bank API key (authorization: Bearer <api key>)",
    )


def bank_api_key(request: Request) -> str:
    """FastAPI dependency: the bank's API key (`Authorization: Bearer <api key>`); checked against the
    bank registry by the core."""
    return _bank_key(request, "")


def bank_api_key_or_cookie(cookie: str) -> Callable[[Request], str]:
    """FastAPI dependency for reads a bank page links to: the API key from the header, or else from the
    page's login `cookie`. Writes take bank_api_key alone, so no other site can make a logged-in browser write."""

    def dependency(request: Request) -> str:
        return _bank_key(request, cookie)

    return dependency


def require_service(verifier: ServiceVerifier) -> Callable[[Request], Caller]:
    """FastAPI dependency: the request must carry a valid platform service token (one use)."""

    def dependency(request: Request) -> Caller:
        name = request.headers.get(SERVICE_HEADER, "")
        token = request.headers.get(TOKEN_HEADER, "")
        if name or token:
            return verifier.verify(name, token)
        raise unauthenticated("UNAUTHENTICATED_SERVICE", "this endpoint is only for platform services (upload portal)")

    return dependency


# ---------------------------------------------------------------- OpenAPI finishing

_ERROR_DESCRIPTIONS = {
    "400": "INVALID_ARGUMENT / FAILED_PRECONDITION / OUT_OF_RANGE (BadRequest lists the fields)",
    "401": "UNAUTHENTICATED: missing, unknown, revoked or expired credentials",
    "403": "PERMISSION_DENIED (ErrorInfo.reason says why, e.g. CONSENT_REQUIRED)",
    "404": "NOT_FOUND",
    "405": "The id ends in `:verb`, naming a custom method that takes another HTTP method (Allow lists it)",
    "409": "ALREADY_EXISTS / ABORTED",
    "413": "RESOURCE_EXHAUSTED (BODY_TOO_LARGE): the request body exceeds the edge's bound",
    "429": "RESOURCE_EXHAUSTED: rate limit reached; retry after `Retry-After` seconds (RetryInfo)",
    "500": "INTERNAL: an unexpected error (never a client mistake)",
    "503": "UNAVAILABLE: the data store or a peer service is down; retry later",
}
_REF = "#/components/schemas/ErrorResponse"


def error_response(code: int | str, description: str | None = None) -> dict[str, Any]:
    """A `responses` entry with the error body, for routes that want to name one explicitly."""
    key = str(code)
    return {
        "description": description or _ERROR_DESCRIPTIONS.get(key, "error"),
        "content": {"application/json": {"schema": {"$ref": _REF}}},
    }


def documented(model: type[BaseModel], *error_codes: int, status: int = 200) -> dict[str, Any]:
    """Route kwargs declaring the 2xx body (and named error answers) without filtering the
    handler's output through the model.

    For handlers returning records whose keys they do not own (stored JSON); schemathesis's
    response_schema_conformance checks that the declaration tells the truth.
    """
    responses: dict[int | str, dict[str, Any]] = {status: {"model": model, "description": "Successful Response"}}
    return {"response_model": None, "responses": {**responses, **error_responses(*error_codes)}}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: error_response(code) for code in codes}


def rate_limited_paths(app: FastAPI) -> Callable[[str], bool]:
    """Which paths a rate limit guards (set by carbon_common.ratelimit.install_rest_limits)."""
    predicate = getattr(app.state, "rate_limited", None)
    return predicate if callable(predicate) else (lambda _path: False)


def _finish_openapi(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        finish_document(document, rate_limited_paths(app))
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document


def finish_document(document: dict[str, Any], rate_limited: Callable[[str], bool]) -> None:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorResponse"] = error_schema
    used: set[str] = set()
    paths = list(document.get("paths", {}))
    for path, item in document.get("paths", {}).items():
        # `/things/{id}` next to `/things/{id}:verb`: an id ending in `:verb` names the custom method.
        verb_sibling = any(other.startswith(f"{path}:") for other in paths)
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            codes = ["500", "503"]
            if operation.get("parameters") or operation.get("requestBody"):
                codes.append("400")
            if operation.get("requestBody"):
                codes.append("413")
            requirements = operation.get("security") or []
            for requirement in requirements:
                used.update(requirement)
            if requirements:
                codes += ["401", "403"]
            if rate_limited(path):
                codes.append("429")
            if verb_sibling:
                codes.append("405")
            for code in codes:
                responses.setdefault(code, error_response(code))
            for retryable in ("429", "503"):  # rate limited; over capacity (AdmissionLimit)
                if retryable in responses:
                    responses[retryable].setdefault(
                        "headers",
                        {
                            "Retry-After": {
                                "description": "Seconds until a request may succeed",
                                "schema": {"type": "integer", "minimum": 1},
                            }
                        },
                    )
            operation["responses"] = dict(sorted(responses.items()))
    tags = sorted(
        {tag for item in document.get("paths", {}).values() for op in item.values() for tag in op.get("tags", [])}
    )
    if tags:
        document["tags"] = [{"name": tag} for tag in tags]
    document.setdefault("servers", [{"url": "/", "description": "this service's HTTP edge"}])
    document.setdefault("info", {}).setdefault(
        "contact", {"name": "Carbon platform team", "url": "https://carbon.example.cn"}
    )
    if used:
        components["securitySchemes"] = {name: SECURITY_SCHEMES[name] for name in sorted(used)}
    text = repr(document.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in text:
            schemas.pop(unused, None)
    if "ValidationError" in schemas and "HTTPValidationError" not in schemas:
        schemas.pop("ValidationError", None)
