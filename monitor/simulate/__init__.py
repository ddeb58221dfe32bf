"""Synthetic traffic generators for demos, benchmarks and rule fixtures (deterministic)."""
from .checkpoint import (
                         BruteForce,
                         HostSweep,
                         OutOfBandChange,
                         PortScan,
                         SimConfig,
                         generate,
                         scenario_from_spec,
)

__all__ = [
                         "BruteForce",
                         "HostSweep",
                         "OutOfBandChange",
                         "PortScan",
                         "SimConfig",
                         "generate",
                         "scenario_from_spec",
]
