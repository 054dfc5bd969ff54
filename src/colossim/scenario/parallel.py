"""The parallel plan: how the job is split over GPUs (Megatron-Core conventions)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

Schedule = Literal["1f1b", "zero-bubble", "dualpipe"]
SCHEDULE_CODES: dict[str, int] = {"1f1b": 0, "zero-bubble": 1, "dualpipe": 2}


class ParallelPlan(BaseModel):
    """Tensor, pipeline, data, context and expert parallelism.

    Expert parallelism folds the experts over the tp*cp*dp GPUs of a stage with their own
    tensor split ``etp`` (MoE parallel folding, Liu et al. 2025; Megatron-Core
    --expert-tensor-parallel-size): ``ep * etp`` divides ``tp * cp * dp``. ``etp`` left out
    means ``tp`` (experts keep the dense layers' split, Megatron-Core's default; then ``ep``
    divides ``dp * cp``); ``etp: 1`` gives each GPU whole experts. ``dp`` left out means the
    largest that fits.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    tp: PositiveInt = Field(default=1, le=1 << 24, description="tensor parallel (inside the NVLink domain)")
    pp: PositiveInt = Field(default=1, le=1 << 24, description="pipeline stages")
    dp: PositiveInt | None = Field(default=None, le=1 << 27, description="data parallel (default: the largest that fits)")
    cp: PositiveInt = Field(default=1, le=1 << 24, description="context parallel (sequence split for attention)")
    ep: PositiveInt = Field(default=1, le=1 << 24, description="expert parallel (MoE)")
    etp: PositiveInt | None = Field(default=None, le=1 << 24,
                                    description="expert tensor parallel: 1 or tp (default: tp, the dense split)")
    vpp: PositiveInt = Field(default=1, le=1 << 24, description="virtual stages per rank (interleaved 1F1B)")
    sequence_parallel: bool = Field(default=True, description="shard norms/dropout over tp (Korthikanti 2022)")
    first_stage_layers: PositiveInt | None = Field(default=None, description="layers on the first pipeline stage")
    last_stage_layers: PositiveInt | None = Field(default=None, description="layers on the last pipeline stage")
    schedule: Schedule = Field(
        default="1f1b",
        description=(
            "pipeline schedule: 1f1b (Narayanan et al. 2021; interleaved when vpp > 1), zero-bubble (ZB-H1, "
            "Qi et al. 2023: backward split into input and weight gradients), dualpipe (DeepSeek-V3: two "
            "directions, two weight copies, expert all-to-all hidden behind the paired micro-batch)"
        ),
    )

    @property
    def model_parallel_size(self) -> int:
        return self.tp * self.pp * self.cp

    @property
    def world_size(self) -> int:
        assert self.dp is not None, "dp is resolved when the scenario is built"
        return self.tp * self.pp * self.cp * self.dp
