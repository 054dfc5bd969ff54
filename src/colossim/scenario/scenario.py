"""A scenario: model + cluster + training + parallel plan, validated together."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from colossim.scenario.batch import PlanBatch
from colossim.scenario.cluster import ClusterSpec
from colossim.scenario.model import ModelSpec
from colossim.scenario.parallel import ParallelPlan
from colossim.scenario.training import TrainingSpec


class Scenario(BaseModel):
    """Everything one training step depends on. Build with :func:`load_scenario`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "scenario"
    model: ModelSpec
    cluster: ClusterSpec
    training: TrainingSpec
    parallel: ParallelPlan
    dp_was_inferred: bool = False
    plan_source: Literal["given", "search"] = Field(
        default="given", description="given: the scenario's parallel section; search: the plan search's best plan")
    sections: dict[str, Any] = Field(
        default_factory=dict,
        description="optional sections read by later subsystems (network, power, cost, reliability)",
    )

    @property
    def num_gpus_used(self) -> int:
        return self.parallel.world_size

    @property
    def num_gpus_idle(self) -> int:
        return self.cluster.num_gpus - self.num_gpus_used

    def plan_batch(self) -> PlanBatch:
        return PlanBatch.from_plan(self.parallel, self.training)

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved scenario, loadable again by load_scenario."""
        out: dict[str, Any] = {
            "name": self.name,
            "model": self.model.model_dump(exclude_none=True),
            "cluster": self.cluster.model_dump(exclude_none=True),
            "training": self.training.model_dump(exclude_none=True),
            "parallel": self.parallel.model_dump(exclude_none=True),
        }
        out.update(self.sections)
        return out
