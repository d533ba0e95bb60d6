"""The consent audit log: every consent change and every CheckAccess decision, as the platform's
hash chain "consent:audit" (format, appends and verification: carbon_common.hashchain).

Changes append inside the WATCH/MULTI transaction of the change they record (store.py), decisions
by group commit, so a change is never stored without its entry and writers never fork the chain.

    python -m carbon_common.hashchain verify --chain consent:audit
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import redis
from carbon_common import hashchain, metrics

CHAIN = "consent:audit"


class AuditLog(hashchain.ChainWriter):
    """The writer of the consent audit chain (one per process)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client, CHAIN)

    def append(self, kind: str, body: Mapping[str, Any], time: datetime | str) -> hashchain.Entry:
        """Group-committed append; records how long the decision waited to be chained (the
        consent-audit-lag alert reads carbon.audit.lag_seconds{log="consent"})."""
        entry = super().append(kind, body, time)
        if isinstance(time, datetime):
            metrics.audit_lag(metrics.lag_from(time), log="consent")
        return entry


def verify(client: redis.Redis) -> hashchain.Report:
    return hashchain.verify(client, CHAIN)
