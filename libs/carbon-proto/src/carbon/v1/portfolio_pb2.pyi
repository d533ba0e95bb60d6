import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BookPosition(_message.Message):
    __slots__ = ("position_id", "enterprise", "product", "outstanding_cny", "drawn_date", "maturity_date", "equity_plus_debt_cny", "listed", "evic_cny", "revenue_cny", "industry_code", "region_code")
    POSITION_ID_FIELD_NUMBER: _ClassVar[int]
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_CNY_FIELD_NUMBER: _ClassVar[int]
    DRAWN_DATE_FIELD_NUMBER: _ClassVar[int]
    MATURITY_DATE_FIELD_NUMBER: _ClassVar[int]
    EQUITY_PLUS_DEBT_CNY_FIELD_NUMBER: _ClassVar[int]
    LISTED_FIELD_NUMBER: _ClassVar[int]
    EVIC_CNY_FIELD_NUMBER: _ClassVar[int]
    REVENUE_CNY_FIELD_NUMBER: _ClassVar[int]
    INDUSTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    position_id: str
    enterprise: str
    product: str
    outstanding_cny: _decimal_pb2.Decimal
    drawn_date: str
    maturity_date: str
    equity_plus_debt_cny: _decimal_pb2.Decimal
    listed: bool
    evic_cny: _decimal_pb2.Decimal
    revenue_cny: _decimal_pb2.Decimal
    industry_code: str
    region_code: str
    def __init__(self, position_id: _Optional[str] = ..., enterprise: _Optional[str] = ..., product: _Optional[str] = ..., outstanding_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., drawn_date: _Optional[str] = ..., maturity_date: _Optional[str] = ..., equity_plus_debt_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., listed: _Optional[bool] = ..., evic_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., revenue_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., industry_code: _Optional[str] = ..., region_code: _Optional[str] = ...) -> None: ...

