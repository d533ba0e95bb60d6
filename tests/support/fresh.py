"""Calls to loan-pricing that honour its fail-closed contract.

Pricing decides consent from its projection of consent's events and refuses (UNAVAILABLE /
503, reason CONSENT_PROJECTION_STALE, "retry shortly") while that projection has applied no consent
heartbeat younger than 1 s. On a loaded test machine a heartbeat can be late; a client then retries,
as a bank's would. Tests that are *about* the bound (revocation, consent down) call pricing directly.

A consent change (a new bank, an authorised consent) is effective in pricing within that same bound:
`after_consent_change` waits it out, the documented guarantee, before a quote that depends on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import grpc
import httpx
from carbon_consent.projected import STALE
from carbon_consent.projection import MAX_STALENESS_SECONDS
from google.rpc import error_details_pb2
from grpc_status import rpc_status

PATIENCE_SECONDS = 30.0
T = TypeVar("T")


def _rest_stale(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(d.get("reason") == STALE for d in details)


def _grpc_stale(error: grpc.RpcError) -> bool:
    if error.code() != grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
        return False
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason == STALE
    return False


def after_consent_change(changed_at: float) -> None:
    """Return once MAX_STALENESS_SECONDS have passed since `changed_at` (time.monotonic() taken after
    the change committed): every pricing worker then decides on it, or refuses as stale."""
    remaining = changed_at + MAX_STALENESS_SECONDS - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


def rest(send: Callable[[], httpx.Response], patience: float = PATIENCE_SECONDS) -> httpx.Response:
    """`send()` again while pricing answers 503 CONSENT_PROJECTION_STALE (at most `patience` s)."""
    deadline = time.monotonic() + patience
    while True:
        response = send()
        if not _rest_stale(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.05)  # the next heartbeat is due within 200 ms


def grpc_call(call: Callable[[], T], patience: float = PATIENCE_SECONDS) -> T:
    """`call()` again while pricing raises UNAVAILABLE CONSENT_PROJECTION_STALE (at most `patience` s)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            if not _grpc_stale(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)
