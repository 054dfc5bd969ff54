"""Reliability and goodput at 100k-200k GPUs: failures, checkpoints, restarts (issue #6).

Layers, each usable alone:

- :mod:`.failures`    failure classes with rates per unit-day (Llama 3, Meta RSC, OPT, BLOOM presets)
- :mod:`.checkpoint`  checkpoint size and time; Young, Daly and exact interval policies
- :mod:`.job`         a scenario + its ``reliability:`` section resolved to one :class:`Job`
- :mod:`.montecarlo`  the vectorized lock-step Monte Carlo (all replications at once)
- :mod:`.kernel`, :mod:`.events`  a tiny event kernel and the event-by-event replication (timelines)
- :mod:`.analysis`    interval choice, simulation, statistics, the scale sweep
- :mod:`.plot`        matplotlib figures (imported lazily)
"""

from colossim.reliability.analysis import (
    DEFAULT_SIZES,
    IntervalChoice,
    ReliabilityResult,
    analyze,
    choose_interval,
    simulated_interval,
    sweep_gpus,
)
from colossim.reliability.checkpoint import (
    checkpoint_bytes,
    daly_exact_interval,
    daly_expected_wall_s,
    daly_interval,
    young_interval,
)
from colossim.reliability.config import ReliabilityConfig, reliability_config
from colossim.reliability.failures import FailureClass, failure_classes, preset_names
from colossim.reliability.job import Job, build_job
from colossim.reliability.montecarlo import simulate_lockstep
from colossim.reliability.runs import RunArrays, stats

__all__ = [
    "DEFAULT_SIZES",
    "FailureClass",
    "IntervalChoice",
    "Job",
    "ReliabilityConfig",
    "ReliabilityResult",
    "RunArrays",
    "analyze",
    "build_job",
    "checkpoint_bytes",
    "choose_interval",
    "daly_exact_interval",
    "daly_expected_wall_s",
    "daly_interval",
    "failure_classes",
    "preset_names",
    "reliability_config",
    "simulate_lockstep",
    "simulated_interval",
    "stats",
    "sweep_gpus",
    "young_interval",
]
