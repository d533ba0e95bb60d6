"""Engine backed by a running OPA server, through opa-python-client.

``load_bundle`` pushes the bundle over OPA's REST API:

- every non-test module with ``PUT /v1/policies/<prefix>/<relative path>``
  (ids under ``policy_id_prefix``, default ``carbon_pricing``);
- every top-level key of the bundle's data with ``PUT /v1/data/<key>``
  (``data.<product>.params`` comes from ``<product>/data.json``);

and removes the modules and data roots of the previous bundle that the new
one no longer has. ``evaluate`` posts the input to
``POST /v1/data/<product>/decision``.

Atomicity: OPA has no multi-request transaction, so the swap is made atomic
*for this engine* with a readers-writer lock: ``load_bundle`` waits for the
evaluations in flight (they finish on the old bundle), holds new ones back
while it replaces modules and data, then lets them run on the new bundle.
If OPA rejects the new bundle, the old one is pushed back and
``BundleLoadError`` is raised. Other clients of the same OPA server are not
covered by the lock: give the pricing service its own OPA (sidecar).

If OPA restarts and forgets the pushed bundle, the first evaluation that
finds its decision undefined pushes the current bundle again and retries.
Data roots of products removed by an earlier *process* are not known and stay
on the server (harmless: no policy reads them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from .base import ReadWriteLock, check_decision, input_json
from .bundle import DECISION_RULE, PolicyBundle
from .errors import (
    BundleLoadError,
    PolicyEngineUnavailable,
    PolicyEvaluationError,
    UnknownProduct,
)

try:
    from opa_client.opa import OpaClient
except ImportError:  # pragma: no cover - exercised only without opa-python-client
    OpaClient = None

T = TypeVar("T")

_UNDEFINED = object()

DEFAULT_POLICY_ID_PREFIX = "carbon_pricing"


def _client_error_message(exc: BaseException) -> str:
    # opa-python-client errors carry (expression, message) instead of args text.
    message = getattr(exc, "message", None)
    return f"{type(exc).__name__}: {message or exc}"


class OpaServerEngine:
    """``PolicyEngine`` evaluating on a remote OPA server (REST API v1)."""

    def __init__(
        self,
        opa_url: str,
        bundle: PolicyBundle,
        *,
        timeout_s: float = 5.0,
        retries: int = 2,
        token: str | None = None,
        policy_id_prefix: str = DEFAULT_POLICY_ID_PREFIX,
    ) -> None:
        if OpaClient is None:  # pragma: no cover
            raise BundleLoadError("opa-python-client is not installed: pip install opa-python-client")
        parts = urlsplit(opa_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"opa_url must look like http://host:port, got {opa_url!r}")
        self._client_kwargs: dict[str, Any] = {
            "host": parts.hostname,
            "port": parts.port or (443 if parts.scheme == "https" else 8181),
            "ssl": parts.scheme == "https",
            "timeout": timeout_s,
            "retries": retries,
            "token": token,
        }
        self.opa_url = opa_url
        self._prefix = policy_id_prefix.strip("/")
        self._local = threading.local()  # one requests.Session per thread
        self._clients: list[OpaClient] = []
        self._clients_lock = threading.Lock()
        self._lock = ReadWriteLock()
        self._bundle: PolicyBundle | None = None
        self.load_bundle(bundle)

    # -- PolicyEngine -------------------------------------------------------

    @property
    def bundle_version(self) -> str:
        assert self._bundle is not None
        return self._bundle.version

    @property
    def products(self) -> tuple[str, ...]:
        assert self._bundle is not None
        return self._bundle.products

    def evaluate(self, product: str, input: Mapping[str, Any]) -> dict[str, Any]:
        # Same JSON text as the embedded engine (Decimal -> plain string).
        document = json.loads(input_json(product, input))
        result, version = self._query(product, document)
        if result is _UNDEFINED:
            # The decision is always defined in a loaded bundle: OPA has most
            # likely restarted (sidecar) and lost what we pushed. Push again once.
            self._restore_if_lost(version)
            result, _ = self._query(product, document)
            if result is _UNDEFINED:
                raise PolicyEvaluationError(f"{product}/{DECISION_RULE} is undefined on OPA at {self.opa_url}")
        return check_decision(product, result)

    def _query(self, product: str, document: dict[str, Any]) -> tuple[Any, str]:
        with self._lock.read():
            bundle = self._bundle
            assert bundle is not None
            if product not in bundle.products:
                raise UnknownProduct(product, bundle.products)
            try:
                try:
                    payload = self._client().query_rule(document, product, DECISION_RULE)
                except requests.ConnectionError:
                    # A pooled keep-alive connection to an OPA that has since
                    # restarted fails once; the query is side-effect free, retry.
                    payload = self._client().query_rule(document, product, DECISION_RULE)
            except requests.HTTPError as exc:
                detail = exc.response.text[:500] if exc.response is not None else ""
                raise PolicyEvaluationError(f"OPA failed evaluating {product}: {exc} {detail}") from exc
            except requests.RequestException as exc:
                raise PolicyEngineUnavailable(f"OPA at {self.opa_url} unreachable: {exc}") from exc
            return payload.get("result", _UNDEFINED), bundle.version

    def _restore_if_lost(self, version: str) -> None:
        with self._lock.write():
            bundle = self._bundle
            if bundle is None or bundle.version != version:
                return  # a reload happened meanwhile; just query again
            try:
                present = set(self._client().get_policies_list())
            except requests.RequestException as exc:
                raise PolicyEngineUnavailable(f"OPA at {self.opa_url} unreachable: {exc}") from exc
            if {self._policy_id(path) for path in bundle.modules} <= present:
                return
            try:
                self._replace(None, bundle)
            except BundleLoadError as exc:
                raise PolicyEngineUnavailable(f"could not re-push bundle {version} to OPA: {exc}") from exc

    def load_bundle(self, bundle: PolicyBundle) -> None:
        with self._lock.write():
            previous = self._bundle
            try:
                self._replace(previous, bundle)
            except BundleLoadError as exc:
                if previous is not None:
                    try:
                        self._replace(bundle, previous)
                    except BundleLoadError as restore_exc:
                        raise BundleLoadError(
                            f"{exc}; restoring bundle {previous.version} also failed: {restore_exc}"
                        ) from exc
                raise
            self._bundle = bundle

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients:
                client.close_connection()
            self._clients.clear()

    def __enter__(self) -> OpaServerEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------

    def _client(self) -> OpaClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = OpaClient(**self._client_kwargs)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except requests.RequestException as exc:
            raise BundleLoadError(f"OPA at {self.opa_url} unreachable while {what}: {exc}") from exc
        except Exception as exc:  # opa-python-client raises its own exception types
            raise BundleLoadError(f"OPA rejected {what}: {_client_error_message(exc)}") from exc

    def _policy_id(self, module_path: str) -> str:
        return f"{self._prefix}/{module_path}"

    def _replace(self, old: PolicyBundle | None, new: PolicyBundle) -> None:
        client = self._client()
        ours = [
            pid
            for pid in self._call("listing policies", client.get_policies_list)
            if pid.startswith(self._prefix + "/")
        ]
        # Remove first (modules may depend on each other; a half-old,
        # half-new set of modules might not compile), then push.
        self._in_dependency_order("deleting policy", ours, client.delete_policy)
        stale_roots = set(old.data) - set(new.data) if old is not None else set()
        for root in sorted(stale_roots):
            self._call(f"deleting data {root}", partial(client.delete_data, root))
        for root, document in sorted(new.data.items()):
            self._call(f"writing data {root}", partial(client.update_or_create_data, document, root))

        def push(path: str) -> object:
            return client.update_policy_from_string(new.modules[path], self._policy_id(path), rego_compat=False)

        self._in_dependency_order("pushing policy", list(new.modules), push)

    def _in_dependency_order(self, what: str, items: list[str], action: Callable[[str], object]) -> None:
        """Apply ``action`` to every item; OPA compiles on every change, so an
        item that depends on a not-yet-pushed (or still present) module fails
        at first: retry the failures while each round makes progress."""
        pending = list(items)
        while pending:
            failed: list[tuple[str, BundleLoadError]] = []
            for item in pending:
                try:
                    self._call(f"{what} {item}", partial(action, item))
                except BundleLoadError as exc:
                    if isinstance(exc.__cause__, requests.RequestException):
                        raise
                    failed.append((item, exc))
            if len(failed) == len(pending):
                raise failed[0][1]
            pending = [item for item, _ in failed]
