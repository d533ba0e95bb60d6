"""The one hash-chain module: concurrent appends never fork, tampering is found, chains written in the
old formats keep verifying (and grow in the new one), checkpoints anchor a chain outside Redis."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from carbon_common import hashchain
from carbon_common.hashchain import ChainWriter, Guard, GuardFailed, Write, head_key, list_key, verify

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHAIN = "test:chain"


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _fill(url: str, n: int, chain: str = CHAIN) -> ChainWriter:
    writer = ChainWriter(_client(url), chain)
    for i in range(n):
        writer.append("EVENT", {"i": i, "text": "碳账户"}, NOW)
    return writer


def _problems(report: hashchain.Report) -> set[tuple[int, str]]:
    return {(p.seq, p.problem) for p in report.problems}


# ---------------------------------------------------------------- concurrency

_PROCESS_WRITER = """
import sys, threading
import redis
from carbon_common.hashchain import ChainWriter
url, chain, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = redis.Redis.from_url(url)
client.rpush("test:ready", name)
while not client.blpop(["test:go:" + name], timeout=1):  # redis-py's socket timeout is 5 s
    pass
writer = ChainWriter(client, chain)
def run(t):
    for i in range(n):
        writer.append("P", {"process": name, "thread": t, "i": i}, "2026-01-01T00:00:00+00:00")
threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""


def test_threads_and_processes_appending_at_once_make_one_chain(redis_url: str) -> None:
    """Three processes x four threads (group commit) + two in-process writers using the other two append
    paths (guarded writes, WATCH/MULTI) all append to one chain: one valid chain, nothing lost."""
    client = _client(redis_url)
    names = ["a", "b", "c"]
    procs = [subprocess.Popen([sys.executable, "-c", _PROCESS_WRITER, redis_url, CHAIN, name, "40"]) for name in names]
    ready = 0
    while ready < len(names):  # every writer started (short blocks: redis-py's socket timeout is 5 s)
        assert all(p.poll() is None for p in procs), "a writer process died"
        ready += client.blpop(["test:ready"], timeout=1) is not None
    guarded = ChainWriter(_client(redis_url), CHAIN)
    transactional = ChainWriter(_client(redis_url), CHAIN)
    client.set("test:claim", "token-1")

    def with_writes() -> None:
        for i in range(30):

            def record(entry: hashchain.Entry, i: int = i) -> list[Write]:
                return [Write("SET", f"test:record:{i}", (str(entry.seq),))]

            # Racing twelve group-commit threads on a loaded machine, one writer can lose the default 50
            # rounds in a row (ChainBusy, nothing appended: a caller's retryable 409); this test is about
            # the chain staying one, so this writer keeps trying longer.
            guarded.append_with("W", {"i": i}, NOW, record, guards=[Guard("test:claim", "token-1")], attempts=1000)

    def in_multi() -> None:
        for i in range(30):

            def build(pipe: Any, i: int = i) -> tuple[None, Callable[[Any], None], list[tuple[str, dict[str, Any]]]]:
                assert pipe.get(f"test:multi:{i}") is None  # reads see the watched state
                return None, lambda p: p.set(f"test:multi:{i}", "x"), [("M", {"i": i})]

            transactional.transact([f"test:multi:{i}"], build, NOW)

    local = [threading.Thread(target=with_writes), threading.Thread(target=in_multi)]
    for name in names:
        client.rpush(f"test:go:{name}", "1")
    for t in local:
        t.start()
    for t in local:
        t.join()
    for p in procs:
        assert p.wait(120) == 0
    report = verify(client, CHAIN)
    assert report.ok, report.problems[:3]
    total = 3 * 4 * 40 + 30 + 30
    assert report.entries == total and report.head_seq == total
    stored = hashchain.read_entries(client, CHAIN)
    assert [e.seq for e in stored] == list(range(1, total + 1))
    seen = {(e.body.get("process"), e.body.get("thread"), e.body["i"], e.kind) for e in stored}
    assert len(seen) == total  # every append exactly once
    # each guarded write landed atomically with its own entry
    by_i = {e.body["i"]: e.seq for e in stored if e.kind == "W"}
    assert all(client.get(f"test:record:{i}") == str(seq).encode() for i, seq in by_i.items())
    assert all(client.get(f"test:multi:{i}") == b"x" for i in range(30))


