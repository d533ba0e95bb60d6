"""gRPC edge: carbon.v1.LoanBookService."""

from __future__ import annotations

import grpc
from carbon.v1 import portfolio_pb2, portfolio_pb2_grpc
from carbon_common.identity import bearer_token, metadata_value
from google.protobuf import timestamp_pb2
from google.type import decimal_pb2

from carbon_pricing.portfolio.book import COLUMNS
from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.domain import RunRecord, StoredSnapshot
from carbon_pricing.portfolio.figures import Bucket, FinancedOut, financed_out
from carbon_pricing.portfolio.repricing import RepricingCore

SERVICE_NAME = portfolio_pb2.DESCRIPTOR.services_by_name["LoanBookService"].full_name
_METHOD = portfolio_pb2.PositionEmissions.Method
_REASON = portfolio_pb2.PositionEmissions.EstimateReason


def _api_key(context: grpc.ServicerContext) -> str:
    return bearer_token(metadata_value(context.invocation_metadata(), "authorization"))


def _dec(text: str | None) -> decimal_pb2.Decimal | None:
    return None if text is None or text == "" else decimal_pb2.Decimal(value=text)


def _row(p: portfolio_pb2.BookPosition) -> dict[str, str]:
    doc = {
        "position_id": p.position_id,
        "enterprise": p.enterprise,
        "product": p.product,
        "outstanding_cny": p.outstanding_cny.value,
        "drawn_date": p.drawn_date,
        "maturity_date": p.maturity_date,
        "equity_plus_debt_cny": p.equity_plus_debt_cny.value,
        "listed": "true" if p.listed else "false",
        "evic_cny": p.evic_cny.value,
        "revenue_cny": p.revenue_cny.value,
        "industry_code": p.industry_code,
        "region_code": p.region_code,
    }
    return {k: doc[k] for k in COLUMNS}


def snapshot_to_proto(record: StoredSnapshot, include_positions: bool) -> portfolio_pb2.BookSnapshot:
    out = portfolio_pb2.BookSnapshot(
        name=record.name,
        position_count=record.position_count,
        outstanding_cny=decimal_pb2.Decimal(value=record.outstanding_cny),
        digest=record.digest,
    )
    stamp = timestamp_pb2.Timestamp()
    stamp.FromJsonString(record.create_time)
    out.create_time.CopyFrom(stamp)
    if include_positions:
        for p in record.positions:
            out.positions.append(
                portfolio_pb2.BookPosition(
                    position_id=p.position_id,
                    enterprise=p.enterprise,
                    product=p.product,
                    outstanding_cny=_dec(p.outstanding_cny),
                    drawn_date=p.drawn_date,
                    maturity_date=p.maturity_date,
                    equity_plus_debt_cny=_dec(p.equity_plus_debt_cny),
                    listed=p.listed,
                    evic_cny=_dec(p.evic_cny),
                    revenue_cny=_dec(p.revenue_cny),
                    industry_code=p.industry_code,
                    region_code=p.region_code,
                )
            )
    return out


def _bucket(b: Bucket) -> portfolio_pb2.PortfolioBucket:
    return portfolio_pb2.PortfolioBucket(
        key=b.key,
        positions=b.positions,
        outstanding_cny=_dec(b.outstandingCny),
        financed_tco2=_dec(b.financedTco2),
        intensity=_dec(b.intensity),
    )


def financed_to_proto(doc: FinancedOut) -> portfolio_pb2.FinancedEmissions:
    out = portfolio_pb2.FinancedEmissions(
        snapshot=doc.snapshot,
        reporting_period=doc.reportingPeriod,
        positions=doc.positions,
        covered=doc.covered,
        from_accounts=doc.fromAccounts,
        estimated=doc.estimated,
        outstanding_cny=_dec(doc.outstandingCny),
        financed_tco2=_dec(doc.financedTco2),
        economic_intensity=_dec(doc.economicIntensity),
        weighted_data_quality_score=_dec(doc.weightedDataQualityScore),
        attributable_reduction_tco2=_dec(doc.attributableReductionTco2),
        by_industry=[_bucket(b) for b in doc.byIndustry],
        by_region=[_bucket(b) for b in doc.byRegion],
        pcaf_table_version=doc.pcafTableVersion,
        benchmark_version=doc.benchmarkVersion,
        benchmark_illustrative=doc.benchmarkIllustrative,
    )
    if doc.yearOnYear is not None:
        y = doc.yearOnYear
        out.year_on_year.CopyFrom(
            portfolio_pb2.YearOnYear(
                previous_snapshot=y.previousSnapshot,
                previous_period=y.previousPeriod,
                previous_financed_tco2=_dec(y.previousFinancedTco2),
                previous_economic_intensity=_dec(y.previousEconomicIntensity),
                financed_change_tco2=_dec(y.financedChangeTco2),
                financed_change_ratio=_dec(y.financedChangeRatio),
                economic_intensity_change=_dec(y.economicIntensityChange),
                economic_intensity_change_ratio=_dec(y.economicIntensityChangeRatio),
            )
        )
    for g in doc.byGrade or []:
        out.by_grade.append(portfolio_pb2.GradeBreakdown(scheme_id=g.schemeId, buckets=[_bucket(b) for b in g.buckets]))
    if doc.highCarbonOutstandingCny is not None:
        out.high_carbon_outstanding_cny.CopyFrom(_dec(doc.highCarbonOutstandingCny))
        out.high_carbon_financed_tco2.CopyFrom(_dec(doc.highCarbonFinancedTco2))
        out.high_carbon_grades_version = doc.highCarbonGradesVersion or ""
    for p in doc.positionEmissions or []:
        out.position_emissions.append(
            portfolio_pb2.PositionEmissions(
                position_id=p.positionId,
                enterprise=p.enterprise,
                attribution_factor=_dec(p.attributionFactor),
                attribution_capped=p.attributionCapped,
                method=_METHOD.Value(f"METHOD_{p.method.value}"),
                estimated=p.estimated,
                estimate_reason=_REASON.Value(f"ESTIMATE_REASON_{p.estimateReason.value}")
                if p.estimateReason
                else _REASON.ESTIMATE_REASON_UNSPECIFIED,
                consent_reason=p.consentReason,
                consent=p.consent,
                pcaf_option=p.pcafOption,
                data_quality_score=p.dataQualityScore or 0,
                borrower_scope12_tco2=_dec(p.borrowerScope12Tco2),
                financed_tco2=_dec(p.financedTco2),
                attributable_reduction_tco2=_dec(p.attributableReductionTco2),
                account_digest=p.accountDigest,
                factor_set_version=p.factorSetVersion,
                benchmark_version=p.benchmarkVersion,
            )
        )
    return out


