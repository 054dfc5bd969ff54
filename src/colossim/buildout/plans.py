"""The training plan at each size the growing cluster offers: searched once per size, cached.

At every growth step the job is re-planned by :func:`colossim.search.search` on a cluster of
that many GPUs (sizes rounded down to whole pods, so a build-out needs a handful of
searches). The search holds the scenario's tp, cp, ep and sequence parallelism fixed by
default (``buildout.training.search_fixed`` changes that): these follow the model and the
NVLink domain, not the cluster size, and fixing them keeps a re-plan near 0.1 s.

Each size also carries what the build-out needs from the other models, all read-only:

- power per GPU (training, burn-in, idle) from :mod:`colossim.energy` (the same
  ``PowerModel`` as ``colossim power``; facility = IT x PUE);
- restart and resharding cost from :mod:`colossim.reliability` (relaunch + communicator init
  at that size + reading the checkpoint into the new layout at the storage's load bandwidth);
- ETTR at that size under the scenario's failure rates (Daly 2006's complete model at
  Daly's interval), which discounts the tokens trained when ``training.failures`` is on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from colossim.buildout.config import BuildoutConfig
from colossim.energy.options import power_options
from colossim.energy.power import PowerModel, gpu_w_of_breakdown, power_model, terms_of_breakdown
from colossim.energy.site import per_gpu_it_w
from colossim.errors import ColossimError
from colossim.perf.estimate import Estimate
from colossim.reliability.checkpoint import daly_expected_wall_s, daly_interval
from colossim.reliability.config import reliability_config
from colossim.reliability.job import Job, build_job
from colossim.scenario import Scenario
from colossim.search import Constraints, search


@dataclass(frozen=True)
class ScalePlan:
    """The best plan on a cluster of ``gpus`` GPUs, and what running it costs."""

    gpus: int  # the size searched
    estimate: Estimate
    train_it_w_per_gpu: float
    restart_s: float
    reshard_s: float
    ettr: float

    @property
    def gpus_used(self) -> int:
        return int(self.estimate.gpus_used)

    @property
    def tokens_per_s(self) -> float:
        return float(self.estimate.tokens_per_s)

    def summary(self) -> dict[str, Any]:
        return {"gpus": self.gpus, "gpus_used": self.gpus_used, "tokens_per_s": self.tokens_per_s,
                "plan": dict(self.estimate.plan), "mfu": self.estimate.mfu, "step_time_s": self.estimate.step_time_s,
                "ettr": self.ettr, "restart_s": self.restart_s, "reshard_s": self.reshard_s,
                "train_it_w_per_gpu": self.train_it_w_per_gpu}


def ettr_daly(job: Job) -> float:
    """Expected ETTR of a long run: work / Daly's expected wall time at Daly's interval."""
    if not math.isfinite(job.mttf_s):
        return 1.0
    tau = daly_interval(job.block_s, job.mttf_s)
    wall = daly_expected_wall_s(1.0, tau, job.block_s, job.mttf_s, job.recovery_s)
    return 0.0 if not math.isfinite(wall) or wall <= 0 else min(1.0, 1.0 / wall)


class Planner:
    """Search once per size (rounded down to whole pods); remember every answer."""

    def __init__(self, scenario: Scenario, cfg: BuildoutConfig, quantum_gpus: int) -> None:
        self.scenario = scenario
        self.cfg = cfg
        self.quantum = max(1, quantum_gpus)
        p = scenario.parallel
        fixed = cfg.training.search_fixed
        if fixed is None:
            # the job's model-parallel layout stays as stated (experts' split too); the
            # planner grows data and pipeline parallelism
            fixed = {"tp": p.tp, "cp": p.cp, "ep": p.ep, "sp": int(p.sequence_parallel)}
            if scenario.model.moe is not None:
                fixed["etp"] = p.etp if p.etp is not None else p.tp
        self.constraints = Constraints(fixed=dict(fixed))
        self.power: PowerModel = power_model(scenario.cluster, power_options(scenario.sections))
        self.job = _reliability_job(scenario)
        self._cache: dict[int, ScalePlan | None] = {}
        self.searches = 0
        self.search_s = 0.0

    def serves(self, cfg: BuildoutConfig, quantum_gpus: int) -> bool:
        """Whether this planner's cached plans hold for ``cfg`` (same pods, same re-plan settings)."""
        mine, theirs = self.cfg.training, cfg.training
        return quantum_gpus == self.quantum and all(
            getattr(mine, f) == getattr(theirs, f) for f in ("search_fixed", "failures", "reshard_factor"))

    def key(self, gpus: int) -> int:
        """The size searched for ``gpus`` GPUs: whole pods (all of them below one pod)."""
        g = int(gpus)
        return g if g < self.quantum else (g // self.quantum) * self.quantum

    def plan(self, gpus: int) -> ScalePlan | None:
        """The plan on ``gpus`` GPUs (rounded down to whole pods); None when none fits."""
        k = self.key(gpus)
        if k <= 0:
            return None
        if k not in self._cache:
            self._cache[k] = self._search(k)
        return self._cache[k]

    def sized(self, gpus: int) -> Scenario:
        c = self.scenario.cluster
        cluster = c.model_copy(update={"num_gpus": int(gpus), "gpus_per_node": min(c.gpus_per_node, int(gpus))})
        return self.scenario.model_copy(update={"cluster": cluster})

    def _search(self, gpus: int) -> ScalePlan | None:
        try:
            res = search(self.sized(gpus), constraints=self.constraints, top=1)
        except ColossimError:
            return None
        self.searches += 1
        self.search_s += res.elapsed_s
        est = res.top[0]
        mean_w, _ = gpu_w_of_breakdown(self.power, terms_of_breakdown(est.breakdown_s))
        job = self.job.scaled(est.gpus_used)
        reshard = job.reload_s * self.cfg.training.reshard_factor
        ettr = ettr_daly(job) if self.cfg.training.failures else 1.0
        return ScalePlan(gpus=gpus, estimate=est, train_it_w_per_gpu=per_gpu_it_w(self.power, float(mean_w)),
                         restart_s=job.restart_total_s, reshard_s=reshard, ettr=ettr)

    # ---- power per GPU (IT, W) ----------------------------------------------------------
    @property
    def idle_it_w(self) -> float:
        return per_gpu_it_w(self.power, self.power.phase_w["idle"])

    @property
    def burn_in_it_w(self) -> float:
        return per_gpu_it_w(self.power, self.power.phase_w["compute"])


def _reliability_job(scenario: Scenario) -> Job:
    """The scenario's reliability job (its own section, defaults otherwise); the run length
    does not matter here (ETTR is a rate), so a missing one is set to 30 days."""
    section = scenario.sections.get("reliability")
    overrides: dict[str, tuple[str, Any]] = {}
    if scenario.training.total_tokens is None and not (isinstance(section, dict) and section.get("run_days")):
        overrides["run_days"] = ("buildout", 30.0)
    return build_job(scenario, reliability_config(section, overrides))
