"""One hash-chained, append-only log format in Redis (consent audit, rating audit, pricing decision log).

A chain is named ("consent:audit", "pricing:decision_log", "pricing:decision_log:banks:b1" ...): its entries
live in the list `carbon:{name}` (oldest first), its head "{seq}:{hash}" of the last entry in
`carbon:{name}:head` (absent for an empty chain).

Entry format, version 2 (written by this module), canonical JSON of
    {"v": 2, "chain", "seq", "time", "kind", "body", "prev_hash", "hash"}
with hash = sha256(canonical_json(every field but "hash")) and prev_hash the previous entry's hash
(64 zeros for the first; the first seq is 1). Naming the chain inside the hash stops an entry of one chain
(one bank's log) from being replayed into another.

Version 1 = entries written before this module (no "v"). Their hash uses the same rule (every field but
"hash"), so they verify unchanged, and version-2 entries link onto them:
    consent audit  {"seq", "time", "event", "payload", "prev_hash", "hash"}
    decision log   {"seq", "prev_hash", "time", "body", "hash"}
    rating audit   {"seq", "time", "actor", "action", "details", "prev", "hash"}   first seq 0, no head key
The decision log's old head was a Redis hash {seq, hash}; `migrate_head` turns either old head into the
string head (a writer does it on first use; `verify` only reads).

Appends are compare-and-set on the head, in one Lua script (the hash is computed here, so the script
checks the head the entry was built on, appends, moves the head, and may apply the caller's own writes
and guards in the same atomic step), or queued in the caller's WATCH/MULTI transaction. Either way
concurrent writers (threads, processes, replicas) can never fork a chain, and what an entry records is
never stored without it. Concurrent appenders in one process share round trips (group commit).

SHA-256 has no key: whoever can write Redis can rewrite a chain and recompute every hash after the change.
`checkpoint` exports the head to keep outside Redis; `verify --checkpoint` then proves the chain still
extends it (and `--since-checkpoint` verifies only what came after).

    python -m carbon_common.hashchain verify --chain consent:audit [--checkpoint FILE [--since-checkpoint]]
    python -m carbon_common.hashchain verify --all
    python -m carbon_common.hashchain verify --chain pricing:decision_log        # every bank's chain
    python -m carbon_common.hashchain checkpoint --chain pricing:decision_log > decision_log.checkpoint.json

exit 0 when intact, 1 naming the first bad seq (stderr) with the JSON report on stdout.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis
from pydantic import JsonValue

from carbon_common.redis_conn import as_bytes

GENESIS = "0" * 64
T = TypeVar("T")
VERSION = 2
KEY_PREFIX = "carbon:"
MAX_GROUP = 256
MAX_PROBLEMS = 100


# json.dumps with these options would build a new encoder on every call (a dozen calls per logged quote).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> bytes:
    """The one canonical JSON of the platform: sorted keys, no spaces, UTF-8, no NaN/Infinity."""
    return _CANONICAL.encode(value).encode()


def digest(fields: Mapping[str, Any]) -> str:
    """The hash of an entry (any version): sha256 over the canonical JSON of every field but "hash"."""
    return hashlib.sha256(canonical_json({k: v for k, v in fields.items() if k != "hash"})).hexdigest()


def list_key(chain: str) -> str:
    return f"{KEY_PREFIX}{chain}"


def head_key(chain: str) -> str:
    return f"{KEY_PREFIX}{chain}:head"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _time_text(time: datetime | str) -> str:
    if isinstance(time, str):
        return time
    return time.astimezone(UTC).isoformat(timespec="microseconds")


# ---------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """One entry, whatever version it was written in (version-1 fields mapped onto version 2's)."""

    chain: str
    seq: int
    time: str
    kind: str
    body: Mapping[str, Any]
    prev_hash: str
    hash: str
    version: int = VERSION
    # The stored JSON, when make_entry composed it (it is then not encoded a second time).
    stored: bytes | None = field(default=None, compare=False, repr=False)

    def fields(self) -> dict[str, Any]:
        """The stored (version 2) JSON object."""
        return {
            "v": self.version,
            "chain": self.chain,
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "body": self.body,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def to_json(self) -> bytes:
        return self.stored if self.stored is not None else canonical_json(self.fields())


def make_entry(chain: str, seq: int, prev_hash: str, time: datetime | str, kind: str, body: Mapping[str, Any]) -> Entry:
    """A version-2 entry. The body (nearly all of an entry's bytes) is encoded once: the canonical JSON
    of the hashed fields and of the stored ones are composed around it (`_compose`, the same bytes as
    canonical_json of those objects; test_hashchain compares them)."""
    return _Draft(kind, body, time).entry(chain, seq, prev_hash)


class _Draft:
    """An entry's kind, body and time, its body encoded once: built on one head after another (a
    compare-and-set that finds the head moved rebuilds on the new one), only the hash is computed again."""

    __slots__ = ("body", "body_json", "kind", "time")

    def __init__(self, kind: str, body: Mapping[str, Any], time: datetime | str) -> None:
        self.kind = kind
        self.body = dict(body)
        self.body_json = canonical_json(self.body)
        self.time = _time_text(time)

    def entry(self, chain: str, seq: int, prev_hash: str) -> Entry:
        hashed = hashlib.sha256(_compose(self.body_json, chain, None, self.kind, prev_hash, seq, self.time)).hexdigest()
        stored = _compose(self.body_json, chain, hashed, self.kind, prev_hash, seq, self.time)
        return Entry(chain, seq, self.time, self.kind, self.body, prev_hash, hashed, VERSION, stored)


def _compose(body_json: bytes, chain: str, hash: str | None, kind: str, prev_hash: str, seq: int, time: str) -> bytes:
    """canonical_json of a version-2 entry's fields (without "hash" when it is None), given its body's
    canonical JSON: the keys in sorted order, no spaces, like json.dumps(sort_keys=True) writes them."""

    def text(value: Any) -> bytes:
        return canonical_json(value)

    parts = [b'{"body":', body_json, b',"chain":', text(chain)]
    if hash is not None:
        parts += [b',"hash":', text(hash)]
    parts += [
        b',"kind":',
        text(kind),
        b',"prev_hash":',
        text(prev_hash),
        b',"seq":',
        text(seq),
        b',"time":',
        text(time),
        b',"v":',
        text(VERSION),
        b"}",
    ]
    return b"".join(parts)


class MalformedEntry(ValueError):
    pass


def entry_from_fields(chain: str, fields: Any) -> Entry:
    """Read a stored entry of any version (does not check its hash)."""
    if not isinstance(fields, dict):
        raise MalformedEntry("not a JSON object")
    try:
        version = fields.get("v", 1)
        seq, claimed, time = fields["seq"], fields["hash"], fields["time"]
        if version == VERSION:
            entry = Entry(
                fields["chain"], seq, time, fields["kind"], fields["body"], fields["prev_hash"], claimed, VERSION
            )
        elif version != 1:
            raise MalformedEntry(f"unknown format version {version!r}")
        elif "event" in fields:  # consent audit, version 1
            entry = Entry(chain, seq, time, fields["event"], fields["payload"], fields["prev_hash"], claimed, 1)
        elif "action" in fields:  # rating audit, version 1
            body = {"actor": fields["actor"], **fields["details"]}
            entry = Entry(chain, seq, time, fields["action"], body, fields["prev"], claimed, 1)
        else:  # decision log, version 1
            entry = Entry(chain, seq, time, "QUOTE", fields["body"], fields["prev_hash"], claimed, 1)
    except (KeyError, TypeError) as error:
        raise MalformedEntry(f"missing or wrong field {error}") from None
    if not (isinstance(entry.seq, int) and isinstance(entry.body, dict) and isinstance(entry.hash, str)):
        raise MalformedEntry("seq, body or hash of the wrong type")
    return entry


def parse_entry(chain: str, raw: bytes | str) -> Entry:
    try:
        fields = json.loads(raw)
    except ValueError:
        raise MalformedEntry("not JSON") from None
    return entry_from_fields(chain, fields)


def entries(client: redis.Redis, chain: str, start: int = 0, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
    """(list index, raw entry) from `start`, oldest first, in pages."""
    key = list_key(chain)
    while True:
        chunk = [as_bytes(raw) for raw in client.lrange(key, start, start + batch - 1)]
        if not chunk:
            return
        for offset, raw in enumerate(chunk):
            yield start + offset, raw
        start += len(chunk)


def read_entries(client: redis.Redis, chain: str) -> list[Entry]:
    """Every entry, oldest first, for display (raises MalformedEntry on a damaged one; `verify` says where)."""
    return [parse_entry(chain, raw) for _, raw in entries(client, chain)]


# ---------------------------------------------------------------- heads

Head = tuple[int, str]
EMPTY: Head = (0, GENESIS)


def parse_head(raw: bytes | str | None) -> Head:
    if not raw:
        return EMPTY
    seq, _, value = _text(raw).partition(":")
    return int(seq), value


def format_head(head: Head) -> str:
    return "" if head[1] == GENESIS else f"{head[0]}:{head[1]}"


def _legacy_head(client: Any, chain: str) -> Head | None:
    """The head of a chain written before this module (None when it already has the string head)."""
    kind = _text(client.type(head_key(chain)))
    if kind == "string":
        return None
    if kind == "hash":  # decision log, version 1
        seq, value = client.hmget(head_key(chain), ["seq", "hash"])
        return (int(seq), _text(value)) if seq is not None else EMPTY
    last = client.lindex(list_key(chain), -1)  # rating audit, version 1: no head key
    if last is None:
        return EMPTY
    entry = parse_entry(chain, last)
    return entry.seq, entry.hash


def read_head(client: Any, chain: str) -> Head:
    """The head as stored, in either format (read-only)."""
    legacy = _legacy_head(client, chain)
    return legacy if legacy is not None else parse_head(client.get(head_key(chain)))


def migrate_head(client: redis.Redis, chain: str) -> Head:
    """Give a chain written before this module the string head; returns the head. Idempotent, atomic."""
    with client.pipeline() as pipeline:
        pipe: Any = pipeline
        while True:
            try:
                pipe.watch(head_key(chain), list_key(chain))
                legacy = _legacy_head(pipe, chain)
                if legacy is None:
                    return parse_head(pipe.get(head_key(chain)))
                pipe.multi()
                pipe.delete(head_key(chain))
                if legacy != EMPTY:
                    pipe.set(head_key(chain), format_head(legacy))
                pipe.execute()
                return legacy
            except redis.WatchError:
                continue


# ---------------------------------------------------------------- writing


def queue_append(pipe: Any, entry: Entry) -> Head:
    """In a MULTI pipeline that WATCHes the chain's head: append `entry` (built on that head), move the head."""
    head = (entry.seq, entry.hash)
    pipe.rpush(list_key(entry.chain), entry.to_json())
    pipe.set(head_key(entry.chain), format_head(head))
    return head


# KEYS: list, head, then the keys of guards and writes. ARGV: expected head, new head, n, entry 1..n,
# guard count, (key index, "absent" | "contains", needle)*,
# write count, (argument count, command, key index, arguments...)*.
_APPEND_LUA = """
local head = redis.call('GET', KEYS[2])
if not head then head = '' end
if head ~= ARGV[1] then return {'HEAD', head} end
if head == '' and redis.call('LLEN', KEYS[1]) > 0 then return {'UNMIGRATED'} end
local n = tonumber(ARGV[3])
local i = 4 + n
local guards = tonumber(ARGV[i])
i = i + 1
for g = 1, guards do
  local key = KEYS[tonumber(ARGV[i])]
  if ARGV[i + 1] == 'absent' then
    if redis.call('EXISTS', key) == 1 then return {'GUARD', tostring(g)} end
  else
    local value = redis.call('GET', key)
    if (not value) or (not string.find(value, ARGV[i + 2], 1, true)) then return {'GUARD', tostring(g)} end
  end
  i = i + 3
end
redis.call('RPUSH', KEYS[1], unpack(ARGV, 4, 3 + n))
redis.call('SET', KEYS[2], ARGV[2])
local writes = tonumber(ARGV[i])
i = i + 1
for w = 1, writes do
  local count = tonumber(ARGV[i])
  redis.call(ARGV[i + 1], KEYS[tonumber(ARGV[i + 2])], unpack(ARGV, i + 3, i + 2 + count))
  i = i + 3 + count
end
return {'OK'}
"""

# XACK: a consumer acknowledges the stream entries it appended in the same step (consent's access audit).
WRITE_COMMANDS = frozenset(
    {"SET", "DEL", "ZADD", "ZREM", "HSET", "SADD", "LPUSH", "RPUSH", "LTRIM", "EXPIRE", "XADD", "XACK"}
)


@dataclass(frozen=True)
class Write:
    """A Redis command applied atomically with the append: `command key *args`."""

    command: str
    key: str
    args: tuple[str | int | bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.command not in WRITE_COMMANDS:
            raise ValueError(f"{self.command} is not an allowed write with a chain append")


@dataclass(frozen=True)
class Guard:
    """Append only if the string at `key` contains `needle` (e.g. an idempotency claim's token), or, with
    `absent=True`, only if `key` does not exist (record an event once: write the key with the entry)."""

    key: str
    needle: str = ""
    absent: bool = False


class GuardFailed(Exception):
    def __init__(self, guard: Guard) -> None:
        super().__init__(f"guard on {guard.key} failed")
        self.guard = guard


class ChainBusy(Exception):
    """Other writers kept moving the head; nothing was appended."""


@dataclass(eq=False)  # identity: two equal entries queued at once are still two appends
class _Pending:
    draft: _Draft
    entry: Entry | None = None
    error: BaseException | None = None


class ChainWriter:
    """Appends to one chain. One instance per chain per process; thread-safe.

    `lock` serialises this process's appends; callers that append inside their own WATCH/MULTI transaction
    (`read_head` / `queue` / `committed`) hold it too, so the cached head stays right."""

    def __init__(self, client: redis.Redis, chain: str) -> None:
        self.client = client
        self.chain = chain
        self.list_key = list_key(chain)
        self.head_key = head_key(chain)
        self.lock = threading.RLock()
        self._script = client.register_script(_APPEND_LUA)
        self._head: Head | None = None
        self._migrated = False
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()

    # -- one round trip: group commit ----------------------------------------
    def append(self, kind: str, body: Mapping[str, Any], time: datetime | str) -> Entry:
        """Append one entry; returns once it is stored.

        Concurrent callers queue their entry; whoever holds the lock appends every queued entry in one
        compare-and-set, so under load many entries share one Redis write and nobody returns before
        their own entry is stored."""
        item = _Pending(_Draft(kind, body, time))  # encoded here: a body that cannot be fails only its caller
        with self._queue_lock:
            self._queue.append(item)
        while item.entry is None and item.error is None:
            with self.lock:
                if item.entry is not None or item.error is not None:
                    break
                with self._queue_lock:
                    batch, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                try:
                    drafts = [pending.draft for pending in batch]
                    built = self._compare_and_set(functools.partial(self._entries_after, items=drafts), (), {})
                except BaseException as error:
                    for pending in batch:
                        pending.error = error
                    if item.error is None:  # ours was not in that batch: withdraw it, fail too
                        with self._queue_lock:
                            if item in self._queue:
                                self._queue.remove(item)
                        raise
                    break
                for pending, entry in zip(batch, built, strict=True):
                    pending.entry = entry
        if item.error is not None:
            raise item.error
        assert item.entry is not None
        return item.entry

    def append_with(
        self,
        kind: str,
        body: Mapping[str, Any],
        time: datetime | str,
        writes: Callable[[Entry], Sequence[Write]],
        guards: Sequence[Guard] = (),
        attempts: int = 50,
    ) -> Entry:
        """Append one entry and apply `writes(entry)` atomically with it, if every guard holds.

        Raises GuardFailed (nothing written) or ChainBusy."""
        return self.append_many_with([(kind, body, time)], lambda built: writes(built[0]), guards, attempts)[0]

    def append_many_with(
        self,
        items: Sequence[tuple[str, Mapping[str, Any], datetime | str]],
        writes: Callable[[list[Entry]], Sequence[Write]],
        guards: Sequence[Guard] = (),
        attempts: int = 50,
    ) -> list[Entry]:
        """Append several entries (kind, body, time), in order, and apply `writes(entries)` in the same
        atomic step, if every guard holds: one round trip for a batch (at most MAX_GROUP entries).

        Raises GuardFailed naming the first guard that failed (nothing written) or ChainBusy."""
        if not 0 < len(items) <= MAX_GROUP:
            raise ValueError(f"between 1 and {MAX_GROUP} entries per append, not {len(items)}")
        drafts = [_Draft(kind, body, time) for kind, body, time in items]  # encoded before taking the lock
        with self.lock:
            plan: dict[str, Sequence[Write]] = {}

            def build(head: Head) -> list[Entry]:
                built = self._entries_after(head, drafts)
                plan["writes"] = writes(built)
                return built

            return self._compare_and_set(build, guards, plan, attempts)

    def _entries_after(self, head: Head, items: Sequence[_Draft]) -> list[Entry]:
        seq, prev = head
        built = []
        for draft in items:
            entry = draft.entry(self.chain, seq + 1, prev)
            built.append(entry)
            seq, prev = entry.seq, entry.hash
        return built

    def _compare_and_set(
        self,
        build: Callable[[Head], list[Entry]],
        guards: Sequence[Guard],
        plan: Mapping[str, Sequence[Write]],
        attempts: int = 1000,
    ) -> list[Entry]:
        """With self.lock held: build entries on the head and store them, retrying on a moved head."""
        try:
            head = self._head if self._head is not None else self._stored_head()
            for _ in range(attempts):
                built = build(head)
                new_head = (built[-1].seq, built[-1].hash)
                keys, args = self._arguments(head, new_head, built, guards, plan.get("writes", ()))
                try:
                    result = self._script(keys=keys, args=args)
                except redis.ResponseError as error:
                    if "WRONGTYPE" not in str(error):
                        raise
                    result = [b"UNMIGRATED"]
                status = _text(result[0])
                if status == "OK":
                    self._head = new_head
                    return built
                if status == "HEAD":
                    head = parse_head(result[1])
                elif status == "UNMIGRATED":
                    self._migrated = False
                    head = self._stored_head()
                else:
                    raise GuardFailed(guards[int(result[1]) - 1])
            raise ChainBusy(f"chain {self.chain}: the head kept moving; nothing appended")
        except BaseException:
            self._head = None
            raise

    def _stored_head(self) -> Head:
        if not self._migrated:
            head = migrate_head(self.client, self.chain)
            self._migrated = True
            return head
        return parse_head(self.client.get(self.head_key))

    def _arguments(
        self, head: Head, new_head: Head, built: list[Entry], guards: Sequence[Guard], writes: Sequence[Write]
    ) -> tuple[list[str], list[Any]]:
        keys = [self.list_key, self.head_key]
        args: list[Any] = [format_head(head), format_head(new_head), len(built), *(e.to_json() for e in built)]
        args.append(len(guards))
        for guard in guards:
            keys.append(guard.key)
            args += [len(keys), "absent" if guard.absent else "contains", guard.needle]
        args.append(len(writes))
        for write in writes:
            keys.append(write.key)
            args += [len(write.args), write.command, len(keys), *write.args]
        return keys, args

    # -- inside the caller's WATCH/MULTI transaction ------------------------------
    def transact(
        self,
        watch: Sequence[str],
        build: Callable[[Any], tuple[T, Callable[[Any], None], Sequence[tuple[str, Mapping[str, Any]]]]],
        time: datetime | str,
    ) -> T:
        """WATCH `watch` and the head; `build(pipe)` reads (immediate mode) and returns (result,
        queue_writes(pipe), entries as (kind, body)). The writes and the entries commit in one MULTI;
        a concurrent change of a watched key or the head retries."""
        with self.lock, self.client.pipeline() as pipeline:
            pipe: Any = pipeline
            while True:
                try:
                    pipe.watch(*watch, self.head_key)
                    result, writes, appended = build(pipe)
                    head = self.read_head(pipe)
                    pipe.multi()
                    writes(pipe)
                    for kind, body in appended:
                        head = self.queue(pipe, head, kind, body, time)
                    pipe.execute()
                    if appended:
                        self.committed(head)
                    return result
                except redis.WatchError:
                    self.forget_head()
                    pipe.reset()

    def read_head(self, pipe: Any) -> Head:
        """In a pipeline WATCHing `head_key` (immediate mode): the current head (migrated on first use)."""
        if not self._migrated:
            migrate_head(self.client, self.chain)
            self._migrated = True
        return parse_head(pipe.get(self.head_key))

    def queue(self, pipe: Any, head: Head, kind: str, body: Mapping[str, Any], time: datetime | str) -> Head:
        """In MULTI: queue an append after `head`; returns the new head (pass it to `committed`)."""
        return queue_append(pipe, make_entry(self.chain, head[0] + 1, head[1], time, kind, body))

    def committed(self, head: Head) -> None:
        self._head = head

    def forget_head(self) -> None:
        self._head = None


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class Problem:
    seq: int
    problem: str  # ENTRY_MALFORMED, SEQ_MISMATCH, HASH_MISMATCH, CHAIN_BROKEN, WRONG_CHAIN, HEAD_MISMATCH, ...
    detail: str

    def to_dict(self) -> dict[str, JsonValue]:
        return {"seq": self.seq, "problem": self.problem, "detail": self.detail}


@dataclass(frozen=True)
class Checkpoint:
    """A verified position of a chain, to keep outside Redis: later the chain must still pass through it."""

    chain: str
    seq: int
    hash: str
    index: int  # position in the list
    time: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        return cls(str(data["chain"]), int(data["seq"]), str(data["hash"]), int(data["index"]), str(data["time"]))


EntryCheck = Callable[[redis.Redis, Entry], list[Problem]]


@dataclass
class Report:
    chain: str
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)
    checks_skipped: list[str] = field(default_factory=list)
    last: Head = EMPTY

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        return min((p.seq for p in self.problems), default=None)

    def to_dict(self) -> dict[str, JsonValue]:
        """The verify command's JSON report."""
        return {
            "chain": self.chain,
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problems": [p.to_dict() for p in self.problems],
            "checks_skipped": list[JsonValue](self.checks_skipped),
        }

    def add(self, seq: int, problem: str, detail: str) -> None:
        self.problems.append(Problem(seq, problem, detail))


def verify(
    client: redis.Redis,
    chain: str,
    *,
    check: EntryCheck | None = None,
    checkpoint: Checkpoint | None = None,
    since_checkpoint: bool = False,
    max_problems: int = MAX_PROBLEMS,
) -> Report:
    """Walk the chain: every entry well-formed, in sequence, matching its hash, linked to the one before,
    the head on the last entry; `check` adds checks of what each entry records. With a checkpoint the
    chain must still pass through it; `since_checkpoint` trusts (does not rehash) what lies before it."""
    report = Report(chain)
    prev, expected, start = GENESIS, None, 0
    if checkpoint is not None:
        if checkpoint.chain != chain:
            report.add(checkpoint.seq, "CHECKPOINT_MISMATCH", f"the checkpoint is of chain {checkpoint.chain}")
            return report
        if since_checkpoint:
            anchor = client.lindex(list_key(chain), checkpoint.index)
            if not _anchor_holds(chain, anchor, checkpoint):
                report.add(checkpoint.seq, "CHECKPOINT_MISMATCH", _checkpoint_detail(checkpoint))
                return report
            prev, expected, start = checkpoint.hash, checkpoint.seq + 1, checkpoint.index + 1
            report.entries, report.last = start, (checkpoint.seq, checkpoint.hash)
    for index, raw in entries(client, chain, start):
        report.entries += 1
        seq_here = expected if expected is not None else 1
        try:
            fields = json.loads(raw)
            entry = entry_from_fields(chain, fields)
        except (ValueError, MalformedEntry) as error:
            report.add(seq_here, "ENTRY_MALFORMED", f"seq {seq_here}: not a valid chain entry ({error})")
            prev, expected = "", seq_here + 1
            continue
        if expected is None:  # the first entry: seq 1 (rating audit version 1 started at 0)
            expected = 0 if entry.version == 1 and entry.seq == 0 else 1
        _check_entry(report, chain, fields, entry, expected, prev)
        if (
            checkpoint is not None
            and index == checkpoint.index
            and (entry.seq, entry.hash)
            != (
                checkpoint.seq,
                checkpoint.hash,
            )
        ):
            report.add(checkpoint.seq, "CHECKPOINT_MISMATCH", _checkpoint_detail(checkpoint))
        if check is not None:
            report.problems.extend(check(client, entry))
        prev, expected = entry.hash, max(entry.seq, expected) + 1
        report.last = (entry.seq, entry.hash)
        if len(report.problems) >= max_problems:
            return report
    if checkpoint is not None and report.entries <= checkpoint.index:
        report.add(checkpoint.seq, "CHECKPOINT_MISMATCH", _checkpoint_detail(checkpoint))
    _check_head(client, chain, report)
    return report


def _anchor_holds(chain: str, raw: bytes | str | None, checkpoint: Checkpoint) -> bool:
    if raw is None:
        return False
    try:
        fields = json.loads(raw)
        entry = entry_from_fields(chain, fields)
    except (ValueError, MalformedEntry):
        return False
    return (entry.seq, entry.hash) == (checkpoint.seq, checkpoint.hash) and digest(fields) == entry.hash


def _checkpoint_detail(checkpoint: Checkpoint) -> str:
    return (
        f"seq {checkpoint.seq}: the chain no longer passes through the checkpoint of {checkpoint.time} "
        "(rewritten or truncated)"
    )


def _check_entry(report: Report, chain: str, fields: Mapping[str, Any], entry: Entry, expected: int, prev: str) -> None:
    seq = entry.seq
    if seq != expected:
        how = "missing" if seq > expected else "out of order"
        report.add(expected, "SEQ_MISMATCH", f"seq {expected}: {how} (found seq {seq} in its place)")
    if entry.version == VERSION and entry.chain != chain:
        report.add(seq, "WRONG_CHAIN", f"seq {seq}: an entry of chain {entry.chain!r}")
    if digest(fields) != entry.hash:
        report.add(seq, "HASH_MISMATCH", f"seq {seq}: content does not match its hash (altered)")
    if entry.prev_hash != prev:
        report.add(seq, "CHAIN_BROKEN", f"seq {seq}: prev_hash does not match the hash of the entry before")


def _check_head(client: redis.Redis, chain: str, report: Report) -> None:
    if _text(client.type(head_key(chain))) == "none":
        last_raw = client.lindex(list_key(chain), -1)
        if last_raw is None:
            return
        try:
            unversioned = "v" not in json.loads(last_raw)
        except (ValueError, TypeError):
            unversioned = False
        if unversioned:  # rating audit version 1 never had a head
            report.head_seq, report.head_hash = report.last
        elif not report.problems:
            report.add(report.last[0], "HEAD_MISMATCH", f"seq {report.last[0]}: the head is missing")
        return
    head = read_head(client, chain)
    report.head_seq, report.head_hash = head
    if report.problems:
        return
    last_seq, last_hash = report.last
    if head[0] > last_seq:
        report.add(last_seq + 1, "HEAD_MISMATCH", f"seq {last_seq + 1}: missing (head says {head[0]})")
    elif head[0] < last_seq:
        report.add(head[0] + 1, "HEAD_MISMATCH", f"seq {head[0] + 1}: not covered by the head")
    elif head[1] != last_hash:
        report.add(last_seq, "HEAD_MISMATCH", f"seq {last_seq}: does not match the head hash")


def checkpoint(client: redis.Redis, chain: str, *, check: EntryCheck | None = None) -> tuple[Report, Checkpoint]:
    """Verify the chain and return its current position as a checkpoint (meaningful when the report is ok)."""
    report = verify(client, chain, check=check)
    return report, Checkpoint(
        chain, report.last[0], report.last[1], report.entries - 1, datetime.now(UTC).isoformat(timespec="seconds")
    )


# ---------------------------------------------------------------- the chains of the platform

# Chain name (or family prefix) -> "module:function" that checks what an entry records against the
# records it links to (an EntryCheck); imported only when verifying, so this module depends on no service.
CHAINS: dict[str, str | None] = {
    "consent:audit": None,
    "rating:audit": None,
    "pricing:decision_log": "carbon_pricing.decision_log:check_entry",
}
CHAIN_FAMILIES: dict[str, str | None] = {
    "pricing:decision_log:banks:": "carbon_pricing.decision_log:check_entry",  # one chain per bank
}
# A log kept as a family of chains, by the name it is known by: `verify --chain pricing:decision_log`
# verifies that chain (if present: entries written before the family) and every member of the family.
FAMILY_OF: dict[str, str] = {"pricing:decision_log": "pricing:decision_log:banks:"}


def check_for(chain: str) -> str | None:
    if chain in CHAINS:
        return CHAINS[chain]
    for prefix, target in CHAIN_FAMILIES.items():
        if chain.startswith(prefix):
            return target
    return None


def load_check(target: str) -> EntryCheck:
    module, _, name = target.partition(":")
    check: EntryCheck = getattr(importlib.import_module(module), name)
    return check


def family_members(client: redis.Redis, prefix: str) -> list[str]:
    """The chains of a family present in Redis (their entry lists; heads are strings), sorted."""
    keys = client.scan_iter(match=f"{list_key(prefix)}*", count=1000, _type="list")
    return sorted({_text(key).removeprefix(KEY_PREFIX) for key in keys})


def chains_of(client: redis.Redis, name: str) -> list[str]:
    """What `verify --chain name` verifies: the chain itself, and every member of its family if it has
    one (then the chain itself only if present)."""
    family = FAMILY_OF.get(name)
    if family is None:
        return [name]
    return [*([name] if client.exists(list_key(name)) else []), *family_members(client, family)] or [name]


def existing_chains(client: redis.Redis) -> list[str]:
    """The known chains and chain families present in Redis."""
    found = [name for name in CHAINS if client.exists(list_key(name))]
    for prefix in CHAIN_FAMILIES:
        found += family_members(client, prefix)
    return sorted(set(found))


def verify_known(
    client: redis.Redis, chain: str, *, linked: bool = True, checkpoint: Checkpoint | None = None, since: bool = False
) -> Report:
    """`verify` with the chain's registered linked-record check (skipped, and said so, if not installed)."""
    target = check_for(chain) if linked else None
    check = None
    skipped = []
    if target is not None:
        try:
            check = load_check(target)
        except ImportError:
            skipped.append(target)
    report = verify(client, chain, check=check, checkpoint=checkpoint, since_checkpoint=since)
    report.checks_skipped.extend(skipped)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carbon_common.hashchain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default=None, help="default: $CARBON_REDIS_URL or redis://127.0.0.1:6390/0")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("verify", help="verify chains; exit 1 naming the first bad seq")
    which = check.add_mutually_exclusive_group(required=True)
    which.add_argument("--chain", help=f"chain name, e.g. {', '.join(CHAINS)} (a family's name: all its chains)")
    which.add_argument("--all", action="store_true", help="every known chain present in Redis")
    check.add_argument("--checkpoint", help="file written by `checkpoint`: the chain must still pass through it")
    check.add_argument("--since-checkpoint", action="store_true", help="verify only the entries after it")
    check.add_argument("--chain-only", action="store_true", help="skip the linked-record checks (stored quotes)")
    export = sub.add_parser("checkpoint", help="verify a chain and print its checkpoint (JSON) to keep elsewhere")
    export.add_argument("--chain", required=True)
    args = parser.parse_args(argv)
    client = redis.Redis.from_url(args.redis_url or os.environ.get("CARBON_REDIS_URL", "redis://127.0.0.1:6390/0"))
    if args.command == "checkpoint":
        target = check_for(args.chain)
        report, exported = checkpoint(client, args.chain, check=load_check(target) if target else None)
        if not report.ok:
            _say_broken(report)
            print(json.dumps(report.to_dict(), ensure_ascii=False))
            return 1
        print(exported.to_json())
        return 0
    point: Checkpoint | None = None
    if args.checkpoint:
        with open(args.checkpoint, encoding="utf-8") as handle:
            point = Checkpoint.from_json(handle.read())
    elif args.since_checkpoint:
        parser.error("--since-checkpoint needs --checkpoint")
    if point is not None and args.all:
        parser.error("--checkpoint is of one chain: use --chain")
    names = existing_chains(client) if args.all else chains_of(client, args.chain)
    if point is not None and len(names) > 1:
        parser.error(f"{args.chain} is a family of chains; a checkpoint is of one: name the member chain")
    intact = True
    for name in names:
        report = verify_known(client, name, linked=not args.chain_only, checkpoint=point, since=args.since_checkpoint)
        print(json.dumps(report.to_dict(), ensure_ascii=False))
        if report.ok:
            print(f"OK {name}: {report.entries} entries, chain intact", file=sys.stderr)
        else:
            intact = False
            _say_broken(report)
    return 0 if intact else 1


def _say_broken(report: Report) -> None:
    first = min(report.problems, key=lambda p: p.seq)
    print(f"BROKEN {report.chain} at seq {first.seq}: {first.detail}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