_STATE = portfolio_pb2.RepricingRun.State


def run_to_proto(record: RunRecord) -> portfolio_pb2.RepricingRun:
    out = portfolio_pb2.RepricingRun(
        name=record.name,
        snapshot=record.snapshot,
        product=record.product,
        reference_rate_pct=_dec(record.reference_rate_pct),
        default_tenor_months=record.default_tenor_months,
        state=_STATE.Value(f"STATE_{record.state}"),
        positions_total=record.positions_total,
        positions_done=record.positions_done,
        priced=record.priced,
        not_priced=record.not_priced,
        decisions=record.decisions,
        rate_adjustments=[
            portfolio_pb2.RateAdjustmentBucket(
                rate_adjustment_bp=b.rate_adjustment_bp,
                positions=b.positions,
                outstanding_cny=_dec(b.outstanding_cny),
                annual_interest_effect_cny=_dec(b.annual_interest_effect_cny),
            )
            for b in record.rate_adjustments
        ],
        priced_outstanding_cny=_dec(record.priced_outstanding_cny),
        annual_interest_effect_cny=_dec(record.annual_interest_effect_cny),
        policy_bundle_version=record.policy_bundle_version,
        error=record.error,
    )
    out.create_time.FromJsonString(record.create_time)
    out.update_time.FromJsonString(record.update_time)
    return out


class LoanBookServicer(portfolio_pb2_grpc.LoanBookServiceServicer):
    def __init__(self, core: LoanBookCore, runs: RepricingCore | None = None) -> None:
        self.core = core
        self.runs = runs

    def _runs(self, context: grpc.ServicerContext) -> RepricingCore:
        if self.runs is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "re-pricing runs are not served here")
        assert self.runs is not None
        return self.runs

    def CreateRepricingRun(
        self, request: portfolio_pb2.CreateRepricingRunRequest, context: grpc.ServicerContext
    ) -> portfolio_pb2.RepricingRun:
        run = request.repricing_run
        record = self._runs(context).create_run(
            _api_key(context),
            request.parent,
            run.snapshot,
            run.product,
            run.reference_rate_pct.value,
            run.default_tenor_months,
        )
        return run_to_proto(record)

    def GetRepricingRun(
        self, request: portfolio_pb2.GetRepricingRunRequest, context: grpc.ServicerContext
    ) -> portfolio_pb2.RepricingRun:
        return run_to_proto(self._runs(context).get_run(_api_key(context), request.name))

    def ListRepricingRuns(
        self, request: portfolio_pb2.ListRepricingRunsRequest, context: grpc.ServicerContext
    ) -> portfolio_pb2.ListRepricingRunsResponse:
        records, token = self._runs(context).list_runs(
            _api_key(context), request.parent, request.page_size, request.page_token
        )
        return portfolio_pb2.ListRepricingRunsResponse(
            repricing_runs=[run_to_proto(r) for r in records], next_page_token=token
        )

    def CreateBookSnapshot(
        self, request: portfolio_pb2.CreateBookSnapshotRequest, context: grpc.ServicerContext
    ) -> portfolio_pb2.BookSnapshot:
        key = _api_key(context)
        self.core.check_parent(key, request.parent)
        record, _created = self.core.create_snapshot(
            key, request.parent, request.snapshot_id, [_row(p) for p in request.snapshot.positions]
        )
        return snapshot_to_proto(record, False)

    def GetBookSnapshot(
        self, request: portfolio_pb2.GetBookSnapshotRequest, context: grpc.ServicerContext
    ) -> portfolio_pb2.BookSnapshot:
        return snapshot_to_proto(self.core.get_snapshot(_api_key(context), request.name), request.include_positions)

    def ComputeFinancedEmissions(
        self, request: portfolio_pb2.ComputeFinancedEmissionsRequest, context: grpc.ServicerContext
    ) -> portfolio_pb2.FinancedEmissions:
        result = self.core.financed_emissions(
            _api_key(context), request.name, request.reporting_period, request.compare_snapshot, request.compare_period
        )
        return financed_to_proto(financed_out(result))


def register(core: LoanBookCore, server: grpc.Server, runs: RepricingCore | None = None) -> list[str]:
    portfolio_pb2_grpc.add_LoanBookServiceServicer_to_server(LoanBookServicer(core, runs), server)
    return [SERVICE_NAME]