def test_a_failed_guard_writes_nothing(redis_url: str) -> None:
    writer = _fill(redis_url, 2)
    client = writer.client
    client.set("test:claim", "someone-else")
    with pytest.raises(GuardFailed):
        writer.append_with(
            "W", {}, NOW, lambda e: [Write("SET", "test:record", ("x",))], guards=[Guard("test:claim", "mine")]
        )
    assert client.llen(list_key(CHAIN)) == 2 and client.get("test:record") is None
    assert writer.append("EVENT", {"after": True}, NOW).seq == 3
    assert verify(client, CHAIN).ok


def test_an_absent_guard_records_an_event_once(redis_url: str) -> None:
    """How a consumer appends redelivered stream messages idempotently: the entry and its marker key
    are written together, only if the marker is absent."""
    writer = ChainWriter(_client(redis_url), CHAIN)

    def record_once(decision: str) -> int | None:
        marker = f"test:recorded:{decision}"
        try:
            entry = writer.append_with(
                "ACCESS",
                {"decision": decision},
                NOW,
                lambda e: [Write("SET", marker, (str(e.seq),))],
                guards=[Guard(marker, absent=True)],
            )
        except GuardFailed:
            return None
        return entry.seq

    assert [record_once(d) for d in ("d1", "d2", "d1", "d2", "d3")] == [1, 2, None, None, 3]
    assert verify(writer.client, CHAIN).entries == 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"i": 1, "text": "碳账户", "nested": {"b": [1, 2.5, None, True], "a": '"quoted"\n\u2028'}},
        {"score": 0.95, "big": 10**20, "tiny": 1e-07, "kind": "not the top-level kind", ',"kind":': "x"},
    ],
)
def test_an_entry_is_stored_as_the_canonical_json_of_its_fields(body: dict[str, Any]) -> None:
    """make_entry composes the stored JSON around the body's own encoding: the same bytes, and the same
    hash, as encoding the whole entry (the format every verifier recomputes)."""
    entry = hashchain.make_entry("test:chain:ü", 7, "ab" * 32, NOW, "KIND", body)
    fields = entry.fields()
    assert entry.to_json() == hashchain.canonical_json(fields)
    assert entry.hash == hashchain.digest(fields)
    assert hashchain.parse_entry("test:chain:ü", entry.to_json()) == entry


def test_writes_are_limited_to_known_commands() -> None:
    with pytest.raises(ValueError, match="not an allowed write"):
        Write("FLUSHALL", "x")


# ---------------------------------------------------------------- tampering


def test_an_altered_entry_is_found_and_recomputing_its_hash_breaks_the_next_link(redis_url: str) -> None:
    client = _fill(redis_url, 6).client
    raw = json.loads(client.lindex(list_key(CHAIN), 2))  # type: ignore[arg-type]
    raw["body"]["i"] = 99
    client.lset(list_key(CHAIN), 2, json.dumps(raw))
    assert _problems(verify(client, CHAIN)) == {(3, "HASH_MISMATCH")}
    raw["hash"] = hashchain.digest(raw)
    client.lset(list_key(CHAIN), 2, json.dumps(raw))
    report = verify(client, CHAIN)
    assert _problems(report) == {(4, "CHAIN_BROKEN")} and report.first_bad_seq == 4


def test_a_deleted_entry_is_found(redis_url: str) -> None:
    client = _fill(redis_url, 6).client
    client.lrem(list_key(CHAIN), 1, client.lindex(list_key(CHAIN), 2))  # type: ignore[arg-type]
    report = verify(client, CHAIN)
    assert report.first_bad_seq == 3 and (3, "SEQ_MISMATCH") in _problems(report)


def test_a_removed_last_entry_is_found_by_the_head(redis_url: str) -> None:
    client = _fill(redis_url, 6).client
    client.rpop(list_key(CHAIN))
    assert _problems(verify(client, CHAIN)) == {(6, "HEAD_MISMATCH")}
    client.delete(head_key(CHAIN))  # removing the head as well: a version-2 chain must have one
    assert _problems(verify(client, CHAIN)) == {(5, "HEAD_MISMATCH")}


def test_swapped_entries_are_found(redis_url: str) -> None:
    client = _fill(redis_url, 6).client
    third, fourth = client.lindex(list_key(CHAIN), 2), client.lindex(list_key(CHAIN), 3)
    client.lset(list_key(CHAIN), 2, fourth)  # type: ignore[arg-type]
    client.lset(list_key(CHAIN), 3, third)  # type: ignore[arg-type]
    report = verify(client, CHAIN)
    assert report.first_bad_seq == 3 and (3, "SEQ_MISMATCH") in _problems(report)


