"""GetRating / ListSchemes over gRPC against real service processes, and publishing under load."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
import redis
from carbon.v1 import accounting_pb2, rating_pb2, rating_pb2_grpc
from carbon_common import events
from carbon_common.channels import service_channel
from carbon_common.redis_conn import as_text
from carbon_devkit.credentials import SERVICE_SECRET
from carbon_devkit.ports import free_port
from carbon_devkit.processes import ServiceProcess, start_service
from carbon_devkit.seed import Seeder, make_uscc
from carbon_devkit.stack import start_data_services, stop_services
from carbon_rating.population import not_erased, store_frame
from carbon_rating.synthetic import population
from google.rpc import error_details_pb2
from grpc_status import rpc_status

DRAFTER = "alice-token-0123456789abcdef"
APPROVER = "bob-token-0123456789abcdefgh"
TOKENS = f"alice:drafter:{DRAFTER},bob:approver:{APPROVER}"


@dataclass
class Stack:
    redis_url: str
    seeder: Seeder
    data_services: dict[str, ServiceProcess]
    replicas: list[ServiceProcess]
    accounts: dict[str, accounting_pb2.Account] = field(default_factory=dict)


def seed_accounts(seeder: Seeder) -> dict[str, accounting_pb2.Account]:
    """Real accounts through consent, ingest-tax and accounting: 20 enterprises whose carbon intensity L
    (tCO2 per 10^4 CNY value added) is 0.5 .. 4.3 in 2023 (tCO2 = 100 x L over 100 x 10^4 CNY value
    added) and ten per cent higher in 2022, plus one without sales (no value added)."""
    accounts = {}
    for i in range(20):
        uscc = make_uscc(i)
        l_2023 = Decimal("0.5") + Decimal("0.2") * i
        for year, tco2 in (("2022", l_2023 * 110), ("2023", l_2023 * 100)):
            account = seeder.account(uscc, year, tco2=tco2, value_added="1000000")
            accounts[account.name] = account
    no_sales = seeder.account(make_uscc(99), "2023", tco2="50", value_added=None)
    accounts[no_sales.name] = no_sales
    return accounts


def start_stack(redis_url: str, tmp_path: Path, replicas: int) -> Stack:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    store_frame(client, population(400, seed=3))  # the rest of the rated population (benchmark peers)
    rating_ports = [(free_port(), free_port()) for _ in range(replicas)]
    data = start_data_services(redis_url, tmp_path, rating_target=f"127.0.0.1:{rating_ports[0][0]}")
    seeder = Seeder.for_services(data)
    try:
        accounts = seed_accounts(seeder)
        env = {
            "CARBON_REDIS_URL": redis_url,
            "CARBON_SERVICE_SECRET": SERVICE_SECRET,
            "CARBON_ACCOUNTING_TARGET": data["accounting"].target,
            "CARBON_CONSENT_TARGET": data["consent"].target,
            "CARBON_GOV_TOKENS": TOKENS,
            "CARBON_DATA_DIR": str(tmp_path / "data"),
        }
        processes = [
            start_service("rating", env, tmp_path / f"logs{i}", ports=ports) for i, ports in enumerate(rating_ports)
        ]
    except BaseException:
        seeder.close()
        stop_services(data)
        raise
    return Stack(redis_url, seeder, data, processes, accounts)


def stop_stack(stack: Stack) -> None:
    for replica in stack.replicas:
        replica.stop()
    stack.seeder.close()
    stop_services(stack.data_services)


@pytest.fixture(scope="module")
def stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One replica on database 7 of the session Redis, shared by the read-only tests of this module."""
    running = start_stack(f"{redis_server}/7", tmp_path_factory.mktemp("rating"), 1)
    yield running
    stop_stack(running)


def rating_stub(replica: ServiceProcess) -> rating_pb2_grpc.RatingServiceStub:
    return rating_pb2_grpc.RatingServiceStub(service_channel(replica.target, "loan-pricing", SERVICE_SECRET))


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
    account = stack.accounts[f"enterprises/{uscc}/accounts/2023"]
    assert rating.factor_set_version == account.factor_set_version == "cn-2024.1"
    assert rating.quality_score.value == account.quality.score.value  # invoices only: 0.25 x 0.5 + 0.2 + 0.2
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


def test_the_current_rating_is_published_an_earlier_year_is_not(stack: Stack) -> None:
    """What pricing prices on (carbon:events:ratings and the latest-message hash) is the rating of the
    latest annual account, with the account facts a policy reads; a rating of an earlier year asked for
    by period is served but never published as the enterprise's rating."""
    client = redis.Redis.from_url(stack.redis_url)
    stub = rating_stub(stack.replicas[0])
    uscc = make_uscc(7)
    name = f"enterprises/{uscc}/ratings/quzhou-four-colour"
    older = stub.GetRating(rating_pb2.GetRatingRequest(name=name, period="2022"))
    assert older.period == "2022" and client.hget(events.RATINGS_LATEST_KEY, name) is None
    current = stub.GetRating(rating_pb2.GetRatingRequest(name=name))
    raw = client.hget(events.RATINGS_LATEST_KEY, name)
    assert raw is not None
    latest = events.RATINGS.decode(json.loads(raw))
    account = stack.accounts[f"enterprises/{uscc}/accounts/2023"]
    assert (latest.grade, latest.account_period, latest.input_digest) == (current.grade, "2023", current.input_digest)
    assert (latest.account_digest, str(latest.quality_score)) == (account.input_digest, account.quality.score.value)
    published = [events.RATINGS.decode(f) for _, f in client.xrange(events.RATINGS.name)]
    assert [m.account_period for m in published if m.rating == name] == ["2023"]


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
    """accounting announces every stored account on carbon:events:accounts; rating's consumer
    puts it in the population."""
    client = redis.Redis.from_url(stack.redis_url)
    uscc = make_uscc(55)
    account = stack.seeder.account(uscc, "2023", tco2="120", value_added="1000000")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not client.hexists("carbon:rating:population", f"{uscc}|2023"):
        time.sleep(0.05)
    row = json.loads(client.hget("carbon:rating:population", f"{uscc}|2023"))  # type: ignore[arg-type]
    quality = int(Decimal(account.quality.score.value) * 1_000_000)
    assert row["l_va"] == 1_200_000 and row["industry"] == "C2611" and row["quality"] == quality
    assert row["account_digest"] == account.input_digest


