"""Accounting settings (CARBON_* environment variables)."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path
from typing import Literal

from carbon_common import catalog
from carbon_common.settings import BaseServiceSettings
from pydantic import Field, field_validator

from carbon_accounting import factors as fx
from carbon_accounting.compute import Rules

_CATALOG = catalog.service("accounting")


class AccountingSettings(BaseServiceSettings):
    service_name: str = _CATALOG.name
    grpc_port: int = Field(default=_CATALOG.local.grpc, ge=0, le=65535)
    http_port: int = Field(default=_CATALOG.local.http, ge=0, le=65535)
    # gRPC targets of its peers (CARBON_*_TARGET), `make run` addresses by default.
    consent_target: str = catalog.service("consent").local_target()
    rating_target: str = catalog.service("rating").local_target()

    # CARBON_FACTORS_DIR replaces the packaged factor sets; CARBON_FACTOR_SET pins a version.
    factors_dir: Path = fx.DEFAULT_FACTORS_DIR
    factor_set: str = ""
    # Selection rules (see factors.Selection).
    data_year_rule: str = "same"
    geography_levels: str = "province,region,national"
    scope2_method: str = "location"
    # Litres -> tonnes: accounting (guideline density, default) | tax (tax conversion standard).
    density_basis: Literal["accounting", "tax"] = "accounting"
    # Base year of reduction rates; unset = the previous year.
    base_year: int | None = None
    meter_coverage_threshold: Decimal = Decimal("0.95")
    disagreement_threshold: Decimal = Decimal("0.10")
    meter_interval_seconds: int = 900

    # Event consumption.
    consumer_group: str = "accounting"
    consumer_name: str = Field(default_factory=socket.gethostname)
    events_block_ms: int = 1000
    # Micro-batches: up to this many stream entries, or whatever arrived within events_batch_ms
    # of the first one; every account they touch is recomputed once per micro-batch.
    events_batch_max: int = Field(default=512, ge=1, le=10_000)
    events_batch_ms: int = Field(default=50, ge=0, le=60_000)
    # Replicas sharing the consumer group never recompute one enterprise at the same time: a
    # per-enterprise lease (expires if its holder dies mid-batch).
    lease_ms: int = Field(default=60_000, ge=100, le=3_600_000)
    # Entries left pending by a consumer that never came back (a Deployment's pod gets a new
    # name) are claimed (XAUTOCLAIM) once idle this long; 0 = twice lease_ms, so a live holder's
    # lease has expired first.
    claim_idle_ms: int = Field(default=0, ge=0, le=86_400_000)
    claim_interval_ms: int = Field(default=10_000, ge=100, le=3_600_000)
    # ComputeAccount waits this long for an enterprise another replica is recomputing.
    lease_wait_seconds: float = Field(default=10.0, ge=0, le=300)
    # Report: rating scheme whose grade is shown when the rating service answers.
    report_rating_scheme: str = ""
    peer_timeout_seconds: float = 2.0
    # An enterprise's attributes (industry, province, region) as the registry answered them, kept
    # this long: consent's enterprise records never change once created (no update RPC; an erasure
    # keeps the registry record), so this only bounds memory and a future change's reach. An
    # unknown enterprise is asked again every time. 0 = ask the registry per micro-batch.
    enterprise_cache_seconds: float = Field(default=3600.0, ge=0)
    enterprise_cache_entries: int = Field(default=200_000, ge=1)

    @field_validator("data_year_rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        if value not in {"same", "latest", "minus2"}:
            raise ValueError("must be same, latest or minus2")
        return value

    @field_validator("scope2_method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value not in {"location", "market"}:
            raise ValueError("must be location or market")
        return value

    def effective_claim_idle_ms(self) -> int:
        return self.claim_idle_ms or 2 * self.lease_ms

    def selection(self) -> fx.Selection:
        levels = tuple(p.strip() for p in self.geography_levels.split(",") if p.strip())
        return fx.Selection(
            data_year_rule=self.data_year_rule,
            geography_levels=levels,
            scope2_method=self.scope2_method,
            density_basis=self.density_basis,
        )

    def rules(self) -> Rules:
        return Rules(
            meter_coverage_threshold=self.meter_coverage_threshold,
            disagreement_threshold=self.disagreement_threshold,
            meter_interval_seconds=self.meter_interval_seconds,
        )