def test_an_entry_replayed_from_another_chain_is_found(redis_url: str) -> None:
    """Per-bank chains: bank b2's log cannot be passed off as bank b1's, even re-linked and re-hashed."""
    client = _fill(redis_url, 2, "test:banks:b1").client
    _fill(redis_url, 2, "test:banks:b2")
    foreign = json.loads(client.lindex(list_key("test:banks:b2"), 1))  # type: ignore[arg-type]
    own = json.loads(client.lindex(list_key("test:banks:b1"), 1))  # type: ignore[arg-type]
    foreign["prev_hash"] = own["prev_hash"]
    foreign["hash"] = hashchain.digest(foreign)
    client.lset(list_key("test:banks:b1"), 1, json.dumps(foreign))
    client.set(head_key("test:banks:b1"), f"2:{foreign['hash']}")
    assert _problems(verify(client, "test:banks:b1")) == {(2, "WRONG_CHAIN")}


def _rewrite_whole_chain(client: redis.Redis, chain: str, change_index: int) -> None:
    """What anyone with write access to Redis can do: SHA-256 has no key, so alter one entry and
    recompute every hash after it, and the head."""
    raws = client.lrange(list_key(chain), 0, -1)
    prev = hashchain.GENESIS
    rewritten = []
    for index, raw in enumerate(raws):
        fields = json.loads(raw)
        if index == change_index:
            fields["body"]["i"] = -1
        fields["prev_hash"] = prev
        fields["hash"] = prev = hashchain.digest(fields)
        rewritten.append(hashchain.canonical_json(fields))
    client.delete(list_key(chain))
    client.rpush(list_key(chain), *rewritten)
    client.set(head_key(chain), f"{len(rewritten)}:{prev}")


def test_a_chain_recomputed_without_a_key_passes_alone_but_not_against_a_checkpoint(redis_url: str) -> None:
    writer = _fill(redis_url, 5)
    client = writer.client
    report, point = hashchain.checkpoint(client, CHAIN)
    assert report.ok and (point.seq, point.index) == (5, 4)
    _rewrite_whole_chain(client, CHAIN, change_index=1)
    assert verify(client, CHAIN).ok  # the limit of an unkeyed chain: consistent rewrites verify alone ...
    anchored = verify(client, CHAIN, checkpoint=point)  # ... but not against what was exported before
    assert _problems(anchored) == {(5, "CHECKPOINT_MISMATCH")}
    assert not verify(client, CHAIN, checkpoint=point, since_checkpoint=True).ok


# ---------------------------------------------------------------- checkpoints


def test_verify_from_a_checkpoint_checks_only_what_came_after(redis_url: str, tmp_path: Path) -> None:
    writer = _fill(redis_url, 4)
    client = writer.client
    out = _cli(redis_url, "checkpoint", "--chain", CHAIN)
    assert out.returncode == 0, out.stderr
    point = hashchain.Checkpoint.from_json(out.stdout)
    assert (point.chain, point.seq) == (CHAIN, 4)
    saved = tmp_path / "cp.json"
    saved.write_text(out.stdout)
    for i in range(3):
        writer.append("LATER", {"i": i}, NOW)
    full = _cli(redis_url, "verify", "--chain", CHAIN, "--checkpoint", str(saved))
    assert full.returncode == 0, full.stderr
    assert json.loads(full.stdout)["entries"] == 7
    # Damage before the checkpoint is not rehashed from it (that is what the full walk is for) ...
    raw = json.loads(client.lindex(list_key(CHAIN), 1))  # type: ignore[arg-type]
    raw["body"]["i"] = 42
    client.lset(list_key(CHAIN), 1, json.dumps(raw))
    since = verify(client, CHAIN, checkpoint=point, since_checkpoint=True)
    assert since.ok and since.entries == 7 and since.head_seq == 7
    assert not verify(client, CHAIN, checkpoint=point).ok
    # ... damage after it is.
    later = json.loads(client.lindex(list_key(CHAIN), 5))  # type: ignore[arg-type]
    later["body"]["i"] = 42
    client.lset(list_key(CHAIN), 5, json.dumps(later))
    tail = _cli(redis_url, "verify", "--chain", CHAIN, "--checkpoint", str(saved), "--since-checkpoint")
    assert tail.returncode == 1 and "seq 6" in tail.stderr
    # a truncated chain no longer reaches the checkpoint
    client.ltrim(list_key(CHAIN), 0, 2)
    client.set(head_key(CHAIN), "3:" + json.loads(client.lindex(list_key(CHAIN), 2))["hash"])  # type: ignore[arg-type]
    assert (4, "CHECKPOINT_MISMATCH") in _problems(verify(client, CHAIN, checkpoint=point))


