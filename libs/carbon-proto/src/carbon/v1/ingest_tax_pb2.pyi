import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import decimal_pb2 as _decimal_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Invoice(_message.Message):
    __slots__ = ("invoice_number", "issue_time", "seller_uscc", "seller_name", "buyer_uscc", "buyer_name", "kind", "original_invoice_number", "lines")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Invoice.Kind]
        KIND_NORMAL: _ClassVar[Invoice.Kind]
        KIND_RED_LETTER: _ClassVar[Invoice.Kind]
    KIND_UNSPECIFIED: Invoice.Kind
    KIND_NORMAL: Invoice.Kind
    KIND_RED_LETTER: Invoice.Kind
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
    SELLER_USCC_FIELD_NUMBER: _ClassVar[int]
    SELLER_NAME_FIELD_NUMBER: _ClassVar[int]
    BUYER_USCC_FIELD_NUMBER: _ClassVar[int]
    BUYER_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    invoice_number: str
    issue_time: _timestamp_pb2.Timestamp
    seller_uscc: str
    seller_name: str
    buyer_uscc: str
    buyer_name: str
    kind: Invoice.Kind
    original_invoice_number: str
    lines: _containers.RepeatedCompositeFieldContainer[InvoiceLine]
    def __init__(self, invoice_number: _Optional[str] = ..., issue_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seller_uscc: _Optional[str] = ..., seller_name: _Optional[str] = ..., buyer_uscc: _Optional[str] = ..., buyer_name: _Optional[str] = ..., kind: _Optional[_Union[Invoice.Kind, str]] = ..., original_invoice_number: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[InvoiceLine, _Mapping]]] = ...) -> None: ...

class InvoiceLine(_message.Message):
    __slots__ = ("line_number", "tax_code", "item_name", "specification", "unit", "quantity", "unit_price", "amount", "tax_rate", "tax_amount")
    LINE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TAX_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEM_NAME_FIELD_NUMBER: _ClassVar[int]
    SPECIFICATION_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    TAX_RATE_FIELD_NUMBER: _ClassVar[int]
    TAX_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    line_number: int
    tax_code: str
    item_name: str
    specification: str
    unit: str
    quantity: _decimal_pb2.Decimal
    unit_price: _decimal_pb2.Decimal
    amount: _decimal_pb2.Decimal
    tax_rate: _decimal_pb2.Decimal
    tax_amount: _decimal_pb2.Decimal
    def __init__(self, line_number: _Optional[int] = ..., tax_code: _Optional[str] = ..., item_name: _Optional[str] = ..., specification: _Optional[str] = ..., unit: _Optional[str] = ..., quantity: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., unit_price: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., amount: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., tax_rate: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ..., tax_amount: _Optional[_Union[_decimal_pb2.Decimal, _Mapping]] = ...) -> None: ...

class IngestInvoicesRequest(_message.Message):
    __slots__ = ("parent", "invoices", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    invoices: _containers.RepeatedCompositeFieldContainer[Invoice]
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., invoices: _Optional[_Iterable[_Union[Invoice, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class QuarantinedLine(_message.Message):
    __slots__ = ("invoice_number", "line_number", "reason", "message")
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LINE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    invoice_number: str
    line_number: int
    reason: str
    message: str
    def __init__(self, invoice_number: _Optional[str] = ..., line_number: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IngestInvoicesResponse(_message.Message):
    __slots__ = ("batch", "invoices", "energy_lines", "revenue_lines", "non_energy_lines", "quarantined", "replayed", "duplicate_lines")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    ENERGY_LINES_FIELD_NUMBER: _ClassVar[int]
    REVENUE_LINES_FIELD_NUMBER: _ClassVar[int]
    NON_ENERGY_LINES_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_LINES_FIELD_NUMBER: _ClassVar[int]
    batch: str
    invoices: int
    energy_lines: int
    revenue_lines: int
    non_energy_lines: int
    quarantined: _containers.RepeatedCompositeFieldContainer[QuarantinedLine]
    replayed: bool
    duplicate_lines: int
    def __init__(self, batch: _Optional[str] = ..., invoices: _Optional[int] = ..., energy_lines: _Optional[int] = ..., revenue_lines: _Optional[int] = ..., non_energy_lines: _Optional[int] = ..., quarantined: _Optional[_Iterable[_Union[QuarantinedLine, _Mapping]]] = ..., replayed: _Optional[bool] = ..., duplicate_lines: _Optional[int] = ...) -> None: ...

class ListQuarantinedLinesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListQuarantinedLinesResponse(_message.Message):
    __slots__ = ("lines", "next_page_token")
    LINES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[QuarantinedLine]
    next_page_token: str
    def __init__(self, lines: _Optional[_Iterable[_Union[QuarantinedLine, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
