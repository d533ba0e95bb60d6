"""GetRating / ListSchemes over gRPC against real service processes, and publishing under load."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
import redis
from carbon.v1 import rating_pb2, rating_pb2_grpc
from carbon_common.channels import service_channel
from carbon_common.settings import DEV_SERVICE_SECRET
from carbon_rating.population import store_frame
from carbon_rating.synthetic import population
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.rating.accounting_stub import AccountingStub, account, make_uscc, serve
from tests.support.processes import ServiceProcess, start_service

DRAFTER = "alice-token-0123456789abcdef"
APPROVER = "bob-token-0123456789abcdefgh"
TOKENS = f"alice:drafter:{DRAFTER},bob:approver:{APPROVER}"


@dataclass
class Stack:
    redis_url: str
    accounting: AccountingStub
    replicas: list[ServiceProcess]


def start_stack(redis_url: str, tmp_path: Path, replicas: int) -> tuple[Stack, grpc.Server]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    store_frame(client, population(400, seed=3))
    stub = AccountingStub()
    for i in range(20):
        uscc = make_uscc(i)
        # L in 2023 from 0.5 to 4.3 (tCO2 = 100 * L over 100 x 10^4 CNY value added); 2022 ten per cent higher
        l_2023 = Decimal("0.5") + Decimal("0.2") * i
        stub.add(
            account(uscc, "2022", str(l_2023 * 110), "1000000"),
            account(uscc, "2023", str(l_2023 * 100), "1000000"),
        )
    stub.add(account(make_uscc(99), "2023", "50", None))  # no value added
    server, port = serve(stub)
    env = {
        "CARBON_REDIS_URL": redis_url,
        "CARBON_ACCOUNTING_TARGET": f"127.0.0.1:{port}",
        "CARBON_CONSENT_TARGET": "127.0.0.1:1",
        "CARBON_GOV_TOKENS": TOKENS,
        "CARBON_DATA_DIR": str(tmp_path / "data"),
    }
    processes = [start_service("rating", env, tmp_path / f"logs{i}") for i in range(replicas)]
    return Stack(redis_url, stub, processes), server


def stop_stack(stack: Stack, server: grpc.Server) -> None:
    for replica in stack.replicas:
        replica.stop()
    server.stop(0)


@pytest.fixture(scope="module")
def stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One replica on database 7 of the session Redis, shared by the read-only tests of this module."""
    running, server = start_stack(f"{redis_server}/7", tmp_path_factory.mktemp("rating"), 1)
    yield running
    stop_stack(running, server)


def rating_stub(replica: ServiceProcess) -> rating_pb2_grpc.RatingServiceStub:
    return rating_pb2_grpc.RatingServiceStub(service_channel(replica.target, "loan-pricing", DEV_SERVICE_SECRET))


def reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def test_get_rating_latest_period_with_explanation(stack: Stack) -> None:
    stub = rating_stub(stack.replicas[0])
    uscc = make_uscc(5)  # L = 1.5
    rating = stub.GetRating(rating_pb2.GetRatingRequest(name=f"enterprises/{uscc}/ratings/zhejiang-carbon-efficiency"))
    assert rating.name == f"enterprises/{uscc}/ratings/zhejiang-carbon-efficiency"
    assert (rating.scheme_id, rating.scheme_version, rating.period) == ("zhejiang-carbon-efficiency", "1", "2023")
    assert rating.account == f"enterprises/{uscc}/accounts/2023"
    assert rating.grade in {"1", "2", "3", "4", "5"} and rating.grade_label.startswith("medium-carbon grade")
    assert rating.grade_label_zh.startswith("中碳") and rating.grade_label_zh.endswith("级")
    l_ind = rating.indicators[0]
    assert (l_ind.id, l_ind.value.value) == ("L", "1.500000")
    k_ind = rating.indicators[1]
    assert k_ind.benchmark.value and Decimal(k_ind.value.value) > 0
    assert rating.deciding_thresholds and "because" in rating.explanation and "因为" in rating.explanation_zh
    assert rating.factor_set_version == "cn-2024.1" and rating.quality_score.value == "0.900000"
    assert len(rating.input_digest) == 64
    assert 0 <= Decimal(rating.national_percentile.value) <= 100 and rating.national_peer_class
    assert rating.HasField("rate_time")
    stored = redis.Redis.from_url(stack.redis_url).get(f"carbon:rating:ratings:{uscc}:zhejiang-carbon-efficiency")
    assert rating_pb2.Rating.FromString(stored).input_digest == rating.input_digest  # type: ignore[arg-type]

    older = stub.GetRating(rating_pb2.GetRatingRequest(name=rating.name, period="2022"))
    assert older.period == "2022" and older.indicators[0].value.value == "1.650000"

    sz = stub.GetRating(rating_pb2.GetRatingRequest(name=f"enterprises/{uscc}/ratings/shenzhen-aaa"))
    assert sz.grade in {"AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"} and 0 <= Decimal(sz.score.value) <= 100
    qz = stub.GetRating(rating_pb2.GetRatingRequest(name=f"enterprises/{uscc}/ratings/quzhou-four-colour"))
    assert qz.grade in {"DARK_GREEN", "LIGHT_GREEN", "YELLOW", "RED"}
    assert next(i for i in qz.indicators if i.id == "D").value.value == "0.090909"  # (1.65 - 1.5) / 1.65


