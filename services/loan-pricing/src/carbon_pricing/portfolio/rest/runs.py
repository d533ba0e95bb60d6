"""Book re-pricing runs of the calling bank (simulations, not credit decisions):

    POST /v1/banks/{bank}/repricingRuns                 start a run over a snapshot (202-like: 201, PENDING)
    GET  /v1/banks/{bank}/repricingRuns                 the bank's runs, newest first
    GET  /v1/banks/{bank}/repricingRuns/{run}           state, progress, distribution, interest effect
    GET  /v1/banks/{bank}/repricingRuns/{run}:results   every position's simulated quote (CSV)

Reads accept the bank page's login cookie as the loan-book reads do; creating a run needs the header.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

from carbon_common.http import IdPath, security
from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from carbon_pricing.portfolio.domain import RunRecord, RunState
from carbon_pricing.portfolio.rest.deps import BANK, ERRORS, READ_SECURITY, Key, ReadKey, Runs

RunPath = Annotated[str, Path(min_length=20, max_length=20, pattern=r"^[0-9a-f]{20}$")]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshot: str = Field(max_length=256, description="banks/{bank}/books/{book}/snapshots/{date} of this bank")
    product: str = Field(max_length=63, description="A product of the active policy bundle")
    referenceRatePct: str = Field(max_length=16, description="Reference rate every position is quoted on, % a year")
    defaultTenorMonths: int = Field(default=12, ge=1, le=600, description="Tenor of positions without dates")


class RateAdjustmentOut(BaseModel):
    rateAdjustmentBp: int
    positions: int
    outstandingCny: str
    annualInterestEffectCny: str


class RunOut(BaseModel):
    name: str
    snapshot: str
    product: str
    referenceRatePct: str
    defaultTenorMonths: int
    state: RunState
    positionsTotal: int
    positionsDone: int
    simulation: bool = Field(description="Always true: a run is a simulation, not a credit decision")
    priced: int = 0
    notPriced: dict[str, int] = Field(default_factory=dict)
    decisions: dict[str, int] = Field(default_factory=dict)
    rateAdjustments: list[RateAdjustmentOut] = Field(default_factory=list)
    pricedOutstandingCny: str | None = None
    annualInterestEffectCny: str | None = Field(default=None, description="Σ outstanding × bp / 10,000, CNY a year")
    policyBundleVersion: str = ""
    createTime: str
    updateTime: str
    error: str = ""


class RunList(BaseModel):
    repricingRuns: list[RunOut]
    nextPageToken: str


def public(record: RunRecord) -> dict[str, object]:
    """The run's REST JSON (RunOut)."""
    return RunOut(
        name=record.name,
        snapshot=record.snapshot,
        product=record.product,
        referenceRatePct=record.reference_rate_pct,
        defaultTenorMonths=record.default_tenor_months,
        state=record.state,
        positionsTotal=record.positions_total,
        positionsDone=record.positions_done,
        simulation=True,
        priced=record.priced,
        notPriced=record.not_priced,
        decisions=record.decisions,
        rateAdjustments=[
            RateAdjustmentOut(
                rateAdjustmentBp=b.rate_adjustment_bp,
                positions=b.positions,
                outstandingCny=b.outstanding_cny,
                annualInterestEffectCny=b.annual_interest_effect_cny,
            )
            for b in record.rate_adjustments
        ],
        pricedOutstandingCny=record.priced_outstanding_cny,
        annualInterestEffectCny=record.annual_interest_effect_cny,
        policyBundleVersion=record.policy_bundle_version,
        createTime=record.create_time,
        updateTime=record.update_time,
        error=record.error,
    ).model_dump(mode="json")


RESULT_COLUMNS = (
    "position_id",
    "enterprise",
    "amount_cny",
    "tenor_months",
    "not_priced",
    "decision",
    "rate_adjustment_bp",
    "final_rate_pct",
    "grade",
    "scheme_id",
    "scheme_version",
    "policy_bundle_version",
    "decision_log_seq",
    "decision_log_hash",
)


router = APIRouter(prefix="/v1/banks/{bank}/repricingRuns", tags=["re-pricing runs"])


@router.post(
    "",
    status_code=201,
    response_model=RunOut,
    responses=ERRORS,
    summary="Start re-pricing every position of a snapshot under a product (a simulation; poll the run)",
    openapi_extra=security(BANK),
)
def create(bank: IdPath, key: Key, runs: Runs, body: RunIn) -> JSONResponse:
    record = runs.create_run(
        key, f"banks/{bank}", body.snapshot, body.product, body.referenceRatePct, body.defaultTenorMonths
    )
    return JSONResponse(public(record), status_code=201)


@router.get(
    "",
    response_model=RunList,
    responses=ERRORS,
    summary="The bank's re-pricing runs, newest first",
    openapi_extra=READ_SECURITY,
)
def list_runs(
    bank: IdPath,
    key: ReadKey,
    runs: Runs,
    page_size: Annotated[int, Query(alias="pageSize", ge=0, le=1000)] = 50,
    page_token: Annotated[str, Query(alias="pageToken", max_length=32)] = "",
) -> JSONResponse:
    records, token = runs.list_runs(key, f"banks/{bank}", page_size, page_token)
    return JSONResponse({"repricingRuns": [public(r) for r in records], "nextPageToken": token})


@router.get(
    "/{run}:results",
    response_class=Response,
    responses={
        **ERRORS,
        200: {
            "description": "Every position's simulated quote",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
    },
    summary="Every position's simulated quote of a run as CSV",
    openapi_extra=READ_SECURITY,
)
def results(bank: IdPath, run: RunPath, key: ReadKey, runs: Runs) -> Response:
    _doc, rows = runs.run_results(key, f"banks/{bank}/repricingRuns/{run}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for r in rows:
        doc = r.model_dump(mode="json")
        writer.writerow(["" if doc.get(c) is None else str(doc[c]) for c in RESULT_COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get(
    "/{run}",
    response_model=RunOut,
    responses=ERRORS,
    summary="A re-pricing run: state, progress and, once done, the rate-adjustment distribution",
    openapi_extra=READ_SECURITY,
)
def get(bank: IdPath, run: RunPath, key: ReadKey, runs: Runs) -> JSONResponse:
    return JSONResponse(public(runs.get_run(key, f"banks/{bank}/repricingRuns/{run}")))
