"""In-process engine on regopy (Python bindings of Microsoft's rego-cpp).

Each loaded bundle becomes an immutable ``_CompiledBundle``. Evaluation takes
the current one with a single attribute read, so ``load_bundle`` is an atomic
reference swap: calls already running keep using the bundle they started
with; the old bundle is freed when the last of them returns.

regopy notes (v1.5.x):

- An ``Interpreter`` carries mutable state (the input), and the ctypes calls
  release the GIL, so one interpreter must never serve two threads at once.
  A compiled bundle keeps a pool of *workers*; each worker is its own
  ``Interpreter`` with its own compiled ``regopy.Bundle`` (built from the same
  sources), used by one thread at a time. Workers are created on demand, so
  the pool grows to the peak concurrency and no further.
- ``Interpreter.build(None, entrypoints)`` compiles once (~0.1 s here);
  afterwards ``query_bundle_entrypoint`` runs the compiled plan (a few ms per
  decision for these policies) instead of ``Interpreter.query`` compiling
  the modules again on every call.
- Errors are not raised by queries: ``Output.ok()`` is False and ``str(output)``
  holds the message. An undefined result is the string ``"undefined"``.
- The input is passed as JSON text (``set_input_term``) - the same text the
  OPA server engine sends - so numbers parse identically in both engines.
  (``regopy.Input(dict)`` mangles strings containing quotes/backslashes.)
- Some evaluation errors come back with ``ok() == True`` and a non-JSON
  error tree as text, which makes ``Output()`` raise ``JSONDecodeError``;
  e.g. a float that underflows a double (std::stod). ``input_json`` refuses
  such floats for both engines.
- Policy-side quirks (see policies/products/README.md): numbers inside
  collections compare as text (``min([4, 30]) == 30``), ``sprintf("%d")``
  wraps at 32 bits, and ``sprintf`` keeps the JSON quotes of strings made by
  builtins (``concat``, ``format_int``...).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Mapping
from typing import Any

from .base import check_decision, input_json
from .bundle import PolicyBundle
from .errors import BundleLoadError, PolicyEvaluationError, UnknownProduct

try:  # regopy is a hard dependency of the service; import lazily for a clear error.
    import regopy
except ImportError:  # pragma: no cover - exercised only without regopy installed
    regopy = None


# Compiling a worker takes ~0.1 s for the shipped bundle; a reload compiles up
# to this many before the swap so requests do not pay for it afterwards.
MAX_PREWARMED_WORKERS = 8
# A bounded pool (max_workers) waits at most this long for a free worker.
POOL_WAIT_SECONDS = 10.0


class _Worker:
    __slots__ = ("compiled", "interpreter")

    def __init__(self, bundle: PolicyBundle) -> None:
        if regopy is None:  # pragma: no cover
            raise BundleLoadError("regopy is not installed: pip install regopy")
        try:
            self.interpreter = regopy.Interpreter()
            for name, source in bundle.modules.items():
                self.interpreter.add_module(name, source)
            self.interpreter.add_data_json(bundle.data_json())
            entrypoints = [bundle.decision_path(p) for p in bundle.products]
            self.compiled = self.interpreter.build(None, entrypoints)
        except regopy.RegoError as exc:
            raise BundleLoadError(f"rego-cpp rejected bundle {bundle.version}: {exc}") from exc
        if not self.compiled.ok():
            raise BundleLoadError(f"rego-cpp could not compile bundle {bundle.version}")

    def query(self, entrypoint: str, input_text: str) -> Any:
        self.interpreter.set_input_term(input_text)
        try:
            output = self.interpreter.query_bundle_entrypoint(self.compiled, entrypoint)
        except json.JSONDecodeError as exc:
            # rego-cpp reports some evaluation errors with ok() == True and a
            # non-JSON error tree as the result text; regopy's Output chokes on it.
            raise PolicyEvaluationError(f"rego-cpp error evaluating {entrypoint}: {exc.doc[:500]}") from exc
        if not output.ok():
            raise PolicyEvaluationError(f"rego-cpp error evaluating {entrypoint}: {output}")
        if str(output) == "undefined" or not output.results or not output.results[0].expressions:
            raise PolicyEvaluationError(f"{entrypoint} is undefined")
        return output.results[0].expressions[0]


class _CompiledBundle:
    def __init__(self, bundle: PolicyBundle, workers: int = 1, max_workers: int | None = None) -> None:
        self.bundle = bundle
        self.max_workers = max_workers
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._created = 0
        self._created_lock = threading.Lock()
        # Compile now: a broken bundle fails load_bundle, not a request, and a
        # reload pre-compiles as many workers as the old bundle had in use.
        for _ in range(max(1, min(workers, max_workers) if max_workers else workers)):
            self._idle.put(_Worker(bundle))
            self._created += 1

    @property
    def pool_size(self) -> int:
        return self._idle.qsize()

    def evaluate(self, product: str, input_text: str) -> Any:
        try:
            worker = self._idle.get_nowait()
        except queue.Empty:
            with self._created_lock:
                grow = not self.max_workers or self._created < self.max_workers
                if grow:
                    self._created += 1
            if not grow:
                # Bounded pool: wait for a compiled worker instead of compiling (~0.1 s) yet
                # another; evaluations release the GIL, so a few workers keep every core busy.
                try:
                    worker = self._idle.get(timeout=POOL_WAIT_SECONDS)
                except queue.Empty:
                    raise PolicyEvaluationError("no policy worker became free in time") from None
            else:
                worker = _Worker(self.bundle)
        try:
            return worker.query(self.bundle.decision_path(product), input_text)
        finally:
            self._idle.put(worker)


class EmbeddedEngine:
    """``PolicyEngine`` evaluating in-process with regopy."""

    def __init__(self, bundle: PolicyBundle, max_workers: int | None = None) -> None:
        """``max_workers``: a fixed pool of that many pre-compiled interpreters (evaluations wait
        for a free one); None: the pool grows on demand to the peak concurrency."""
        self._max_workers = max_workers
        self._current = _CompiledBundle(bundle, max_workers=max_workers)
        self._reload_lock = threading.Lock()  # reloads one at a time; evaluations never wait

    @property
    def bundle_version(self) -> str:
        return self._current.bundle.version

    @property
    def products(self) -> tuple[str, ...]:
        return self._current.bundle.products

    def load_bundle(self, bundle: PolicyBundle) -> None:
        with self._reload_lock:
            warm = min(self._current.pool_size, MAX_PREWARMED_WORKERS)
            compiled = _CompiledBundle(bundle, warm, self._max_workers)  # may raise; the old bundle stays active
            self._current = compiled  # atomic swap

    def evaluate(self, product: str, input: Mapping[str, Any]) -> dict[str, Any]:
        current = self._current  # pin one bundle for this whole evaluation
        if product not in current.bundle.products:
            raise UnknownProduct(product, current.bundle.products)
        text = input_json(product, input)
        try:
            result = current.evaluate(product, text)
        except regopy.RegoError as exc:
            raise PolicyEvaluationError(f"rego-cpp failed on {product}: {exc}") from exc
        except BundleLoadError as exc:  # a new worker failed to compile: should not happen
            raise PolicyEvaluationError(str(exc)) from exc
        return check_decision(product, result)

    def close(self) -> None:
        """Nothing to release; present for interface symmetry."""

    def __enter__(self) -> EmbeddedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
