"""Redis and a set of services as local processes, wired as `make run` wires them: each service
gets one Redis, one data directory, the dev-kit credentials and its peers' targets (the catalog's
`CARBON_*_TARGET` variables).

    stack = start_stack(root, ["consent", "ingest-tax", "accounting"])
    stack.channel("accounting")          # a channel carrying a platform service identity
    stack.kill9_and_restart("redis", observe_outage)
    stack.stop()

`start_platform` is all six services in the catalog's (flow) order; `start_pricing_stack`
loan-pricing behind the peers it calls (the pricing e2e tests and bench/bench_pricing.py).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from carbon_common import catalog
from carbon_common.channels import service_channel

from carbon_devkit import credentials
from carbon_devkit.ports import free_port
from carbon_devkit.processes import START_SECONDS, TARGET_VARS, ServiceProcess, launch, wait_http, wait_serving
from carbon_devkit.redis_server import RedisServer

ORDER = catalog.names()  # dependency (flow) order
PRICING_PEERS = ("consent", "accounting", "rating")
# loan-pricing starts one worker process per core, each warming its own projections and policy engine:
# on a loaded two-core machine that takes a while (a bound only: the wait ends on SERVING).
SLOW_STARTS = {"loan-pricing": 180.0}
# Functional tests and fuzzers are not load tests: buckets out of the way
# (tests/foundation/test_rate_limits.py exercises the limits themselves).
GENEROUS_RATE_LIMITS = json.dumps({kind: {"rate": 100_000, "burst": 100_000} for kind in ("bank", "address", "page")})


@dataclass
class Stack:
    """A running set of service processes on one Redis (owned by the stack, or external)."""

    root: Path
    redis_url: str
    redis: RedisServer | None = None
    base_env: dict[str, str] = field(default_factory=dict)
    wait: float = START_SECONDS
    dev_mode: bool = True
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, tuple[int, int]] = field(default_factory=dict)

    # -- what callers read ------------------------------------------------------
    @property
    def processes(self) -> dict[str, ServiceProcess]:
        """The started services by name (the pricing tests' and benchmark's name for `services`)."""
        return self.services

    @property
    def redis_process(self) -> subprocess.Popen[bytes] | None:
        return self.redis.process if self.redis is not None else None

    @property
    def consent(self) -> ServiceProcess:
        return self.services["consent"]

    @property
    def pricing(self) -> ServiceProcess:
        return self.services["loan-pricing"]

    def env(self) -> dict[str, str]:
        """The environment every service gets: Redis, data, credentials and every reserved peer's target."""
        env = {
            "CARBON_REDIS_URL": self.redis_url,
            "CARBON_DATA_DIR": str(self.root / "data"),
            **credentials.environment(),
            **self.base_env,
        }
        # A started (or reserved) peer's real address wins over any target in base_env.
        for name, (grpc_port, _) in self.ports.items():
            env[TARGET_VARS[name]] = f"127.0.0.1:{grpc_port}"
        return env

    def channel(self, name: str, caller: str = "operator") -> grpc.Channel:
        """A channel to `name` carrying a service identity (`caller` must be a catalog principal)."""
        return service_channel(self.services[name].target, caller, credentials.SERVICE_SECRET)

    def http(self, name: str) -> str:
        return self.services[name].http_base

    def span_file(self, name: str) -> Path:
        """Where `name` appends its finished spans (set when the stack was started with span files)."""
        return self.root / "spans" / f"{name}.jsonl"

    # -- lifecycle --------------------------------------------------------------
    def reserve(self, names: Iterable[str]) -> None:
        """Ports for `names` before they start, so services started earlier know their targets."""
        for name in names:
            self.ports.setdefault(name, (free_port(), free_port()))

    def launch(self, name: str, extra: Mapping[str, str] | None = None) -> ServiceProcess:
        """Start `name` on its reserved ports without waiting."""
        self.reserve([name])
        service = launch(
            name, {**self.env(), **(extra or {})}, self.root / "logs", ports=self.ports[name], dev_mode=self.dev_mode
        )
        self.services[name] = service
        return service

    def start(self, name: str, extra: Mapping[str, str] | None = None, *, http: bool = False) -> ServiceProcess:
        """Start `name` and wait until it is SERVING (and its HTTP edge answers, with `http`)."""
        service = self.launch(name, extra)
        patience = max(self.wait, SLOW_STARTS.get(name, 0.0))
        wait_serving([service], patience)
        if http:
            wait_http(service, patience)
        return service

    def kill9(self, name: str) -> None:
        self.services[name].kill9()

    def kill9_and_restart(self, victim: str, while_down: Callable[[], None]) -> None:
        """SIGKILL `victim` ("redis" or a started service), run `while_down` (it returns once the caller
        has observed what it needs of the outage), then start the victim again on the same ports, data
        and environment."""
        if victim == "redis":
            assert self.redis is not None, "this stack does not own its Redis"
            self.redis.kill9()
            while_down()
            self.redis.start()
        else:
            extra = self.services[victim].env
            self.kill9(victim)
            while_down()
            self.start(victim, extra)

    def stop(self) -> dict[str, int]:
        """Every service (SIGTERM, reverse start order), then the stack's Redis; the services' exit codes."""
        codes = {name: self.services[name].stop() for name in reversed(list(self.services))}
        if self.redis is not None:
            self.redis.stop()
        return codes


