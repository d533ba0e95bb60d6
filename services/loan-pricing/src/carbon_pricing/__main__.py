"""`python -m carbon_pricing`: the loan-pricing service (ports: carbon_common.catalog)."""

from __future__ import annotations

from carbon_common.server import run

from carbon_pricing.app import build_service


def main() -> None:
    run(build_service())


if __name__ == "__main__":
    main()
