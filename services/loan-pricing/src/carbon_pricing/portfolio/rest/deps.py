"""What the loan-book routers share: the edge's state (set by portfolio.rest.install), credentials, errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from carbon_common.http import bank_api_key, bank_api_key_or_cookie, error_responses, security
from fastapi import Depends, Request

from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.repricing import RepricingCore

BANK = "bankApiKey"
ERRORS = error_responses(400, 401, 403, 404, 409, 413, 429, 503)
COOKIE = "carbon_bank_key"  # set by the bank page's login (page.py)

# Reads also take the bank page's login cookie (the page links to reports and annexes); writes take
# only the Authorization header, so no other site can make a logged-in browser write.
Key = Annotated[str, Depends(bank_api_key)]
ReadKey = Annotated[str, Depends(bank_api_key_or_cookie(COOKIE))]
READ_SECURITY = security(BANK, "bankCookie")


@dataclass(frozen=True)
class BooksEdge:
    core: LoanBookCore
    runs: RepricingCore | None = None  # None: re-pricing runs are not served (their router is not included)


def _edge(request: Request) -> BooksEdge:
    edge: BooksEdge = request.app.state.books
    return edge


def _books(request: Request) -> LoanBookCore:
    return _edge(request).core


def _runs(request: Request) -> RepricingCore:
    runs = _edge(request).runs
    assert runs is not None, "the runs router is only included with a RepricingCore"
    return runs


Books = Annotated[LoanBookCore, Depends(_books)]
Runs = Annotated[RepricingCore, Depends(_runs)]
