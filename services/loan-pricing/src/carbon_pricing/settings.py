"""Settings of the loan-pricing service (environment, prefix CARBON_)."""

from __future__ import annotations

from pathlib import Path

from carbon_common import catalog
from carbon_common.settings import BaseServiceSettings
from pydantic import Field, field_validator

# services/loan-pricing/src/carbon_pricing/settings.py -> repository root
_REPO = Path(__file__).resolve().parents[4]


def _default_bundle_dir() -> Path:
    return _REPO / "policies" / "products"


_CATALOG = catalog.service("loan-pricing")


class PricingSettings(BaseServiceSettings):
    service_name: str = _CATALOG.name
    grpc_port: int = Field(default=_CATALOG.local.grpc, ge=0, le=65535)
    http_port: int = Field(default=_CATALOG.local.http, ge=0, le=65535)
    # gRPC targets of its peers (CARBON_*_TARGET), `make run` addresses by default.
    rating_target: str = catalog.service("rating").local_target()
    accounting_target: str = catalog.service("accounting").local_target()

    # Policy engine: "embedded" (regopy in process) or "opa" (OPA server at opa_url).
    policy_engine: str = "embedded"
    opa_url: str = "http://127.0.0.1:8181"
    # The bundle served at start when Redis names no activated bundle.
    bundle_dir: Path = Field(default_factory=_default_bundle_dir)
    # Where activated bundles are copied (immutable, one directory per revision).
    bundle_store_dir: Path | None = None
    # Drafts a dry-run/activation may name by relative path.
    policy_drafts_dir: Path | None = None
    # Seconds between checks of the active bundle directory's mtimes (0 = off).
    bundle_poll_seconds: float = Field(default=1.0, ge=0, le=3600)
    # Bearer token of the policy administrator (dry-run, activate); empty = disabled.
    pricing_admin_token: str = ""

    # Worker processes sharing the gRPC and HTTP ports (SO_REUSEPORT); 0 = one per core.
    pricing_workers: int = Field(default=0, ge=0, le=64)
    # At start, wait this long for the consent projection to apply a heartbeat before serving
    # (quotes are refused with UNAVAILABLE while it has none younger than 1 s).
    projection_warm_up_seconds: float = Field(default=5.0, ge=0, le=120)
    peer_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Seconds between two full verifications of the decision log's hash chain by this replica
    # (carbon.integrity.checks metric, CarbonDecisionLogVerifyFailed alert); 0 = off.
    decision_log_verify_seconds: float = Field(default=900.0, ge=0, le=86400)
    # Recent policy inputs kept for dry-runs.
    dry_run_inputs_kept: int = Field(default=1000, ge=1, le=100_000)
    # Embedded engine: at most this many compiled regopy interpreters (evaluations wait for a free
    # one rather than compiling another mid-request); 0 = as many as concurrent evaluations.
    policy_workers: int = Field(default=4, ge=0, le=256)
    # Threads serving the REST edge's blocking handlers. A quote holds its thread ~3-8 ms, mostly
    # waiting on peers; more threads than that needs only adds GIL convoying (measured on 2 cores:
    # 32 threads cost ~15 % more CPU per quote than 6-8 and saturated earlier).
    http_threads: int = Field(default=8, ge=1, le=512)

    @field_validator("policy_engine")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        value = value.lower()
        if value not in {"embedded", "opa"}:
            raise ValueError("must be 'embedded' or 'opa'")
        return value

    def store_dir(self) -> Path:
        return self.bundle_store_dir or (self.data_dir / "pricing" / "bundles")

    def drafts_dir(self) -> Path:
        return self.policy_drafts_dir or (self.data_dir / "pricing" / "drafts")
