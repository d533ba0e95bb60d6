"""Service settings from the environment (prefix CARBON_), validated at start.

Secrets may come as files instead of environment variables: with
`CARBON_SECRETS_DIR=/var/run/secrets/carbon`, a file named after the variable
(`carbon_service_secret`, `carbon_redis_password`, `carbon_admin_token`, ...;
case-insensitive) holds the value of that setting; an environment variable of
the same name still wins. The chart mounts its Secrets this way, so no secret
value sits in a pod's environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SERVICE_SECRET = "dev-only-insecure-service-secret"
# Directory of secret files (one per setting); read once when this module is imported.
SECRETS_DIR_ENV = "CARBON_SECRETS_DIR"


class Rate(BaseModel):
    """A token bucket: `rate` requests per second on average, bursts of up to `burst`."""

    model_config = ConfigDict(frozen=True)

    rate: float = Field(gt=0, le=1_000_000)
    burst: int = Field(ge=1, le=1_000_000)


# Per public edge (carbon_common.ratelimit): "bank" per bank API key, "address"
# per client address on the bank-facing REST/gRPC edges, "page" per client
# address on the enterprise one-click pages and login forms.
DEFAULT_RATE_LIMITS = {
    "bank": Rate(rate=50, burst=100),
    "address": Rate(rate=100, burst=200),
    "page": Rate(rate=2, burst=30),
}


class BaseServiceSettings(BaseSettings):
    """Settings every service has. Subclasses add their own and set port defaults."""

    model_config = SettingsConfigDict(
        env_prefix="CARBON_",
        extra="ignore",
        frozen=True,
        secrets_dir=os.environ.get(SECRETS_DIR_ENV) or None,
    )

    service_name: str = "carbon"
    bind_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50050, ge=0, le=65535)
    http_port: int = Field(default=0, ge=0, le=65535, description="0 disables the HTTP edge")
    redis_url: str = "redis://127.0.0.1:6390/0"
    # Password put into redis_url when that URL has none (the chart's internal Redis: URL in the
    # environment, password as a secret file).
    redis_password: str = ""
    data_dir: Path = Path("var/data")
    log_level: str = "INFO"
    # Development mode accepts the well-known dev secret; production refuses it.
    dev_mode: bool = False
    service_secret: str = ""
    grpc_workers: int = Field(default=16, ge=1, le=512)
    # HTTP requests one process holds at once; past it 503 OVERLOADED at once instead of queueing past
    # every client's timeout (carbon_common.http.AdmissionLimit). gRPC has no such bound here: the
    # kubelet's gRPC probes share its queue, and a refused probe would restart a pod for being busy.
    http_max_in_flight: int = Field(default=128, ge=1, le=100_000)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=300)
    # Several processes of one service share its ports (SO_REUSEPORT; the kernel spreads connections):
    # set by a service's own worker supervisor (loan-pricing), never needed by hand.
    reuse_port: bool = False
    # CARBON_RATE_LIMITS='{"bank": {"rate": 5, "burst": 10}}' overrides the defaults per bucket kind.
    rate_limits: dict[str, Rate] = Field(default_factory=dict)
    rate_limits_enabled: bool = True

    # Each service declares the targets of its own peers (carbon_common.catalog).

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @model_validator(mode="before")
    @classmethod
    def _password_into_redis_url(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("redis_password"):
            return data
        parts = urlsplit(str(data.get("redis_url") or cls.model_fields["redis_url"].default))
        if parts.password or parts.scheme == "unix":
            return data
        user = quote(parts.username or "", safe="")
        netloc = f"{user}:{quote(str(data['redis_password']), safe='')}@{parts.netloc.rpartition('@')[2]}"
        return {**data, "redis_url": urlunsplit(parts._replace(netloc=netloc))}

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("rate_limits")
    @classmethod
    def _known_buckets(cls, value: dict[str, Rate]) -> dict[str, Rate]:
        unknown = set(value) - set(DEFAULT_RATE_LIMITS)
        if unknown:
            raise ValueError(f"unknown rate limit kinds {sorted(unknown)}; use {sorted(DEFAULT_RATE_LIMITS)}")
        return value

    def effective_rate_limits(self) -> dict[str, Rate]:
        return {**DEFAULT_RATE_LIMITS, **self.rate_limits}

    def effective_service_secret(self) -> str:
        """The HMAC key for service identity; only dev mode may fall back to the dev key."""
        if self.service_secret:
            return self.service_secret
        if self.dev_mode:
            return DEV_SERVICE_SECRET
        raise ValueError("CARBON_SERVICE_SECRET is required unless CARBON_DEV_MODE=true")