def test_a_checkpoint_of_another_chain_is_refused(redis_url: str) -> None:
    client = _fill(redis_url, 2).client
    _, point = hashchain.checkpoint(client, CHAIN)
    _fill(redis_url, 2, "test:other")
    assert _problems(verify(client, "test:other", checkpoint=point)) == {(2, "CHECKPOINT_MISMATCH")}


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbon_common.hashchain", "--redis-url", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---------------------------------------------------------------- entries written before this module
# Frozen copies of the three writers as they were: their hash rules and storage, by hand.


def _old_canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _old_consent(client: redis.Redis, n: int) -> None:
    prev, key = "0" * 64, "carbon:consent:audit"
    for seq in range(1, n + 1):
        entry: dict[str, Any] = {
            "seq": seq,
            "time": "2025-12-01T00:00:00.000000+00:00",
            "event": "ACCESS_CHECKED",
            "payload": {"allowed": True, "enterprise": "enterprises/x", "备注": "旧"},
            "prev_hash": prev,
        }
        entry["hash"] = prev = hashlib.sha256(_old_canonical(entry)).hexdigest()
        client.rpush(key, _old_canonical(entry))
    client.set(key + ":head", f"{n}:{prev}")


def _old_decision_log(client: redis.Redis, n: int) -> None:
    prev, key = "0" * 64, "carbon:pricing:decision_log"
    for seq in range(1, n + 1):
        body = {"quote": f"banks/b/quotes/q{seq}", "inputs": {"x": seq}, "outputs": {}}
        time = "2025-12-01T00:00:00Z"
        digest = hashlib.sha256(_old_canonical({"seq": seq, "prev_hash": prev, "time": time, "body": body})).hexdigest()
        client.rpush(key, _old_canonical({"seq": seq, "prev_hash": prev, "time": time, "body": body, "hash": digest}))
        prev = digest
    client.hset(key + ":head", mapping={"seq": n, "hash": prev})


def _old_rating(client: redis.Redis, n: int) -> None:
    key = "carbon:rating:audit"
    for _ in range(n):
        last, length = client.lindex(key, -1), client.llen(key)
        entry: dict[str, Any] = {
            "seq": int(length),
            "time": "2025-12-01T00:00:00Z",
            "actor": "alice",
            "action": "draft",
            "details": {"scheme": "s", "version": str(length)},
            "prev": json.loads(last)["hash"] if last else "0" * 64,
        }
        entry["hash"] = hashlib.sha256(_old_canonical(entry)).hexdigest()
        client.rpush(key, json.dumps(entry, sort_keys=True, ensure_ascii=False))


OLD_FORMATS = {"consent:audit": _old_consent, "pricing:decision_log": _old_decision_log, "rating:audit": _old_rating}


@pytest.mark.parametrize("chain", sorted(OLD_FORMATS))
def test_an_old_chain_keeps_verifying_and_grows_in_the_new_format(redis_url: str, chain: str) -> None:
    client = _client(redis_url)
    OLD_FORMATS[chain](client, 3)
    before = verify(client, chain)
    assert before.ok and before.entries == 3, before.problems
    old = hashchain.read_entries(client, chain)
    assert [e.version for e in old] == [1, 1, 1]
    first = 0 if chain == "rating:audit" else 1  # the rating audit counted from 0
    assert [e.seq for e in old] == [first, first + 1, first + 2]
    # a writer takes over the old head (pricing's was a Redis hash, rating had none) and links onto it
    new = ChainWriter(client, chain).append("NEW", {"after": "migration"}, NOW)
    assert (new.seq, new.prev_hash, new.version) == (first + 3, old[-1].hash, 2)
    assert client.type(head_key(chain)) == b"string"
    after = verify(client, chain)
    assert after.ok and after.entries == 4 and after.head_seq == first + 3, after.problems
    # tampering with an old entry is still found
    raw = json.loads(client.lindex(list_key(chain), 1))  # type: ignore[arg-type]
    raw["time"] = "2020-01-01T00:00:00Z"
    client.lset(list_key(chain), 1, json.dumps(raw))
    assert _problems(verify(client, chain)) == {(first + 1, "HASH_MISMATCH")}


