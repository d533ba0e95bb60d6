"""Rating service settings (CARBON_* environment variables)."""

from __future__ import annotations

from carbon_common import catalog
from carbon_common.settings import BaseServiceSettings
from pydantic import Field

_CATALOG = catalog.service("rating")


class RatingSettings(BaseServiceSettings):
    service_name: str = _CATALOG.name
    grpc_port: int = Field(default=_CATALOG.local.grpc, ge=0, le=65535)
    http_port: int = Field(default=_CATALOG.local.http, ge=0, le=65535)
    # gRPC targets of its peers (CARBON_*_TARGET), `make run` addresses by default.
    consent_target: str = catalog.service("consent").local_target()
    accounting_target: str = catalog.service("accounting").local_target()
    # "alice:drafter:<token>,bob:approver:<token>"; dev mode generates tokens when empty.
    gov_tokens: str = ""
    # "redis" (government page publishes) or "configmap" (also import ConfigMaps
    # labelled carbon.example.cn/scheme=true).
    scheme_source: str = Field(default="redis", pattern="^(redis|configmap)$")
    configmap_namespace: str = ""
    configmap_poll_seconds: float = Field(default=30.0, gt=0)
    # How often each replica checks the active-version pointer (publish reaches every replica within ~this).
    scheme_poll_seconds: float = Field(default=0.2, gt=0, le=1.0)
    population_refresh_seconds: float = Field(default=2.0, gt=0)
    # Rebuilding the population frame (benchmark tables, national index) takes at most this share of
    # a core: under a live feed the population changes all the time, and at a province's size one
    # rebuild reads every row (~1 s for 49,000 enterprises).
    population_refresh_max_share: float = Field(default=0.1, gt=0, le=1)
    # A computed rating is served again while its inputs (scheme version, the enterprise's
    # accounts, the population the benchmarks come from) are unchanged, for at most this long;
    # its rate_time stays the time it was computed.
    rating_cache_seconds: int = Field(default=7 * 86400, ge=1, le=366 * 86400)
    # Seed a synthetic population when the population is empty (dev demos of the preview only).
    dev_synthetic_population: int = Field(default=0, ge=0)
