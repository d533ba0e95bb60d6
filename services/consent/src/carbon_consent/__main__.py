"""`python -m carbon_consent`: the consent service (ports: carbon_common.catalog)."""

from __future__ import annotations

import sys

from carbon_common.server import run
from pydantic import ValidationError

from carbon_consent.app import service
from carbon_consent.settings import ConsentSettings


def main() -> int:
    try:
        settings = ConsentSettings()
        svc = service(settings)
    except (ValidationError, ValueError) as error:
        print(f"consent: invalid configuration: {error}", file=sys.stderr)
        return 2
    run(svc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
