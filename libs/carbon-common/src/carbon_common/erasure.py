"""The erasure consumer every service holding an enterprise's data runs: carbon:events:erasure
(one consumer group per service) -> the service's erase(uscc) -> its counts reported to
carbon:erasure:{request_id}, field = the service's name (consent shows the progress)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

import redis

from carbon_common import events
from carbon_common.names import is_valid_uscc
from carbon_common.redis_conn import group_entries

log = logging.getLogger(__name__)

ERASURE_STREAM = events.ERASURE.name


RETRY_DEFERRED_SECONDS = 0.2


def erasure_worker(
    client_factory: Callable[[], redis.Redis],
    service: str,
    erase: Callable[[str], Mapping[str, int]],
    after: Sequence[str] = (),
) -> Callable[[threading.Event], None]:
    """Consume carbon:events:erasure (consumer group = service) and erase the enterprise.

    Entries carry `uscc` (or `enterprise` = enterprises/{uscc}) and `request_id`;
    the counts go to hash carbon:erasure:{request_id}, field `service`. With `after`, a request
    waits (unacknowledged) until those services have reported it: a service that derives its data
    from theirs erases last, so nothing they announced from the erased data reaches it afterwards.
    """

    def run(stopping: threading.Event) -> None:
        client = client_factory()
        pending_first = True
        while not stopping.is_set():
            try:
                events.ERASURE.ensure_group(client, service)
                start = "0" if pending_first else ">"
                got = group_entries(
                    client.xreadgroup(service, f"{service}-1", {ERASURE_STREAM: start}, count=10, block=1000)
                )
                if pending_first and not got:
                    pending_first = False
                    continue
                # an entry deleted from the stream is a malformed request: reported and acknowledged
                handled = [handle_erasure(client, service, erase, i, fields or {}, after) for i, fields in got]
                if not all(handled):
                    pending_first = True  # the deferred ones are read again from this consumer's pending list
                    stopping.wait(RETRY_DEFERRED_SECONDS)
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pending_first = True
                stopping.wait(0.5)
            except Exception:
                log.exception("erasure worker error")
                stopping.wait(1.0)

    run.__name__ = f"{service}-erasure"
    return run


def handle_erasure(
    client: redis.Redis,
    service: str,
    erase: Callable[[str], Mapping[str, int]],
    entry_id: bytes,
    fields: dict[bytes, bytes],
    after: Sequence[str] = (),
) -> bool:
    """Erase and report; False (nothing done) while a service in `after` has not reported the request."""
    try:
        request = events.ERASURE.decode(fields)
    except events.EventDecodeError as error:
        log.warning("malformed erasure event", extra={"id": entry_id.decode(), "error": str(error)[:200]})
        # What the service reports to consent: counts of what it erased, or why it erased nothing.
        result: Mapping[str, int | str] = {"error": "malformed erasure request"}
        request_id = entry_id.decode()
    else:
        request_id = request.request_id
        if after and None in client.hmget(f"carbon:erasure:{request_id}", list(after)):
            return False
        if not is_valid_uscc(request.uscc):
            result = {"error": f"invalid enterprise {request.uscc[:64]!r}"}
        else:
            result = erase(request.uscc)
            log.info("erased enterprise data", extra={"uscc": request.uscc, "request_id": request_id, **result})
    client.hset(f"carbon:erasure:{request_id}", service, json.dumps(result, sort_keys=True))
    client.xack(ERASURE_STREAM, service, entry_id)
    return True
