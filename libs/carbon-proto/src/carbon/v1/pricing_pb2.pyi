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

class Quote(_message.Message):
    __slots__ = ("name", "product", "enterprise", "amount_cny", "tenor_months", "reference_rate_pct", "decision", "rate_adjustment_bp", "final_rate_pct", "credit_line_change_cny", "tenor_effect_months", "reasons", "grade", "scheme_id", "scheme_version", "account_period", "factor_set_version", "policy_bundle_version", "create_time", "request_id", "decision_log_hash", "product_version", "rating_age_days", "decision_log_seq", "credit_line_effect")
    class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DECISION_UNSPECIFIED: _ClassVar[Quote.Decision]
        DECISION_APPROVE: _ClassVar[Quote.Decision]
        DECISION_REFER: _ClassVar[Quote.Decision]
        DECISION_DECLINE_NEW_CREDIT: _ClassVar[Quote.Decision]
    DECISION_UNSPECIFIED: Quote.Decision
    DECISION_APPROVE: Quote.Decision
    DECISION_REFER: Quote.Decision
    DECISION_DECLINE_NEW_CREDIT: Quote.Decision
    class CreditLineEffect(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CREDIT_LINE_EFFECT_UNSPECIFIED: _ClassVar[Quote.CreditLineEffect]
        CREDIT_LINE_EFFECT_NONE: _ClassVar[Quote.CreditLineEffect]
        CREDIT_LINE_EFFECT_FREEZE: _ClassVar[Quote.CreditLineEffect]
        CREDIT_LINE_EFFECT_INCREASE: _ClassVar[Quote.CreditLineEffect]
        CREDIT_LINE_EFFECT_NO_NEW_CREDIT: _ClassVar[Quote.CreditLineEffect]
    CREDIT_LINE_EFFECT_UNSPECIFIED: Quote.CreditLineEffect
    CREDIT_LINE_EFFECT_NONE: Quote.CreditLineEffect
    CREDIT_LINE_EFFECT_FREEZE: Quote.CreditLineEffect
    CREDIT_LINE_EFFECT_INCREASE: Quote.CreditLineEffect
    CREDIT_LINE_EFFECT_NO_NEW_CREDIT: Quote.CreditLineEffect
    class Reason(_message.Message):
        __slots__ = ("code", "message")
        CODE_FIELD_NUMBER: _ClassVar[int]
        MESSAGE_FIELD_NUMBER: _ClassVar[int]
        code: str
        message: str
        def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CNY_FIELD_NUMBER: _ClassVar[int]
    TENOR_MONTHS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_RATE_PCT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    RATE_ADJUSTMENT_BP_FIELD_NUMBER: _ClassVar[int]
    FINAL_RATE_PCT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LINE_CHANGE_CNY_FIELD_NUMBER: _ClassVar[int]
    TENOR_EFFECT_MONTHS_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    SCHEME_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEME_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_PERIOD_FIELD_NUMBER: _ClassVar[int]
    FACTOR_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_LOG_HASH_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_VERSION_FIELD_NUMBER: _ClassVar[int]
    RATING_AGE_DAYS_FIELD_NUMBER: _ClassVar[int]
    DECISION_LOG_SEQ_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LINE_EFFECT_FIELD_NUMBER: _ClassVar[int]
    name: str
    product: str
    enterprise: str
    amount_cny: _decimal_pb2.Decimal
    tenor_months: int
    reference_rate_pct: _decimal_pb2.Decimal
    decision: Quote.Decision
    rate_adjustment_bp: int
    final_rate_pct: _decimal_pb2.Decimal
    credit_line_change_cny: _decimal_pb2.Decimal
    tenor_effect_months: int
    reasons: _containers.RepeatedCompositeFieldContainer[Quote.Reason]
    grade: str
    scheme_id: str
    scheme_version: str
    account_period: str
    factor_set_version: str
    policy_bundle_version: str
    create_time: _timestamp_pb2.Timestamp
    request_id: str
    decision_log_hash: str
    product_version: str
    rating_age_days: int
    decision_log_seq: int
    credit_line_effect: Quote.CreditLineEffect
    def __init__(self, name: _Optional[str] = ..., product: _Optional[str] = ..., enterprise: _Optional[str] = ..., amount_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., tenor_months: _Optional[int] = ..., reference_rate_pct: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., decision: _Optional[_Union[Quote.Decision, str]] = ..., rate_adjustment_bp: _Optional[int] = ..., final_rate_pct: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., credit_line_change_cny: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., tenor_effect_months: _Optional[int] = ..., reasons: _Optional[_Iterable[_Union[Quote.Reason, _Mapping]]] = ..., grade: _Optional[str] = ..., scheme_id: _Optional[str] = ..., scheme_version: _Optional[str] = ..., account_period: _Optional[str] = ..., factor_set_version: _Optional[str] = ..., policy_bundle_version: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., decision_log_hash: _Optional[str] = ..., product_version: _Optional[str] = ..., rating_age_days: _Optional[int] = ..., decision_log_seq: _Optional[int] = ..., credit_line_effect: _Optional[_Union[Quote.CreditLineEffect, str]] = ...) -> None: ...

class CreateQuoteRequest(_message.Message):
    __slots__ = ("parent", "quote", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    QUOTE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    quote: Quote
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., quote: _Optional[_Union[Quote, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetQuoteRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListQuotesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListQuotesResponse(_message.Message):
    __slots__ = ("quotes", "next_page_token")
    QUOTES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    quotes: _containers.RepeatedCompositeFieldContainer[Quote]
    next_page_token: str
    def __init__(self, quotes: _Optional[_Iterable[_Union[Quote, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