def test_verify_only_reads_an_old_head(redis_url: str) -> None:
    client = _client(redis_url)
    _old_decision_log(client, 2)
    assert verify(client, "pricing:decision_log").ok
    assert client.type(head_key("pricing:decision_log")) == b"hash"  # not migrated by a reader


def test_verify_all_finds_every_chain_including_per_bank_ones(redis_url: str) -> None:
    client = _client(redis_url)
    _old_consent(client, 2)
    _old_rating(client, 2)
    _fill(redis_url, 2, "pricing:decision_log:banks:b1")
    out = _cli(redis_url, "verify", "--all", "--chain-only")
    assert out.returncode == 0, out.stderr
    reports = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["chain"] for r in reports] == ["consent:audit", "pricing:decision_log:banks:b1", "rating:audit"]
    # with the linked-record check the per-bank chain's entries must name stored quotes
    linked = _cli(redis_url, "verify", "--chain", "pricing:decision_log:banks:b1")
    assert linked.returncode == 1 and "QUOTE_MISSING_IN_ENTRY" in linked.stdout


def test_the_decision_log_name_verifies_every_bank_chain(redis_url: str) -> None:
    """`verify --chain pricing:decision_log`: the chain of earlier quotes and one chain per bank (a bank
    may be called "head": chains are found by type, not by name)."""
    client = _client(redis_url)
    _old_decision_log(client, 2)
    for bank in ("b1", "head"):
        _fill(redis_url, 2, f"pricing:decision_log:banks:{bank}")
    assert hashchain.chains_of(client, "pricing:decision_log") == [
        "pricing:decision_log",
        "pricing:decision_log:banks:b1",
        "pricing:decision_log:banks:head",
    ]
    out = _cli(redis_url, "verify", "--chain", "pricing:decision_log", "--chain-only")
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["entries"] for line in out.stdout.splitlines()] == [2, 2, 2]
    client.lset(list_key("pricing:decision_log:banks:head"), 1, b"{}")
    broken = _cli(redis_url, "verify", "--chain", "pricing:decision_log", "--chain-only")
    assert broken.returncode == 1 and "BROKEN pricing:decision_log:banks:head at seq 2" in broken.stderr
    assert hashchain.chains_of(client, "consent:audit") == ["consent:audit"]  # not a family


def test_a_batch_append_is_one_step_and_all_or_nothing(redis_url: str) -> None:
    client = _client(redis_url)
    writer = ChainWriter(client, CHAIN)
    entries = writer.append_many_with(
        [("E", {"i": i}, NOW) for i in range(3)],
        lambda built: [Write("SET", f"test:marker:{e.seq}", (e.hash,)) for e in built],
        guards=[Guard(f"test:marker:{i}", absent=True) for i in (1, 2, 3)],
    )
    assert [e.seq for e in entries] == [1, 2, 3] and client.get("test:marker:3") == entries[2].hash.encode()
    with pytest.raises(GuardFailed) as failed:  # the second guard fails: nothing of the batch is written
        writer.append_many_with(
            [("E", {"i": i}, NOW) for i in range(3, 5)],
            lambda built: [Write("SET", "test:never", ("x",))],
            guards=[Guard("test:marker:9", absent=True), Guard("test:marker:2", absent=True)],
        )
    assert failed.value.guard.key == "test:marker:2"
    assert client.llen(list_key(CHAIN)) == 3 and not client.exists("test:never")
    assert verify(client, CHAIN).ok


def test_every_registered_linked_record_check_imports() -> None:
    """The registry names checks by import path (carbon_common depends on no service): a rename fails here."""
    targets = {t for t in (*hashchain.CHAINS.values(), *hashchain.CHAIN_FAMILIES.values()) if t is not None}
    assert targets and all(callable(hashchain.load_check(t)) for t in targets)
    assert hashchain.check_for("pricing:decision_log:banks:b1") == hashchain.CHAINS["pricing:decision_log"]
    assert hashchain.check_for("consent:audit") is None
