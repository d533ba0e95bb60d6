"""HTTP edge: one router per resource (health, reports, the enterprise's account page);
app.create_http_app includes them over one AccountingCore (on the app's state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from carbon_accounting.core import AccountingCore


def _core(request: Request) -> AccountingCore:
    core: AccountingCore = request.app.state.core
    return core


Core = Annotated[AccountingCore, Depends(_core)]
