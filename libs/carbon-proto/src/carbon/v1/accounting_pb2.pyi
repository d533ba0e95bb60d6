import datetime

from carbon.v1 import common_pb2 as _common_pb2
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

class Account(_message.Message):
    __slots__ = ("name", "period", "activities", "scope1_tco2", "scope2_location_tco2", "scope2_market_tco2", "total_tco2", "scope2_method", "energy_tce", "energy_structure", "monthly", "revenue_cny", "value_added_cny", "tax_cny", "intensity_revenue", "intensity_value_added", "intensity_tax", "base_period", "base_total_tco2", "reduction_rate", "reduction_tco2", "cross_checks", "quality", "factor_set_version", "input_digest", "compute_time", "industry_code", "province_code", "region_code", "factor_set_digest")
    class Scope2Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SCOPE2_METHOD_UNSPECIFIED: _ClassVar[Account.Scope2Method]
        SCOPE2_METHOD_LOCATION_BASED: _ClassVar[Account.Scope2Method]
        SCOPE2_METHOD_MARKET_BASED: _ClassVar[Account.Scope2Method]
    SCOPE2_METHOD_UNSPECIFIED: Account.Scope2Method
    SCOPE2_METHOD_LOCATION_BASED: Account.Scope2Method
    SCOPE2_METHOD_MARKET_BASED: Account.Scope2Method
    class Activity(_message.Message):
        __slots__ = ("energy_type", "quantity", "unit", "source", "scope", "tco2", "tce", "factor_id", "factor_value", "factor_unit", "scope2_method", "factor_source")
        ENERGY_TYPE_FIELD_NUMBER: _ClassVar[int]
        QUANTITY_FIELD_NUMBER: _ClassVar[int]
        UNIT_FIELD_NUMBER: _ClassVar[int]
        SOURCE_FIELD_NUMBER: _ClassVar[int]
        SCOPE_FIELD_NUMBER: _ClassVar[int]
        TCO2_FIELD_NUMBER: _ClassVar[int]
        TCE_FIELD_NUMBER: _ClassVar[int]
        FACTOR_ID_FIELD_NUMBER: _ClassVar[int]
        FACTOR_VALUE_FIELD_NUMBER: _ClassVar[int]
        FACTOR_UNIT_FIELD_NUMBER: _ClassVar[int]
        SCOPE2_METHOD_FIELD_NUMBER: _ClassVar[int]
        FACTOR_SOURCE_FIELD_NUMBER: _ClassVar[int]
        energy_type: _common_pb2.EnergyType
        quantity: _decimal_pb2.Decimal
        unit: str
        source: _common_pb2.DataSource
        scope: int
        tco2: _decimal_pb2.Decimal
        tce: _decimal_pb2.Decimal
        factor_id: str
        factor_value: _decimal_pb2.Decimal
        factor_unit: str
        scope2_method: Account.Scope2Method
        factor_source: str
        def __init__(self, energy_type: _Optional[_Union[_common_pb2.EnergyType, str]] = ..., quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., unit: _Optional[str] = ..., source: _Optional[_Union[_common_pb2.DataSource, str]] = ..., scope: _Optional[int] = ..., tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., tce: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., factor_id: _Optional[str] = ..., factor_value: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., factor_unit: _Optional[str] = ..., scope2_method: _Optional[_Union[Account.Scope2Method, str]] = ..., factor_source: _Optional[str] = ...) -> None: ...
    class EnergyShare(_message.Message):
        __slots__ = ("energy_type", "tce", "share")
        ENERGY_TYPE_FIELD_NUMBER: _ClassVar[int]
        TCE_FIELD_NUMBER: _ClassVar[int]
        SHARE_FIELD_NUMBER: _ClassVar[int]
        energy_type: _common_pb2.EnergyType
        tce: _decimal_pb2.Decimal
        share: _decimal_pb2.Decimal
        def __init__(self, energy_type: _Optional[_Union[_common_pb2.EnergyType, str]] = ..., tce: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., share: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...
    class MonthlyEmissions(_message.Message):
        __slots__ = ("month", "scope1_tco2", "scope2_tco2")
        MONTH_FIELD_NUMBER: _ClassVar[int]
        SCOPE1_TCO2_FIELD_NUMBER: _ClassVar[int]
        SCOPE2_TCO2_FIELD_NUMBER: _ClassVar[int]
        month: str
        scope1_tco2: _decimal_pb2.Decimal
        scope2_tco2: _decimal_pb2.Decimal
        def __init__(self, month: _Optional[str] = ..., scope1_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., scope2_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...
    class CrossCheck(_message.Message):
        __slots__ = ("energy_type", "invoice_quantity", "meter_quantity", "relative_difference", "chosen", "disagreement")
        ENERGY_TYPE_FIELD_NUMBER: _ClassVar[int]
        INVOICE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
        METER_QUANTITY_FIELD_NUMBER: _ClassVar[int]
        RELATIVE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
        CHOSEN_FIELD_NUMBER: _ClassVar[int]
        DISAGREEMENT_FIELD_NUMBER: _ClassVar[int]
        energy_type: _common_pb2.EnergyType
        invoice_quantity: _decimal_pb2.Decimal
        meter_quantity: _decimal_pb2.Decimal
        relative_difference: _decimal_pb2.Decimal
        chosen: _common_pb2.DataSource
        disagreement: bool
        def __init__(self, energy_type: _Optional[_Union[_common_pb2.EnergyType, str]] = ..., invoice_quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., meter_quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., relative_difference: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., chosen: _Optional[_Union[_common_pb2.DataSource, str]] = ..., disagreement: _Optional[bool] = ...) -> None: ...
    class Quality(_message.Message):
        __slots__ = ("coverage", "sources", "flags", "score")
        COVERAGE_FIELD_NUMBER: _ClassVar[int]
        SOURCES_FIELD_NUMBER: _ClassVar[int]
        FLAGS_FIELD_NUMBER: _ClassVar[int]
        SCORE_FIELD_NUMBER: _ClassVar[int]
        coverage: _decimal_pb2.Decimal
        sources: _containers.RepeatedScalarFieldContainer[_common_pb2.DataSource]
        flags: _containers.RepeatedScalarFieldContainer[str]
        score: _decimal_pb2.Decimal
        def __init__(self, coverage: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., sources: _Optional[_Iterable[_Union[_common_pb2.DataSource, str]]] = ..., flags: _Optional[_Iterable[str]] = ..., score: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    SCOPE1_TCO2_FIELD_NUMBER: _ClassVar[int]
    SCOPE2_LOCATION_TCO2_FIELD_NUMBER: _ClassVar[int]
    SCOPE2_MARKET_TCO2_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TCO2_FIELD_NUMBER: _ClassVar[int]
    SCOPE2_METHOD_FIELD_NUMBER: _ClassVar[int]
    ENERGY_TCE_FIELD_NUMBER: _ClassVar[int]
    ENERGY_STRUCTURE_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_FIELD_NUMBER: _ClassVar[int]
    REVENUE_CNY_FIELD_NUMBER: _ClassVar[int]
    VALUE_ADDED_CNY_FIELD_NUMBER: _ClassVar[int]
    TAX_CNY_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_REVENUE_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_VALUE_ADDED_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_TAX_FIELD_NUMBER: _ClassVar[int]
    BASE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    BASE_TOTAL_TCO2_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_RATE_FIELD_NUMBER: _ClassVar[int]
    REDUCTION_TCO2_FIELD_NUMBER: _ClassVar[int]
    CROSS_CHECKS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    FACTOR_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    INDUSTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    PROVINCE_CODE_FIELD_NUMBER: _ClassVar[int]
    REGION_CODE_FIELD_NUMBER: _ClassVar[int]
    FACTOR_SET_DIGEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    period: str
    activities: _containers.RepeatedCompositeFieldContainer[Account.Activity]
    scope1_tco2: _decimal_pb2.Decimal
    scope2_location_tco2: _decimal_pb2.Decimal
    scope2_market_tco2: _decimal_pb2.Decimal
    total_tco2: _decimal_pb2.Decimal
    scope2_method: Account.Scope2Method
    energy_tce: _decimal_pb2.Decimal
    energy_structure: _containers.RepeatedCompositeFieldContainer[Account.EnergyShare]
    monthly: _containers.RepeatedCompositeFieldContainer[Account.MonthlyEmissions]
    revenue_cny: _decimal_pb2.Decimal
    value_added_cny: _decimal_pb2.Decimal
    tax_cny: _decimal_pb2.Decimal
    intensity_revenue: _decimal_pb2.Decimal
    intensity_value_added: _decimal_pb2.Decimal
    intensity_tax: _decimal_pb2.Decimal
    base_period: str
    base_total_tco2: _decimal_pb2.Decimal
    reduction_rate: _decimal_pb2.Decimal
    reduction_tco2: _decimal_pb2.Decimal
    cross_checks: _containers.RepeatedCompositeFieldContainer[Account.CrossCheck]
    quality: Account.Quality
    factor_set_version: str
    input_digest: str
    compute_time: _timestamp_pb2.Timestamp
    industry_code: str
    province_code: str
    region_code: str
    factor_set_digest: str
    def __init__(self, name: _Optional[str] = ..., period: _Optional[str] = ..., activities: _Optional[_Iterable[_Union[Account.Activity, _Mapping]]] = ..., scope1_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., scope2_location_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., scope2_market_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., total_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., scope2_method: _Optional[_Union[Account.Scope2Method, str]] = ..., energy_tce: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., energy_structure: _Optional[_Iterable[_Union[Account.EnergyShare, _Mapping]]] = ..., monthly: _Optional[_Iterable[_Union[Account.MonthlyEmissions, _Mapping]]] = ..., revenue_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., value_added_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., tax_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., intensity_revenue: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., intensity_value_added: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., intensity_tax: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., base_period: _Optional[str] = ..., base_total_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., reduction_rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., reduction_tco2: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., cross_checks: _Optional[_Iterable[_Union[Account.CrossCheck, _Mapping]]] = ..., quality: _Optional[_Union[Account.Quality, _Mapping]] = ..., factor_set_version: _Optional[str] = ..., input_digest: _Optional[str] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., industry_code: _Optional[str] = ..., province_code: _Optional[str] = ..., region_code: _Optional[str] = ..., factor_set_digest: _Optional[str] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListAccountsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAccountsResponse(_message.Message):
    __slots__ = ("accounts", "next_page_token")
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[Account]
    next_page_token: str
    def __init__(self, accounts: _Optional[_Iterable[_Union[Account, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ComputeAccountRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...
