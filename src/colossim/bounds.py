"""The physical range of every quantity a user gives, with the reason (read by colossim.gate).

A scenario field and the flag that overrides it share one entry, so ``training.total_tokens``
and ``--total-tokens`` are refused in the same words. The ranges are wide: they exist to
catch typos and overflow (``nic_gbps_per_gpu: 1e-300`` gives a 1e301 s step), not to judge
plausible designs.
"""

from __future__ import annotations

# dotted path (``*``: any key) -> (lowest, highest, what the quantity is and why the range)
BOUNDS: dict[str, tuple[float, float, str]] = {
    "cluster.scaleup_gbps_per_gpu": (1.0, 1e5, "NVLink GB/s per GPU: 1 (PCIe-class) to 100,000"),
    "cluster.nic_gbps_per_gpu": (1.0, 1e5, "NIC Gb/s per GPU: 1 (old Ethernet) to 100,000"),
    "cluster.fabric.port_gbps": (1.0, 1e5, "switch port Gb/s: 1 to 100,000"),
    "cluster.fabric.oversubscription.*": (1.0, 1000.0, "down:up ratio: 1 (non-blocking) to 1000"),
    "model.published_params_b": (1e-6, 1e6, "billions of parameters: 1e-6 to 1e6"),
    "model.moe.capacity_factor": (0.01, 1000.0, "tokens per expert over the even share: 0.01 to 1000"),
    "training.total_tokens": (1.0, 1e18, "tokens to train: 1 to 1e18"),
    "power.pue": (1.0, 5.0, "facility / IT power: 1 (no overhead) to 5 (worse than any datacenter)"),
    "power.server_overhead_w_per_gpu": (0.0, 1e5, "W per GPU: 0 to 100 kW"),
    "power.storage_w_per_gpu": (0.0, 1e5, "W per GPU: 0 to 100 kW"),
    "power.switch_w": (0.0, 1e6, "W per switch: 0 to 1 MW"),
    "power.budget_mw": (1e-3, 1e6, "site MW: 1 kW to 1 TW"),
    "power.ramp_mw_per_min": (1e-3, 1e6, "MW per minute: 0.001 to 1e6"),
    "power.checkpoint_stall_s": (0.0, 86_400.0, "seconds: 0 to one day"),
    "power.restart_s": (0.0, 86_400.0, "seconds: 0 to one day"),
    "power.steps_between_events_s": (1e-3, 86_400.0, "seconds: 1 ms to one day"),
    "cost.usd_per_kwh": (0.0, 100.0, "USD per kWh: 0 to 100"),
    "cost.g_co2_per_kwh": (0.0, 5000.0, "g CO2 per kWh: 0 to 5000 (lignite emits ~1100)"),
    "cost.total_tokens": (1.0, 1e18, "tokens to train: 1 to 1e18"),
    "cost.gpu_price_usd": (0.0, 1e8, "USD per GPU: 0 to 1e8"),
    "cost.server_usd_per_gpu": (0.0, 1e8, "USD per GPU: 0 to 1e8"),
    "cost.switch_usd": (0.0, 1e9, "USD per switch: 0 to 1e9"),
    "cost.optics_usd_per_gbps": (0.0, 1e6, "USD per Gb/s: 0 to 1e6"),
    "cost.facility_usd_per_mw": (0.0, 1e12, "USD per MW: 0 to 1e12"),
    "cost.hardware_lifetime_years": (0.01, 100.0, "years: 0.01 to 100"),
    "cost.facility_lifetime_years": (0.01, 100.0, "years: 0.01 to 100"),
    "reliability.failure_classes.*.rate_per_unit_day": (0.0, 100.0, "failures per unit per day: 0 to 100 "
                                                                     "(more and the unit never works)"),
    "reliability.failure_classes.*.repair_h": (0.0, 1e5, "hours: 0 to 100,000 (11 years)"),
    "reliability.failure_classes.*.detect_s": (0.0, 1e6, "seconds: 0 to 1e6 (11 days)"),
    "reliability.rate_scale": (0.0, 1e4, "a factor on every rate: 0 to 10,000"),
    "reliability.checkpoint.interval": (1e-3, 1e6, "minutes between checkpoints: 0.001 to 1e6 (two years)"),
    "reliability.checkpoint.save_tbps": (1e-6, 1e4, "TB/s: 1 MB/s to 10 PB/s"),
    "reliability.checkpoint.load_tbps": (1e-6, 1e4, "TB/s: 1 MB/s to 10 PB/s"),
    "reliability.checkpoint.bytes_per_param": (0.1, 1000.0, "bytes per parameter: 0.1 to 1000"),
    "reliability.checkpoint.size_tb": (1e-9, 1e6, "TB: 1 kB to 1 EB"),
    "reliability.checkpoint.async_blocking_s": (0.0, 1e5, "seconds: 0 to 100,000"),
    "reliability.recovery.detect_s": (0.0, 1e6, "seconds: 0 to 1e6 (11 days)"),
    "reliability.recovery.restart_s": (0.0, 1e6, "seconds: 0 to 1e6 (11 days)"),
    "reliability.recovery.comm_init_s": (0.0, 1e6, "seconds: 0 to 1e6 (11 days)"),
    "reliability.recovery.comm_init_exponent": (0.0, 4.0, "scaling exponent: 0 to 4"),
    "reliability.recovery.reload_s": (0.0, 1e6, "seconds: 0 to 1e6 (11 days)"),
    "reliability.spares.servers": (0, 10_000_000, "spare servers: 0 to 10 million"),
    "reliability.spares.repair_h": (0.0, 1e5, "hours: 0 to 100,000 (11 years)"),
    "reliability.stragglers.slowdown": (1.0, 100.0, "step-time factor: 1 to 100"),
    "reliability.run_days": (1e-3, 36_500.0, "failure-free training days: 0.001 to 36,500 (100 years)"),
    "reliability.seed": (0, 2**63 - 1, "a seed numpy takes: 0 to 2**63-1"),
    "network.seed": (0, 2**63 - 1, "a seed numpy takes: 0 to 2**63-1"),
    "network.second_job.size": (1.0, 1e15, "bytes per rank: 1 B to 1 PB"),
    "network.size": (1.0, 1e15, "bytes per rank: 1 B to 1 PB"),  # every buffer size (network.config.parse_size)
    "buildout.power.grid_mw_per_month": (0.0, 1e5, "grid MW added per month: 0 to 100,000"),
    "buildout.power.grid.*.mw": (0.0, 1e6, "site MW: 0 to 1 TW"),
    "buildout.power.onsite.*.mw": (0.0, 1e6, "site MW: 0 to 1 TW"),
    "buildout.power.battery.mw": (0.0, 1e6, "battery MW: 0 to 1 TW"),
    "buildout.power.battery.mwh": (0.0, 1e8, "battery MWh: 0 to 1e8"),
    "buildout.delivery.gpus_per_day": (1e-3, 1e7, "GPUs delivered per day: 0.001 to 10 million"),
    "buildout.delivery.racks_per_day": (1e-3, 1e6, "racks delivered per day: 0.001 to 1 million"),
    "buildout.delivery.start_day": (0.0, 36_500.0, "day: 0 to 36,500 (100 years)"),
    "buildout.install.rack_h": (1e-3, 1e5, "hours per rack: 0.001 to 100,000"),
    "buildout.install.cabling_h_per_rack": (0.0, 1e5, "hours per rack: 0 to 100,000"),
    "buildout.burn_in.days": (0.0, 3650.0, "days: 0 to 3650"),
    "buildout.burn_in.repair_days": (0.0, 3650.0, "days: 0 to 3650"),
    "buildout.network.spine_days_per_pod": (0.0, 3650.0, "days: 0 to 3650"),
    "buildout.training.growth_factor": (1.0, 1e6, "factor between re-plans: above 1, at most 1e6"),
    "buildout.training.reshard_factor": (0.0, 1e6, "a factor: 0 to 1e6"),
    "search.deadline_days": (1e-3, 36_500.0, "days: 0.001 to 36,500 (100 years)"),
    "sweep.search.deadline_days": (1e-3, 36_500.0, "days: 0.001 to 36,500 (100 years)"),
    "options.deadline_days": (1e-3, 36_500.0, "days: 0.001 to 36,500 (100 years)"),
    "options.total_tokens": (1.0, 1e18, "tokens to train: 1 to 1e18"),
    "options.workers": (1, 1024, "processes: 1 to 1024"),  # --workers of search and sweep: each forks that many
}


# the plan search's dimensions (search/space.py): lowest, highest, what they are
DIMENSIONS: dict[str, tuple[int, int, str]] = {
    "tp": (1, 1 << 24, "tensor-parallel ranks: 1 to 2**24"), "pp": (1, 1 << 24, "pipeline stages: 1 to 2**24"),
    "dp": (1, 1 << 27, "data-parallel ranks: 1 to 2**27"), "cp": (1, 1 << 24, "context-parallel ranks: 1 to 2**24"),
    "ep": (1, 1 << 24, "expert-parallel ranks: 1 to 2**24"), "vpp": (1, 1 << 24, "virtual stages: 1 to 2**24"),
    "edges": (0, 1, "edge split: 0 even, 1 the embedding and loss counted as one layer each"),
    "mbs": (1, 1 << 20, "micro-batch sequences: 1 to 2**20"),
    "recompute": (0, 2, "recompute: 0 none, 1 selective, 2 full (or the names)"),
    "zero": (0, 3, "ZeRO stage: 0 to 3"), "sp": (0, 1, "sequence parallel: 0/1, true/false"),
}
