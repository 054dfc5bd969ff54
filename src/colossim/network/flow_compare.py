"""``estimate --network flow`` side by side: every scale-out collective the step model asked
for, its analytic (alpha-beta) time beside the flow-simulated one.

:class:`ComparingCollectives` is the :class:`FlowCollectives` the estimate runs with; it
records, for each distinct call (collective, group, buffer size, ranks, stride), the
simulated time it returned and the analytic time the default model would have returned.
The step model itself is unchanged: the estimate uses the simulated times.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from colossim.network.flow_collectives import FLOW_GROUPS, FlowCollectives
from colossim.perf.comm import AnalyticCollectives


class ComparingCollectives(FlowCollectives):
    """Flow-simulated collectives that keep the analytic time of each call beside it."""

    def __init__(self, scenario: Any, **kwargs: Any) -> None:
        super().__init__(scenario, **kwargs)
        self._analytic_model = AnalyticCollectives(self.hw)
        self.calls: dict[tuple[str, str, float, int, int], tuple[float, float]] = {}

    def _record(self, name: str, group: str, size: Any, n: Any, stride: Any, simulated: np.ndarray,
                analytic: np.ndarray) -> None:
        size_a, n_a, stride_a, sim_a, ana_a = np.broadcast_arrays(
            np.asarray(size, dtype=float), np.asarray(n), np.asarray(stride), simulated, analytic)
        for s, k, st, t_sim, t_ana in zip(size_a.ravel()[:1], n_a.ravel()[:1], stride_a.ravel()[:1],
                                          sim_a.ravel()[:1], ana_a.ravel()[:1], strict=True):
            if k > 1 or name == "p2p":
                self.calls[(name, group, float(s), int(k), int(st))] = (float(t_ana), float(t_sim))

    def _group(self, name: str, size: np.ndarray, n: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        out = super()._group(name, size, n, stride, group)
        if group in FLOW_GROUPS:
            self._record(name, group, size, n, stride, out,
                         getattr(self._analytic_model, name)(size, n, stride, group))
        return out

    def p2p(self, size: np.ndarray, stride: np.ndarray, group: str) -> np.ndarray:
        out = super().p2p(size, stride, group)
        if group in FLOW_GROUPS:
            self._record("p2p", group, size, 2, stride, out, self._analytic_model.p2p(size, stride, group))
        return out

    def comparison(self) -> dict[str, Any]:
        """One row per distinct call: what the analytic model says and what the simulation says."""
        rows = [{"collective": name.replace("_", "-"), "group": group, "size_bytes": size, "ranks": n,
                 "stride": stride, "analytic_s": ana, "simulated_s": sim,
                 "term": f"{name.replace('_', '-')} {group} x{n}"}
                for (name, group, size, n, stride), (ana, sim) in sorted(self.calls.items())]
        return {"model": f"flow simulation on the built fabric ({self.routing} routing) for the "
                         f"{', '.join(FLOW_GROUPS)} groups; tp analytic on NVLink",
                "rows": rows}
