"""REST models agree with the proto messages they represent (GUIDE: "REST models match proto messages").

Every pydantic model of a service's REST edge is either declared here as the JSON face of a
carbon.v1 message (same fields under the edge's naming, compatible types, closed sets as enums on
both sides) or declared REST-only with the reason. A field on one side only must be declared with
its reason too. Input models are compared with the message's fields a client may set (not
OUTPUT_ONLY / IDENTIFIER).

Type rules: string <-> str; int32/int64 <-> int; bool <-> bool; google.type.Decimal and
google.protobuf.Timestamp <-> str (decimal string, RFC 3339); an enum <-> a Literal (or StrEnum) of
its value names, with or without the enum's prefix, UNSPECIFIED left out (or ""); a message <-> a model
declared as its face here (checked in its own right); repeated <-> list[...]; map<K, V> <-> dict[K, V].
A closed set in REST over a proto string is a disagreement (the proto must be an enum too).
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from carbon.v1 import (
    consent_pb2,
    enterprise_pb2,
    ingest_tax_pb2,
    portfolio_pb2,
    pricing_pb2,
)
from carbon_consent.rest import banks as consent_banks
from carbon_consent.rest import common as consent_common
from carbon_consent.rest import consents as consent_consents
from carbon_consent.rest import enterprises as consent_enterprises
from carbon_consent.rest import erasure as consent_erasure
from carbon_ingest_energy.rest import health as energy_app
from carbon_ingest_tax.rest import uploads as tax_upload
from carbon_pricing import domain as pricing_domain
from carbon_pricing import lifecycle as pricing_policies
from carbon_pricing import quote as pricing_quote
from carbon_pricing import store as pricing_store
from carbon_pricing.portfolio import domain as portfolio_domain
from carbon_pricing.portfolio import figures as portfolio_figures
from carbon_pricing.portfolio.rest import runs as runs_rest
from carbon_pricing.portfolio.rest import snapshots as portfolio_rest
from carbon_pricing.rest import policies as pricing_policy_api
from carbon_pricing.rest import quotes as pricing_rest
from carbon_rating.gov import models as rating_gov
from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.type import interval_pb2
from pydantic import BaseModel

OUTPUT, INPUT = "output", "input"
SNAKE, CAMEL = "snake", "camel"


@dataclass(frozen=True)
class Face:
    """`model` is the REST JSON of `message`."""

    model: type[BaseModel]
    message: Descriptor
    naming: str
    direction: str = OUTPUT
    rest_only: dict[str, str] = field(default_factory=dict)  # field -> why only REST has it
    proto_only: dict[str, str] = field(default_factory=dict)  # proto field name -> why REST leaves it out

    @property
    def id(self) -> str:
        return f"{self.model.__module__.rsplit('.', 1)[-1]}.{self.model.__name__}~{self.message.name}"


Q = pricing_pb2.Quote.DESCRIPTOR
FACES = [
    # consent (proto JSON via json_format, camelCase)
    Face(consent_enterprises.Enterprise, enterprise_pb2.Enterprise.DESCRIPTOR, CAMEL),
    Face(consent_enterprises.EnterpriseList, enterprise_pb2.ListEnterprisesResponse.DESCRIPTOR, CAMEL),
    Face(consent_enterprises.EnterpriseFields, enterprise_pb2.Enterprise.DESCRIPTOR, CAMEL, INPUT),
    Face(consent_banks.Bank, consent_pb2.Bank.DESCRIPTOR, CAMEL),
    Face(consent_banks.BankFields, consent_pb2.Bank.DESCRIPTOR, CAMEL, INPUT),
    Face(consent_banks.BankCreated, consent_pb2.CreateBankResponse.DESCRIPTOR, CAMEL),
    Face(consent_consents.DataWindow, interval_pb2.Interval.DESCRIPTOR, CAMEL),
    Face(consent_consents.DataWindowInput, interval_pb2.Interval.DESCRIPTOR, CAMEL, INPUT),
    Face(consent_consents.Transition, consent_pb2.Consent.Transition.DESCRIPTOR, CAMEL),
    Face(consent_consents.Consent, consent_pb2.Consent.DESCRIPTOR, CAMEL),
    Face(consent_consents.ConsentFields, consent_pb2.Consent.DESCRIPTOR, CAMEL, INPUT),
    Face(consent_consents.ConsentList, consent_pb2.ListConsentsResponse.DESCRIPTOR, CAMEL),
    Face(consent_consents.CheckAccessBody, consent_pb2.CheckAccessRequest.DESCRIPTOR, CAMEL, INPUT),
    Face(consent_consents.AccessDecision, consent_pb2.CheckAccessResponse.DESCRIPTOR, CAMEL),
    # loan-pricing quotes (snake_case)
    Face(pricing_quote.Quote, Q, SNAKE),
    Face(pricing_quote.Reason, pricing_pb2.Quote.Reason.DESCRIPTOR, SNAKE),
    Face(pricing_rest.QuoteList, pricing_pb2.ListQuotesResponse.DESCRIPTOR, SNAKE),
    Face(
        pricing_rest.QuoteCreate,
        Q,
        SNAKE,
        INPUT,
        rest_only={"request_id": "CreateQuoteRequest.request_id, sent in the body (the bank is in the path)"},
    ),
    # loan-pricing portfolio (requests snake_case, responses camelCase)
    Face(portfolio_rest.PositionIn, portfolio_pb2.BookPosition.DESCRIPTOR, SNAKE, INPUT),
    Face(portfolio_rest.SnapshotOut, portfolio_pb2.BookSnapshot.DESCRIPTOR, CAMEL),
    Face(portfolio_figures.Bucket, portfolio_pb2.PortfolioBucket.DESCRIPTOR, CAMEL),
    Face(portfolio_figures.PositionOut, portfolio_pb2.PositionEmissions.DESCRIPTOR, CAMEL),
    Face(portfolio_figures.YearOnYearOut, portfolio_pb2.YearOnYear.DESCRIPTOR, CAMEL),
    Face(portfolio_figures.FinancedOut, portfolio_pb2.FinancedEmissions.DESCRIPTOR, CAMEL),
    Face(portfolio_figures.GradeBreakdownOut, portfolio_pb2.GradeBreakdown.DESCRIPTOR, CAMEL),
    # loan-pricing re-pricing runs (camelCase)
    Face(runs_rest.RunIn, portfolio_pb2.RepricingRun.DESCRIPTOR, CAMEL, INPUT),
    Face(
        runs_rest.RunOut,
        portfolio_pb2.RepricingRun.DESCRIPTOR,
        CAMEL,
        rest_only={"simulation": "always true: tells a reader of the JSON a run is no credit decision"},
    ),
    Face(runs_rest.RateAdjustmentOut, portfolio_pb2.RateAdjustmentBucket.DESCRIPTOR, CAMEL),
    Face(runs_rest.RunList, portfolio_pb2.ListRepricingRunsResponse.DESCRIPTOR, CAMEL),
    Face(
        pricing_quote.SimulatedQuote,
        Q,
        SNAKE,
        rest_only={
            "simulation": "always true: a re-pricing run's result, stored in the run (served as CSV), no quote",
            "run": "the re-pricing run the result belongs to (RepricingRun.name)",
            "position_id": "the book position priced (BookPosition.position_id)",
        },
    ),
    # ingest-tax upload (proto field names)
    Face(tax_upload.QuarantinedLine, ingest_tax_pb2.QuarantinedLine.DESCRIPTOR, SNAKE),
    Face(
        tax_upload.UploadResult,
        ingest_tax_pb2.IngestInvoicesResponse.DESCRIPTOR,
        SNAKE,
        rest_only={"skipped_void_rows": "spreadsheet rows marked void (作废): a file has them, a gRPC batch does not"},
    ),
]

# Models of the REST edges that represent no proto message, and why.
REST_ONLY = {
    consent_common.Input: "base class of the request bodies",
    consent_common.Output: "base class of the response bodies",
    consent_enterprises.CreateEnterpriseBody: "EnterpriseFields flat or under `enterprise` (CreateEnterpriseRequest)",
    consent_banks.CreateBankBody: "BankFields flat or under `bank`, plus bankId (CreateBankRequest)",
    consent_consents.CreateConsentBody: "ConsentFields flat or under `consent`, plus requestId and reason",
    consent_common.ReasonBody: "the reason of Authorize/Reject/Revoke/TerminateConsentRequest (name is the path)",
    consent_common.Link: "the enterprise's signed one-click link: a page of the REST edge, not an RPC",
    consent_erasure.Erasure: "erasure requests (PIPL art. 47) are REST-only: no RPC serves them",
    pricing_policies.ProductInfo: "policy administration is REST-only",
    pricing_policies.Policies: "policy administration is REST-only",
    pricing_policies.DryRunSummary: "policy administration is REST-only",
    pricing_policies.DryRunResult: "policy administration is REST-only",
    pricing_policies.Activated: "policy administration is REST-only",
    pricing_policy_api.DraftBundle: "policy administration is REST-only",
    pricing_policy_api.DryRunRequest: "policy administration is REST-only",
    pricing_policy_api.ActivateRequest: "policy administration is REST-only",
    portfolio_rest.SnapshotIn: "CreateBookSnapshotRequest.snapshot.positions; parent and id are the path",
    energy_app.Health: "liveness of the HTTP edge",
}
# Whole modules of REST-only models.
REST_ONLY_MODULES = {rating_gov: "government scheme administration (drafts, approvals, previews) has no RPC"}
# Modules whose pydantic models are records a service keeps (Redis, logs), never a REST body, and why.
RECORD_MODULES = {
    pricing_domain: "the policy input/output, dry-run inputs and decision-log entries pricing stores and logs",
    pricing_store: "the request-id claim pricing keeps in Redis",
    portfolio_domain: "book snapshots and re-pricing runs as stored (REST faces: SnapshotOut, RunOut, compared above)",
}
EDGE_MODULES = (
    consent_common,
    consent_enterprises,
    consent_banks,
    consent_consents,
    consent_erasure,
    pricing_quote,
    pricing_rest,
    pricing_policies,
    pricing_policy_api,
    portfolio_rest,
    portfolio_figures,
    runs_rest,
    tax_upload,
    rating_gov,
    energy_app,
)


# --------------------------------------------------------------------------- helpers


def _behaviors(f: FieldDescriptor) -> set[int]:
    options = f.GetOptions()
    return set(options.Extensions[field_behavior_pb2.field_behavior]) if options else set()


def expected_fields(face: Face) -> dict[str, FieldDescriptor]:
    hidden = {field_behavior_pb2.OUTPUT_ONLY, field_behavior_pb2.IDENTIFIER}
    fields = {}
    for f in face.message.fields:
        if face.direction == INPUT and _behaviors(f) & hidden:
            continue
        if f.name in face.proto_only:
            continue
        fields[f.json_name if face.naming == CAMEL else f.name] = f
    return fields


def rest_fields(model: type[BaseModel]) -> dict[str, Any]:
    """Wire name -> annotation (the alias a client sends or receives first)."""
    fields = {}
    for name, info in model.model_fields.items():
        wire = info.serialization_alias or info.alias or name
        fields[wire] = info.annotation
    return fields


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def closed_set(annotation: Any) -> set[str] | None:
    """The values of a Literal / Enum annotation, None for an open type."""
    if typing.get_origin(annotation) is Literal:
        return {str(v) for v in typing.get_args(annotation)}
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return {str(m.value) for m in annotation}
    return None


def enum_names(descriptor: EnumDescriptor) -> tuple[set[str], set[str]]:
    """(full names, names without the shared prefix), UNSPECIFIED left out."""
    full = {v.name for v in descriptor.values if v.number != 0}
    zero = next(v.name for v in descriptor.values if v.number == 0)
    prefix = zero[: -len("UNSPECIFIED")] if zero.endswith("UNSPECIFIED") else ""
    return full, {n[len(prefix) :] if prefix and n.startswith(prefix) else n for n in full}


FACE_OF = {(f.model, f.message.full_name) for f in FACES}
SCALARS = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_INT32: int,
    FieldDescriptor.TYPE_INT64: int,
    FieldDescriptor.TYPE_UINT32: int,
    FieldDescriptor.TYPE_UINT64: int,
    FieldDescriptor.TYPE_SINT32: int,
    FieldDescriptor.TYPE_SINT64: int,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
}
AS_STRING = {"google.type.Decimal", "google.protobuf.Timestamp"}


def disagreement(f: FieldDescriptor, annotation: Any) -> str | None:
    """Why `annotation` is not a faithful REST type for proto field `f`, or None."""
    annotation = _strip_optional(annotation)
    if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
        if typing.get_origin(annotation) is not dict:
            return f"map in proto, {annotation} in REST"
        key, value = typing.get_args(annotation)
        fields = f.message_type.fields_by_name
        return disagreement(fields["key"], key) or disagreement(fields["value"], value)
    if f.is_repeated:
        if typing.get_origin(annotation) is not list:
            return f"repeated in proto, {annotation} in REST"
        (annotation,) = typing.get_args(annotation)
        annotation = _strip_optional(annotation)
    values = closed_set(annotation)
    if f.type == FieldDescriptor.TYPE_ENUM:
        if values is None:
            return f"enum {f.enum_type.full_name} in proto, open {annotation} in REST"
        full, short = enum_names(f.enum_type)
        values -= {""}  # the zero value, as an empty string
        if values not in (full, short) and not (values <= full | short and (full <= values or short <= values)):
            return f"enum {f.enum_type.full_name} values {sorted(full)} vs REST {sorted(values)}"
        return None
    if values is not None:
        return f"closed set {sorted(values)} in REST, {f.type} (not an enum) in proto"
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        name = f.message_type.full_name
        if name in AS_STRING:
            return None if annotation is str else f"{name} in proto, {annotation} in REST (decimal/RFC 3339 string)"
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel) and (annotation, name) in FACE_OF:
            return None
        return f"message {name} in proto, {annotation} in REST (a model declared as its face)"
    expected = SCALARS.get(f.type)
    if annotation is not expected:
        return f"{expected.__name__ if expected else f.type} in proto, {annotation} in REST"
    return None


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("face", FACES, ids=lambda f: f.id)
def test_rest_model_has_the_fields_of_its_message(face: Face) -> None:
    expected = expected_fields(face)
    rest = rest_fields(face.model)
    only_rest = set(rest) - set(expected) - set(face.rest_only)
    only_proto = set(expected) - set(rest)
    assert not only_rest and not only_proto, (
        f"{face.id}: only in REST {sorted(only_rest)}, only in proto {sorted(only_proto)}"
    )
    stale = (set(face.rest_only) - set(rest)) | (set(face.proto_only) - {f.name for f in face.message.fields})
    assert not stale, f"{face.id}: declared exceptions for fields that do not exist: {sorted(stale)}"


@pytest.mark.parametrize("face", FACES, ids=lambda f: f.id)
def test_rest_types_match_proto_types(face: Face) -> None:
    rest = rest_fields(face.model)
    problems = {
        name: why for name, f in expected_fields(face).items() if (why := disagreement(f, rest[name])) is not None
    }
    assert not problems, f"{face.id}: {problems}"


def test_every_rest_model_is_a_face_or_declared_rest_only() -> None:
    models = {
        obj
        for module in EDGE_MODULES
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__
    }
    faces = {f.model for f in FACES}
    rest_only = set(REST_ONLY) | {m for m in models if m.__module__ in {mod.__name__ for mod in REST_ONLY_MODULES}}
    undeclared = sorted(m.__qualname__ for m in models - faces - rest_only)
    assert not undeclared, f"REST models neither declared as a proto message's face nor REST-only: {undeclared}"
    assert not faces & set(REST_ONLY)


def test_the_rules_catch_disagreements() -> None:
    """The comparison is not vacuous: known-bad pairs are reported."""
    quote = {f.name: f for f in Q.fields}
    assert disagreement(quote["decision"], str) is not None  # enum vs open string
    assert disagreement(quote["decision"], Literal["APPROVE", "REFER"]) is not None  # a value missing
    assert disagreement(quote["decision"], Literal["APPROVE", "REFER", "DECLINE_NEW_CREDIT"]) is None
    assert disagreement(quote["grade"], Literal["A", "B"]) is not None  # closed in REST, string in proto
    assert disagreement(quote["amount_cny"], float) is not None  # Decimal is a decimal string
    assert disagreement(quote["reasons"], list[dict[str, Any]]) is not None  # untyped message
    assert disagreement(quote["tenor_months"], str) is not None
    run = {f.name: f for f in portfolio_pb2.RepricingRun.DESCRIPTOR.fields}
    assert disagreement(run["not_priced"], dict[str, int]) is None
    assert disagreement(run["not_priced"], dict[str, str]) is not None  # map<string, int32>
    assert disagreement(run["not_priced"], list[str]) is not None
    assert disagreement(run["state"], str) is not None  # enum vs open string
    camel = Face(consent_banks.Bank, consent_pb2.Bank.DESCRIPTOR, SNAKE)
    assert set(rest_fields(camel.model)) != set(expected_fields(camel))  # displayName vs display_name


def test_the_quote_record_reaches_every_proto_field() -> None:
    """carbon_pricing.quote.Quote -> carbon.v1.Quote sets every field, with the same values."""
    from google.protobuf import json_format

    record = pricing_quote.Quote(
        name="banks/qujiang-rcb/quotes/q1",
        product="quzhou_tanrongyi",
        enterprise="enterprises/91330800MA2XXXXX0X",
        amount_cny="1000000.00",
        tenor_months=12,
        reference_rate_pct="3.45",
        decision=pricing_quote.Decision.REFER,
        rate_adjustment_bp=-15,
        final_rate_pct="3.30",
        credit_line_effect=pricing_quote.CreditLineEffect.FREEZE,
        credit_line_change_cny="0.00",
        tenor_effect_months=-3,
        reasons=[pricing_quote.Reason(code="GRADE", message="grade B")],
        grade="B",
        scheme_id="quzhou",
        scheme_version="1",
        account_period="2024",
        factor_set_version="cn-2024.1",
        policy_bundle_version="bundle-7",
        create_time="2026-01-02T03:04:05.000006Z",
        request_id="r-1",
        decision_log_hash="ab" * 32,
        product_version="2",
        rating_age_days=0,
        decision_log_seq=41,
    )
    message = record.to_proto()
    wire = json_format.MessageToDict(message, preserving_proto_field_name=True)
    unset = {f.name for f in Q.fields} - set(wire)
    assert not unset, f"to_proto leaves {sorted(unset)} unset"
    rest = record.to_json()
    assert wire.pop("decision") == "DECISION_REFER" and rest.pop("decision") == "REFER"
    assert wire.pop("credit_line_effect") == "CREDIT_LINE_EFFECT_FREEZE" and rest.pop("credit_line_effect") == "FREEZE"
    for decimal in ("amount_cny", "reference_rate_pct", "final_rate_pct", "credit_line_change_cny"):
        assert wire.pop(decimal) == {"value": rest.pop(decimal)}
    assert wire.pop("decision_log_seq") == "41" and rest.pop("decision_log_seq") == 41  # int64: a JSON string
    assert wire.pop("create_time") == "2026-01-02T03:04:05.000006Z" == rest.pop("create_time")
    assert wire == rest
    assert (
        not pricing_quote.Quote(**{**record.model_dump(), "rating_age_days": None})
        .to_proto()
        .HasField("rating_age_days")
    )


def test_every_module_defining_models_in_a_service_is_checked() -> None:
    """A new module of REST models must join EDGE_MODULES (and so the declarations above)."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    checked = {module.__name__ for module in (*EDGE_MODULES, *RECORD_MODULES)}
    classes: dict[str, list[tuple[str, set[str]]]] = {}  # module -> (class, names of its bases)
    for path in sorted(repo.glob("services/*/src/**/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        src = next(p for p in path.parents if p.name == "src")
        module = ".".join(path.relative_to(src).with_suffix("").parts)
        classes[module] = [
            (node.name, {getattr(b, "id", None) or getattr(b, "attr", "") for b in node.bases})
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
        ]
    # Models: BaseModel's subclasses, and (by name, to a fixed point) theirs, e.g. a router's
    # bodies deriving from the edge's Input/Output bases.
    models = {"BaseModel"}
    while grown := {c for found in classes.values() for c, bases in found if bases & models} - models:
        models |= grown
    defining = {module for module, found in classes.items() if any(bases & models for _, bases in found)}
    assert defining, "no model found: the scan is broken"
    assert sorted(defining - checked) == []
