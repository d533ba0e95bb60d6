"""`python -m carbon_accounting`: gRPC, HTTP (ports: carbon_common.catalog), activity-event consumer,
erasure consumer (wiring: app.py)."""

from __future__ import annotations

from carbon_common import server

from carbon_accounting.app import build


def main() -> None:
    server.run(build())


if __name__ == "__main__":
    main()
