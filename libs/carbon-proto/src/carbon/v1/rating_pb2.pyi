import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rating(_message.Message):
    __slots__ = ("name", "scheme_id", "scheme_version", "account", "period", "grade", "grade_label", "score", "indicators", "deciding_thresholds", "national_percentile", "explanation", "factor_set_version", "quality_score", "rate_time", "input_digest", "explanation_zh", "grade_label_zh", "national_peer_class", "next_grade", "grade_colour")
    class Indicator(_message.Message):
        __slots__ = ("id", "display_name", "value", "unit", "benchmark", "score")
        ID_FIELD_NUMBER: _ClassVar[int]
        DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        UNIT_FIELD_NUMBER: _ClassVar[int]
        BENCHMARK_FIELD_NUMBER: _ClassVar[int]
        SCORE_FIELD_NUMBER: _ClassVar[int]
        id: str
        display_name: str
        value: _decimal_pb2.Decimal
        unit: str
        benchmark: _decimal_pb2.Decimal
        score: _decimal_pb2.Decimal
        def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., value: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., unit: _Optional[str] = ..., benchmark: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., score: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...
    class Gap(_message.Message):
        __slots__ = ("indicator", "op", "threshold", "value", "change")
        INDICATOR_FIELD_NUMBER: _ClassVar[int]
        OP_FIELD_NUMBER: _ClassVar[int]
        THRESHOLD_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        CHANGE_FIELD_NUMBER: _ClassVar[int]
        indicator: str
        op: str
        threshold: _decimal_pb2.Decimal
        value: _decimal_pb2.Decimal
        change: _decimal_pb2.Decimal
        def __init__(self, indicator: _Optional[str] = ..., op: _Optional[str] = ..., threshold: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., value: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., change: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...
    class NextGrade(_message.Message):
        __slots__ = ("grade", "grade_label", "grade_label_zh", "gaps", "explanation", "explanation_zh")
        GRADE_FIELD_NUMBER: _ClassVar[int]
        GRADE_LABEL_FIELD_NUMBER: _ClassVar[int]
        GRADE_LABEL_ZH_FIELD_NUMBER: _ClassVar[int]
        GAPS_FIELD_NUMBER: _ClassVar[int]
        EXPLANATION_FIELD_NUMBER: _ClassVar[int]
        EXPLANATION_ZH_FIELD_NUMBER: _ClassVar[int]
        grade: str
        grade_label: str
        grade_label_zh: str
        gaps: _containers.RepeatedCompositeFieldContainer[Rating.Gap]
        explanation: str
        explanation_zh: str
        def __init__(self, grade: _Optional[str] = ..., grade_label: _Optional[str] = ..., grade_label_zh: _Optional[str] = ..., gaps: _Optional[_Iterable[_Union[Rating.Gap, _Mapping]]] = ..., explanation: _Optional[str] = ..., explanation_zh: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEME_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEME_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    GRADE_LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    INDICATORS_FIELD_NUMBER: _ClassVar[int]
    DECIDING_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    NATIONAL_PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    FACTOR_SET_VERSION_FIELD_NUMBER: _ClassVar[int]
    QUALITY_SCORE_FIELD_NUMBER: _ClassVar[int]
    RATE_TIME_FIELD_NUMBER: _ClassVar[int]
    INPUT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_ZH_FIELD_NUMBER: _ClassVar[int]
    GRADE_LABEL_ZH_FIELD_NUMBER: _ClassVar[int]
    NATIONAL_PEER_CLASS_FIELD_NUMBER: _ClassVar[int]
    NEXT_GRADE_FIELD_NUMBER: _ClassVar[int]
    GRADE_COLOUR_FIELD_NUMBER: _ClassVar[int]
    name: str
    scheme_id: str
    scheme_version: str
    account: str
    period: str
    grade: str
    grade_label: str
    score: _decimal_pb2.Decimal
    indicators: _containers.RepeatedCompositeFieldContainer[Rating.Indicator]
    deciding_thresholds: _containers.RepeatedScalarFieldContainer[str]
    national_percentile: _decimal_pb2.Decimal
    explanation: str
    factor_set_version: str
    quality_score: _decimal_pb2.Decimal
    rate_time: _timestamp_pb2.Timestamp
    input_digest: str
    explanation_zh: str
    grade_label_zh: str
    national_peer_class: str
    next_grade: Rating.NextGrade
    grade_colour: str
    def __init__(self, name: _Optional[str] = ..., scheme_id: _Optional[str] = ..., scheme_version: _Optional[str] = ..., account: _Optional[str] = ..., period: _Optional[str] = ..., grade: _Optional[str] = ..., grade_label: _Optional[str] = ..., score: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., indicators: _Optional[_Iterable[_Union[Rating.Indicator, _Mapping]]] = ..., deciding_thresholds: _Optional[_Iterable[str]] = ..., national_percentile: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., explanation: _Optional[str] = ..., factor_set_version: _Optional[str] = ..., quality_score: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., rate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., input_digest: _Optional[str] = ..., explanation_zh: _Optional[str] = ..., grade_label_zh: _Optional[str] = ..., national_peer_class: _Optional[str] = ..., next_grade: _Optional[_Union[Rating.NextGrade, _Mapping]] = ..., grade_colour: _Optional[str] = ...) -> None: ...

class GetRatingRequest(_message.Message):
    __slots__ = ("name", "period")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    name: str
    period: str
    def __init__(self, name: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class Scheme(_message.Message):
    __slots__ = ("name", "display_name", "active_version", "effective_time", "grades")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_VERSION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    GRADES_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    active_version: str
    effective_time: _timestamp_pb2.Timestamp
    grades: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., active_version: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., grades: _Optional[_Iterable[str]] = ...) -> None: ...

class ListSchemesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSchemesResponse(_message.Message):
    __slots__ = ("schemes", "next_page_token")
    SCHEMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    schemes: _containers.RepeatedCompositeFieldContainer[Scheme]
    next_page_token: str
    def __init__(self, schemes: _Optional[_Iterable[_Union[Scheme, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
