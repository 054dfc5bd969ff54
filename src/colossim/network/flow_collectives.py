"""Collective costs from the flow simulation, for the step model (``estimate --network flow``).

:class:`FlowCollectives` is an :class:`~colossim.perf.comm.AnalyticCollectives` whose data-,
expert-, pipeline- and context-parallel costs (groups dp, edp, ep, pp, cp) come from the
flow simulation on the built fabric; tensor parallelism (and the tied-embedding
all-reduce) stays analytic on NVLink. Groups are placed as the step model assumes: ``n``
ranks ``stride`` GPUs apart, every such group of the job running the collective at once.

The simulated bandwidth time is linear in the buffer size (every transfer scales with
it, so rates and the order of events do not change), so each (collective, n, stride)
is simulated once per object with a 1 GiB buffer and scaled; the alpha term is the
analytical one, and the incast transient of the independent-transfer phases (all-to-all,
point-to-point; network/incast.py) is added per size, since it does not scale. The perf model passes arrays (one entry per plan): each distinct
(n, stride) in the batch is simulated once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from colossim.network.config import NetworkConfig, network_config
from colossim.network.incast import IncastCurve, incast_curve
from colossim.network.placement import node_maps, ranks_to_gpus, stride_groups
from colossim.network.simulate import run_traffic
from colossim.network.twin import Fabric, build_fabric, routing_of, traffic_for
from colossim.perf.comm import AnalyticCollectives
from colossim.perf.hardware import Hardware, resolve_hardware

FLOW_GROUPS = ("dp", "edp", "ep", "pp", "cp")
UNIT_BYTES = float(2**30)


class FlowCollectives(AnalyticCollectives):
    """Flow-simulated collective costs for the scale-out groups of one scenario."""

    def __init__(self, scenario: Any, *, routing: str | None = None, seed: int | None = None,
                 flows_per_pair: int | None = None, config: NetworkConfig | None = None,
                 hw: Hardware | None = None) -> None:
        super().__init__(hw or resolve_hardware(scenario.cluster, scenario.training))
        overrides = {"routing": routing, "seed": seed, "flows_per_pair": flows_per_pair}
        if config is None:
            self.config = network_config(scenario, **overrides)
        else:
            self.config = config.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        self.scenario = scenario
        self.cluster = scenario.cluster
        self.routing = routing_of(self.cluster, self.config)
        self._fabric: Fabric | None = None
        self._cache: dict[tuple[str, int, int], tuple[float, float]] = {}
        self._incast: dict[tuple[str, int, int], IncastCurve] = {}
        gpn = self.cluster.gpus_per_node
        self._extent = (scenario.num_gpus_used // gpn) * gpn or scenario.num_gpus_used
        self._node_map = node_maps(self.cluster.num_nodes, [-(-self._extent // gpn)], self.config.placement.node_order,
                                   self.config.seed)[0]

    @property
    def fabric(self) -> Fabric:
        if self._fabric is None:
            self._fabric = build_fabric(self.cluster, self.config)
        return self._fabric

    def simulated(self) -> dict[str, dict[str, float]]:
        """What was simulated: (collective, n, stride) -> seconds per GiB and latency."""
        return {f"{c} n={n} stride={s}": {"s_per_gib": v[0], "latency_s": v[1]} for (c, n, s), v in self._cache.items()}

    def _unit(self, collective: str, n: int, stride: int) -> tuple[float, float] | None:
        """(bandwidth seconds per byte, latency seconds) of one collective shape; None when
        the job's GPUs cannot hold one such group (the step model masks those terms)."""
        key = (collective, n, stride)
        if key not in self._cache:
            if n * stride > self._extent or (collective == "p2p" and stride >= self._extent):
                return None
            ranks = stride_groups(n, stride, self._extent) if collective != "p2p" else _pairs(stride, self._extent)
            groups = ranks_to_gpus(ranks, self.cluster.gpus_per_node, self._node_map)
            traffic = traffic_for(groups, collective, UNIT_BYTES, self.cluster, self.config)
            out = run_traffic(self.fabric.state, traffic, self.routing, flows_per_pair=self.config.flows_per_pair,
                              seed=self.config.seed, pxn=self.config.pxn)
            self._cache[key] = (out.time_s / UNIT_BYTES, traffic.latency_s)
            state = self.fabric.state
            self._incast[key] = incast_curve(state.topo, state.capacity, traffic, pxn=self.config.pxn,
                                             enabled=self.routing != "ideal")
        return self._cache[key]

    def _cost(self, collective: str, size: np.ndarray, n: np.ndarray, stride: np.ndarray) -> np.ndarray:
        size, n, stride = np.broadcast_arrays(np.asarray(size, dtype=float), np.asarray(n), np.asarray(stride))
        out = np.zeros(size.shape)
        for nn, ss in {(int(a), int(b)) for a, b in zip(n.ravel(), stride.ravel(), strict=True)}:
            if nn <= 1 and collective != "p2p":
                continue
            sel = (n == nn) & (stride == ss)
            unit = self._unit(collective, nn, ss)
            if unit is None:
                out[sel] = self._analytic(collective, size[sel], n[sel], stride[sel])
            else:  # bandwidth scales with the size; the incast transient does not (network/incast.py)
                out[sel] = size[sel] * unit[0] + unit[1] + self._incast[(collective, nn, ss)].time_s(size[sel] / UNIT_BYTES)
        return out

    def _analytic(self, collective: str, size: np.ndarray, n: np.ndarray, stride: np.ndarray) -> np.ndarray:
        if collective == "p2p":
            return super().p2p(size, stride, "pp")
        method = getattr(super(), collective.replace("-", "_"))
        return method(size, n, stride, "analytic")

    def _group(self, name: str, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        """Simulated for the scale-out groups, analytic (the parent's) for the rest."""
        if group not in FLOW_GROUPS:
            return getattr(super(), name)(size, n, stride, group)
        return self._cost(name.replace("_", "-"), size, n, stride)

    def all_reduce(self, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        return self._group("all_reduce", size, n, stride, group)

    def reduce_scatter(self, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        return self._group("reduce_scatter", size, n, stride, group)

    def all_gather(self, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        return self._group("all_gather", size, n, stride, group)

    def all_to_all(self, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        return self._group("all_to_all", size, n, stride, group)

    def p2p(self, size: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        if group not in FLOW_GROUPS:
            return super().p2p(size, stride, group)
        return self._cost("p2p", size, np.full(np.shape(size), 2), stride)


def _pairs(stride: int, extent: int) -> np.ndarray:
    """Point-to-point partners: every rank sends to the rank ``stride`` after it (next stage)."""
    src = np.arange(max(extent - stride, 0))
    return np.stack([src, src + stride], axis=1)
