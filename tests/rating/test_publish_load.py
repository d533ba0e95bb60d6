"""Publishing a scheme version while two replicas rate under load: no rating mixes two versions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from carbon.v1 import rating_pb2
from carbon_devkit.processes import ServiceProcess
from carbon_devkit.seed import make_uscc

from tests.rating.test_service import APPROVER, DRAFTER, Stack, rating_stub, start_stack, stop_stack


@pytest.fixture
def two_replicas(redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    running = start_stack(redis_url, tmp_path, 2)
    yield running
    stop_stack(running)


def _v2_document(base: dict) -> dict:
    doc = dict(base)
    grading = dict(doc["grading"])
    bands = [dict(b) for b in grading["bands"]]
    bands[2]["value"] = "1.0"  # grade 3 now needs K <= 1.0
    bands[1]["value"] = "0.7"
    grading["bands"] = bands
    grading["label"] = {"en": "{qualifier} grade {grade} (v2)", "zh": "{qualifier}{grade}级(v2)"}
    doc["grading"] = grading
    return doc


def test_publish_during_load_no_rating_mixes_versions(two_replicas: Stack) -> None:
    """Threads rate on both replicas while a second user publishes v2: each rating is wholly v1 or wholly v2."""
    stack = two_replicas
    http = httpx.Client(base_url=stack.replicas[0].http_base, timeout=10)
    base = http.get(
        "/v1/schemes/zhejiang-carbon-efficiency/versions/1", headers={"authorization": f"Bearer {DRAFTER}"}
    ).json()
    draft = http.post(
        "/v1/schemes/zhejiang-carbon-efficiency/versions",
        json={"document": _v2_document(base["document"])},
        headers={"authorization": f"Bearer {DRAFTER}"},
    )
    assert draft.status_code == 201, draft.text
    version = draft.json()["version"]
    assert version == "2"

    names = [f"enterprises/{make_uscc(i)}/ratings/zhejiang-carbon-efficiency" for i in range(20)]
    results: list[rating_pb2.Rating] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load(replica: ServiceProcess) -> None:
        stub = rating_stub(replica)
        i = 0
        while not stop.is_set():
            try:
                rating = stub.GetRating(rating_pb2.GetRatingRequest(name=names[i % len(names)]))
            except BaseException as error:
                errors.append(error)
                return
            with lock:
                results.append(rating)
            i += 1

    threads = [threading.Thread(target=load, args=(r,)) for r in stack.replicas for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    # four eyes: the drafter cannot approve
    refused = http.post(
        f"/v1/schemes/zhejiang-carbon-efficiency/versions/{version}:approve",
        json={},
        headers={"authorization": f"Bearer {DRAFTER}"},
    )
    assert refused.status_code == 403
    approved = http.post(
        f"/v1/schemes/zhejiang-carbon-efficiency/versions/{version}:approve",
        json={},
        headers={"authorization": f"Bearer {APPROVER}"},
    )
    assert approved.status_code == 200, approved.text
    published_at = time.monotonic()

    # every replica switches within 2 seconds
    switched: dict[int, float] = {}
    while time.monotonic() - published_at < 2.0 and len(switched) < len(stack.replicas):
        for index, replica in enumerate(stack.replicas):
            if index not in switched:
                r = rating_stub(replica).GetRating(rating_pb2.GetRatingRequest(name=names[0]))
                if r.scheme_version == version:
                    switched[index] = time.monotonic() - published_at
        time.sleep(0.02)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors, errors[:1]
    assert len(switched) == len(stack.replicas), f"not every replica switched within 2 s: {switched}"

    by_version: dict[str, int] = {}
    for rating in results:
        by_version[rating.scheme_version] = by_version.get(rating.scheme_version, 0) + 1
        k = Decimal(rating.indicators[1].value.value)
        k_exact_edges = {"1": ["0.6", "0.8", "1.2", "2.0"], "2": ["0.6", "0.7", "1.0", "2.0"]}[rating.scheme_version]
        expected = str(1 + sum(1 for edge in k_exact_edges if k > Decimal(edge)))
        # displayed K is rounded to 6 places; none of these enterprises sits within 1e-6 of an edge
        assert rating.grade == expected, (rating.scheme_version, str(k), rating.grade)
        assert rating.grade_label.endswith("(v2)") == (rating.scheme_version == "2"), rating.grade_label
        assert rating.grade_label_zh.endswith("(v2)") == (rating.scheme_version == "2")
        edges = {"1": {"0.6", "0.8", "1.2", "2.0"}, "2": {"0.6", "0.7", "1.0", "2.0"}}[rating.scheme_version]
        for threshold in rating.deciding_thresholds:
            if threshold.startswith("K "):
                assert threshold.split()[-1] in edges, (rating.scheme_version, threshold)
    assert set(by_version) == {"1", "2"} and min(by_version.values()) > 5, by_version

    # the old version is still there, immutable, and the audit chain holds
    old = http.get(
        "/v1/schemes/zhejiang-carbon-efficiency/versions/1", headers={"authorization": f"Bearer {APPROVER}"}
    ).json()
    assert old["status"] == "published" and old["digest"] == base["digest"]
    edit = http.put(
        "/v1/schemes/zhejiang-carbon-efficiency/versions/2",
        json={"document": _v2_document(base["document"])},
        headers={"authorization": f"Bearer {DRAFTER}"},
    )
    assert edit.status_code == 400 and "VERSION_IMMUTABLE" in edit.text
    log = http.get("/v1/audit", headers={"authorization": f"Bearer {APPROVER}"}).json()
    assert log["intact"] and [e["action"] for e in log["entries"]][-2:] == ["draft", "approve_publish"]
