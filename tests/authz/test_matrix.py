"""The authorisation matrix (who x what x window), every cell asserted against the rule.

Each row is one consent of the bank (window, scopes, state) — or another bank with
none; each column one read path and the period of the data it reads. A cell shows
what the running platform answered (✓, or ✗ and the ErrorInfo reason); the test
fails if any cell disagrees with `domain.allowed_by`. The table is written as
Markdown to the test's tmp dir and, when CARBON_AUTHZ_MATRIX is set, to that path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from carbon.v1 import enterprise_pb2
from carbon_common.consent_gate import period_span
from carbon_consent.domain import ACCESS_SCOPES, Scope, State
from grpc_status import rpc_status

from tests.authz.world import (
    BANK,
    LATEST_YEAR,
    OTHER_BANK,
    STORED_PERIODS,
    UNKNOWN_ENTERPRISE,
    Outcome,
    World,
    error_reason,
    rest_reason,
)
from tests.pricing.support import uscc

pytestmark = [pytest.mark.e2e]

NOW = datetime.now(UTC)
DAY = timedelta(days=1)
Y2023, Y2024 = period_span("2023"), period_span("2024")
ALL = frozenset(ACCESS_SCOPES)
DENIED = "REGISTRY_ACCESS_DENIED"


@dataclass(frozen=True)
class Row:
    label: str
    start: datetime
    end: datetime
    scopes: frozenset[Scope] = ALL
    state: State = State.AUTHORIZED
    reader: str = BANK


ROWS = [
    Row("window = 2024 (China time) exactly", *Y2024),
    Row("2024 less its first day", Y2024[0] + DAY, Y2024[1]),
    Row("2024 less its last day", Y2024[0], Y2024[1] - DAY),
    Row("2024 in UTC (8 h late)", datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    Row("[yesterday, +60 days]", NOW - DAY, NOW + 60 * DAY),
    Row("[2023, +60 days]", Y2023[0], NOW + 60 * DAY),
    Row("[2023, +60 days], RATING only", Y2023[0], NOW + 60 * DAY, frozenset({Scope.RATING})),
    Row("[2023, +60 days], CARBON_ACCOUNT+REPORT", Y2023[0], NOW + 60 * DAY, ALL - {Scope.RATING}),
    Row("[2023, +60 days], requested only", Y2023[0], NOW + 60 * DAY, state=State.REQUESTED),
    Row("[2023, +60 days], revoked", Y2023[0], NOW + 60 * DAY, state=State.REVOKED),
    Row("another bank (no consent of its own)", Y2023[0], NOW + 60 * DAY, reader=OTHER_BANK),
]


@dataclass(frozen=True)
class Column:
    label: str
    scope: Scope
    period: str
    read: Callable[[World, str], Outcome]


COLUMNS = [
    Column("GetAccount 2023 (gRPC)", Scope.CARBON_ACCOUNT, "2023", lambda w, b: w.get_account("2023", b)),
    Column("GetAccount 2024 (gRPC)", Scope.CARBON_ACCOUNT, "2024", lambda w, b: w.get_account("2024", b)),
    Column("GetAccount 2024-06 (gRPC)", Scope.CARBON_ACCOUNT, "2024-06", lambda w, b: w.get_account("2024-06", b)),
    Column("report 2024 HTML (REST)", Scope.REPORT, "2024", lambda w, b: w.report("2024", "html", b)),
    Column("report 2024 PDF (REST)", Scope.REPORT, "2024", lambda w, b: w.report("2024", "pdf", b)),
    Column("report 2023-06 HTML (REST)", Scope.REPORT, "2023-06", lambda w, b: w.report("2023-06", "html", b)),
    Column("GetRating 2023 (gRPC)", Scope.RATING, "2023", lambda w, b: w.get_rating("2023", b)[0]),
    Column("GetRating latest=2024 (gRPC)", Scope.RATING, LATEST_YEAR, lambda w, b: w.get_rating("", b)[0]),
    Column("quote on 2024 (REST)", Scope.RATING, LATEST_YEAR, lambda w, b: w.quote_rest(b)[0]),
    Column("quote on 2024 (gRPC)", Scope.RATING, LATEST_YEAR, lambda w, b: w.quote_grpc(b)[0]),
]


def cell(outcome: Outcome) -> str:
    return "✓" if outcome.allowed else f"✗ {outcome.reason}"


def test_authorisation_matrix(world: World, tmp_path: Path) -> None:
    header = ["who / consent window", *(c.label for c in COLUMNS), "ListAccounts (gRPC)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    wrong: list[str] = []
    for row in ROWS:
        grant = world.grant(row.scopes, row.start, row.end, row.state, timedelta(days=30))
        try:
            cells = []
            for column in COLUMNS:
                outcome = column.read(world, row.reader)
                expected = world.expected_period(column.scope, column.period, row.reader)
                if outcome.allowed != expected:
                    wrong.append(f"{row.label} / {column.label}: got {cell(outcome)}, rule says {expected}")
                cells.append(cell(outcome))
            listed, periods = world.list_accounts(row.reader)
            readable = {p for p in STORED_PERIODS if world.expected_period(Scope.CARBON_ACCOUNT, p, row.reader)}
            if periods != readable or listed.allowed != bool(readable):
                wrong.append(f"{row.label} / ListAccounts: got {sorted(periods)}, rule says {sorted(readable)}")
            cells.append(", ".join(sorted(periods)) if listed.allowed else cell(listed))
        finally:
            world.close(grant)
        lines.append("| " + " | ".join([row.label, *cells]) + " |")
    table = "\n".join(lines) + "\n"
    legend = (
        "\nBank reads of one enterprise with stored accounts "
        + ", ".join(STORED_PERIODS)
        + "; the bank holds exactly the row's consent (scopes CARBON_ACCOUNT, RATING, REPORT unless"
        " stated; valid 30 days). Periods are China calendar periods, half-open: 2024 ="
        " [2024-01-01T00:00+08:00, 2025-01-01T00:00+08:00). ✓ allowed, ✗ PERMISSION_DENIED with its"
        " ErrorInfo reason. Every cell equals domain.allowed_by for the period read. Rows run in order"
        " on the same enterprise and each row's consent is ended before the next, so a scope a row does not"
        " grant reports the most recent in-scope consent (an earlier, revoked one): CONSENT_REVOKED.\n"
    )
    write(tmp_path, "matrix.md", table + legend)
    assert not wrong, "\n".join(wrong)


def write(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    target = os.environ.get("CARBON_AUTHZ_MATRIX")
    if target:
        with Path(target).open("a") as out:
            out.write(text + "\n")


def test_registry_matrix(world: World, tmp_path: Path) -> None:
    """Who may look enterprises up or list the registry, on both edges (same answers)."""
    related, unrelated = uscc(4646), uscc(4747)
    for enterprise in (related, unrelated):
        world.consent.create_enterprise(enterprise)
    world.consent.grant(related, BANK, world.keys[BANK], authorize=False, scopes=(int(Scope.RATING),))
    base = world.stack.processes["consent"].http_base
    callers: dict[str, tuple[tuple[str, str], ...]] = {
        "bank that asked enterprise R for a consent": world.bank_metadata(BANK),
        "bank with no consent of R": world.bank_metadata(OTHER_BANK),
        "admin": world.consent.admin,
        "anonymous": (),
    }
    expected = {
        "bank that asked enterprise R for a consent": ["OK", DENIED, DENIED, DENIED],
        "bank with no consent of R": [DENIED, DENIED, DENIED, DENIED],
        "admin": ["OK", "OK", "NOT_FOUND", "OK"],
        "anonymous": ["UNAUTHENTICATED"] * 4,
    }
    targets = [related, unrelated, UNKNOWN_ENTERPRISE]
    header = ["who", "Get R (consent requested)", "Get U (registered, no consent)", "Get X (unknown)", "List"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    wrong = []
    for who, metadata in callers.items():
        headers = dict((k, v) for k, v in metadata)
        answers = []
        for index, enterprise in enumerate([*targets, None]):
            if enterprise is None:
                grpc_answer = grpc_code(
                    lambda m=metadata: world.consent.enterprises.ListEnterprises(
                        enterprise_pb2.ListEnterprisesRequest(), metadata=m, timeout=10
                    )
                )
                rest_answer = rest_code(httpx.get(f"{base}/v1/enterprises", headers=headers, timeout=10))
            else:
                grpc_answer = grpc_code(
                    lambda m=metadata, e=enterprise: world.consent.enterprises.GetEnterprise(
                        enterprise_pb2.GetEnterpriseRequest(name=f"enterprises/{e}"), metadata=m, timeout=10
                    )
                )
                rest_answer = rest_code(httpx.get(f"{base}/v1/enterprises/{enterprise}", headers=headers, timeout=10))
            if grpc_answer != rest_answer or grpc_answer != expected[who][index]:
                wrong.append(f"{who} / {header[index + 1]}: gRPC {grpc_answer}, REST {rest_answer}")
            answers.append("✓" if grpc_answer == "OK" else f"✗ {grpc_answer}")
        lines.append("| " + " | ".join([who, *answers]) + " |")
    legend = (
        "\nRegistry (consent service EnterpriseService / GET /v1/enterprises[/{uscc}]); every cell is the same on"
        " gRPC and REST. REGISTRY_ACCESS_DENIED is PERMISSION_DENIED / 403 with that ErrorInfo reason, the same"
        " message for an unknown enterprise as for one without a consent. Platform services (service identity)"
        " read and list like the admin (tested in test_registry_privacy.py).\n"
    )
    write(tmp_path, "registry.md", "\n".join(lines) + "\n" + legend)
    assert not wrong, "\n".join(wrong)


def grpc_code(call: Callable[[], object]) -> str:
    try:
        call()
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.PERMISSION_DENIED:  # type: ignore[attr-defined]
            return error_reason(rpc_status.from_call(error)) or "PERMISSION_DENIED"  # type: ignore[arg-type]
        return str(error.code().name)  # type: ignore[attr-defined]
    return "OK"


def rest_code(response: httpx.Response) -> str:
    names = {200: "OK", 401: "UNAUTHENTICATED", 404: "NOT_FOUND"}
    if response.status_code == 403:
        return rest_reason(response) or "PERMISSION_DENIED"
    return names.get(response.status_code, f"HTTP {response.status_code}")
