"""`python -m carbon_pricing`: the loan-pricing service (ports: carbon_common.catalog), as
CARBON_PRICING_WORKERS processes sharing the ports (default: one per core; carbon_pricing.workers)."""

from __future__ import annotations

import os
import sys

from carbon_pricing.settings import PricingSettings
from carbon_pricing.workers import WORKER_ENV, supervise, worker_count


def main() -> int:
    settings = PricingSettings()
    count = worker_count(settings.pricing_workers)
    if count > 1 and WORKER_ENV not in os.environ:
        if not (settings.grpc_port and settings.http_port):
            print(
                "loan-pricing: several workers need fixed ports (CARBON_GRPC_PORT, CARBON_HTTP_PORT)", file=sys.stderr
            )
            return 2
        return supervise(count, settings.shutdown_grace_seconds)
    # Imported here: the supervisor itself stays light (it only starts and watches its workers).
    from carbon_common.server import run

    from carbon_pricing.app import build_service

    run(build_service(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
