"""carbonctl command line (argparse)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

import redis

from carbonctl import cluster, ingestion, local
from carbonctl.table import Row, render, render_json

EXIT_OK, EXIT_UNHEALTHY, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carbonctl", description="Operate the carbon platform.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = commands.add_parser("status", help="health of every service and Redis (local) or workloads (cluster)")
    where = status.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="check local processes (default)")
    where.add_argument("--namespace", "-n", metavar="NS", help="check the workloads in this Kubernetes namespace")
    status.add_argument(
        "--kube",
        action="store_true",
        help="local mode: use the in-cluster gRPC ports (e.g. through kubectl port-forward) instead of `make run`'s",
    )
    status.add_argument("--host", default="127.0.0.1", help="local mode: host of the services (default 127.0.0.1)")
    status.add_argument("--kubeconfig", help="kubeconfig file (cluster mode; default: in-cluster, then ~/.kube/config)")
    status.add_argument("--context", help="kubeconfig context (cluster mode)")
    status.add_argument(
        "--redis-url", help="Redis URL (local mode; default $CARBON_REDIS_URL or redis://127.0.0.1:6390/0)"
    )
    status.add_argument("--timeout", type=float, default=2.0, help="seconds per check (default 2)")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")

    ingest = commands.add_parser("ingestion", help="drain/resume ingestion, show the activity stream's consumers")
    ingest.add_argument("action", choices=("drain", "resume", "status"))
    ingest.add_argument("--redis-url", help="Redis URL (default $CARBON_REDIS_URL or redis://127.0.0.1:6390/0)")
    ingest.add_argument("--stream", default=ingestion.ACTIVITY_STREAM, help=argparse.SUPPRESS)
    ingest.add_argument("--json", action="store_true", help="print JSON (status)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "status":
        return _status(args)
    return _ingestion(args)


def _status(args: argparse.Namespace) -> int:
    if args.namespace:
        if args.redis_url or args.kube:
            print("carbonctl: --redis-url and --kube apply to --local only", file=sys.stderr)
            return EXIT_ERROR
        try:
            cluster.load_config(args.kubeconfig, args.context)
            deployments, statefulsets = cluster.fetch(args.namespace)
        except Exception as error:
            print(f"carbonctl: cannot reach the cluster: {type(error).__name__}: {error}", file=sys.stderr)
            return EXIT_ERROR
        rows = cluster.workload_rows(args.namespace, deployments, statefulsets)
        if not rows:
            print(f"carbonctl: no workloads labelled {cluster.PART_OF} in namespace {args.namespace}", file=sys.stderr)
            return EXIT_UNHEALTHY
    else:
        if args.kubeconfig or args.context:
            print("carbonctl: --kubeconfig/--context need --namespace", file=sys.stderr)
            return EXIT_ERROR
        rows = local.local_rows(local.redis_url(args.redis_url), args.timeout, kube=args.kube, host=args.host)
    return _print_rows(rows, args.json)


def _print_rows(rows: list[Row], as_json: bool) -> int:
    print(render_json(rows) if as_json else render(rows))
    unhealthy = [r.component for r in rows if not r.healthy]
    if unhealthy and not as_json:
        print(f"\nunhealthy: {', '.join(unhealthy)}", file=sys.stderr)
    return EXIT_UNHEALTHY if unhealthy else EXIT_OK


def _ingestion(args: argparse.Namespace) -> int:
    url = local.redis_url(args.redis_url)
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5)
    try:
        if args.action == "drain":
            ingestion.drain(client)
            print(f"ingestion drained: {ingestion.DRAIN_KEY}=1; ingest services refuse new batches until `resume`")
        elif args.action == "resume":
            ingestion.resume(client)
            print(f"ingestion resumed: {ingestion.DRAIN_KEY} cleared")
        drained = ingestion.is_drained(client)
        if args.action != "status":
            return EXIT_OK
        states = ingestion.groups(client, args.stream)
        length = int(client.xlen(args.stream)) if states is not None else 0
    except redis.RedisError as error:
        print(f"carbonctl: Redis at {local._without_password(url)}: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        client.close()
    if args.json:
        print(
            json.dumps(
                {
                    "drained": drained,
                    "stream": args.stream,
                    "length": length,
                    "groups": None if states is None else [asdict(s) for s in states],
                },
                indent=2,
            )
        )
    else:
        print(ingestion.render_status(drained, length, states, args.stream))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
