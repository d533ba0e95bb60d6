"""The consent audit log: every consent change and every CheckAccess decision, as the platform's
hash chain "consent:audit" (format, appends and verification: carbon_common.hashchain).

Changes append inside the WATCH/MULTI transaction of the change they record (store.py), decisions
by group commit, so a change is never stored without its entry and writers never fork the chain.

    python -m carbon_common.hashchain verify --chain consent:audit
"""

from __future__ import annotations

import redis
from carbon_common import hashchain

CHAIN = "consent:audit"


class AuditLog(hashchain.ChainWriter):
    """The writer of the consent audit chain (one per process)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client, CHAIN)


def verify(client: redis.Redis) -> hashchain.Report:
    return hashchain.verify(client, CHAIN)