def test_get_rating_errors(stack: Stack) -> None:
    stub = rating_stub(stack.replicas[0])
    uscc = make_uscc(1)
    cases = [
        (f"enterprises/{uscc}/ratings/nope", "", grpc.StatusCode.NOT_FOUND),
        ("enterprises/123/ratings/shenzhen-aaa", "", grpc.StatusCode.INVALID_ARGUMENT),
        (f"enterprises/{uscc}/ratings/shenzhen-aaa", "23", grpc.StatusCode.INVALID_ARGUMENT),
        (f"enterprises/{uscc}/ratings/shenzhen-aaa", "2019", grpc.StatusCode.NOT_FOUND),
        (f"enterprises/{make_uscc(77)}/ratings/shenzhen-aaa", "", grpc.StatusCode.NOT_FOUND),
    ]
    for name, period, code in cases:
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetRating(rating_pb2.GetRatingRequest(name=name, period=period))
        assert caught.value.code() == code, (name, period, caught.value.details())
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetRating(
            rating_pb2.GetRatingRequest(name=f"enterprises/{make_uscc(99)}/ratings/zhejiang-carbon-efficiency")
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION and reason(caught.value) == "RATING_INPUT_MISSING"
    anonymous = rating_pb2_grpc.RatingServiceStub(stack.replicas[0].channel())
    with pytest.raises(grpc.RpcError) as caught:
        anonymous.GetRating(rating_pb2.GetRatingRequest(name=f"enterprises/{uscc}/ratings/shenzhen-aaa"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_list_schemes(stack: Stack) -> None:
    response = rating_stub(stack.replicas[0]).ListSchemes(rating_pb2.ListSchemesRequest(page_size=2))
    assert [s.name for s in response.schemes] == ["schemes/quzhou-four-colour", "schemes/shenzhen-aaa"]
    rest = rating_stub(stack.replicas[0]).ListSchemes(
        rating_pb2.ListSchemesRequest(page_size=2, page_token=response.next_page_token)
    )
    assert [s.name for s in rest.schemes] == ["schemes/zhejiang-carbon-efficiency"]
    assert rest.schemes[0].grades == ["1", "2", "3", "4", "5"] and rest.schemes[0].active_version == "1"


def test_accounts_stream_events_refresh_the_population(stack: Stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    uscc = make_uscc(55)
    stack.accounting.add(account(uscc, "2023", "120", "1000000"))
    client.xadd("carbon:events:accounts", {"name": f"enterprises/{uscc}/accounts/2023", "type": "account.updated"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not client.hexists("carbon:rating:population", f"{uscc}|2023"):
        time.sleep(0.05)
    row = json.loads(client.hget("carbon:rating:population", f"{uscc}|2023"))  # type: ignore[arg-type]
    assert row["l_va"] == 1_200_000 and row["industry"] == "C2611" and row["quality"] == 900_000
