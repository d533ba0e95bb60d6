"""REST bodies of the government API (pydantic), and the conversions from the core's records."""

from __future__ import annotations

from typing import Annotated, Any

from carbon_common.http import ID_PATTERN
from fastapi import Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from carbon_rating.audit import AuditEntry
from carbon_rating.gov.core import GovCore
from carbon_rating.registry import VersionRecord
from carbon_rating.vectorised import PreviewResult

# What anyone may read of a published version (no drafter/approver names, no review notes).
PUBLIC_FIELDS = (
    "scheme_id",
    "version",
    "status",
    "document",
    "digest",
    "create_time",
    "effective_time",
    "publish_time",
)

SchemeId = Annotated[str, Path(min_length=1, max_length=63, pattern=ID_PATTERN, description="Scheme id")]
Version = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z._-]+$", description="Version")]


def _core(request: Request) -> GovCore:
    core: GovCore = request.app.state.gov_core
    return core


Core = Annotated[GovCore, Depends(_core)]


class VersionModel(BaseModel):
    """A stored scheme version (approval adds approver and effective_time; rejection reject_time)."""

    model_config = ConfigDict(extra="forbid")

    scheme_id: str
    version: str
    status: str = Field(description="draft | published | rejected")
    document: dict[str, Any]
    digest: str
    drafter: str | None = Field(default=None, description="absent in the public (anonymous) view")
    create_time: str
    update_time: str | None = None
    approver: str | None = Field(default=None, description="who published or rejected it")
    approve_time: str | None = None
    effective_time: str | None = None
    publish_time: str | None = None
    reject_time: str | None = None
    review_comment: str | None = Field(default=None, description="the approver's comment")


def version_json(record: VersionRecord, public: bool = False) -> dict[str, Any]:
    data = record.as_json()
    return {k: data[k] for k in PUBLIC_FIELDS if k in data} if public else data


class VersionSummary(BaseModel):
    version: str
    status: str
    drafter: str | None = None


class SchemeSummaryModel(BaseModel):
    scheme_id: str
    active_version: str | None
    effective_time: str | None
    versions: list[VersionSummary]


class SchemeList(BaseModel):
    schemes: list[SchemeSummaryModel]


class VersionList(BaseModel):
    versions: list[VersionModel]


class Problem(BaseModel):
    field: str
    message: str


class Validation(BaseModel):
    valid: bool
    errors: list[Problem]


class TransitionModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    count: int


class PreviewModel(BaseModel):
    """Grade distribution before/after the version for one period, who moves, and the full transition matrix."""

    period: str | None
    total: int
    moved: int
    grades: list[str]
    before: dict[str, int]
    after: dict[str, int]
    transitions: list[TransitionModel] = Field(description="the movers only, largest group first")
    matrix: list[TransitionModel] = Field(description="every (from, to) pair with enterprises, stayers included")
    before_version: str | None = None
    after_version: str | None = None


def preview_json(result: PreviewResult) -> dict[str, Any]:
    def pairs(items: Any) -> list[dict[str, Any]]:
        return [{"from": t.from_grade, "to": t.to_grade, "count": t.count} for t in items]

    return {
        "period": result.period,
        "total": result.total,
        "moved": result.moved,
        "grades": list(result.grades),
        "before": dict(result.before),
        "after": dict(result.after),
        "transitions": pairs(result.transitions),
        "matrix": pairs(result.matrix),
        "before_version": result.before_version,
        "after_version": result.after_version,
    }


class ChangeModel(BaseModel):
    path: str = Field(description="document path, e.g. grading.bands[2].value")
    before: str | None = Field(description="absent (null) when the field was added")
    after: str | None = Field(description="absent (null) when the field was removed")


class Diff(BaseModel):
    scheme_id: str
    version: str
    against: str
    changes: list[ChangeModel]


class AuditLog(BaseModel):
    intact: bool
    first_bad_seq: int | None
    entries: list[AuditEntry]


class Refreshed(BaseModel):
    changed_rows: int


class DocumentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: str | dict[str, Any] = Field(description="The scheme document: YAML/JSON text or an object")


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_time: str | None = Field(
        default=None, max_length=40, description="ISO date/time it takes effect (naive = UTC+8); empty: now"
    )
    comment: str = Field(default="", max_length=2000, description="The approver's comment (optional)")


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(min_length=1, max_length=2000, description="Why the version is rejected")
