"""Scenario inputs: model, cluster, training and parallel plan (typed and validated)."""

from colossim.scenario.batch import PlanBatch
from colossim.scenario.cluster import ClusterSpec, FabricSpec
from colossim.scenario.loader import build_cluster, build_model, load_scenario
from colossim.scenario.model import MLASpec, ModelSpec, MoESpec
from colossim.scenario.parallel import ParallelPlan
from colossim.scenario.scenario import Scenario
from colossim.scenario.training import TrainingSpec

__all__ = [
    "ClusterSpec",
    "FabricSpec",
    "MLASpec",
    "ModelSpec",
    "MoESpec",
    "ParallelPlan",
    "PlanBatch",
    "Scenario",
    "TrainingSpec",
    "build_cluster",
    "build_model",
    "load_scenario",
]
