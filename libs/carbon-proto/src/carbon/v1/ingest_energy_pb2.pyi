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

class Meter(_message.Message):
    __slots__ = ("name", "energy_type", "reading_kind", "multiplier", "time_zone", "interval_seconds", "register_max", "create_time")
    class ReadingKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        READING_KIND_UNSPECIFIED: _ClassVar[Meter.ReadingKind]
        READING_KIND_INTERVAL: _ClassVar[Meter.ReadingKind]
        READING_KIND_REGISTER: _ClassVar[Meter.ReadingKind]
    READING_KIND_UNSPECIFIED: Meter.ReadingKind
    READING_KIND_INTERVAL: Meter.ReadingKind
    READING_KIND_REGISTER: Meter.ReadingKind
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENERGY_TYPE_FIELD_NUMBER: _ClassVar[int]
    READING_KIND_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REGISTER_MAX_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    energy_type: _common_pb2.EnergyType
    reading_kind: Meter.ReadingKind
    multiplier: _decimal_pb2.Decimal
    time_zone: str
    interval_seconds: int
    register_max: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., energy_type: _Optional[_Union[_common_pb2.EnergyType, str]] = ..., reading_kind: _Optional[_Union[Meter.ReadingKind, str]] = ..., multiplier: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., time_zone: _Optional[str] = ..., interval_seconds: _Optional[int] = ..., register_max: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateMeterRequest(_message.Message):
    __slots__ = ("parent", "meter_id", "meter")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    METER_ID_FIELD_NUMBER: _ClassVar[int]
    METER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    meter_id: str
    meter: Meter
    def __init__(self, parent: _Optional[str] = ..., meter_id: _Optional[str] = ..., meter: _Optional[_Union[Meter, _Mapping]] = ...) -> None: ...

class GetMeterRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListMetersRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMetersResponse(_message.Message):
    __slots__ = ("meters", "next_page_token")
    METERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    meters: _containers.RepeatedCompositeFieldContainer[Meter]
    next_page_token: str
    def __init__(self, meters: _Optional[_Iterable[_Union[Meter, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReadingBatch(_message.Message):
    __slots__ = ("meter", "request_id", "timestamps", "values", "replacement_indices")
    METER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_INDICES_FIELD_NUMBER: _ClassVar[int]
    meter: str
    request_id: str
    timestamps: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    replacement_indices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, meter: _Optional[str] = ..., request_id: _Optional[str] = ..., timestamps: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[int]] = ..., replacement_indices: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchResult(_message.Message):
    __slots__ = ("request_id", "readings", "replayed", "flagged")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    READINGS_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    readings: int
    replayed: bool
    flagged: int
    def __init__(self, request_id: _Optional[str] = ..., readings: _Optional[int] = ..., replayed: _Optional[bool] = ..., flagged: _Optional[int] = ...) -> None: ...

class StreamReadingsResponse(_message.Message):
    __slots__ = ("batches", "readings_stored")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    READINGS_STORED_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[BatchResult]
    readings_stored: int
    def __init__(self, batches: _Optional[_Iterable[_Union[BatchResult, _Mapping]]] = ..., readings_stored: _Optional[int] = ...) -> None: ...

class GetCoverageRequest(_message.Message):
    __slots__ = ("enterprise", "period")
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    enterprise: str
    period: str
    def __init__(self, enterprise: _Optional[str] = ..., period: _Optional[str] = ...) -> None: ...

class Gap(_message.Message):
    __slots__ = ("meter", "start_time", "end_time")
    METER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    meter: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, meter: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Coverage(_message.Message):
    __slots__ = ("enterprise", "period", "expected_intervals", "present_intervals", "flagged_intervals", "ratio", "gaps")
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    PRESENT_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    RATIO_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    enterprise: str
    period: str
    expected_intervals: int
    present_intervals: int
    flagged_intervals: int
    ratio: _decimal_pb2.Decimal
    gaps: _containers.RepeatedCompositeFieldContainer[Gap]
    def __init__(self, enterprise: _Optional[str] = ..., period: _Optional[str] = ..., expected_intervals: _Optional[int] = ..., present_intervals: _Optional[int] = ..., flagged_intervals: _Optional[int] = ..., ratio: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., gaps: _Optional[_Iterable[_Union[Gap, _Mapping]]] = ...) -> None: ...
