import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import interval_pb2 as _interval_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConsentScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_SCOPE_UNSPECIFIED: _ClassVar[ConsentScope]
    CONSENT_SCOPE_TAX_INVOICES: _ClassVar[ConsentScope]
    CONSENT_SCOPE_ENERGY_METERING: _ClassVar[ConsentScope]
    CONSENT_SCOPE_CARBON_ACCOUNT: _ClassVar[ConsentScope]
    CONSENT_SCOPE_RATING: _ClassVar[ConsentScope]
    CONSENT_SCOPE_REPORT: _ClassVar[ConsentScope]

class ConsentPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_PURPOSE_UNSPECIFIED: _ClassVar[ConsentPurpose]
    CONSENT_PURPOSE_CARBON_ACCOUNTING: _ClassVar[ConsentPurpose]
    CONSENT_PURPOSE_CREDIT_ASSESSMENT: _ClassVar[ConsentPurpose]
CONSENT_SCOPE_UNSPECIFIED: ConsentScope
CONSENT_SCOPE_TAX_INVOICES: ConsentScope
CONSENT_SCOPE_ENERGY_METERING: ConsentScope
CONSENT_SCOPE_CARBON_ACCOUNT: ConsentScope
CONSENT_SCOPE_RATING: ConsentScope
CONSENT_SCOPE_REPORT: ConsentScope
CONSENT_PURPOSE_UNSPECIFIED: ConsentPurpose
CONSENT_PURPOSE_CARBON_ACCOUNTING: ConsentPurpose
CONSENT_PURPOSE_CREDIT_ASSESSMENT: ConsentPurpose

class Consent(_message.Message):
    __slots__ = ("name", "grantee", "scopes", "purpose", "data_window", "expire_time", "state", "history", "create_time", "update_time", "authorization_uri")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Consent.State]
        STATE_REQUESTED: _ClassVar[Consent.State]
        STATE_AUTHORIZED: _ClassVar[Consent.State]
        STATE_REJECTED: _ClassVar[Consent.State]
        STATE_REVOKED: _ClassVar[Consent.State]
        STATE_TERMINATED: _ClassVar[Consent.State]
        STATE_EXPIRED: _ClassVar[Consent.State]
    STATE_UNSPECIFIED: Consent.State
    STATE_REQUESTED: Consent.State
    STATE_AUTHORIZED: Consent.State
    STATE_REJECTED: Consent.State
    STATE_REVOKED: Consent.State
    STATE_TERMINATED: Consent.State
    STATE_EXPIRED: Consent.State
    class Transition(_message.Message):
        __slots__ = ("from_state", "to_state", "actor", "time", "reason")
        FROM_STATE_FIELD_NUMBER: _ClassVar[int]
        TO_STATE_FIELD_NUMBER: _ClassVar[int]
        ACTOR_FIELD_NUMBER: _ClassVar[int]
        TIME_FIELD_NUMBER: _ClassVar[int]
        REASON_FIELD_NUMBER: _ClassVar[int]
        from_state: Consent.State
        to_state: Consent.State
        actor: str
        time: _timestamp_pb2.Timestamp
        reason: str
        def __init__(self, from_state: _Optional[_Union[Consent.State, str]] = ..., to_state: _Optional[_Union[Consent.State, str]] = ..., actor: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DATA_WINDOW_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_URI_FIELD_NUMBER: _ClassVar[int]
    name: str
    grantee: str
    scopes: _containers.RepeatedScalarFieldContainer[ConsentScope]
    purpose: ConsentPurpose
    data_window: _interval_pb2.Interval
    expire_time: _timestamp_pb2.Timestamp
    state: Consent.State
    history: _containers.RepeatedCompositeFieldContainer[Consent.Transition]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    authorization_uri: str
    def __init__(self, name: _Optional[str] = ..., grantee: _Optional[str] = ..., scopes: _Optional[_Iterable[_Union[ConsentScope, str]]] = ..., purpose: _Optional[_Union[ConsentPurpose, str]] = ..., data_window: _Optional[_Union[_interval_pb2.Interval, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[Consent.State, str]] = ..., history: _Optional[_Iterable[_Union[Consent.Transition, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., authorization_uri: _Optional[str] = ...) -> None: ...

class CreateConsentRequest(_message.Message):
    __slots__ = ("parent", "consent", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    consent: Consent
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., consent: _Optional[_Union[Consent, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetConsentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListConsentsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "state")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    state: Consent.State
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[Consent.State, str]] = ...) -> None: ...

class ListConsentsResponse(_message.Message):
    __slots__ = ("consents", "next_page_token")
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    next_page_token: str
    def __init__(self, consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AuthorizeConsentRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RejectConsentRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RevokeConsentRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TerminateConsentRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CheckAccessRequest(_message.Message):
    __slots__ = ("enterprise", "grantee", "scope", "data_time", "data_period")
    ENTERPRISE_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    DATA_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_PERIOD_FIELD_NUMBER: _ClassVar[int]
    enterprise: str
    grantee: str
    scope: ConsentScope
    data_time: _timestamp_pb2.Timestamp
    data_period: _interval_pb2.Interval
    def __init__(self, enterprise: _Optional[str] = ..., grantee: _Optional[str] = ..., scope: _Optional[_Union[ConsentScope, str]] = ..., data_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_period: _Optional[_Union[_interval_pb2.Interval, _Mapping]] = ...) -> None: ...

class CheckAccessResponse(_message.Message):
    __slots__ = ("allowed", "reason", "consent", "message")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONSENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    reason: str
    consent: str
    message: str
    def __init__(self, allowed: _Optional[bool] = ..., reason: _Optional[str] = ..., consent: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Bank(_message.Message):
    __slots__ = ("name", "display_name", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateBankRequest(_message.Message):
    __slots__ = ("bank_id", "bank")
    BANK_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    bank_id: str
    bank: Bank
    def __init__(self, bank_id: _Optional[str] = ..., bank: _Optional[_Union[Bank, _Mapping]] = ...) -> None: ...

class CreateBankResponse(_message.Message):
    __slots__ = ("bank", "api_key")
    BANK_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    bank: Bank
    api_key: str
    def __init__(self, bank: _Optional[_Union[Bank, _Mapping]] = ..., api_key: _Optional[str] = ...) -> None: ...

class GetBankRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AuthenticateBankRequest(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: str
    def __init__(self, api_key: _Optional[str] = ...) -> None: ...
