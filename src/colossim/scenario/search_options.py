"""The optional ``search:`` section of a scenario (and of a sweep file).

``colossim search`` takes its defaults from it (flags override), and a sweep runs every grid
point's search with it::

    search:
      objective: throughput        # throughput | cost | energy | gpus (fewest GPUs for deadline_days)
      fix: {tp: 8}                 # dimensions held fixed
      max: {pp: 16}                # inclusive upper bounds
      min: {dp: 64}                # inclusive lower bounds
      deadline_days: 90            # for objective gpus
      top: 10                      # plans shown
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SearchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    objective: str = Field(default="throughput", description="throughput | cost | energy | gpus")
    fix: dict[str, int | str | bool] = Field(default_factory=dict, description="dimension -> fixed value")
    max: dict[str, int] = Field(default_factory=dict, description="dimension -> inclusive upper bound")
    min: dict[str, int] = Field(default_factory=dict, description="dimension -> inclusive lower bound")
    deadline_days: float | None = Field(default=None, gt=0, description="for objective gpus: days the run may take")
    top: int = Field(default=10, ge=1, le=10_000, description="how many plans `colossim search` shows")
