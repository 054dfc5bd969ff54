"""The network twin: fat-tree topologies, collective traffic, routing, flow-level simulation.

    from colossim.network import fabric_inventory, simulate_collective, FlowCollectives
    fabric_inventory(scenario.cluster).switches_per_tier       # [leaf, spine, core]
    simulate_collective(scenario, "all-reduce", "dp", "1GiB", routing="ecmp").throughput_fraction
    estimate(scenario, collectives=FlowCollectives(scenario))  # `estimate --network flow`

Heavy work (scipy.sparse) is imported with the simulation modules, not by this package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FabricInventory", "FlowCollectives", "NetworkConfig", "fabric_inventory", "simulate_collective",
           "simulate_jobs"]

_WHERE = {"FabricInventory": "topology", "fabric_inventory": "topology", "FlowCollectives": "flow_collectives",
          "NetworkConfig": "config", "simulate_collective": "twin", "simulate_jobs": "jobs"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"colossim.network.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'colossim.network' has no attribute {name!r}")
