"""One training job's reliability parameters, resolved to numbers (SI units).

:func:`build_job` combines a scenario (what runs, on how many GPUs, for how long) with
its ``reliability:`` section (failure rates, checkpointing, recovery, spares, stragglers)
into a :class:`Job`: the plain record both simulators read. :meth:`Job.scaled` gives the
same job on another number of GPUs (for the scale sweep).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from colossim.errors import ColossimError, field_error, unknown_name_error
from colossim.reliability.checkpoint import TB, async_blocking_s, checkpoint_bytes, storage_preset
from colossim.reliability.config import ReliabilityConfig
from colossim.reliability.failures import (
    SECONDS_PER_DAY,
    FailureClass,
    Footprint,
    failure_classes,
    figure,
    links_per_gpu,
    load_reliability_data,
)
from colossim.scenario import Scenario


@dataclass(frozen=True)
class Job:
    """Everything the simulators need about one job; times in seconds, sizes in bytes."""

    name: str
    gpus: int
    gpus_per_server: int
    links_per_gpu: float
    dp: int
    model_parallel: int
    work_s: float  # failure-free compute time of the whole run
    classes: tuple[FailureClass, ...]
    detect_s: float  # default detection time (a class may override it)
    restart_s: float  # job relaunch (scheduler, containers, processes)
    comm_init_ref_s: float  # communicator init at comm_init_ref_gpus
    comm_init_ref_gpus: int
    comm_init_exponent: float
    checkpoint_bytes: float
    save_bps: float
    load_bps: float
    reload_override_s: float | None
    async_save: bool
    async_block_override_s: float | None
    spare_servers: int
    shrink: bool
    slow_server_fraction: float
    slowdown: float
    interval_s: float = math.nan  # seconds of training between checkpoints (set by a policy)
    # a shrunk job keeps its data-parallel size a multiple of this: expert-parallel groups are
    # carved from the data-parallel ranks (Megatron-Core: tp*cp*dp a multiple of etp*ep)
    dp_granule: int = 1
    notes: tuple[str, ...] = field(default_factory=tuple)

    # ---- footprint and failure rates ----------------------------------------------------
    @property
    def servers(self) -> int:
        return math.ceil(self.gpus / self.gpus_per_server)

    @property
    def footprint(self) -> Footprint:
        return Footprint(gpus=self.gpus, servers=self.servers, links=self.gpus * self.links_per_gpu)

    @property
    def class_rates_per_s(self) -> np.ndarray:
        fp = self.footprint
        return np.array([c.rate_per_unit_day * fp.units(c.unit) for c in self.classes]) / SECONDS_PER_DAY

    @property
    def planned_mask(self) -> np.ndarray:
        return np.array([c.planned for c in self.classes], dtype=bool)

    @property
    def unexpected_rate_per_s(self) -> float:
        return float(self.class_rates_per_s[~self.planned_mask].sum())

    @property
    def planned_rate_per_s(self) -> float:
        return float(self.class_rates_per_s[self.planned_mask].sum())

    @property
    def mttf_s(self) -> float:
        """Job mean time to an unexpected interruption."""
        rate = self.unexpected_rate_per_s
        return math.inf if rate <= 0 else 1.0 / rate

    # ---- checkpoint and recovery times --------------------------------------------------
    @property
    def save_s(self) -> float:
        return self.checkpoint_bytes / self.save_bps

    @property
    def reload_s(self) -> float:
        return self.checkpoint_bytes / self.load_bps if self.reload_override_s is None else self.reload_override_s

    @property
    def block_s(self) -> float:
        """Training pause per checkpoint: the whole save (sync) or the host copy (async)."""
        if not self.async_save:
            return self.save_s
        if self.async_block_override_s is not None:
            return self.async_block_override_s
        return async_blocking_s(self.checkpoint_bytes / self.gpus)

    @property
    def comm_init_s(self) -> float:
        return self.comm_init_ref_s * (self.gpus / self.comm_init_ref_gpus) ** self.comm_init_exponent

    @property
    def restart_total_s(self) -> float:
        """Relaunch plus communicator init (the phase between detection and reload)."""
        return self.restart_s + self.comm_init_s

    def class_detect_s(self) -> np.ndarray:
        return np.array([self.detect_s if c.detect_s is None else c.detect_s for c in self.classes])

    @property
    def recovery_s(self) -> float:
        """Downtime of one unexpected interruption with a spare at hand (default detection)."""
        return self.detect_s + self.restart_total_s + self.reload_s

    # ---- spares and stragglers ----------------------------------------------------------
    @property
    def straggler_probability(self) -> float:
        """Chance that the job holds at least one slow server."""
        return 1.0 - (1.0 - self.slow_server_fraction) ** self.servers

    @property
    def replicas_per_server(self) -> float:
        """Data-parallel replicas a missing server takes out (a server inside one replica
        when the model-parallel group spans servers, several replicas otherwise)."""
        return max(1.0, self.gpus_per_server / self.model_parallel)

    def horizon_s(self, factor: float) -> float:
        """How long a replication may run: ``factor`` x its failure-free time, and at least
        ``factor`` of its longest repair turnarounds past it (a short job that waits days for a
        repaired server is late, not lost)."""
        w = self.work_s * self.slowdown
        repair = max((c.repair_h * 3600.0 for c in self.classes if c.takes_server), default=0.0)
        return max(factor * w, w + factor * repair)

    def shrunk_dp(self, short: np.ndarray | float) -> np.ndarray:
        """Data-parallel size left with ``short`` servers missing: the replicas they hold go,
        then down to a multiple of ``dp_granule``; 0 where not even one granule is left (the
        job must wait)."""
        lost = np.ceil(np.asarray(short, dtype=float) * self.replicas_per_server)
        left = np.floor((self.dp - lost) / self.dp_granule) * self.dp_granule
        return np.where(lost <= 0, float(self.dp), np.maximum(left, 0.0))

    def wait_weights(self) -> np.ndarray:
        """Each class's share of a wait for a spare server: of the servers in repair, by Little's
        law rate x repair time, over the server-taking classes. The wait is theirs, even when a
        software fault or planned stop is what interrupted the job last."""
        held = self.class_rates_per_s * self.repair_s() * self.takes_server_mask()
        total = float(held.sum())
        return held / total if total > 0 else np.zeros(len(self.classes))

    def repair_s(self) -> np.ndarray:
        return np.array([c.repair_h * 3600.0 for c in self.classes])

    def takes_server_mask(self) -> np.ndarray:
        return np.array([c.takes_server for c in self.classes], dtype=bool)

    # ---- variants -----------------------------------------------------------------------
    def with_interval(self, interval_s: float) -> Job:
        notes = list(self.notes)
        if self.async_save and interval_s < self.save_s:
            notes.append(f"async saves take {self.save_s:.1f} s to write, longer than the {interval_s:.1f} s "
                         "interval: the next snapshot waits for the write (interval raised to the save time)")
            interval_s = self.save_s
        return dataclasses.replace(self, interval_s=float(interval_s), notes=tuple(notes))

    def scaled(self, gpus: int) -> Job:
        """The same job on ``gpus`` GPUs: throughput per GPU kept (work scales as 1/GPUs),
        data parallelism and spare pool scaled in proportion, interval left unset."""
        factor = gpus / self.gpus
        return dataclasses.replace(
            self, gpus=int(gpus), work_s=self.work_s / factor,
            dp=max(self.dp_granule, round(self.dp * factor / self.dp_granule) * self.dp_granule),
            spare_servers=int(round(self.spare_servers * factor)), interval_s=math.nan,
        )


def _dp_granule(plan) -> int:
    """The data-parallel ranks a shrink removes at least: an expert-parallel group needs
    tp*cp*dp to be a multiple of etp*ep (Megatron-Core's expert grid), so dp moves in steps
    of etp*ep / gcd(etp*ep, tp*cp); 1 for dense models."""
    experts = plan.ep * (plan.etp or plan.tp)
    if plan.ep <= 1:
        return 1
    return experts // math.gcd(experts, plan.tp * plan.cp)


def _recovery(config: ReliabilityConfig) -> dict[str, float]:
    presets = load_reliability_data("recovery.yaml")["recovery"]
    name = config.recovery.preset
    entry = presets.get(name.lower())
    if entry is None:
        raise unknown_name_error("recovery preset", "reliability.recovery.preset", name, presets)
    keys = ("detect_s", "restart_s", "comm_init_s", "comm_init_ref_gpus", "comm_init_exponent")
    out = {k: figure(entry[k]) for k in keys}
    for k in keys:
        value = getattr(config.recovery, k)
        if value is not None:
            out[k] = float(value)
    return out


def _work_s(scenario: Scenario, config: ReliabilityConfig) -> float:
    if config.run_days is not None:
        return config.run_days * SECONDS_PER_DAY
    if scenario.training.total_tokens is None:
        raise ColossimError(
            "reliability.run_days: missing; the scenario has no training.total_tokens, so the run's length is "
            "unknown (give reliability.run_days, --run-days, or training.total_tokens)",
            field="reliability.run_days", allowed="a positive number of days")
    from colossim.perf.estimate import estimate

    days = estimate(scenario).time_to_train_days
    assert days is not None
    return days * SECONDS_PER_DAY


def _spares(scenario: Scenario, config: ReliabilityConfig, job_servers: int) -> int:
    cluster = scenario.cluster
    idle = cluster.num_servers - job_servers
    wanted = config.spares.servers
    if wanted is None:
        return max(idle, 0)
    if wanted > idle:
        raise field_error(
            "reliability.spares.servers", wanted,
            f"the spare pool cannot be larger than the cluster's idle servers: the cluster has "
            f"{cluster.num_servers:,} servers and the job uses {job_servers:,}, so at most {max(idle, 0):,} can be hot "
            "spares (lower it, or give the cluster more GPUs)")
    return wanted


def build_job(scenario: Scenario, config: ReliabilityConfig) -> Job:
    """Resolve a scenario and its reliability options into a :class:`Job`."""
    cluster, plan = scenario.cluster, scenario.parallel
    gpus = scenario.num_gpus_used
    servers = math.ceil(gpus / cluster.gpus_per_server)
    ck = config.checkpoint
    save_bps, load_bps = storage_preset(ck.storage)
    if ck.save_tbps is not None:
        save_bps = ck.save_tbps * TB
    if ck.load_tbps is not None:
        load_bps = ck.load_tbps * TB
    if ck.size_tb is not None:
        size = ck.size_tb * TB
    elif ck.bytes_per_param is not None:
        size = checkpoint_bytes(scenario.model.total_params(scenario.training.seq_len), ck.bytes_per_param)
    else:
        size = checkpoint_bytes(scenario.model.total_params(scenario.training.seq_len))
    rec = _recovery(config)
    strag = load_reliability_data("recovery.yaml")["stragglers"]
    fraction = config.stragglers.slow_server_fraction
    slowdown = config.stragglers.slowdown
    fraction = figure(strag["slow_server_fraction"]) if fraction is None else fraction
    slowdown = figure(strag["slowdown"]) if slowdown is None else slowdown
    if not config.stragglers.enabled:
        fraction, slowdown = 0.0, 1.0
    classes = failure_classes(config)
    if config.spares.repair_h is not None:
        classes = tuple(dataclasses.replace(c, repair_h=config.spares.repair_h) if c.takes_server else c
                        for c in classes)
    spares = _spares(scenario, config, servers)
    notes = []
    if spares == 0 and config.spares.when_exhausted == "wait":
        notes.append("no hot spares: every server failure waits for its repair "
                     "(set reliability.spares.servers or spares.when_exhausted: shrink)")
    assert plan.dp is not None
    return Job(
        name=scenario.name, gpus=gpus, gpus_per_server=cluster.gpus_per_server,
        links_per_gpu=links_per_gpu(cluster.fabric), dp=plan.dp,
        model_parallel=plan.tp * plan.pp * plan.cp, dp_granule=_dp_granule(plan), work_s=_work_s(scenario, config),
        classes=classes, detect_s=rec["detect_s"], restart_s=rec["restart_s"],
        comm_init_ref_s=rec["comm_init_s"], comm_init_ref_gpus=int(rec["comm_init_ref_gpus"]),
        comm_init_exponent=rec["comm_init_exponent"], checkpoint_bytes=size, save_bps=save_bps,
        load_bps=load_bps, reload_override_s=config.recovery.reload_s, async_save=ck.mode == "async",
        async_block_override_s=ck.async_blocking_s, spare_servers=spares,
        shrink=config.spares.when_exhausted == "shrink", slow_server_fraction=fraction, slowdown=slowdown,
        notes=tuple(notes),
    )
