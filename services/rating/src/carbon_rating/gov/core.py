"""Government use cases over the scheme store, the replica registry and the population (no HTTP here).

Reads: a published version in force (or once in force) is public, as gRPC ListSchemes shows it; drafts,
rejected versions and versions not yet in force need a government credential. Writes follow the four-eyes
rule of the store: drafters draft and edit their own drafts; an approver who did not draft a version
approves (publishes) or rejects it, with a comment. Every change is audited (audit.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from carbon_common.errors import ServiceError, failed_precondition, invalid_argument, unauthenticated

from carbon_rating import audit
from carbon_rating import scheme as sc
from carbon_rating.gov.auth import GovUser
from carbon_rating.gov.document import Change, diff, document_from
from carbon_rating.population import PopulationCache
from carbon_rating.registry import SchemeRegistry, SchemeStore, Status, TimelineEntry, VersionRecord, parse_time
from carbon_rating.vectorised import PreviewResult, preview

TEMPLATE_SCHEME = "zhejiang-carbon-efficiency"


@dataclass(frozen=True)
class SchemeSummary:
    scheme_id: str
    active_version: str | None
    effective_time: datetime | None
    display_name: sc.Text | None
    versions: tuple[VersionRecord, ...]  # what the reader may see


@dataclass(frozen=True)
class AuditView:
    intact: bool
    first_bad_seq: int | None
    entries: list[audit.AuditEntry]  # the hash-chain entries, oldest first


@dataclass(frozen=True)
class PreviewOutcome:
    """A preview and the two compiled versions it compares (for thresholds and labels)."""

    result: PreviewResult
    before: sc.SchemeVersion | None
    after: sc.SchemeVersion


def is_public(record: VersionRecord) -> bool:
    return (
        record.status == Status.PUBLISHED
        and record.effective_time is not None
        and parse_time(record.effective_time) <= datetime.now(UTC)
    )


def chart_indicator(scheme: sc.SchemeVersion, wanted: str = "") -> str:
    """The indicator the editor charts: the one asked for if the version has it, else the one its grade
    thresholds are on (bands: the graded indicator; weighted score: the score; rules: the first condition's)."""
    known = {s.id for s in scheme.indicators} | ({"score"} if scheme.has_score else set())
    if wanted in known:
        return wanted
    if scheme.method == "bands":
        return scheme.indicator
    if scheme.method == "weighted_score":
        return "score"
    for rule in scheme.rules:
        for condition in (*rule.all, *rule.any):
            return condition.indicator
    return scheme.indicators[0].id


class GovCore:
    def __init__(
        self,
        store: SchemeStore,
        registry: SchemeRegistry,
        population: PopulationCache,
        refresh_population: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.population = population
        self._refresh_population = refresh_population

    # ------------------------------------------------------------------ reads
    def schemes(self, user: GovUser | None) -> list[SchemeSummary]:
        out = []
        for scheme_id in self.store.scheme_ids():
            active = self.registry.active_with_time(scheme_id)
            records = self.store.records(scheme_id)
            if user is None:
                records = [r for r in records if is_public(r)]
                if active is None or not records:
                    continue
            out.append(
                SchemeSummary(
                    scheme_id,
                    active[0].version if active else None,
                    active[1] if active else None,
                    active[0].display_name if active else None,
                    tuple(records),
                )
            )
        return out

    def versions(self, user: GovUser | None, scheme_id: str) -> list[VersionRecord]:
        records = self.store.records(scheme_id)
        return records if user is not None else [r for r in records if is_public(r)]

    def version(self, user: GovUser | None, scheme_id: str, version: str) -> VersionRecord:
        record = self.store.record(scheme_id, version)
        if user is None and not is_public(record):
            raise unauthenticated(
                "UNAUTHENTICATED_GOV", "drafts and versions not yet in force need a government API token"
            )
        return record

    def timeline(self, scheme_id: str) -> list[TimelineEntry]:
        return self.store.timeline(scheme_id)

    def active_version(self, scheme_id: str) -> str | None:
        active = self.registry.active(scheme_id)
        return active.version if active else None

    def template_document(self) -> dict[str, Any]:
        """A new scheme starts from the built-in Zhejiang document under a placeholder id."""
        template = dict(self.store.record(TEMPLATE_SCHEME, "1").document) if self.store.scheme_ids() else {}
        template.pop("version", None)
        template["scheme_id"] = "my-new-scheme"
        return template

    def diff(self, scheme_id: str, older: str, newer: str) -> list[Change]:
        return diff(self.store.record(scheme_id, older).document, self.store.record(scheme_id, newer).document)

    def audit(self) -> AuditView:
        intact, bad = audit.verify(self.store.redis)
        return AuditView(intact, bad, audit.entries(self.store.redis))

    # ------------------------------------------------------------------ checks and previews
    def validate(self, document: str | Mapping[str, Any]) -> list[tuple[str, str]]:
        """Every problem as (field path, message): the same JSON Schema and rules the writes enforce."""
        try:
            parsed = document_from(document)
        except ServiceError as error:
            return list(error.field_violations)
        return sc.validate(parsed, self.store.plugins)

    def preview(
        self, scheme_id: str, document: Mapping[str, Any], period: str | None = None, indicator: str | None = None
    ) -> PreviewOutcome:
        """Grades of the current population under `document` against the version in force; with `indicator`
        ("" = the default one), where the population lies on it. Raises sc.InvalidScheme for a bad document."""
        after = sc.compile_scheme(document, self.store.plugins)
        before = self.registry.active(scheme_id)
        marks: list[float] = []
        chosen = None
        if indicator is not None:
            chosen = chart_indicator(after, indicator)
            for version in (after, before):
                if version is not None:
                    marks += [float(t.value) for t in sc.thresholds(version, chosen)]
        result = preview(
            before, after, self.population.view().frame, period, self.store.plugins, indicator=chosen, marks=marks
        )
        return PreviewOutcome(result, before, after)

    # ------------------------------------------------------------------ writes
    def create(
        self, drafter: GovUser, document: str | Mapping[str, Any], scheme_id: str | None = None
    ) -> VersionRecord:
        parsed = document_from(document)
        if scheme_id is not None and parsed.get("scheme_id") != scheme_id:
            raise invalid_argument("document.scheme_id", f"must be {scheme_id!r} (the scheme in the URL)")
        return self.store.create_draft(parsed, drafter.name)

    def draft_from(self, drafter: GovUser, scheme_id: str, base: str = "") -> VersionRecord:
        """A new draft copying `base` (default: the version in force)."""
        source = base or (self.active_version(scheme_id) or "")
        return self.store.create_draft(dict(self.store.record(scheme_id, source).document), drafter.name)

    def update(
        self, drafter: GovUser, scheme_id: str, version: str, document: str | Mapping[str, Any]
    ) -> VersionRecord:
        return self.store.update_draft(scheme_id, version, document_from(document), drafter.name)

    def approve(
        self, approver: GovUser, scheme_id: str, version: str, effective_time: str | None, comment: str = ""
    ) -> VersionRecord:
        record = self.store.approve(scheme_id, version, approver.name, effective_time, comment.strip())
        self.registry.refresh()  # this replica serves the new version at once; the others poll the epoch
        return record

    def reject(self, approver: GovUser, scheme_id: str, version: str, comment: str) -> VersionRecord:
        return self.store.reject(scheme_id, version, approver.name, comment)

    def refresh_population(self) -> int:
        if self._refresh_population is None:
            raise failed_precondition("NO_ACCOUNTING", "no accounting service configured")
        return self._refresh_population()
