"""Per-plan energy and cost for the plan search: numpy over StepArrays, no loop per plan.

Each plan's GPUs draw the time-weighted mean of their phase powers over the step
(compute near TDP, exposed communication and optimizer lower, pipeline bubble near idle:
``colossim.energy.power``); the cluster's GPUs that the plan leaves unused (``num_gpus -
gpus_used``) stay powered at idle power, with their servers' idle overhead: a plan that
strands GPUs pays for them. Network and storage are the cluster's, whatever the plan.
Facility power = IT x PUE.

    energy_per_token_j   = P_facility x step_time / tokens_per_step
    cost_per_token_usd   = energy_per_token / 3.6e6 x USD/kWh
                           + capital USD/hour / 3600 x step_time / tokens_per_step
    peak_facility_power_w: the steady pipelined draw (for a site-budget constraint)

Resolve the models once per cluster (``power_model``, ``cost_model``) and pass them in
when evaluating many batches; when left out they are built with the catalog defaults.
"""

from __future__ import annotations

import functools

import numpy as np

from colossim.energy.cost import CostModel, cost_model
from colossim.energy.power import PHASE_OF_TERM, PowerModel, gpu_w_of_breakdown, power_model
from colossim.perf.step import StepArrays
from colossim.scenario.cluster import ClusterSpec

J_PER_KWH = 3.6e6


@functools.lru_cache(maxsize=16)
def _default_power(cluster: ClusterSpec) -> PowerModel:
    return power_model(cluster)


@functools.lru_cache(maxsize=16)
def _default_cost(cluster: ClusterSpec) -> CostModel:
    return cost_model(cluster)


def _terms(arrays: StepArrays) -> dict[str, np.ndarray]:
    return {t: getattr(arrays, t) for t in PHASE_OF_TERM}


def facility_power_w(arrays: StepArrays, cluster: ClusterSpec, power: PowerModel | None = None) -> np.ndarray:
    """Mean facility power over a step, W, per plan (idle GPUs of the cluster included)."""
    pm = power or _default_power(cluster)
    mean_w, _ = gpu_w_of_breakdown(pm, _terms(arrays))
    return pm.it_w(mean_w, arrays.gpus_used) * pm.pue


def peak_facility_power_w(arrays: StepArrays, cluster: ClusterSpec, power: PowerModel | None = None) -> np.ndarray:
    """Facility power in the steady part of a step (all stages busy), W, per plan."""
    pm = power or _default_power(cluster)
    mean_w, busy_w = gpu_w_of_breakdown(pm, _terms(arrays))
    return pm.it_w(np.maximum(mean_w, busy_w), arrays.gpus_used) * pm.pue


def energy_per_token_j(arrays: StepArrays, cluster: ClusterSpec, power: PowerModel | None = None) -> np.ndarray:
    """Facility energy per trained token, J, per plan."""
    return facility_power_w(arrays, cluster, power) * arrays.step_time_s / arrays.tokens_per_step


def cost_per_token_usd(arrays: StepArrays, cluster: ClusterSpec, power: PowerModel | None = None,
                       cost: CostModel | None = None) -> np.ndarray:
    """Electricity plus amortized capital per trained token, USD, per plan.

    Raises a ColossimError when the GPU has no catalog price and ``cost`` was not given
    (build one with ``cost_model(cluster, CostOptions(gpu_price_usd=...))``).
    """
    pm = power or _default_power(cluster)
    cm = cost or _default_cost(cluster)
    energy_usd = energy_per_token_j(arrays, cluster, pm) / J_PER_KWH * cm.usd_per_kwh
    capital_usd = cm.capex_usd_per_hour(pm) / 3600.0 * arrays.step_time_s / arrays.tokens_per_step
    return energy_usd + capital_usd


__all__ = ["cost_per_token_usd", "energy_per_token_j", "facility_power_w", "peak_facility_power_w"]
