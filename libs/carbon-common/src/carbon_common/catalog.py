"""The service catalog: the one home of every fact that connects the services.

Names, packages, ports (the local `make run` stack and the cluster), which
peers a service calls and which RPCs, the CARBON_* variables carrying peer
targets, the gRPC services each one serves and its public HTTP routes.
Everything else reads this module or is generated from it by
`make catalog` (scripts/gen_catalog.py: the chart's `_catalog.tpl`, the
tables in README.md and docs/architecture.md); tests/foundation/test_catalog.py
fails when settings, launchers, carbonctl, the chart or the code disagree.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carbon_common.settings import BaseServiceSettings

LOCALHOST = "127.0.0.1"


@dataclass(frozen=True)
class Ports:
    grpc: int
    http: int


@dataclass(frozen=True)
class Call:
    """The RPCs a service calls on one peer, as `Service/Method` of package carbon.v1."""

    peer: str
    rpcs: tuple[str, ...]


@dataclass(frozen=True)
class ServiceEntry:
    name: str  # Kubernetes component, log/trace service name, audience of service tokens
    package: str  # `python -m <package>`
    directory: str  # distribution under services/
    values_key: str  # the chart's values key
    settings: str  # "module:Class" of its pydantic settings
    target_variable: str  # the variable by which its callers find it
    owns: str
    grpc_services: tuple[str, ...]  # full proto names it serves
    local: Ports  # `make run` (below Linux's ephemeral port range)
    cluster: Ports  # container/Service ports in the chart
    calls: tuple[Call, ...] = ()
    raw_data: bool = False  # reads/writes the shared raw data (CARBON_DATA_DIR)
    state_dir: bool = False  # keeps its own files under CARBON_DATA_DIR
    public_routes: tuple[str, ...] = ()  # HTTP path prefixes meant for the public edge (ingress)

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(call.peer for call in self.calls)

    @property
    def target_field(self) -> str:
        """The settings field read from target_variable (pydantic, env prefix CARBON_)."""
        return self.target_variable.removeprefix("CARBON_").lower()

    def local_target(self) -> str:
        return f"{LOCALHOST}:{self.local.grpc}"


@dataclass(frozen=True)
class Client:
    """A platform principal that holds the service secret but is not one of the services."""

    name: str
    description: str
    calls: tuple[Call, ...]


_CONSENT_GATE = "ConsentService/CheckAccess"
_BANK_AUTH = "BankService/AuthenticateBank"

SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry(
        name="consent",
        package="carbon_consent",
        directory="consent",
        values_key="consent",
        target_variable="CARBON_CONSENT_TARGET",
        settings="carbon_consent.settings:ConsentSettings",
        owns="enterprises, banks and API keys, consents and their state machine, one-click pages, hash-chained audit",
        grpc_services=("carbon.v1.ConsentService", "carbon.v1.BankService", "carbon.v1.EnterpriseService"),
        local=Ports(7051, 8081),
        cluster=Ports(50051, 8081),
        public_routes=("/v1", "/consents"),
    ),
    ServiceEntry(
        name="ingest-tax",
        package="carbon_ingest_tax",
        directory="ingest-tax",
        values_key="ingestTax",
        target_variable="CARBON_INGEST_TAX_TARGET",
        settings="carbon_ingest_tax.settings:TaxSettings",
        owns="e-invoice batches and uploads, tax-code classification, unit normalisation, quarantine",
        grpc_services=("carbon.v1.TaxIngestionService",),
        local=Ports(7052, 8082),
        cluster=Ports(50052, 8082),
        # Collection consent from its projection of carbon:events:consent (no call).
        raw_data=True,
        public_routes=("/v1",),
    ),
    ServiceEntry(
        name="ingest-energy",
        package="carbon_ingest_energy",
        directory="ingest-energy",
        values_key="ingestEnergy",
        target_variable="CARBON_INGEST_ENERGY_TARGET",
        settings="carbon_ingest_energy.settings:EnergySettings",
        owns="meter registry, streamed 15-minute readings, corrections, gaps and coverage",
        grpc_services=("carbon.v1.EnergyIngestionService",),
        local=Ports(7053, 8083),
        cluster=Ports(50053, 8083),
        # Collection consent from its projection of carbon:events:consent (no call).
        raw_data=True,
    ),
    ServiceEntry(
        name="accounting",
        package="carbon_accounting",
        directory="accounting",
        values_key="accounting",
        target_variable="CARBON_ACCOUNTING_TARGET",
        settings="carbon_accounting.settings:AccountingSettings",
        owns="versioned emission factors, Scope 1/2 accounts with polars, cross-validation, reports",
        grpc_services=("carbon.v1.AccountingService",),
        local=Ports(7054, 8084),
        cluster=Ports(50054, 8084),
        calls=(
            # The enterprise's account page lists its consents and revokes through consent's manage page.
            Call(
                "consent",
                (
                    _CONSENT_GATE,
                    _BANK_AUTH,
                    "EnterpriseService/GetEnterprise",
                    "ConsentService/ListConsents",
                    "EnterpriseService/GenerateManageLink",
                ),
            ),
            # The report shows the grade under CARBON_REPORT_RATING_SCHEME; the enterprise's
            # account page shows its grade under every scheme.
            Call("rating", ("RatingService/GetRating", "RatingService/ListSchemes")),
        ),
        raw_data=True,
        public_routes=("/v1", "/enterprises"),  # /enterprises: the enterprise's own account page (signed link)
    ),
    ServiceEntry(
        name="rating",
        package="carbon_rating",
        directory="rating",
        values_key="rating",
        target_variable="CARBON_RATING_TARGET",
        settings="carbon_rating.settings:RatingSettings",
        owns="regional schemes as configuration, benchmarks, national percentile, government page",
        grpc_services=("carbon.v1.RatingService",),
        local=Ports(7055, 8085),
        cluster=Ports(50055, 8085),
        calls=(
            Call("consent", (_CONSENT_GATE, _BANK_AUTH)),
            Call("accounting", ("AccountingService/GetAccount", "AccountingService/ListAccounts")),
        ),
        # REST API and the government configuration page (served from /).
        public_routes=("/",),
    ),
    ServiceEntry(
        name="loan-pricing",
        package="carbon_pricing",
        directory="loan-pricing",
        values_key="pricing",
        target_variable="CARBON_PRICING_TARGET",
        settings="carbon_pricing.settings:PricingSettings",
        owns="quotes through Rego bank products, policy lifecycle, hash-chained decision log, bank loan books",
        grpc_services=("carbon.v1.PricingService", "carbon.v1.LoanBookService"),
        local=Ports(7056, 8086),
        cluster=Ports(50056, 8086),
        # Consent decides from its projection of carbon:events:consent (no call); rating and
        # accounting are asked only for a rating not yet published (carbon_pricing.ratings).
        calls=(
            Call("rating", ("RatingService/GetRating",)),
            Call("accounting", ("AccountingService/GetAccount",)),
        ),
        state_dir=True,
        public_routes=("/v1", "/bank"),  # /bank: the bank's portfolio page and its login
    ),
)

# Principals outside the stack that call it with the service secret (feeds and operator tools).
CLIENTS: tuple[Client, ...] = (
    Client(
        "tax-feed",
        "the tax platform's e-invoice feed",
        (Call("ingest-tax", ("TaxIngestionService/IngestInvoices",)),),
    ),
    Client(
        "meter-feed",
        "meter data collectors",
        (Call("ingest-energy", ("EnergyIngestionService/CreateMeter", "EnergyIngestionService/StreamReadings")),),
    ),
    Client("upload-portal", "the enterprise upload portal (REST invoice uploads)", (Call("ingest-tax", ()),)),
    Client(
        "operator",
        "platform operator tools: seeding, demo, carbonctl, end-to-end checks",
        tuple(Call(entry.name, ()) for entry in SERVICES),
    ),
)


def service(name: str) -> ServiceEntry:
    for entry in SERVICES:
        if entry.name == name:
            return entry
    raise KeyError(f"{name!r} is not in the service catalog")


def names() -> tuple[str, ...]:
    return tuple(entry.name for entry in SERVICES)


@cache
def principals() -> frozenset[str]:
    """Every name a service token may carry."""
    return frozenset(names()) | {client.name for client in CLIENTS}


@cache
def _owners() -> dict[str, str]:
    return {grpc_service: entry.name for entry in SERVICES for grpc_service in entry.grpc_services}


def owner_of_method(method: str) -> str:
    """'/carbon.v1.ConsentService/CheckAccess' -> 'consent' ('' when no catalog service serves it)."""
    grpc_service = method.lstrip("/").split("/", 1)[0]
    return _owners().get(grpc_service, "")


def callers_of(name: str) -> tuple[str, ...]:
    return tuple(entry.name for entry in SERVICES if name in entry.peers)


def local_targets() -> dict[str, str]:
    """CARBON_*_TARGET -> the `make run` address, for every service."""
    return {entry.target_variable: entry.local_target() for entry in SERVICES}


def settings_class(entry: ServiceEntry) -> type[BaseServiceSettings]:
    """The service's settings class (imported on demand: carbon_common does not depend on services)."""
    module, _, cls = entry.settings.partition(":")
    from carbon_common.settings import BaseServiceSettings  # only type-checking imports it at module level

    settings = getattr(importlib.import_module(module), cls)
    if not (isinstance(settings, type) and issubclass(settings, BaseServiceSettings)):
        raise TypeError(f"{entry.settings} is not a BaseServiceSettings class")
    return settings


def env_variables(entry: ServiceEntry) -> frozenset[str]:
    """The CARBON_* variables the service reads (its settings, and where their secret files are)."""
    from carbon_common.settings import SECRETS_DIR_ENV

    fields = settings_class(entry).model_fields
    return frozenset(f"CARBON_{field.upper()}" for field in fields) | {SECRETS_DIR_ENV}
