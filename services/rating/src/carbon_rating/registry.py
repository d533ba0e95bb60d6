"""Scheme versions in Redis (writes) and each replica's immutable snapshot (reads).

Keys (namespace carbon:rating:):
- `scheme:{id}:versions`  hash version -> record JSON (`VersionRecord`: document, status, drafter, ...)
- `scheme:{id}:timeline`  list of {version, effective_time, published_at}, appended on publish
- `scheme:{id}:seq`       counter for new version numbers
- `schemes`               set of scheme ids
- `schemes:epoch`         incremented on every publish (replicas poll it)

A draft is published by an approver other than its drafter (four eyes), or rejected by one with a
comment (the drafter then drafts again). Publishing is one MULTI: the record turns `published`, the timeline gets the
entry, the epoch moves and the audit entry is appended. A published version
is never written again (immutable), so ratings stay reproducible.

Each replica keeps a `Snapshot` (immutable mapping of compiled versions and
timelines), replaced as a whole when the epoch changes; a rating takes
`registry.active(scheme_id)` once and uses only that object, so no rating
can mix two versions. The active version at time t is the last timeline
entry with effective_time <= t, so a future-dated publish switches every
replica at that instant without any further write.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis
from carbon_common.errors import already_exists, failed_precondition, invalid_arguments, not_found, permission_denied
from carbon_common.redis_conn import as_text

from carbon_rating import audit
from carbon_rating import scheme as sc

log = logging.getLogger(__name__)
PREFIX = "carbon:rating:"
SCHEMES_KEY = PREFIX + "schemes"
EPOCH_KEY = PREFIX + "schemes:epoch"
CHANNEL = PREFIX + "schemes:changed"
EPOCH_ZERO = "1970-01-01T00:00:00Z"


def versions_key(scheme_id: str) -> str:
    return f"{PREFIX}scheme:{scheme_id}:versions"


def timeline_key(scheme_id: str) -> str:
    return f"{PREFIX}scheme:{scheme_id}:timeline"


def seq_key(scheme_id: str) -> str:
    return f"{PREFIX}scheme:{scheme_id}:seq"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Status(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    REJECTED = "rejected"


@dataclass(frozen=True)
class VersionRecord:
    """A stored scheme version. A published one is never written again; a rejected one neither."""

    scheme_id: str
    version: str
    status: Status
    document: dict[str, Any]  # the scheme document itself (shape: data/scheme.schema.json)
    digest: str
    drafter: str
    create_time: str
    update_time: str | None = None
    approver: str | None = None  # who published (approve_time) or rejected (reject_time) it
    approve_time: str | None = None
    effective_time: str | None = None
    publish_time: str | None = None
    reject_time: str | None = None
    review_comment: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The stored/REST shape: absent fields are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def to_json(self) -> str:
        return json.dumps(self.as_json(), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> VersionRecord:
        data: dict[str, Any] = json.loads(raw)
        known = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known})
        return replace(record, status=Status(record.status))


@dataclass(frozen=True)
class TimelineEntry:
    version: str
    effective_time: str
    published_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> TimelineEntry:
        data: dict[str, str] = json.loads(raw)
        return cls(data["version"], data["effective_time"], data["published_at"])


def _transact(client: redis.Redis, keys: list[str], body: Callable[[redis.client.Pipeline], Any]) -> Any:
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(*keys, *audit.WATCH_KEYS)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                result = body(pipe)
                pipe.execute()
                return result
            except redis.WatchError:
                continue


class SchemeStore:
    """Writes: drafts, four-eyes approval, publication. Every change is audited."""

    def __init__(self, client: redis.Redis, plugins: Mapping[str, Any] | None = None) -> None:
        self.redis = client
        self.plugins = plugins or {}

    # ---- reads
    def record(self, scheme_id: str, version: str) -> VersionRecord:
        raw = self.redis.hget(versions_key(scheme_id), version)
        if raw is None:
            raise not_found(f"schemes/{scheme_id}/versions/{version}")
        return VersionRecord.from_json(raw)

    def records(self, scheme_id: str) -> list[VersionRecord]:
        raw = self.redis.hgetall(versions_key(scheme_id))
        out = [VersionRecord.from_json(v) for v in raw.values()]
        return sorted(out, key=lambda r: _version_key(r.version))

    def scheme_ids(self) -> list[str]:
        return sorted(as_text(m) for m in self.redis.smembers(SCHEMES_KEY))

    def timeline(self, scheme_id: str) -> list[TimelineEntry]:
        return [TimelineEntry.from_json(x) for x in self.redis.lrange(timeline_key(scheme_id), 0, -1)]

    # ---- writes
    def seed(
        self, documents: Iterable[Mapping[str, Any]], actor: str = "system/builtin", effective_time: str = EPOCH_ZERO
    ) -> list[str]:
        """Publish the given versions unless that version exists (built-ins, ConfigMaps). Returns what was added."""
        added = []
        for document in documents:
            scheme = sc.compile_scheme(document, self.plugins)
            version = scheme.version or "1"
            key = versions_key(scheme.scheme_id)

            def body(
                pipe: redis.client.Pipeline, scheme: sc.SchemeVersion = scheme, version: str = version, key: str = key
            ) -> bool:
                existing = pipe.hget(key, version)
                if existing is not None:
                    if VersionRecord.from_json(existing).digest != scheme.digest:
                        log.warning(
                            "scheme version differs from the stored one; kept the stored (immutable) one",
                            extra={"scheme": scheme.scheme_id, "version": version},
                        )
                    pipe.multi()
                    return False
                record = replace(
                    _record(scheme.scheme_id, version, dict(scheme.document), actor, Status.PUBLISHED),
                    approver=actor,
                    approve_time=now_iso(),
                    effective_time=effective_time,
                    publish_time=now_iso(),
                )
                entry = audit.next_entry(
                    pipe,
                    actor,
                    "publish",
                    scheme=scheme.scheme_id,
                    version=version,
                    digest=scheme.digest,
                    effective_time=effective_time,
                    origin="seed",
                )
                pipe.multi()
                pipe.hset(key, version, record.to_json())
                pipe.sadd(SCHEMES_KEY, scheme.scheme_id)
                pipe.rpush(timeline_key(scheme.scheme_id), TimelineEntry(version, effective_time, now_iso()).to_json())
                pipe.incr(EPOCH_KEY)
                audit.queue(pipe, entry)
                pipe.publish(CHANNEL, scheme.scheme_id)
                return True

            if _transact(self.redis, [key], body):
                added.append(f"{scheme.scheme_id}/{version}")
        return added

    def create_draft(self, document: Mapping[str, Any], drafter: str) -> VersionRecord:
        violations = sc.validate(document, self.plugins)
        if violations:
            raise invalid_arguments([(f"document.{f}", m) for f, m in violations])
        scheme_id = document["scheme_id"]
        key = versions_key(scheme_id)

        def body(pipe: redis.client.Pipeline) -> VersionRecord:
            existing = pipe.hkeys(key)
            numbers = [int(v) for v in map(as_text, existing) if v.isdigit()]
            current = int(pipe.get(seq_key(scheme_id)) or 0)
            version = str(max([current, *numbers]) + 1)
            doc = dict(document)
            doc["version"] = version
            record = _record(scheme_id, version, doc, drafter, Status.DRAFT)
            entry = audit.next_entry(pipe, drafter, "draft", scheme=scheme_id, version=version, digest=record.digest)
            pipe.multi()
            pipe.set(seq_key(scheme_id), version)
            pipe.hset(key, version, record.to_json())
            audit.queue(pipe, entry)
            return record

        result: VersionRecord = _transact(self.redis, [key, seq_key(scheme_id)], body)
        return result

    def update_draft(self, scheme_id: str, version: str, document: Mapping[str, Any], user: str) -> VersionRecord:
        violations = sc.validate(document, self.plugins)
        if violations:
            raise invalid_arguments([(f"document.{f}", m) for f, m in violations])
        if document.get("scheme_id") != scheme_id:
            raise invalid_arguments([("document.scheme_id", f"must stay {scheme_id!r}")])
        key = versions_key(scheme_id)

        def body(pipe: redis.client.Pipeline) -> VersionRecord:
            record = _stored_version(pipe, key, scheme_id, version)
            if record.status != Status.DRAFT:
                raise failed_precondition(
                    "VERSION_IMMUTABLE",
                    f"version {version} is {record.status}; only drafts change (published versions never do)",
                )
            if record.drafter != user:
                raise permission_denied("NOT_DRAFTER", f"only the drafter {record.drafter} edits this draft")
            doc = dict(document)
            doc["version"] = version
            record = replace(record, document=doc, digest=sc.document_digest(doc), update_time=now_iso())
            entry = audit.next_entry(pipe, user, "edit", scheme=scheme_id, version=version, digest=record.digest)
            pipe.multi()
            pipe.hset(key, version, record.to_json())
            audit.queue(pipe, entry)
            return record

        result: VersionRecord = _transact(self.redis, [key], body)
        return result

    def approve(
        self, scheme_id: str, version: str, approver: str, effective_time: str | None = None, comment: str = ""
    ) -> VersionRecord:
        """Four eyes: the approver must differ from the drafter. Publishes with the effective time (default now)."""
        effective = effective_time or now_iso()
        parse_time(effective)
        key = versions_key(scheme_id)

        def body(pipe: redis.client.Pipeline) -> VersionRecord:
            record = _reviewable(pipe, key, scheme_id, version, approver)
            sc.compile_scheme(record.document, self.plugins)  # still valid (plug-ins may have changed)
            record = replace(
                record,
                status=Status.PUBLISHED,
                approver=approver,
                approve_time=now_iso(),
                effective_time=effective,
                publish_time=now_iso(),
                review_comment=comment or None,
            )
            entry = audit.next_entry(
                pipe,
                approver,
                "approve_publish",
                scheme=scheme_id,
                version=version,
                digest=record.digest,
                drafter=record.drafter,
                effective_time=effective,
                **({"comment": comment} if comment else {}),
            )
            pipe.multi()
            pipe.hset(key, version, record.to_json())
            pipe.sadd(SCHEMES_KEY, scheme_id)
            pipe.rpush(timeline_key(scheme_id), TimelineEntry(version, effective, now_iso()).to_json())
            pipe.incr(EPOCH_KEY)
            audit.queue(pipe, entry)
            pipe.publish(CHANNEL, scheme_id)
            return record

        result: VersionRecord = _transact(self.redis, [key, timeline_key(scheme_id)], body)
        return result

    def reject(self, scheme_id: str, version: str, approver: str, comment: str) -> VersionRecord:
        """Four eyes as for approval; the comment says why (required). A rejected version never changes again."""
        if not comment.strip():
            raise invalid_arguments([("comment", "say why the version is rejected")])
        key = versions_key(scheme_id)

        def body(pipe: redis.client.Pipeline) -> VersionRecord:
            record = replace(
                _reviewable(pipe, key, scheme_id, version, approver),
                status=Status.REJECTED,
                approver=approver,
                reject_time=now_iso(),
                review_comment=comment.strip(),
            )
            entry = audit.next_entry(
                pipe,
                approver,
                "reject",
                scheme=scheme_id,
                version=version,
                digest=record.digest,
                drafter=record.drafter,
                comment=comment.strip(),
            )
            pipe.multi()
            pipe.hset(key, version, record.to_json())
            audit.queue(pipe, entry)
            return record

        result: VersionRecord = _transact(self.redis, [key], body)
        return result


def _reviewable(pipe: redis.client.Pipeline, key: str, scheme_id: str, version: str, reviewer: str) -> VersionRecord:
    """A draft that `reviewer` may approve or reject (read inside the WATCHed transaction)."""
    record = _stored_version(pipe, key, scheme_id, version)
    if record.status == Status.PUBLISHED:
        raise already_exists(f"schemes/{scheme_id}/versions/{version}", f"version {version} is already published")
    if record.status != Status.DRAFT:
        raise failed_precondition("VERSION_IMMUTABLE", f"version {version} is {record.status}; draft again")
    if record.drafter == reviewer:
        raise permission_denied("FOUR_EYES", "the approver must be a different person from the drafter")
    return record


def _record(scheme_id: str, version: str, document: dict[str, Any], drafter: str, status: Status) -> VersionRecord:
    return VersionRecord(scheme_id, version, status, document, sc.document_digest(document), drafter, now_iso())


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 30, version)


# --------------------------------------------------------------------------- replica side


@dataclass(frozen=True)
class SchemeState:
    scheme_id: str
    # (effective datetime, version), sorted by effective time then publish order
    timeline: tuple[tuple[datetime, str], ...]
    versions: Mapping[str, sc.SchemeVersion]

    def active(self, at: datetime) -> tuple[sc.SchemeVersion, datetime] | None:
        chosen = None
        for effective, version in self.timeline:
            if effective <= at:
                chosen = (self.versions[version], effective)
        return chosen


@dataclass(frozen=True)
class Snapshot:
    epoch: int
    schemes: Mapping[str, SchemeState] = field(default_factory=dict)


class SchemeRegistry:
    """A replica's view: refreshed when the epoch moves (polled every `poll_seconds`)."""

    def __init__(
        self, client: redis.Redis, plugins: Mapping[str, Any] | None = None, poll_seconds: float = 0.2
    ) -> None:
        self.redis = client
        self.plugins = plugins or {}
        self.poll_seconds = poll_seconds
        self._snapshot = Snapshot(-1)
        self._compiled: dict[tuple[str, str, str], sc.SchemeVersion] = {}
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def refresh(self, force: bool = False) -> bool:
        epoch = int(self.redis.get(EPOCH_KEY) or 0)
        if epoch == self._snapshot.epoch and not force:
            return False
        with self._lock:
            states = {}
            for raw_id in self.redis.smembers(SCHEMES_KEY):
                scheme_id = as_text(raw_id)
                entries = [TimelineEntry.from_json(x) for x in self.redis.lrange(timeline_key(scheme_id), 0, -1)]
                versions: dict[str, sc.SchemeVersion] = {}
                for entry in entries:
                    version = entry.version
                    if version in versions:
                        continue
                    raw = self.redis.hget(versions_key(scheme_id), version)
                    if raw is None:
                        continue
                    record = VersionRecord.from_json(raw)
                    cache_key = (scheme_id, version, record.digest)
                    compiled = self._compiled.get(cache_key)
                    if compiled is None:
                        try:
                            compiled = sc.compile_scheme(record.document, self.plugins)
                        except (sc.InvalidScheme, LookupError):
                            log.exception(
                                "published scheme version does not compile here",
                                extra={"scheme": scheme_id, "version": version},
                            )
                            continue
                        self._compiled[cache_key] = compiled
                    versions[version] = compiled
                timeline = sorted(
                    (
                        (parse_time(e.effective_time), i, e.version)
                        for i, e in enumerate(entries)
                        if e.version in versions
                    ),
                )
                states[scheme_id] = SchemeState(scheme_id, tuple((t, v) for t, _, v in timeline), versions)
            self._snapshot = Snapshot(epoch, states)
        return True

    def active(self, scheme_id: str, at: datetime | None = None) -> sc.SchemeVersion | None:
        state = self._snapshot.schemes.get(scheme_id)
        if state is None:
            return None
        chosen = state.active(at or datetime.now(UTC))
        return chosen[0] if chosen else None

    def active_with_time(self, scheme_id: str, at: datetime | None = None) -> tuple[sc.SchemeVersion, datetime] | None:
        state = self._snapshot.schemes.get(scheme_id)
        return state.active(at or datetime.now(UTC)) if state else None

    def version(self, scheme_id: str, version: str) -> sc.SchemeVersion | None:
        state = self._snapshot.schemes.get(scheme_id)
        return state.versions.get(version) if state else None

    def worker(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                self.refresh()
            except redis.RedisError:
                log.warning("scheme registry refresh failed; keeping the current snapshot", exc_info=True)
            stopping.wait(self.poll_seconds)


# --------------------------------------------------------------------------- Kubernetes ConfigMaps

CONFIGMAP_LABEL = "carbon.example.cn/scheme=true"
EFFECTIVE_ANNOTATION = "carbon.example.cn/effective-time"


def documents_from_configmaps(config_maps: Iterable[Any]) -> list[tuple[dict[str, Any], str, list[tuple[str, str]]]]:
    """V1ConfigMap objects -> (document, effective time, problems) per YAML/JSON data entry."""
    out: list[tuple[dict[str, Any], str, list[tuple[str, str]]]] = []
    for cm in config_maps:
        metadata = cm.metadata
        effective = ((metadata.annotations or {}).get(EFFECTIVE_ANNOTATION)) or EPOCH_ZERO
        for key, text in sorted((cm.data or {}).items()):
            if not key.endswith((".yaml", ".yml", ".json")):
                continue
            document, problems = sc.parse_text(text)
            where = f"configmap/{metadata.namespace}/{metadata.name}/{key}"
            if document is None:
                out.append(({}, effective, [(where, m) for _, m in problems]))
                continue
            problems = sc.validate(document)
            if "version" not in document:
                problems.append(("version", "a ConfigMap scheme version must name its version"))
            out.append((document, effective, [(f"{where}:{f}", m) for f, m in problems]))
    return out


def load_configmaps(namespace: str = "") -> list[Any]:  # pragma: no cover - needs a cluster
    from kubernetes import client, config

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]  # kubernetes ships no annotations
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]  # kubernetes ships no annotations
    api = client.CoreV1Api()
    if namespace:
        return list(api.list_namespaced_config_map(namespace, label_selector=CONFIGMAP_LABEL).items)
    return list(api.list_config_map_for_all_namespaces(label_selector=CONFIGMAP_LABEL).items)


def import_configmaps(store: SchemeStore, config_maps: Iterable[Any]) -> list[str]:
    """Publish every valid ConfigMap scheme version not yet stored (immutable: a changed one is refused)."""
    added = []
    for document, effective, problems in documents_from_configmaps(config_maps):
        if problems:
            log.error("invalid scheme ConfigMap", extra={"problems": problems})
            continue
        added += store.seed([document], actor="system/configmap", effective_time=effective)
    return added


def poll_configmaps(store: SchemeStore, namespace: str, seconds: float) -> Callable[[threading.Event], None]:
    def configmap_worker(stopping: threading.Event) -> None:  # pragma: no cover - needs a cluster
        while not stopping.is_set():
            try:
                import_configmaps(store, load_configmaps(namespace))
            except Exception:
                log.exception("ConfigMap scheme import failed")
            stopping.wait(seconds)

    return configmap_worker


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _stored_version(pipe: redis.client.Pipeline, key: str, scheme_id: str, version: str) -> VersionRecord:
    """A version record read inside a WATCHed transaction; NOT_FOUND when absent."""
    raw = pipe.hget(key, version)
    if raw is None:
        raise not_found(f"schemes/{scheme_id}/versions/{version}")
    return VersionRecord.from_json(raw)
