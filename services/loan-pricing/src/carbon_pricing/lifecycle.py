"""Policy lifecycle: which bundle is live, hot reload, dry-run, activation.

- Start: the bundle named by Redis `carbon:pricing:bundle:active` (set by an
  activation, so every replica and restart agrees), else `CARBON_BUNDLE_DIR`
  (default: the repository's policies/products).
- Hot reload without restart: a worker polls the active directory's file
  mtimes/sizes (editing data.json in place is picked up within
  `bundle_poll_seconds`), and a second worker listens on the Redis channel
  `carbon:pricing:bundle` for activations made by any replica. Either way the
  bundle is read completely, then swapped atomically (`engine.load_bundle`);
  a broken bundle is logged and the old one stays live.
- Dry-run: a draft bundle (files in the request, or a directory under the
  drafts dir) is evaluated in a separate embedded engine against the N most
  recent stored quote inputs; per quote old vs new decision/bp, plus a summary.
- Activate: the draft is validated the same way, copied to an immutable
  directory `<store>/<revision>@<digest16>/`, recorded in Redis and announced
  on the channel.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated

import redis
from carbon_common.errors import ServiceError, failed_precondition, invalid_argument
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from carbon_pricing.domain import CreditLineOutput, RecentInput
from carbon_pricing.engine import PolicyBundle, PolicyEngine, engine_from_settings
from carbon_pricing.engine.errors import BundleLoadError, PolicyEngineError
from carbon_pricing.products import Product, load_products
from carbon_pricing.settings import PricingSettings

log = logging.getLogger(__name__)

CHANNEL = "carbon:pricing:bundle"
ACTIVE_KEY = "carbon:pricing:bundle:active"
MAX_DRAFT_FILES = 200
MAX_DRAFT_BYTES = 2 * 1024 * 1024
_ALLOWED_SUFFIXES = (".rego", ".json")
_ALLOWED_NAMES = (".manifest",)


@dataclass(frozen=True)
class Draft:
    """A draft bundle: `files` (relative path -> text) or a directory `draft_path` under the drafts
    directory; with `overlay` the files are laid over the active bundle; `revision` sets .manifest."""

    files: Mapping[str, str] | None = None
    draft_path: str | None = None
    overlay: bool = False
    revision: str | None = None


class DryRunSummary(BaseModel):
    changed: int
    unchanged: int
    errors: int
    decision_changes: dict[str, int]
    changes_by_product: dict[str, dict[str, int]]
    total_bp_delta: int


# The rows of a dry-run are dataclasses, not models: the OpenAPI document shows them as plain objects
# (a draft policy's outputs are open JSON) and lists no schema for them.
@dataclass(frozen=True)
class RecordedDecision:
    """What the active bundle decided when the quote was made."""

    decision: str
    rate_adjustment_bp: int
    bundle_version: str


@dataclass(frozen=True)
class DraftDecision:
    """What the draft bundle decides on the same input."""

    decision: str
    rate_adjustment_bp: int
    credit_line_effect: CreditLineOutput
    tenor_effect_months: int
    reasons: list[str]


@dataclass(frozen=True)
class DraftFailed:
    error: str


@dataclass(frozen=True)
class DryRunRow:
    quote: str
    product: str
    old: RecordedDecision
    new: DraftDecision | DraftFailed
    changed: bool


class DryRunResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    draft_version: str
    active_version: str
    evaluated: int
    summary: DryRunSummary
    results: Annotated[
        list[DryRunRow], WithJsonSchema({"items": {"additionalProperties": True, "type": "object"}, "type": "array"})
    ] = Field(description="One row per replayed quote input: old and new decision")


class ProductInfo(BaseModel):
    id: str
    scheme_id: str
    product_version: str
    display_name: str


class Policies(BaseModel):  # the bundle in force and its products
    active_version: str
    engine: str
    products: list[ProductInfo]


class Activated(BaseModel):
    model_config = ConfigDict(frozen=True)

    active_version: str
    previous_version: str
    path: str


def _signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    rows = []
    try:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                rows.append((path.relative_to(root).as_posix(), stat.st_mtime_ns, stat.st_size))
    except OSError:
        return ()
    return tuple(rows)


class PolicyManager:
    def __init__(self, settings: PricingSettings, client: redis.Redis) -> None:
        self.settings = settings
        self.redis = client
        self._lock = threading.Lock()  # serialises reloads
        start = self._start_directory()
        bundle = PolicyBundle.from_directory(start)
        self.engine: PolicyEngine = engine_from_settings(
            settings.policy_engine, settings.opa_url, start, settings.policy_workers or None
        )
        if self.engine.bundle_version != bundle.version:
            self.engine.load_bundle(bundle)
        self._install(bundle, start)

    # -- state ----------------------------------------------------------------
    def _install(self, bundle: PolicyBundle, directory: Path) -> None:
        products = load_products(bundle.data, bundle.products)
        # One tuple swap: readers see the old or the new state, never a mix.
        self._state = (products, bundle.version, directory, _signature(directory))

    @property
    def products(self) -> dict[str, Product]:
        return self._state[0]

    @property
    def bundle_version(self) -> str:
        return self.engine.bundle_version

    @property
    def active_dir(self) -> Path:
        return self._state[2]

    def snapshot(self) -> tuple[PolicyEngine, dict[str, Product], str]:
        products, version, _, _ = self._state
        return self.engine, products, self.engine.bundle_version or version

    def in_force(self) -> Policies:
        _engine, products, version = self.snapshot()
        return Policies(
            active_version=version,
            engine=self.settings.policy_engine,
            products=[
                ProductInfo(id=p.id, scheme_id=p.scheme_id, product_version=p.version, display_name=p.display_name)
                for p in products.values()
            ],
        )

    def _start_directory(self) -> Path:
        try:
            raw = self.redis.get(ACTIVE_KEY)
        except redis.RedisError:
            raw = None
        if raw:
            try:
                path = Path(json.loads(raw)["path"])
                if path.is_dir() and self._allowed_live_path(path):
                    return path
                log.warning("activated bundle missing here; using the configured bundle", extra={"path": str(path)})
            except (ValueError, KeyError, TypeError):
                log.warning("malformed active bundle pointer in Redis")
        return self.settings.bundle_dir

    def _allowed_live_path(self, path: Path) -> bool:
        resolved = path.resolve()
        store = self.settings.store_dir().resolve()
        return resolved == self.settings.bundle_dir.resolve() or resolved.is_relative_to(store)

    # -- reload -------------------------------------------------------------------
    def reload(self, directory: Path, cause: str) -> bool:
        """Read the bundle at directory and make it live; False (old stays) on error."""
        with self._lock:
            try:
                bundle = PolicyBundle.from_directory(directory)
                if bundle.version == self.engine.bundle_version and directory == self.active_dir:
                    self._install(bundle, directory)  # refresh the signature only
                    return True
                self.engine.load_bundle(bundle)
            except PolicyEngineError as error:
                log.error(
                    "policy bundle rejected; previous bundle stays live",
                    extra={"path": str(directory), "cause": cause, "error": str(error)},
                )
                return False
            previous = self._state[1]
            self._install(bundle, directory)
            log.info(
                "policy bundle loaded",
                extra={"path": str(directory), "cause": cause, "version": bundle.version, "previous": previous},
            )
            return True

    def poll_worker(self, stopping: threading.Event) -> None:
        """Reload when a file of the active bundle directory changes."""
        interval = self.settings.bundle_poll_seconds
        if not interval:
            return
        while not stopping.wait(interval):
            _, _, directory, signature = self._state
            current = _signature(directory)
            if current and current != signature:
                self.reload(directory, "bundle directory changed")

    def pubsub_worker(self, stopping: threading.Event) -> None:
        """Follow activations announced by any replica on carbon:pricing:bundle."""
        while not stopping.is_set():
            pubsub = None
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                pubsub.subscribe(CHANNEL)
                while not stopping.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message and message.get("type") == "message":
                        self._on_message(message["data"])
            except redis.RedisError as error:
                log.warning("bundle channel lost; resubscribing", extra={"error": str(error)})
                stopping.wait(1.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError):
                        pubsub.close()

    def _on_message(self, data: bytes | str) -> None:
        try:
            announcement = json.loads(data)
            path = Path(announcement["path"])
        except (ValueError, KeyError, TypeError):
            # A bare message means "re-read the active bundle".
            self.reload(self.active_dir, "reload requested on channel")
            return
        if announcement.get("version") == self.engine.bundle_version and path == self.active_dir:
            return
        if not self._allowed_live_path(path):
            log.warning("ignoring bundle announcement outside the bundle store", extra={"path": str(path)})
            return
        self.reload(path, "activation announced on channel")

    # -- drafts ---------------------------------------------------------------------
    @contextmanager
    def draft(self, spec: Draft) -> Iterator[PolicyBundle]:
        """The draft bundle of `spec`, in a temporary directory while the context lasts."""
        files = spec.files
        draft_path = spec.draft_path
        if files and draft_path:
            raise invalid_argument("bundle", "give files (path -> content) or draft_path, not both")
        if not (files or draft_path or spec.overlay):
            raise invalid_argument(
                "bundle", "give files (path -> content), draft_path, or overlay on the active bundle"
            )
        with tempfile.TemporaryDirectory(prefix="carbon-pricing-draft-") as tmp:
            root = Path(tmp) / "bundle"
            if spec.overlay:
                shutil.copytree(self.active_dir, root, ignore=shutil.ignore_patterns("*_test.rego"))
            else:
                root.mkdir()
            if files:
                self._write_files(root, files)
            elif draft_path:
                source = self._resolve_draft_path(str(draft_path))
                shutil.copytree(source, root, dirs_exist_ok=True)
            revision = spec.revision
            if revision:
                if not isinstance(revision, str) or len(revision) > 100:
                    raise invalid_argument("revision", "must be a string of at most 100 characters")
                (root / ".manifest").write_text(json.dumps({"revision": revision}), encoding="utf-8")
            try:
                bundle = PolicyBundle.from_directory(root)
            except BundleLoadError as error:
                raise failed_precondition("BUNDLE_INVALID", f"draft bundle is invalid: {error}") from None
            yield bundle

    @staticmethod
    def _write_files(root: Path, files: Mapping[str, str]) -> None:
        if not isinstance(files, Mapping) or len(files) > MAX_DRAFT_FILES:
            raise invalid_argument("files", f"must map at most {MAX_DRAFT_FILES} relative paths to text")
        total = 0
        for rel, content in files.items():
            pure = PurePosixPath(str(rel))
            if (
                not str(rel)
                or pure.is_absolute()
                or ".." in pure.parts
                or "\\" in str(rel)
                or not (pure.name in _ALLOWED_NAMES or pure.suffix in _ALLOWED_SUFFIXES)
            ):
                raise invalid_argument(f"files[{rel}]", "must be a relative path to a .rego, .json or .manifest file")
            if not isinstance(content, str):
                raise invalid_argument(f"files[{rel}]", "content must be text")
            total += len(content.encode())
            if total > MAX_DRAFT_BYTES:
                raise invalid_argument("files", f"draft larger than {MAX_DRAFT_BYTES} bytes")
            target = root / pure
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")

    def _resolve_draft_path(self, rel: str) -> Path:
        base = self.settings.drafts_dir().resolve()
        pure = PurePosixPath(rel)
        if pure.is_absolute() or ".." in pure.parts or not rel:
            raise invalid_argument("draft_path", "must be a relative path under the drafts directory")
        path = (base / pure).resolve()
        if not path.is_relative_to(base) or not path.is_dir():
            raise invalid_argument("draft_path", f"no draft bundle directory {rel!r} under the drafts directory")
        return path

    def _draft_engine(self, bundle: PolicyBundle) -> PolicyEngine:
        assert bundle.source is not None
        try:
            return engine_from_settings("embedded", None, bundle.source)
        except PolicyEngineError as error:
            raise failed_precondition("BUNDLE_INVALID", f"draft bundle does not compile: {error}") from None

    def dry_run(self, bundle: PolicyBundle, recent: list[RecentInput]) -> DryRunResult:
        """The draft bundle on each recent quote input: per quote old vs new decision/bp, and a summary."""
        engine = self._draft_engine(bundle)
        try:
            results: list[DryRunRow] = []
            decisions: Counter[str] = Counter()
            by_product: dict[str, Counter[str]] = {}
            changed = errors = 0
            bp_delta_total = 0
            for item in recent:
                old = item.output
                recorded = RecordedDecision(
                    decision=old.decision, rate_adjustment_bp=old.rate_adjustment_bp, bundle_version=item.bundle_version
                )
                try:
                    output = engine.evaluate(item.product, item.input.to_json())
                    new = DraftDecision(
                        decision=output["decision"],
                        rate_adjustment_bp=output["rate_adjustment_bp"],
                        credit_line_effect=CreditLineOutput.model_validate(output["credit_line_effect"]),
                        tenor_effect_months=int(output.get("tenor_effect_months", 0)),
                        reasons=[str(r.get("code", "")) for r in output.get("reasons", [])],
                    )
                except PolicyEngineError as error:
                    errors += 1
                    results.append(
                        DryRunRow(
                            quote=item.quote,
                            product=item.product,
                            old=recorded,
                            new=DraftFailed(error=str(error)),
                            changed=True,
                        )
                    )
                    continue
                differs = (
                    new.decision != old.decision
                    or new.rate_adjustment_bp != old.rate_adjustment_bp
                    or new.credit_line_effect != old.credit_line_effect
                    or new.tenor_effect_months != old.tenor_effect_months
                )
                if differs:
                    changed += 1
                    transition = f"{old.decision}->{new.decision}"
                    decisions[transition] += 1
                    by_product.setdefault(item.product, Counter())[transition] += 1
                    bp_delta_total += new.rate_adjustment_bp - old.rate_adjustment_bp
                results.append(
                    DryRunRow(quote=item.quote, product=item.product, old=recorded, new=new, changed=differs)
                )
            evaluated = len(results)
            return DryRunResult(
                draft_version=bundle.version,
                active_version=self.engine.bundle_version,
                evaluated=evaluated,
                summary=DryRunSummary(
                    changed=changed,
                    unchanged=evaluated - changed - errors,
                    errors=errors,
                    decision_changes=dict(decisions),
                    changes_by_product={p: dict(c) for p, c in by_product.items()},
                    total_bp_delta=bp_delta_total,
                ),
                results=results,
            )
        finally:
            engine.close()

    def activate(self, bundle: PolicyBundle, expected_active: str | None = None) -> Activated:
        with self._lock:
            previous = self.engine.bundle_version
        if expected_active and expected_active != previous:
            raise failed_precondition(
                "ACTIVE_BUNDLE_CHANGED",
                f"the active bundle is {previous}, not {expected_active}; dry-run again",
                active=previous,
            )
        engine = self._draft_engine(bundle)  # compiles every product or fails
        engine.close()
        assert bundle.source is not None
        target = self.settings.store_dir() / f"{_safe(bundle.revision)}@{bundle.digest[:16]}"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
            shutil.copytree(bundle.source, staging, dirs_exist_ok=True)
            staging.rename(target)
        if not self.reload(target, "activated"):
            raise ServiceError(
                failed_precondition("BUNDLE_INVALID", "").code,
                "the engine rejected the bundle; the previous bundle stays live",
                reason="BUNDLE_INVALID",
            )
        announcement = json.dumps({"path": str(target), "version": bundle.version})
        self.redis.set(ACTIVE_KEY, announcement)
        self.redis.publish(CHANNEL, announcement)
        return Activated(active_version=bundle.version, previous_version=previous, path=str(target))


def _safe(revision: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in revision)[:100] or "draft"
