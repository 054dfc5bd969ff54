"""Rack by rack: when each rack arrives, is installed and cabled, and when its pod joins the fabric.

Times are days from day 0 (floats). Racks are numbered in delivery order.

- **Delivery**: a constant rate (GPUs or racks per day from ``start_day``) until the cluster
  is delivered, or dated batches (whole racks; a batch's GPUs are rounded up to racks).
- **Install**: ``crews`` parallel crews, each rack taking ``rack_h + cabling_h_per_rack`` of
  one crew. With identical service times a first-come first-served queue with c servers is
  exactly ``done[r] = max(arrival[r], done[r - c]) + L``, which unrolls per crew lane to
  ``done_i = (i + 1) L + max_{j <= i}(arrival_j - j L)``: one cumulative maximum per lane.
- **Pods**: a pod (default: the cluster's rack group, 8 racks = 512 GPUs at Colossus) needs all
  its racks installed, then ``spine_days_per_pod`` of spine cabling by one of ``spine_crews``
  fabric crews (the same queue). ``pod_order: sequential`` fills pods one after another;
  ``interleaved`` deals racks across ``interleave_pods`` pods at a time (halls filled side by
  side), so a pod completes later.

Left out: crews that speed up or slow down, racks that fail install, site work before day 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from colossim.buildout.config import BuildoutConfig, increasing_days
from colossim.errors import ColossimError, field_error
from colossim.scenario import ClusterSpec


@dataclass(frozen=True)
class RackSchedule:
    gpus_per_rack: int
    rack_gpus: np.ndarray  # GPUs in each rack (the last one may be partial)
    delivered_d: np.ndarray
    installed_d: np.ndarray
    pod_of: np.ndarray
    pod_joined_d: np.ndarray  # per pod
    pod_gpus: int
    existing: np.ndarray  # racks already in service at day 0 (an expansion)

    @property
    def num_racks(self) -> int:
        return len(self.rack_gpus)

    @property
    def total_gpus(self) -> int:
        return int(self.rack_gpus.sum())

    def rack_joined_d(self) -> np.ndarray:
        return self.pod_joined_d[self.pod_of]


def gpus_per_rack(cluster: ClusterSpec) -> int:
    return int(cluster.gpus_per_rack or 8 * cluster.gpus_per_server)


def fcfs_queue(arrival_d: np.ndarray, servers: int, service_d: float) -> np.ndarray:
    """Completion times of jobs served first come first served by ``servers`` identical
    servers, every job taking ``service_d`` (arrivals sorted)."""
    n = len(arrival_d)
    if n == 0:
        return arrival_d.copy()
    c = max(1, min(servers, n))
    rows = math.ceil(n / c)
    a = np.full(rows * c, np.inf)
    a[:n] = arrival_d
    lanes = a.reshape(rows, c)  # lane k serves jobs k, k + c, ...
    i = np.arange(rows)[:, None]
    done = (i + 1) * service_d + np.maximum.accumulate(lanes - i * service_d, axis=0)
    return done.reshape(-1)[:n]


def _rate_deliveries(cfg: BuildoutConfig, total_gpus: int, per_rack: int) -> np.ndarray:
    d = cfg.delivery
    racks = math.ceil(total_gpus / per_rack)
    rate = d.racks_per_day if d.racks_per_day is not None else (d.gpus_per_day or 0.0) / per_rack
    return d.start_day + np.floor(np.arange(racks) / rate)


def _batch_deliveries(cfg: BuildoutConfig, total_gpus: int, per_rack: int) -> np.ndarray:
    batches = cfg.delivery.batches or []
    days = increasing_days(batches, cfg.start_date, "buildout.delivery.batches")
    out: list[np.ndarray] = []
    delivered = 0
    for i, (b, day) in enumerate(zip(batches, days, strict=True)):
        if (b.gpus is None) == (b.racks is None):
            raise field_error(f"buildout.delivery.batches[{i}]", b.model_dump(exclude_none=True),
                              "give exactly one of gpus or racks")
        racks = b.racks if b.racks is not None else math.ceil((b.gpus or 0) / per_rack)
        delivered += racks * per_rack
        if delivered > total_gpus + per_rack - 1:
            raise field_error(f"buildout.delivery.batches[{i}]", b.model_dump(exclude_none=True),
                              f"the batches deliver {delivered:,} GPUs by then, beyond the cluster's {total_gpus:,} "
                              "(lower the batches or raise buildout.cluster_gpus)")
        out.append(np.full(racks, day))
    return np.concatenate(out) if out else np.zeros(0)


def deliveries(cfg: BuildoutConfig, total_gpus: int, per_rack: int) -> np.ndarray:
    """Delivery day of each rack."""
    d = cfg.delivery
    given = [k for k in ("gpus_per_day", "racks_per_day", "batches") if getattr(d, k) is not None]
    if len(given) != 1:
        raise ColossimError("buildout.delivery: give exactly one of gpus_per_day, racks_per_day or batches "
                            f"(got {', '.join(given) or 'none'})", field="buildout.delivery",
                            allowed="gpus_per_day, racks_per_day or batches")
    if d.batches is not None:
        return _batch_deliveries(cfg, total_gpus, per_rack)
    return _rate_deliveries(cfg, total_gpus, per_rack)


def pod_assignment(num_racks: int, pod_racks: int, order: str, interleave: int) -> np.ndarray:
    r = np.arange(num_racks)
    if order == "sequential":
        return r // pod_racks
    block = pod_racks * interleave
    return (r // block) * interleave + (r % block) % interleave


EXISTING_D = -30.0  # install day given to racks already in service (before day 0)


def rack_schedule(cfg: BuildoutConfig, cluster: ClusterSpec, total_gpus: int) -> RackSchedule:
    per_rack = gpus_per_rack(cluster)
    if cfg.existing_gpus > total_gpus:
        raise field_error("buildout.existing_gpus", cfg.existing_gpus,
                          f"at most the cluster's {total_gpus:,} GPUs (buildout.cluster_gpus or cluster.num_gpus)")
    if cfg.training.min_gpus > total_gpus and "min_gpus" in cfg.training.model_fields_set:
        raise field_error("buildout.training.min_gpus", cfg.training.min_gpus,
                          f"at most the cluster's {total_gpus:,} GPUs (buildout.cluster_gpus or cluster.num_gpus)")
    old = math.ceil(cfg.existing_gpus / per_rack)
    delivered = np.concatenate([np.full(old, EXISTING_D), deliveries(cfg, total_gpus - old * per_rack, per_rack)])
    n = len(delivered)
    if n == 0:
        raise ColossimError("buildout.delivery: the schedule delivers no GPUs", field="buildout.delivery")
    rack_gpus = np.full(n, per_rack, dtype=np.int64)
    rack_gpus[-1] = min(per_rack, total_gpus - per_rack * (n - 1)) if total_gpus < per_rack * n else per_rack
    ins = cfg.install
    installed = fcfs_queue(delivered, ins.crews, (ins.rack_h + ins.cabling_h_per_rack) / 24.0)
    existing = np.arange(n) < old
    installed[existing] = EXISTING_D
    net = cfg.network
    pod_gpus = net.pod_gpus or per_rack * int(cluster.racks_per_group or 8)
    pod_racks = max(1, pod_gpus // per_rack)
    pod_of = pod_assignment(n, pod_racks, net.pod_order, net.interleave_pods)
    pods = int(pod_of.max()) + 1
    last_install = np.full(pods, -np.inf)
    np.maximum.at(last_install, pod_of, installed)
    order = np.argsort(last_install, kind="stable")
    joined = np.empty(pods)
    joined[order] = fcfs_queue(last_install[order], net.spine_crews, net.spine_days_per_pod)
    return RackSchedule(gpus_per_rack=per_rack, rack_gpus=rack_gpus, delivered_d=delivered, installed_d=installed,
                        pod_of=pod_of, pod_joined_d=joined, pod_gpus=pod_racks * per_rack, existing=existing)


def supply_mw(cfg: BuildoutConfig, days: np.ndarray) -> np.ndarray:
    """Steady MW available on each day: grid levels + on-site generation (+ a monthly ramp)."""
    p = cfg.power
    total = np.zeros(len(days))
    for name, entries in (("grid", p.grid), ("onsite", p.onsite)):
        when = increasing_days(entries, cfg.start_date, f"buildout.power.{name}")
        level = np.zeros(len(days))
        for day, e in zip(when, entries, strict=True):
            level = np.where(days >= day, e.mw, level)
        total += level
    if p.grid_mw_per_month is not None:
        total += p.grid_mw_per_month * days / 30.0
    if not p.grid and not p.onsite and p.grid_mw_per_month is None:
        raise ColossimError("buildout.power: missing; give grid and/or onsite levels by day, or grid_mw_per_month",
                            field="buildout.power", allowed="grid, onsite, grid_mw_per_month")
    return total
