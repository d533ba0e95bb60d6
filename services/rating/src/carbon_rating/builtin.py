"""Built-in scheme versions shipped as data (data/schemes/*.yaml) and the national-scale config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from carbon_rating import scheme as sc


def builtin_documents() -> dict[str, dict[str, Any]]:
    """scheme id -> parsed document of its built-in version."""
    out = {}
    folder = resources.files("carbon_rating").joinpath("data/schemes")
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith((".yaml", ".yml", ".json")):
            document, errors = sc.parse_text(entry.read_text(encoding="utf-8"))
            if errors or document is None:
                raise ValueError(f"built-in scheme {entry.name}: {errors}")
            out[document["scheme_id"]] = document
    return out


@cache
def builtin_schemes() -> dict[str, sc.SchemeVersion]:
    return {k: sc.compile_scheme(v) for k, v in builtin_documents().items()}


@dataclass(frozen=True)
class NationalConfig:
    """data/national.yaml: the common national scale's settings, each with its recorded source."""

    version: str
    metric: str
    min_sample: int
    sources: Mapping[str, str]


@cache
def national_config() -> NationalConfig:
    text = resources.files("carbon_rating").joinpath("data/national.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    return NationalConfig(
        version=str(raw["version"]),
        metric=str(raw["metric"]),
        min_sample=int(raw["min_sample"]),
        sources={str(k): str(v) for k, v in (raw.get("sources") or {}).items()},
    )
