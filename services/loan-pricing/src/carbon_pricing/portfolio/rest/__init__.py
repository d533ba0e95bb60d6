"""REST edge of the loan book: one router per resource, over the loan-book and re-pricing cores.

    snapshots.py  /v1/banks/{bank}/books/{book}/snapshots...   book snapshots, financed emissions, reports
    runs.py       /v1/banks/{bank}/repricingRuns...            re-pricing runs (simulations)
    page.py       /bank/portfolio, /bank/login, /bank/logout   the bank's page (HTML, login cookie)

Bank API key as `Authorization: Bearer`, checked before any input is validated; errors in the
platform's JSON shape. The page is mounted beside the API routers by portfolio.app.
"""

from __future__ import annotations

from fastapi import FastAPI

from carbon_pricing.portfolio.core import LoanBookCore
from carbon_pricing.portfolio.repricing import RepricingCore
from carbon_pricing.portfolio.rest import runs, snapshots
from carbon_pricing.portfolio.rest.deps import BooksEdge


def install(app: FastAPI, core: LoanBookCore, repricing: RepricingCore | None = None) -> None:
    """The loan book's routers on `app`, over these cores."""
    app.state.books = BooksEdge(core, repricing)
    app.include_router(snapshots.router())
    if repricing is not None:
        app.include_router(runs.router)


body_limits = snapshots.body_limits
