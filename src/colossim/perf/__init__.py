"""The analytical performance model: FLOPs, memory, compute, communication, pipeline."""

from colossim.perf.estimate import Estimate, estimate, record
from colossim.perf.hardware import Hardware, resolve_hardware
from colossim.perf.step import StepArrays, evaluate

__all__ = ["Estimate", "Hardware", "StepArrays", "estimate", "evaluate", "record", "resolve_hardware"]
