"""The optional ``power:`` and ``cost:`` scenario sections, and command-line overrides.

Every field defaults to the sourced figure in ``energy/data``; a scenario section changes it
for that scenario and a command-line flag changes it for one run. Both are validated by the
same pydantic models, so a mistake names the field (``power.pue``) or the flag
(``--budget-mw``), the value and what is allowed.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, field_validator

from colossim import gate
from colossim.errors import ColossimError
from colossim.scenario.loader import validate_section

_T = TypeVar("_T", bound=BaseModel)

BudgetBasis = Literal["peak", "average", "nameplate"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PowerOptions(_Strict):
    """The ``power:`` section. Unset fields take the catalog defaults (energy/data)."""

    pue: float | str | None = Field(
        default=None, description="facility/IT power: a number >= 1 or a preset (air, liquid, new-large, hyperscale); "
                                  "default from cluster.cooling")
    compute_fraction: float | None = Field(default=None, ge=0, le=1, description="GPU power in compute, x TDP")
    communication_fraction: float | None = Field(default=None, ge=0, le=1, description="GPU power in exposed communication, x TDP")
    optimizer_fraction: float | None = Field(default=None, ge=0, le=1, description="GPU power in the optimizer step, x TDP")
    bubble_fraction: float | None = Field(default=None, ge=0, le=1, description="GPU power waiting (pipeline bubble, stalls), x TDP")
    idle_fraction: float | None = Field(default=None, ge=0, le=1, description="power of a GPU with no job (spares), x TDP")
    server_overhead_w_per_gpu: NonNegativeFloat | None = Field(
        default=None, description="rated non-GPU server power per GPU, W (default: the server design in power.yaml)")
    storage_w_per_gpu: NonNegativeFloat | None = Field(default=None, description="storage power per GPU, W")
    switch_w: NonNegativeFloat | None = Field(default=None, description="one scale-out switch without optics, W")
    budget_mw: PositiveFloat | None = Field(default=None, description="site power budget, MW of facility power")
    budget_basis: BudgetBasis = Field(
        default="peak", description="what must fit the budget: peak (the step's highest draw), average, or nameplate (ratings)")
    ramp_mw_per_min: PositiveFloat | None = Field(
        default=None, description="grid ramp limit for the battery sizing, MW per minute")
    checkpoint_stall_s: NonNegativeFloat = Field(default=30.0, description="blocking checkpoint write, s (0: none)")
    restart_s: NonNegativeFloat = Field(default=600.0, description="a failure's restart: job down, GPUs idle, s (0: none)")
    steps_between_events_s: PositiveFloat = Field(default=120.0, description="training time between timeline events, s")

    @field_validator("pue")
    @classmethod
    def _pue_at_least_one(cls, v: float | str | None) -> float | str | None:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 1.0:
            raise ValueError(f"{v!r} is not allowed; PUE is facility power / IT power, at least 1.0 "
                             "(or a preset: air, liquid, new-large, hyperscale)")
        return v


class CostOptions(_Strict):
    """The ``cost:`` section. Unset fields take the catalog defaults (energy/data)."""

    electricity: str | None = Field(default=None, description="price preset (us-industrial, tennessee, ...)")
    usd_per_kwh: NonNegativeFloat | None = Field(default=None, description="electricity price, USD/kWh (overrides the preset)")
    grid: str | None = Field(default=None, description="carbon preset (us-average, tva, gas-turbine)")
    g_co2_per_kwh: NonNegativeFloat | None = Field(default=None, description="grid carbon intensity, g CO2/kWh (overrides the preset)")
    total_tokens: PositiveFloat | None = Field(default=None, description="tokens of the run (default: training.total_tokens)")
    goodput: float | None = Field(default=None, gt=0, le=1, description=(
        "useful fraction of wall time (failures, restarts); default training.goodput, then the reliability model's ETTR"))
    include_capex: bool = Field(default=True, description="amortized capital cost in the total")
    gpu_price_usd: NonNegativeFloat | None = Field(default=None, description="per GPU (default: catalog price_usd)")
    server_usd_per_gpu: NonNegativeFloat | None = None
    switch_usd: NonNegativeFloat | None = None
    optics_usd_per_gbps: NonNegativeFloat | None = None
    facility_usd_per_mw: NonNegativeFloat | None = Field(default=None, description="per MW of IT capacity")
    hardware_lifetime_years: PositiveFloat | None = None
    facility_lifetime_years: PositiveFloat | None = None


def options(cls: type[_T], body: Any, section: str, flags: dict[str, tuple[str, Any]] | None = None) -> _T:
    """Validate a scenario section, then apply command-line flags ``{field: (flag, value)}``
    (None values are not given). An error in a flag names the flag, not the section field."""
    base = validate_section(cls, body, section)
    given = {k: v for k, (_, v) in (flags or {}).items() if v is not None}
    if not given:
        return base
    for key, (flag, value) in (flags or {}).items():
        # a NaN flag is not a number out of range (pydantic would say "greater than 0"): refused
        # here, with the field's own range; finite values keep the section's checks below
        bound = gate.bound_for(f"{section}.{key}")
        gate.check_number(flag, value, -math.inf, math.inf, bound[2] if bound else gate.FINITE)
    try:
        return validate_section(cls, {**base.model_dump(exclude_unset=True), **given}, section)
    except ColossimError as exc:
        for key, (flag, _) in (flags or {}).items():
            path = f"{section}.{key}"
            if exc.field == path:
                raise ColossimError(str(exc).replace(path, flag, 1), field=flag, value=exc.value,
                                    allowed=exc.allowed, suggestion=exc.suggestion) from None
        raise


def power_options(scenario_sections: dict[str, Any], **flags: tuple[str, Any]) -> PowerOptions:
    return options(PowerOptions, scenario_sections.get("power"), "power", flags)


def cost_options(scenario_sections: dict[str, Any], **flags: tuple[str, Any]) -> CostOptions:
    return options(CostOptions, scenario_sections.get("cost"), "cost", flags)