class BookSnapshot(_message.Message):
    __slots__ = ("name", "positions", "position_count", "outstanding_cny", "digest", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    POSITION_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_CNY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    positions: _containers.RepeatedCompositeFieldContainer[BookPosition]
    position_count: int
    outstanding_cny: _decimal_pb2.Decimal
    digest: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., positions: _Optional[_Iterable[_Union[BookPosition, _Mapping]]] = ..., position_count: _Optional[int] = ..., outstanding_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., digest: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateBookSnapshotRequest(_message.Message):
    __slots__ = ("parent", "snapshot_id", "snapshot")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    snapshot_id: str
    snapshot: BookSnapshot
    def __init__(self, parent: _Optional[str] = ..., snapshot_id: _Optional[str] = ..., snapshot: _Optional[_Union[BookSnapshot, _Mapping]] = ...) -> None: ...

class GetBookSnapshotRequest(_message.Message):
    __slots__ = ("name", "include_positions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    include_positions: bool
    def __init__(self, name: _Optional[str] = ..., include_positions: _Optional[bool] = ...) -> None: ...

class ComputeFinancedEmissionsRequest(_message.Message):
    __slots__ = ("name", "reporting_period", "compare_snapshot", "compare_period")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REPORTING_PERIOD_FIELD_NUMBER: _ClassVar[int]
    COMPARE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    COMPARE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    name: str
    reporting_period: str
    compare_snapshot: str
    compare_period: str
    def __init__(self, name: _Optional[str] = ..., reporting_period: _Optional[str] = ..., compare_snapshot: _Optional[str] = ..., compare_period: _Optional[str] = ...) -> None: ...

class YearOnYear(_message.Message):
    __slots__ = ("previous_snapshot", "previous_period", "previous_financed_tco2", "previous_economic_intensity", "financed_change_tco2", "financed_change_ratio", "economic_intensity_change", "economic_intensity_change_ratio")
    PREVIOUS_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_PERIOD_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FINANCED_TCO2_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ECONOMIC_INTENSITY_FIELD_NUMBER: _ClassVar[int]
    FINANCED_CHANGE_TCO2_FIELD_NUMBER: _ClassVar[int]
    FINANCED_CHANGE_RATIO_FIELD_NUMBER: _ClassVar[int]
    ECONOMIC_INTENSITY_CHANGE_FIELD_NUMBER: _ClassVar[int]
    ECONOMIC_INTENSITY_CHANGE_RATIO_FIELD_NUMBER: _ClassVar[int]
    previous_snapshot: str
    previous_period: str
    previous_financed_tco2: _decimal_pb2.Decimal
    previous_economic_intensity: _decimal_pb2.Decimal
    financed_change_tco2: _decimal_pb2.Decimal
    financed_change_ratio: _decimal_pb2.Decimal
    economic_intensity_change: _decimal_pb2.Decimal
    economic_intensity_change_ratio: _decimal_pb2.Decimal
    def __init__(self, previous_snapshot: _Optional[str] = ..., previous_period: _Optional[str] = ..., previous_financed_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., previous_economic_intensity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., financed_change_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., financed_change_ratio: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., economic_intensity_change: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., economic_intensity_change_ratio: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...

class PositionEmissions(_message.Message):
    __slots__ = ("position_id", "enterprise", "attribution_factor", "attribution_capped", "method", "estimated", "estimate_reason", "consent_reason", "consent", "pcaf_option", "data_quality_score", "borrower_scope12_tco2", "financed_tco2", "attributable_reduction_tco2", "account_digest", "factor_set_version", "benchmark_version")
    class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        METHOD_UNSPECIFIED: _ClassVar[PositionEmissions.Method]
        METHOD_ACCOUNT: _ClassVar[PositionEmissions.Method]
        METHOD_REVENUE_ESTIMATE: _ClassVar[PositionEmissions.Method]
        METHOD_ASSET_ESTIMATE: _ClassVar[PositionEmissions.Method]
        METHOD_NONE: _ClassVar[PositionEmissions.Method]
    METHOD_UNSPECIFIED: PositionEmissions.Method
    METHOD_ACCOUNT: PositionEmissions.Method
    METHOD_REVENUE_ESTIMATE: PositionEmissions.Method
    METHOD_ASSET_ESTIMATE: PositionEmissions.Method
    METHOD_NONE: PositionEmissions.Method
    class EstimateReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ESTIMATE_REASON_UNSPECIFIED: _ClassVar[PositionEmissions.EstimateReason]
        ESTIMATE_REASON_NO_CONSENT: _ClassVar[PositionEmissions.EstimateReason]
        ESTIMATE_REASON_NO_ACCOUNT: _ClassVar[PositionEmissions.EstimateReason]
    ESTIMATE_REASON_UNSPECIFIED: PositionEmissions.EstimateReason
    ESTIMATE_REASON_NO_CONSENT: PositionEmissions.EstimateReason
    ESTIMATE_REASON_NO_ACCOUNT: PositionEmissions.EstimateReason
    POSITION_ID_FIELD_NUMBER: _ClassVar[int]
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_FACTOR_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_CAPPED_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_REASON_FIELD_NUMBER: _ClassVar[int]
    CONSENT_REASON_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    PCAF_OPTION_FIELD_NUMBER: _ClassVar[int]
    DATA_QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    BORROWER_SCOPE12_TCO2_FIELD_NUMBER: _ClassVar[int]
    FINANCED_TCO2_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTABLE_REDUCTION_TCO2_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    FACTOR_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_VERSION_FIELD_NUMBER: _ClassVar[int]
    position_id: str
    enterprise: str
    attribution_factor: _decimal_pb2.Decimal
    attribution_capped: bool
    method: PositionEmissions.Method
    estimated: bool
    estimate_reason: PositionEmissions.EstimateReason
    consent_reason: str
    consent: str
    pcaf_option: str
    data_quality_score: int
    borrower_scope12_tco2: _decimal_pb2.Decimal
    financed_tco2: _decimal_pb2.Decimal
    attributable_reduction_tco2: _decimal_pb2.Decimal
    account_digest: str
    factor_set_version: str
    benchmark_version: str
    def __init__(self, position_id: _Optional[str] = ..., enterprise: _Optional[str] = ..., attribution_factor: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., attribution_capped: _Optional[bool] = ..., method: _Optional[_Union[PositionEmissions.Method, str]] = ..., estimated: _Optional[bool] = ..., estimate_reason: _Optional[_Union[PositionEmissions.EstimateReason, str]] = ..., consent_reason: _Optional[str] = ..., consent: _Optional[str] = ..., pcaf_option: _Optional[str] = ..., data_quality_score: _Optional[int] = ..., borrower_scope12_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., financed_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., attributable_reduction_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., account_digest: _Optional[str] = ..., factor_set_version: _Optional[str] = ..., benchmark_version: _Optional[str] = ...) -> None: ...

class PortfolioBucket(_message.Message):
    __slots__ = ("key", "positions", "outstanding_cny", "financed_tco2", "intensity")
    KEY_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_CNY_FIELD_NUMBER: _ClassVar[int]
    FINANCED_TCO2_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    key: str
    positions: int
    outstanding_cny: _decimal_pb2.Decimal
    financed_tco2: _decimal_pb2.Decimal
    intensity: _decimal_pb2.Decimal
    def __init__(self, key: _Optional[str] = ..., positions: _Optional[int] = ..., outstanding_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., financed_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., intensity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...

class FinancedEmissions(_message.Message):
    __slots__ = ("snapshot", "reporting_period", "positions", "covered", "from_accounts", "estimated", "outstanding_cny", "financed_tco2", "economic_intensity", "weighted_data_quality_score", "attributable_reduction_tco2", "by_industry", "by_region", "position_emissions", "pcaf_table_version", "benchmark_version", "benchmark_illustrative", "year_on_year", "by_grade", "high_carbon_outstanding_cny", "high_carbon_financed_tco2", "high_carbon_grades_version")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    REPORTING_PERIOD_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    COVERED_FIELD_NUMBER: _ClassVar[int]
    FROM_ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_CNY_FIELD_NUMBER: _ClassVar[int]
    FINANCED_TCO2_FIELD_NUMBER: _ClassVar[int]
    ECONOMIC_INTENSITY_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_DATA_QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTABLE_REDUCTION_TCO2_FIELD_NUMBER: _ClassVar[int]
    BY_INDUSTRY_FIELD_NUMBER: _ClassVar[int]
    BY_REGION_FIELD_NUMBER: _ClassVar[int]
    POSITION_EMISSIONS_FIELD_NUMBER: _ClassVar[int]
    PCAF_TABLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_VERSION_FIELD_NUMBER: _ClassVar[int]
    BENCHMARK_ILLUSTRATIVE_FIELD_NUMBER: _ClassVar[int]
    YEAR_ON_YEAR_FIELD_NUMBER: _ClassVar[int]
    BY_GRADE_FIELD_NUMBER: _ClassVar[int]
    HIGH_CARBON_OUTSTANDING_CNY_FIELD_NUMBER: _ClassVar[int]
    HIGH_CARBON_FINANCED_TCO2_FIELD_NUMBER: _ClassVar[int]
    HIGH_CARBON_GRADES_VERSION_FIELD_NUMBER: _ClassVar[int]
    snapshot: str
    reporting_period: str
    positions: int
    covered: int
    from_accounts: int
    estimated: int
    outstanding_cny: _decimal_pb2.Decimal
    financed_tco2: _decimal_pb2.Decimal
    economic_intensity: _decimal_pb2.Decimal
    weighted_data_quality_score: _decimal_pb2.Decimal
    attributable_reduction_tco2: _decimal_pb2.Decimal
    by_industry: _containers.RepeatedCompositeFieldContainer[PortfolioBucket]
    by_region: _containers.RepeatedCompositeFieldContainer[PortfolioBucket]
    position_emissions: _containers.RepeatedCompositeFieldContainer[PositionEmissions]
    pcaf_table_version: str
    benchmark_version: str
    benchmark_illustrative: bool
    year_on_year: YearOnYear
    by_grade: _containers.RepeatedCompositeFieldContainer[GradeBreakdown]
    high_carbon_outstanding_cny: _decimal_pb2.Decimal
    high_carbon_financed_tco2: _decimal_pb2.Decimal
    high_carbon_grades_version: str
    def __init__(self, snapshot: _Optional[str] = ..., reporting_period: _Optional[str] = ..., positions: _Optional[int] = ..., covered: _Optional[int] = ..., from_accounts: _Optional[int] = ..., estimated: _Optional[int] = ..., outstanding_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., financed_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., economic_intensity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., weighted_data_quality_score: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., attributable_reduction_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., by_industry: _Optional[_Iterable[_Union[PortfolioBucket, _Mapping]]] = ..., by_region: _Optional[_Iterable[_Union[PortfolioBucket, _Mapping]]] = ..., position_emissions: _Optional[_Iterable[_Union[PositionEmissions, _Mapping]]] = ..., pcaf_table_version: _Optional[str] = ..., benchmark_version: _Optional[str] = ..., benchmark_illustrative: _Optional[bool] = ..., year_on_year: _Optional[_Union[YearOnYear, _Mapping]] = ..., by_grade: _Optional[_Iterable[_Union[GradeBreakdown, _Mapping]]] = ..., high_carbon_outstanding_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., high_carbon_financed_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., high_carbon_grades_version: _Optional[str] = ...) -> None: ...

class GradeBreakdown(_message.Message):
    __slots__ = ("scheme_id", "buckets")
    SCHEME_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    scheme_id: str
    buckets: _containers.RepeatedCompositeFieldContainer[PortfolioBucket]
    def __init__(self, scheme_id: _Optional[str] = ..., buckets: _Optional[_Iterable[_Union[PortfolioBucket, _Mapping]]] = ...) -> None: ...

class RepricingRun(_message.Message):
    __slots__ = ("name", "snapshot", "product", "reference_rate_pct", "default_tenor_months", "state", "positions_total", "positions_done", "priced", "not_priced", "decisions", "rate_adjustments", "priced_outstanding_cny", "annual_interest_effect_cny", "policy_bundle_version", "create_time", "update_time", "error")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[RepricingRun.State]
        STATE_PENDING: _ClassVar[RepricingRun.State]
        STATE_RUNNING: _ClassVar[RepricingRun.State]
        STATE_SUCCEEDED: _ClassVar[RepricingRun.State]
        STATE_FAILED: _ClassVar[RepricingRun.State]
    STATE_UNSPECIFIED: RepricingRun.State
    STATE_PENDING: RepricingRun.State
    STATE_RUNNING: RepricingRun.State
    STATE_SUCCEEDED: RepricingRun.State
    STATE_FAILED: RepricingRun.State
    class NotPricedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DecisionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_RATE_PCT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TENOR_MONTHS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_DONE_FIELD_NUMBER: _ClassVar[int]
    PRICED_FIELD_NUMBER: _ClassVar[int]
    NOT_PRICED_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    RATE_ADJUSTMENTS_FIELD_NUMBER: _ClassVar[int]
    PRICED_OUTSTANDING_CNY_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_INTEREST_EFFECT_CNY_FIELD_NUMBER: _ClassVar[int]
    POLICY_BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    snapshot: str
    product: str
    reference_rate_pct: _decimal_pb2.Decimal
    default_tenor_months: int
    state: RepricingRun.State
    positions_total: int
    positions_done: int
    priced: int
    not_priced: _containers.ScalarMap[str, int]
    decisions: _containers.ScalarMap[str, int]
    rate_adjustments: _containers.RepeatedCompositeFieldContainer[RateAdjustmentBucket]
    priced_outstanding_cny: _decimal_pb2.Decimal
    annual_interest_effect_cny: _decimal_pb2.Decimal
    policy_bundle_version: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    error: str
    def __init__(self, name: _Optional[str] = ..., snapshot: _Optional[str] = ..., product: _Optional[str] = ..., reference_rate_pct: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., default_tenor_months: _Optional[int] = ..., state: _Optional[_Union[RepricingRun.State, str]] = ..., positions_total: _Optional[int] = ..., positions_done: _Optional[int] = ..., priced: _Optional[int] = ..., not_priced: _Optional[_Mapping[str, int]] = ..., decisions: _Optional[_Mapping[str, int]] = ..., rate_adjustments: _Optional[_Iterable[_Union[RateAdjustmentBucket, _Mapping]]] = ..., priced_outstanding_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., annual_interest_effect_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., policy_bundle_version: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class RateAdjustmentBucket(_message.Message):
    __slots__ = ("rate_adjustment_bp", "positions", "outstanding_cny", "annual_interest_effect_cny")
    RATE_ADJUSTMENT_BP_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_CNY_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_INTEREST_EFFECT_CNY_FIELD_NUMBER: _ClassVar[int]
    rate_adjustment_bp: int
    positions: int
    outstanding_cny: _decimal_pb2.Decimal
    annual_interest_effect_cny: _decimal_pb2.Decimal
    def __init__(self, rate_adjustment_bp: _Optional[int] = ..., positions: _Optional[int] = ..., outstanding_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., annual_interest_effect_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...

class CreateRepricingRunRequest(_message.Message):
    __slots__ = ("parent", "repricing_run")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    REPRICING_RUN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    repricing_run: RepricingRun
    def __init__(self, parent: _Optional[str] = ..., repricing_run: _Optional[_Union[RepricingRun, _Mapping]] = ...) -> None: ...

class GetRepricingRunRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListRepricingRunsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRepricingRunsResponse(_message.Message):
    __slots__ = ("repricing_runs", "next_page_token")
    REPRICING_RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    repricing_runs: _containers.RepeatedCompositeFieldContainer[RepricingRun]
    next_page_token: str
    def __init__(self, repricing_runs: _Optional[_Iterable[_Union[RepricingRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
