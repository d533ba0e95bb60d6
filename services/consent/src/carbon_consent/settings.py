"""Consent service settings (env prefix CARBON_)."""

from __future__ import annotations

from carbon_common import catalog
from carbon_common.settings import BaseServiceSettings
from pydantic import Field, field_validator

from carbon_consent.domain import DEFAULT_MAX_DATA_WINDOW_DAYS, DEFAULT_MAX_VALIDITY_DAYS, Limits, Scope

# Well-known development values: accepted only with CARBON_DEV_MODE=true.
DEV_ADMIN_TOKEN = "dev-only-insecure-admin-token"
DEV_LINK_SECRET = "dev-only-insecure-link-secret"


_CATALOG = catalog.service("consent")


class ConsentSettings(BaseServiceSettings):
    service_name: str = _CATALOG.name
    grpc_port: int = Field(default=_CATALOG.local.grpc, ge=0, le=65535)
    http_port: int = Field(default=_CATALOG.local.http, ge=0, le=65535)

    # CARBON_ADMIN_TOKEN: may create banks and enterprises, and act for an
    # enterprise in the demo (every such act is audited with actor "admin").
    admin_token: str = ""
    # CARBON_LINK_SECRET: HMAC key of the signed authorisation/management links.
    link_secret: str = ""
    # Base of the links handed out (defaults to http://{bind_host}:{http_port}).
    public_base_url: str = ""
    link_ttl_seconds: int = Field(default=7 * 86400, ge=60, le=90 * 86400)
    manage_link_ttl_seconds: int = Field(default=3600, ge=60, le=30 * 86400)
    # Per-scope bounds, JSON objects keyed by scope name, e.g. {"RATING": 180}.
    max_validity_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_MAX_VALIDITY_DAYS))
    max_data_window_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_MAX_DATA_WINDOW_DAYS))
    # How often the sweeper stores EXPIRED for consents past their expiry.
    sweep_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    # Seconds between heartbeats on carbon:events:consent; projections (pricing) refuse access when
    # they have not applied one younger than 1 s, so this must stay well below that.
    heartbeat_interval_seconds: float = Field(default=0.2, gt=0, le=0.5)
    # Every CheckAccess decision goes to the audit log (turn off only in benchmarks).
    audit_checks: bool = True
    # Services expected to report on an erasure request (fields of carbon:erasure:{id}).
    erasure_services: list[str] = Field(default_factory=lambda: ["ingest-tax", "ingest-energy", "accounting", "rating"])

    @field_validator("max_validity_days", "max_data_window_days")
    @classmethod
    def _known_scopes(cls, value: dict[str, int]) -> dict[str, int]:
        for key, days in value.items():
            if key not in Scope.__members__:
                raise ValueError(f"unknown scope {key!r}; use one of {', '.join(Scope.__members__)}")
            if not 1 <= days <= 3660:
                raise ValueError(f"{key}: days must be between 1 and 3660")
        return value

    def limits(self) -> Limits:
        validity = {**DEFAULT_MAX_VALIDITY_DAYS, **self.max_validity_days}
        window = {**DEFAULT_MAX_DATA_WINDOW_DAYS, **self.max_data_window_days}
        return Limits.from_days(validity, window)

    def effective_admin_token(self) -> str:
        if self.admin_token:
            return self.admin_token
        if self.dev_mode:
            return DEV_ADMIN_TOKEN
        raise ValueError("CARBON_ADMIN_TOKEN is required unless CARBON_DEV_MODE=true")

    def effective_link_secret(self) -> str:
        if self.link_secret:
            return self.link_secret
        if self.dev_mode:
            return DEV_LINK_SECRET
        raise ValueError("CARBON_LINK_SECRET is required unless CARBON_DEV_MODE=true")

    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.bind_host in ("0.0.0.0", "::") else self.bind_host
        return f"http://{host}:{self.http_port}"
