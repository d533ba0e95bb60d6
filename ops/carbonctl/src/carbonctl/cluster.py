"""`carbonctl status --namespace NS`: the platform's workloads in a cluster.

Lists Deployments and StatefulSets labelled app.kubernetes.io/part-of=carbon-platform
with the kubernetes client (in-cluster config first, else kubeconfig).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from carbonctl.table import Row

PART_OF = "app.kubernetes.io/part-of=carbon-platform"


def load_config(kubeconfig: str | None = None, context: str | None = None) -> None:
    from kubernetes import config

    if kubeconfig is None and context is None:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]  # kubernetes ships no annotations
            return
        except config.ConfigException:
            pass
    config.load_kube_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]  # kubernetes ships no annotations


def fetch(namespace: str, label_selector: str = PART_OF) -> tuple[list[Any], list[Any]]:
    from kubernetes import client

    apps = client.AppsV1Api()
    deployments = apps.list_namespaced_deployment(namespace, label_selector=label_selector).items
    statefulsets = apps.list_namespaced_stateful_set(namespace, label_selector=label_selector).items
    return list(deployments), list(statefulsets)


def workload_rows(namespace: str, deployments: Iterable[Any], statefulsets: Iterable[Any]) -> list[Row]:
    """Rows from V1Deployment / V1StatefulSet objects, sorted by kind then name."""
    rows = []
    for kind, items in (("Deployment", deployments), ("StatefulSet", statefulsets)):
        for item in sorted(items, key=lambda i: i.metadata.name):
            rows.append(_row(namespace, kind, item))
    return rows


def _row(namespace: str, kind: str, item: Any) -> Row:
    desired = item.spec.replicas if item.spec is not None and item.spec.replicas is not None else 1
    status = item.status
    ready = (status.ready_replicas or 0) if status is not None else 0
    updated = (status.updated_replicas or 0) if status is not None else 0
    labels = item.metadata.labels or {}
    component = labels.get("app.kubernetes.io/component") or labels.get("app.kubernetes.io/name") or item.metadata.name
    generation_seen = status is not None and (status.observed_generation or 0) >= (item.metadata.generation or 0)
    if desired == 0:
        state, healthy = "SCALED_TO_ZERO", True
    elif ready >= desired and generation_seen:
        state, healthy = "READY", True
    elif ready == 0:
        state, healthy = "UNAVAILABLE", False
    else:
        state, healthy = "DEGRADED", False
    detail = f"ready {ready}/{desired}" + (f", updated {updated}/{desired}" if updated < desired else "")
    if not generation_seen:
        detail += ", rollout pending"
    return Row(
        component,
        kind,
        f"{namespace}/{item.metadata.name}",
        state,
        healthy,
        detail,
        {"ready": ready, "desired": desired},
    )
