"""Which rating scheme a bank product prices on.

The policy author owns the mapping: `params.scheme_id` in the product's
`data.json` inside the active bundle. When a bundle lacks it (e.g. an OPA
ConfigMap carrying only .rego files), the package's `data/products.json` is
the fallback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Product:
    id: str
    scheme_id: str
    version: str = ""
    display_name: str = ""


def _fallback() -> dict[str, Product]:
    text = resources.files("carbon_pricing").joinpath("data/products.json").read_text(encoding="utf-8")
    raw = json.loads(text)["products"]
    return {pid: Product(pid, entry["scheme_id"], "", entry.get("display_name", "")) for pid, entry in raw.items()}


def load_products(bundle_data: Mapping[str, Any] | None, bundle_products: tuple[str, ...] = ()) -> dict[str, Product]:
    """Products of a loaded bundle (its merged data document), falling back per
    product to the package file for the scheme."""
    fallback = _fallback()
    products: dict[str, Product] = {}
    ids = bundle_products or tuple(fallback)
    for product_id in ids:
        node = (bundle_data or {}).get(product_id)
        params = node.get("params") if isinstance(node, Mapping) else None
        params = params if isinstance(params, Mapping) else {}
        scheme_id = params.get("scheme_id")
        if not isinstance(scheme_id, str) or not scheme_id:
            if product_id not in fallback:
                log.warning("product has no scheme_id anywhere", extra={"product": product_id})
                continue
            scheme_id = fallback[product_id].scheme_id
        products[product_id] = Product(
            product_id,
            scheme_id,
            str(params.get("product_version", "")),
            str(
                params.get("product_name", "") or (fallback[product_id].display_name if product_id in fallback else "")
            ),
        )
    return products
