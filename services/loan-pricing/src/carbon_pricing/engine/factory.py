"""Build the configured engine from service settings."""

from __future__ import annotations

from pathlib import Path

from .base import PolicyEngine
from .bundle import PolicyBundle

EMBEDDED = "embedded"
OPA_SERVER = "opa"
_ALIASES = {
    "embedded": EMBEDDED,
    "regopy": EMBEDDED,
    "opa": OPA_SERVER,
    "opa-server": OPA_SERVER,
    "opa_server": OPA_SERVER,
}


def engine_from_settings(
    kind: str, opa_url: str | None, bundle_dir: Path, embedded_workers: int | None = None
) -> PolicyEngine:
    """Return a ready engine with the bundle in ``bundle_dir`` loaded.

    ``kind``: ``"embedded"`` (regopy, in-process; ``opa_url`` ignored) or
    ``"opa"`` (remote OPA server at ``opa_url``, e.g. ``http://127.0.0.1:8181``;
    the bundle is pushed to it). ``embedded_workers``: a fixed pool of that many
    pre-compiled regopy interpreters (None: grow on demand). Raises ``ValueError`` for a bad kind/URL and
    ``BundleLoadError`` when the bundle cannot be read or activated.
    """
    normalised = _ALIASES.get(kind.strip().lower())
    if normalised is None:
        raise ValueError(f"unknown policy engine kind {kind!r}; use 'embedded' or 'opa'")
    bundle = PolicyBundle.from_directory(Path(bundle_dir))
    if normalised == EMBEDDED:
        from .embedded import EmbeddedEngine

        return EmbeddedEngine(bundle, embedded_workers)
    if not opa_url:
        raise ValueError("policy engine 'opa' needs opa_url (e.g. http://127.0.0.1:8181)")
    from .opa_server import OpaServerEngine

    return OpaServerEngine(opa_url, bundle)
