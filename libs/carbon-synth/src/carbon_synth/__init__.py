"""Seeded synthetic region: enterprises, e-invoices, 15-minute meter readings.

Deterministic for a given seed, so the demo, the tests and the benchmarks see
the same region. `region.py` is the per-enterprise generator (protobuf
messages as clients send them); `bulk.py` produces columnar data at province
scale for benchmarks.
"""

from carbon_synth.region import INDUSTRIES, Region, SynthEnterprise, generate_region, make_uscc

__all__ = ["INDUSTRIES", "Region", "SynthEnterprise", "generate_region", "make_uscc"]
