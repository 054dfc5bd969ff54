"""The experts' own parallel groups under MoE parallel folding (Liu et al. 2025,
arXiv:2504.14960; Megatron-Core ``--expert-tensor-parallel-size``).

The dense layers split the ``tp * cp * dp`` GPUs of a pipeline stage as TP x CP x DP; the
routed experts fold the same GPUs as ETP x EP x EDP, ETP innermost (Megatron-Core's
expert rank order ``tp-ep-dp``). colossim allows ``etp`` = ``tp`` (the default: experts keep
the dense TP split, the EP group strides over TP x CP as before) or ``etp`` = 1 (each GPU
holds whole experts; the EP group is ``ep`` consecutive GPUs, so up to gpus_per_node of its
ranks share an NVLink domain).

- expert data parallelism: ``edp = tp * cp * dp / (ep * etp)``; with etp = tp this is
  dp * cp / ep, today's rule.
- token share: with sequence parallelism each GPU routes its own ``t / tp`` tokens; an
  expert split ``etp`` ways sees the tokens of its ``etp`` ETP ranks, so a GPU's experts run
  ``t * etp / tp`` of the micro-batch's tokens (times top_k * ep / E per expert).
"""

from __future__ import annotations

import numpy as np


def resolve_etp(tp: np.ndarray, etp: np.ndarray | None) -> np.ndarray:
    """``etp`` where given, else ``tp`` (experts keep the dense TP split)."""
    return tp if etp is None else etp


def expert_dp(tp: np.ndarray, cp: np.ndarray, dp: np.ndarray, ep: np.ndarray,
              etp: np.ndarray | None = None) -> np.ndarray:
    """Ranks that hold a copy of the same expert shard: tp*cp*dp / (ep*etp), at least 1."""
    if etp is None:
        return np.maximum(dp * cp // ep, 1)
    return np.maximum(tp * cp * dp // np.maximum(ep * etp, 1), 1)  # etp = tp: (tp*cp*dp)//(ep*tp) = dp*cp//ep


def ep_stride(tp: np.ndarray, cp: np.ndarray, etp: np.ndarray | None = None) -> np.ndarray:
    """GPUs between consecutive EP ranks: tp*cp when experts keep the TP split, else etp."""
    if etp is None:
        return tp * cp
    return np.where(etp == tp, tp * cp, etp)


def edp_stride(tp: np.ndarray, cp: np.ndarray, ep: np.ndarray, etp: np.ndarray | None = None) -> np.ndarray:
    """GPUs between consecutive expert-data-parallel ranks: the EP group's span."""
    return ep_stride(tp, cp, etp) * ep


def token_share(tp: np.ndarray, etp: np.ndarray | None = None) -> np.ndarray | float:
    """Share of the micro-batch's tokens a GPU's experts process (etp / tp; 1 by default)."""
    if etp is None:
        return 1.0
    return etp / tp


def folded(tp: np.ndarray, etp: np.ndarray | None) -> np.ndarray | bool:
    """Plans whose experts leave the dense TP split (etp = 1 < tp)."""
    return False if etp is None else etp != tp