def start_redis(root: Path, *, appendfsync: str = "everysec") -> RedisServer:
    return RedisServer(root / "redis", free_port(), appendfsync).start()


def start_stack(
    root: Path,
    names: Iterable[str],
    *,
    env: Mapping[str, str] | None = None,
    redis_url: str | None = None,
    appendfsync: str = "everysec",
    wait: float = START_SECONDS,
    dev_mode: bool = True,
    span_files: bool = False,
    http: Iterable[str] = (),
) -> Stack:
    """Redis (its own unless `redis_url`) and `names` started one after the other, each SERVING before the
    next; with `span_files` each process appends its finished spans to `stack.span_file(name)`; services in
    `http` also have their HTTP edge answering. Everything started is stopped again if one fails."""
    names, http_names = list(names), set(http)
    redis = None if redis_url else start_redis(root, appendfsync=appendfsync)
    stack = Stack(
        root,
        redis_url or (redis.url if redis else ""),
        redis,
        base_env={k: str(v) for k, v in (env or {}).items()},
        wait=wait,
        dev_mode=dev_mode,
    )
    stack.reserve(names)
    try:
        for name in names:
            extra = {"CARBON_TELEMETRY_SPAN_FILE": str(stack.span_file(name))} if span_files else {}
            stack.start(name, extra, http=name in http_names)
    except BaseException:
        stack.stop()
        raise
    return stack


def start_platform(root: Path, extra_env: Mapping[str, object] | None = None, *, wait: float = START_SECONDS) -> Stack:
    """The whole platform: redis-server and all six services, production-like (no dev mode), generous
    rate limits, span files."""
    env = {"CARBON_RATE_LIMITS": GENEROUS_RATE_LIMITS, **{k: str(v) for k, v in (extra_env or {}).items()}}
    return start_stack(root, ORDER, env=env, wait=wait, dev_mode=False, span_files=True)


def start_pricing_stack(
    root: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    peers: Iterable[str] = PRICING_PEERS,
    bundle_dir: Path | None = None,
    appendfsync: str = "everysec",
    wait: float = START_SECONDS,
    before_pricing: Callable[[Stack], None] | None = None,
) -> Stack:
    """loan-pricing (HTTP edge answering) behind `peers`; `bundle_dir` is its policy bundle.
    Quotes here come from one bank and one address, faster than a bank's default budget: generous rate
    limits. `appendfsync="always"`: every acknowledged write survives a kill -9 of redis-server.
    `before_pricing(stack)` seeds, once the peers run, what loan-pricing's projections should find at start."""
    env = {"CARBON_LOG_LEVEL": "WARNING", "CARBON_RATE_LIMITS": GENEROUS_RATE_LIMITS, **(extra_env or {})}
    if bundle_dir is not None:
        env["CARBON_BUNDLE_DIR"] = str(bundle_dir)
    stack = start_stack(root, peers, env=env, appendfsync=appendfsync, wait=wait)
    try:
        if before_pricing is not None:
            before_pricing(stack)
        stack.start("loan-pricing", http=True)
    except BaseException:
        stack.stop()
        raise
    return stack


DATA_SERVICES = ("consent", "ingest-tax", "accounting")


def start_data_services(
    redis_url: str,
    root: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    rating_target: str | None = None,
) -> dict[str, ServiceProcess]:
    """consent, ingest-tax and accounting on an existing Redis (`redis_url`), sharing `root/data`: what a
    seeder needs (carbon_devkit.seed.Seeder.for_services). Accounting's rating target is `rating_target`
    or a port nothing listens on."""
    env = {
        "CARBON_LOG_LEVEL": "WARNING",
        "CARBON_EVENTS_BLOCK_MS": "200",
        "CARBON_RATING_TARGET": rating_target or f"127.0.0.1:{free_port()}",
        **(extra_env or {}),
    }
    return start_stack(root, DATA_SERVICES, env=env, redis_url=redis_url).services


def stop_services(services: Mapping[str, ServiceProcess]) -> None:
    """Stop services in reverse start order (SIGTERM, then SIGKILL after a grace period)."""
    for service in reversed(list(services.values())):
        service.stop()
