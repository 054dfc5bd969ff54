"""The parallel plan: how the job is split over GPUs (Megatron-Core conventions)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveInt


class ParallelPlan(BaseModel):
    """Tensor, pipeline, data, context and expert parallelism.

    Expert parallelism splits the experts across the data-parallel ranks (``ep`` divides
    ``dp * cp``); experts keep the tensor-parallel split of the dense layers, as in
    Megatron-Core's default. ``dp`` left out means the largest that fits.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    tp: PositiveInt = Field(default=1, le=1 << 24, description="tensor parallel (inside the NVLink domain)")
    pp: PositiveInt = Field(default=1, le=1 << 24, description="pipeline stages")
    dp: PositiveInt | None = Field(default=None, le=1 << 27, description="data parallel (default: the largest that fits)")
    cp: PositiveInt = Field(default=1, le=1 << 24, description="context parallel (sequence split for attention)")
    ep: PositiveInt = Field(default=1, le=1 << 24, description="expert parallel (MoE)")
    vpp: PositiveInt = Field(default=1, le=1 << 24, description="virtual stages per rank (interleaved 1F1B)")
    sequence_parallel: bool = Field(default=True, description="shard norms/dropout over tp (Korthikanti 2022)")
    first_stage_layers: PositiveInt | None = Field(default=None, description="layers on the first pipeline stage")
    last_stage_layers: PositiveInt | None = Field(default=None, description="layers on the last pipeline stage")

    @property
    def model_parallel_size(self) -> int:
        return self.tp * self.pp * self.cp

    @property
    def world_size(self) -> int:
        assert self.dp is not None, "dp is resolved when the scenario is built"
        return self.tp * self.pp * self.cp * self.dp
