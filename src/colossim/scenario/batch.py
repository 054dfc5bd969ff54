"""A batch of parallel plans as arrays: the one input shape of the step model.

``estimate`` evaluates a batch of one; the plan search evaluates millions. Keeping both on
one code path is what makes every searched plan reproducible by ``estimate``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from colossim.scenario.parallel import SCHEDULE_CODES, ParallelPlan
from colossim.scenario.training import RECOMPUTE_CODES, TrainingSpec

RECOMPUTE_NAMES = {v: k for k, v in RECOMPUTE_CODES.items()}
SCHEDULE_NAMES = {v: k for k, v in SCHEDULE_CODES.items()}


@dataclass(frozen=True, slots=True)
class PlanBatch:
    """Parallel plan and the per-plan training knobs (micro-batch, recompute, ZeRO)."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    etp: np.ndarray  # expert tensor parallel (1 or tp); 0: the same as tp (the plan leaves it out)
    vpp: np.ndarray
    mbs: np.ndarray
    recompute: np.ndarray  # 0 none, 1 selective, 2 full
    zero: np.ndarray
    sp: np.ndarray  # bool
    first_stage_layers: np.ndarray  # 0: balanced
    last_stage_layers: np.ndarray  # 0: balanced
    schedule: np.ndarray  # 0 1f1b (interleaved when vpp > 1), 1 zero-bubble, 2 dualpipe

    def __len__(self) -> int:
        return int(self.tp.shape[0])

    @classmethod
    def from_arrays(cls, **arrays: Any) -> PlanBatch:
        """Build from array-likes; missing optional columns take their defaults."""
        n = len(np.asarray(arrays["tp"]))
        defaults = {"cp": 1, "ep": 1, "etp": 0, "vpp": 1, "mbs": 1, "recompute": 0, "zero": 1, "sp": True,
                    "first_stage_layers": 0, "last_stage_layers": 0, "schedule": 0}
        cols: dict[str, np.ndarray] = {}
        for f in fields(cls):
            value = arrays.get(f.name, defaults.get(f.name))
            if value is None:
                raise KeyError(f"PlanBatch needs column {f.name!r}")
            dtype = bool if f.name == "sp" else np.int64
            cols[f.name] = np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()
        return cls(**cols)

    @classmethod
    def from_plan(cls, plan: ParallelPlan, training: TrainingSpec) -> PlanBatch:
        assert plan.dp is not None
        return cls.from_arrays(
            tp=[plan.tp], pp=[plan.pp], dp=[plan.dp], cp=[plan.cp], ep=[plan.ep], etp=[plan.etp or 0], vpp=[plan.vpp],
            mbs=[training.micro_batch_size], recompute=[RECOMPUTE_CODES[training.recompute]],
            zero=[training.zero_stage], sp=[plan.sequence_parallel],
            first_stage_layers=[plan.first_stage_layers or 0], last_stage_layers=[plan.last_stage_layers or 0],
            schedule=[SCHEDULE_CODES[plan.schedule]],
        )

    @property
    def expert_tp(self) -> np.ndarray:
        """The experts' tensor split: ``etp``, or ``tp`` where etp is 0 (left out)."""
        return np.where(self.etp == 0, self.tp, self.etp)

    def micro_batches(self, global_batch_size: int) -> np.ndarray:
        """Micro-batches each pipeline runs per step: the batch over dp x mbs."""
        return global_batch_size // np.maximum(self.dp * self.mbs, 1)

    def take(self, index: Any) -> PlanBatch:
        return PlanBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def row(self, i: int) -> dict[str, Any]:
        """One plan as a plain dict (scenario field names)."""
        return {
            "tp": int(self.tp[i]), "pp": int(self.pp[i]), "dp": int(self.dp[i]), "cp": int(self.cp[i]),
            "ep": int(self.ep[i]), "etp": int(self.etp[i] or self.tp[i]), "vpp": int(self.vpp[i]), "sequence_parallel": bool(self.sp[i]),
            "micro_batch_size": int(self.mbs[i]), "recompute": RECOMPUTE_NAMES[int(self.recompute[i])],
            "zero_stage": int(self.zero[i]),
            "first_stage_layers": int(self.first_stage_layers[i]) or None,
            "last_stage_layers": int(self.last_stage_layers[i]) or None,
            "schedule": SCHEDULE_NAMES[int(self.schedule[i])],
        }
