"""Power, energy, cost and carbon: what a run draws and costs, and whether a site can feed it.

    from colossim.api import load_scenario
    from colossim.energy import PowerOptions, CostOptions, power_report, cost_report
    sc = load_scenario("examples/grok1-colossus-100k.yaml")
    power = power_report(sc, PowerOptions(budget_mw=35))     # per component, over time, vs a budget
    power.to_dict()["facility_power_mw"], power.max_gpus_in_budget
    cost_report(sc, power, CostOptions(electricity="tennessee", grid="tva")).to_dict()

The plan search reads :mod:`colossim.energy.objectives` (numpy over StepArrays). Every
figure lives in ``energy/data/*.yaml`` with its source, date and verified flag; the
formulas and what they leave out are in docs/energy.md.
"""

from colossim.energy.cost import (
    CostModel,
    CostReport,
    cost_model,
    cost_report,
    energy_from_gpu_hours,
)
from colossim.energy.objectives import (
    cost_per_token_usd,
    energy_per_token_j,
    facility_power_w,
    peak_facility_power_w,
)
from colossim.energy.options import CostOptions, PowerOptions, cost_options, power_options
from colossim.energy.power import PowerModel, power_model
from colossim.energy.site import PowerReport, power_report

__all__ = [
    "CostModel",
    "CostOptions",
    "CostReport",
    "PowerModel",
    "PowerOptions",
    "PowerReport",
    "cost_model",
    "cost_options",
    "cost_per_token_usd",
    "cost_report",
    "energy_from_gpu_hours",
    "energy_per_token_j",
    "facility_power_w",
    "peak_facility_power_w",
    "power_model",
    "power_options",
    "power_report",
]
