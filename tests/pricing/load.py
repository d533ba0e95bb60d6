"""A steady quote load for the pricing tests that kill or revoke mid-load (not a benchmark: bench/).

Several client threads, each on its own keep-alive connection (so the load spreads over loan-pricing's
worker processes), quote in a loop. A request that gets no final answer (connection lost, UNAVAILABLE,
ABORTED while a killed attempt's claim is pending) is sent again with the same request_id, as a bank's
client would: idempotency must turn it into the one quote it made, never a second one. Every attempt is
recorded with the time it was sent. Tests wait on the counters (events), never on the clock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

RETRYABLE = frozenset({409, 429, 502, 503, 504})
SAFETY_SECONDS = 180.0  # only reached when something is broken


@dataclass(frozen=True)
class Attempt:
    request_id: str
    enterprise: str
    sent: float  # time.monotonic() just before the request left
    status: int  # 0: no HTTP answer (connection refused or lost)
    reason: str
    quote: str  # the quote's name on 200


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = SAFETY_SECONDS) -> None:
    """Poll `predicate` (5 ms) until it holds; fail naming `what` after the safety limit."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not observed within {timeout:.0f} s")
        time.sleep(0.005)


def _reason(response: httpx.Response) -> str:
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return ""
    return next((d.get("reason", "") for d in details if "reason" in d), "")


class QuoteLoad:
    def __init__(
        self, base_url: str, bank: str, api_key: str, enterprises: list[str], body: Callable[[str], dict[str, object]]
    ) -> None:
        self.base_url = base_url
        self.bank = bank
        self.api_key = api_key
        self.enterprises = enterprises
        self.body = body
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.quotes: dict[str, str] = {}  # request_id -> quote name, once answered 200
        self.final: dict[str, int] = {}  # request_id -> final status
        self.failures = 0  # attempts without a final answer
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    # -- counters the tests wait on ---------------------------------------------
    @property
    def acked(self) -> int:
        with self.lock:
            return len(self.quotes)

    def failed(self) -> int:
        with self.lock:
            return self.failures

    # -- running ------------------------------------------------------------------
    def start(self, clients: int = 4) -> QuoteLoad:
        for index in range(clients):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True, name=f"quote-load-{index}")
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop sending new requests; every request already sent gets its final answer first."""
        self.stopping.set()
        for thread in self.threads:
            thread.join(SAFETY_SECONDS)
            assert not thread.is_alive(), "a load client never got a final answer"
        assert not self.errors, self.errors

    def _client(self, index: int) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=30) as client:
                n = 0
                while not self.stopping.is_set():
                    enterprise = self.enterprises[(index + n) % len(self.enterprises)]
                    n += 1
                    self._request(client, enterprise)
        except BaseException as error:  # surfaced by stop()
            with self.lock:
                self.errors.append(error)

    def _request(self, client: httpx.Client, enterprise: str) -> None:
        request_id = uuid.uuid4().hex
        body = {**self.body(enterprise), "request_id": request_id}
        deadline = time.monotonic() + SAFETY_SECONDS
        while True:
            sent = time.monotonic()
            try:
                response = client.post(
                    f"/v1/banks/{self.bank}/quotes", json=body, headers={"Authorization": f"Bearer {self.api_key}"}
                )
                status, reason = response.status_code, _reason(response)
                quote = response.json()["name"] if status == 200 else ""
            except httpx.TransportError:
                status, reason, quote = 0, "", ""
            with self.lock:
                self.attempts.append(Attempt(request_id, enterprise, sent, status, reason, quote))
                if status == 200:
                    self.quotes[request_id] = quote
                if status in RETRYABLE or status == 0:
                    self.failures += 1
                else:
                    self.final[request_id] = status
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"request {request_id} got no final answer: last {status} {reason}")
            time.sleep(0.01 if status else 0.05)  # back off a little, as a client would