def test_a_new_account_re_rates_the_enterprise_and_publishes_the_new_rating(stack: Stack) -> None:
    """An enterprise rated under a scheme is rated again when accounting announces a new annual
    account (the accounts stream's re-rating), and the new rating is published for pricing."""
    client = redis.Redis.from_url(stack.redis_url)
    uscc = make_uscc(12)
    name = f"enterprises/{uscc}/ratings/quzhou-four-colour"
    first = rating_stub(stack.replicas[0]).GetRating(rating_pb2.GetRatingRequest(name=name))
    assert first.period == "2023"
    newer = stack.seeder.account(uscc, "2024", tco2="30", value_added="1000000")
    deadline = time.monotonic() + 60
    latest = None
    while time.monotonic() < deadline:
        raw = client.hget(events.RATINGS_LATEST_KEY, name)
        latest = events.RATINGS.decode(json.loads(raw)) if raw is not None else None
        if latest is not None and latest.account_period == "2024":
            break
        time.sleep(0.05)
    assert latest is not None and (latest.account_period, latest.account_digest) == ("2024", newer.input_digest)
    stored = rating_pb2.Rating.FromString(client.get(f"carbon:rating:ratings:{uscc}:quzhou-four-colour"))
    assert stored.period == "2024" and stored.input_digest == latest.input_digest


def test_an_erased_enterprise_leaves_no_population_row_or_rating(stack: Stack) -> None:
    """consent's erasure request reaches rating's erasure consumer (as it reaches accounting's): the
    enterprise's population rows, stored and cached ratings and its latest published rating go, and
    rating reports the counts on carbon:erasure:{request_id}; other enterprises keep theirs."""
    client = redis.Redis.from_url(stack.redis_url)
    uscc, other = make_uscc(66), make_uscc(5)
    before = stack.seeder.account(uscc, "2023", tco2="150", value_added="1000000")
    stub = rating_stub(stack.replicas[0])
    name = f"enterprises/{uscc}/ratings/zhejiang-carbon-efficiency"
    rated = stub.GetRating(rating_pb2.GetRatingRequest(name=name))
    assert rated.period == "2023"
    stub.GetRating(rating_pb2.GetRatingRequest(name=f"enterprises/{other}/ratings/zhejiang-carbon-efficiency"))
    assert client.hexists("carbon:rating:population", f"{uscc}|2023")
    assert client.exists(f"carbon:rating:ratings:{uscc}:zhejiang-carbon-efficiency")
    assert client.hexists(events.RATINGS_LATEST_KEY, name)
    assert client.scard(f"carbon:rating:cache-index:{uscc}") == 1
    cache_key = as_text(client.smembers(f"carbon:rating:cache-index:{uscc}").pop())
    assert client.exists(f"carbon:rating:cache:{cache_key}")

    # Asked at once, with the seed's activity possibly still in flight: rating erases only after
    # accounting has, so no account announced from the erased data re-enters the population.
    events.ERASURE.add(client, events.ErasureRequested.create(uscc=uscc, request_id="erase-66"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not {b"rating", b"accounting"} <= set(
        client.hkeys("carbon:erasure:erase-66")
    ):
        time.sleep(0.05)
    reported = client.hget("carbon:erasure:erase-66", "rating")
    assert reported is not None, "rating's erasure consumer did not report"
    report = json.loads(reported)
    assert report == {"population_rows_deleted": 1, "ratings_deleted": 1, "cached_ratings_deleted": 1}

    assert [f for f, _ in client.hscan_iter("carbon:rating:population", match=f"{uscc}|*")] == []
    assert list(client.scan_iter(match=f"carbon:rating:ratings:{uscc}:*")) == []
    assert not client.exists(f"carbon:rating:cache:{cache_key}", f"carbon:rating:cache-index:{uscc}")
    assert not client.hexists(events.RATINGS_LATEST_KEY, name)
    # the other enterprise is untouched
    assert client.hexists("carbon:rating:population", f"{other}|2023")
    assert client.exists(f"carbon:rating:ratings:{other}:zhejiang-carbon-efficiency")
    # an account computed before the erasure (accounting erases on its own, maybe later) is erased
    # data: it never joins the population again; one computed after it (new data) does
    after = accounting_pb2.Account()
    after.CopyFrom(before)
    after.compute_time.FromMilliseconds(int(client.hget("carbon:rating:erased", uscc)) + 1)  # type: ignore[arg-type]
    peer = stack.accounts[f"enterprises/{other}/accounts/2023"]
    assert not_erased(client, [before, after, peer]) == [after, peer]
    # accounting erased the accounts too: nothing left to rate
    with pytest.raises(grpc.RpcError) as gone:
        stub.GetRating(rating_pb2.GetRatingRequest(name=name))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
