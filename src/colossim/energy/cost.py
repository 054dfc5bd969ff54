"""Energy, electricity cost, emissions and capital cost of a whole training run.

- run time = total_tokens / (tokens per second) / goodput (or published GPU-hours / GPUs used);
  goodput: given, else training.goodput, else the reliability model's ETTR (energy/goodput.py);
- GPU-hours = GPUs used x run hours (the convention of published runs: Llama 3 405B 30.84M);
- energy = average facility power x run time (the whole cluster: idle spares draw idle power);
- electricity cost = energy x price (USD/kWh preset or given); emissions = energy x grid
  intensity (location-based, g CO2/kWh);
- capital = GPUs x price (catalog, unverified) + servers x (server around the GPUs) + switches
  x price + optical ports x Gb/s x price + facility x (MW of IT nameplate), amortized
  straight-line: hardware over its lifetime, the facility over its own; the run is charged
  its duration's share;
- cost = electricity + amortized capital; per million tokens = cost / total_tokens x 1e6.

Left out: financing (cost of capital), staff, maintenance contracts, software, networking
beyond the scale-out fabric, data, failed experiments, the time the cluster stands idle
between runs, demand charges and power-purchase-agreement pricing, embodied carbon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from colossim import catalog
from colossim.energy import presets
from colossim.energy.goodput import resolve_goodput
from colossim.energy.options import CostOptions
from colossim.energy.power import PowerModel
from colossim.energy.site import PowerReport
from colossim.errors import ColossimError
from colossim.perf.estimate import training_s
from colossim.scenario import ClusterSpec, Scenario

HOURS_PER_YEAR = 8766.0  # 365.25 days
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class CostModel:
    """Resolved prices, intensities and capital figures (USD, g CO2/kWh, years)."""

    usd_per_kwh: float
    price_name: str
    g_co2_per_kwh: float
    grid_name: str
    gpu_price_usd: float | None
    server_usd_per_gpu: float
    switch_usd: float
    optics_usd_per_gbps: float
    facility_usd_per_mw: float
    hardware_lifetime_years: float
    facility_lifetime_years: float
    include_capex: bool

    def capex_usd(self, power: PowerModel) -> dict[str, float]:
        """Capital cost of the whole cluster by part (GPUs, servers, network, facility)."""
        n = power.num_gpus
        gpus = n * (self.gpu_price_usd or 0.0)
        network = power.num_switches * self.switch_usd + power.optical_ports * power.port_gbps * self.optics_usd_per_gbps
        it_nameplate_mw = sum(power.nameplate_components_w().values()) / 1e6
        return {"gpus": gpus, "servers": n * self.server_usd_per_gpu, "network": network,
                "facility": it_nameplate_mw * self.facility_usd_per_mw}

    def capex_usd_per_hour(self, power: PowerModel) -> float:
        """Straight-line amortization of the cluster's capital, USD per hour of use."""
        if not self.include_capex:
            return 0.0
        parts = self.capex_usd(power)
        hardware = parts["gpus"] + parts["servers"] + parts["network"]
        return (hardware / self.hardware_lifetime_years + parts["facility"] / self.facility_lifetime_years) / HOURS_PER_YEAR


def cost_model(cluster: ClusterSpec, opts: CostOptions | None = None) -> CostModel:
    """Prices and capital figures: catalog defaults, the ``cost:`` options on top."""
    opts = opts or CostOptions()
    if opts.usd_per_kwh is not None:
        price, price_name = opts.usd_per_kwh, "given"
    else:
        preset = presets.price_preset(opts.electricity or presets.default_price_name())
        price, price_name = preset.value, preset.name
    if opts.g_co2_per_kwh is not None:
        carbon, grid_name = opts.g_co2_per_kwh, "given"
    else:
        preset = presets.grid_preset(opts.grid or presets.default_grid_name())
        carbon, grid_name = preset.value, preset.name
    gpu_price = opts.gpu_price_usd if opts.gpu_price_usd is not None else catalog_gpu_price(cluster.gpu)
    if gpu_price is None and opts.include_capex:
        raise ColossimError(
            f"cost.gpu_price_usd: the catalog has no price for {cluster.gpu} (no credible public figure); "
            "give one (cost.gpu_price_usd in the scenario or --gpu-price-usd) or leave capital out (--no-capex)",
            field="cost.gpu_price_usd", allowed="a price in USD per GPU")

    def capex(name: str) -> float:
        given = getattr(opts, name)
        return float(given) if given is not None else presets.figure("capex.yaml", name)

    return CostModel(
        usd_per_kwh=float(price), price_name=price_name, g_co2_per_kwh=float(carbon), grid_name=grid_name,
        gpu_price_usd=gpu_price, server_usd_per_gpu=capex("server_usd_per_gpu"), switch_usd=capex("switch_usd"),
        optics_usd_per_gbps=capex("optics_usd_per_gbps"), facility_usd_per_mw=capex("facility_usd_per_mw"),
        hardware_lifetime_years=capex("hardware_lifetime_years"), facility_lifetime_years=capex("facility_lifetime_years"),
        include_capex=opts.include_capex,
    )


def catalog_gpu_price(gpu: str) -> float | None:
    """The catalog's GPU price (a press/analyst estimate), the midpoint when only a range is given."""
    price = catalog.gpu(gpu).price_usd
    if not price:
        return None
    if price.get("value") is not None:
        return float(price["value"])
    if price.get("low") is not None and price.get("high") is not None:
        return (float(price["low"]) + float(price["high"])) / 2.0
    return None


@dataclass(frozen=True)
class CostReport:
    """Everything `colossim cost` reports."""

    scenario: str
    total_tokens: float | None
    run_hours: float
    gpus_used: int
    num_gpus: int
    goodput: float
    goodput_source: str
    goodput_warning: str | None
    facility_avg_w: float
    it_avg_w: float
    model: CostModel
    capex_usd: dict[str, float]
    bounds_mwh: dict[str, float]
    basis: str
    tokens_per_s: float | None = None  # None when the run length came from GPU-hours given
    notes: list[str] = field(default_factory=list)

    @property
    def gpu_hours(self) -> float:
        return self.gpus_used * self.run_hours

    @property
    def energy_mwh(self) -> float:
        return self.facility_avg_w * self.run_hours / 1e6

    @property
    def electricity_usd(self) -> float:
        return self.energy_mwh * 1e3 * self.model.usd_per_kwh

    @property
    def co2_tonnes(self) -> float:
        return self.energy_mwh * 1e3 * self.model.g_co2_per_kwh / 1e6

    @property
    def capex_amortized_usd(self) -> dict[str, float]:
        if not self.model.include_capex:
            return {k: 0.0 for k in self.capex_usd}
        years = self.run_hours / HOURS_PER_YEAR
        m = self.model
        return {k: v * years / (m.facility_lifetime_years if k == "facility" else m.hardware_lifetime_years)
                for k, v in self.capex_usd.items()}

    @property
    def cost_usd(self) -> float:
        return self.electricity_usd + sum(self.capex_amortized_usd.values())

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        per_mtok = None if not self.total_tokens else self.cost_usd / self.total_tokens * 1e6
        j_per_token = None if not self.total_tokens else self.energy_mwh * 3.6e9 / self.total_tokens
        return {
            "scenario": self.scenario,
            "basis": self.basis,
            "tokens_per_s": self.tokens_per_s,
            "total_tokens": self.total_tokens,
            "run_days": self.run_hours / 24.0,
            "goodput": self.goodput,
            "goodput_source": self.goodput_source,
            "goodput_warning": self.goodput_warning,
            "gpus_used": self.gpus_used,
            "num_gpus": self.num_gpus,
            "gpu_hours": self.gpu_hours,
            "cluster_gpu_hours": self.num_gpus * self.run_hours,
            "facility_power_avg_mw": self.facility_avg_w / 1e6,
            "energy_mwh": self.energy_mwh,
            "it_energy_mwh": self.it_avg_w * self.run_hours / 1e6,
            "energy_per_token_j": j_per_token,
            "usd_per_kwh": m.usd_per_kwh,
            "price_preset": m.price_name,
            "electricity_usd": self.electricity_usd,
            "g_co2_per_kwh": m.g_co2_per_kwh,
            "grid_preset": m.grid_name,
            "co2_tonnes": self.co2_tonnes,
            "capex_usd": dict(self.capex_usd),
            "capex_total_usd": sum(self.capex_usd.values()),
            "capex_amortized_usd": self.capex_amortized_usd,
            "lifetime_years": {"hardware": m.hardware_lifetime_years, "facility": m.facility_lifetime_years},
            "gpu_price_usd": m.gpu_price_usd,
            "include_capex": m.include_capex,
            "cost_usd": self.cost_usd,
            "cost_per_million_tokens_usd": per_mtok,
            "energy_bounds_mwh": dict(self.bounds_mwh),
            "notes": list(self.notes),
        }


def cost_report(scenario: Scenario, power: PowerReport, opts: CostOptions | None = None,
                gpu_hours: float | None = None) -> CostReport:
    """The whole run's energy, cost and emissions, from its power report.

    ``gpu_hours`` (published GPU-hours) sets the run length instead of the token count.
    """
    opts = opts or CostOptions()
    model = cost_model(scenario.cluster, opts)
    goodput = None
    tokens = opts.total_tokens or scenario.training.total_tokens
    tokens_per_s = scenario.training.tokens_per_step / power.step_time_s
    notes = list(power.notes)
    if gpu_hours is not None:
        hours, basis = gpu_hours / power.gpus_used, f"{gpu_hours:.4g} GPU-hours given"
    elif tokens is not None:
        goodput = resolve_goodput(scenario, opts.goodput, "cost.goodput or --goodput", tokens)
        hours = float(training_s(tokens, scenario.training.tokens_per_step, power.step_time_s)) / goodput.value / SECONDS_PER_HOUR
        basis = f"{tokens:,.0f} tokens at {tokens_per_s:,.0f} tokens/s, {goodput.describe()}"
    else:
        raise ColossimError("training.total_tokens: missing; the cost of a run needs its token count "
                            "(training.total_tokens, cost.total_tokens or --total-tokens) or --gpu-hours",
                            field="training.total_tokens", allowed="a positive number of tokens")
    if model.gpu_price_usd is None:
        notes.append(f"no GPU price for {scenario.cluster.gpu}: capital cost left out")
    pm = power.model
    return CostReport(
        scenario=scenario.name, total_tokens=tokens, run_hours=hours, gpus_used=power.gpus_used,
        num_gpus=pm.num_gpus, goodput=1.0 if goodput is None else goodput.value,
        goodput_source="gpu-hours given" if goodput is None else goodput.detail,
        goodput_warning=None if goodput is None else goodput.warning, facility_avg_w=power.facility_w("average"),
        it_avg_w=power.it_w["average"], model=model, capex_usd=model.capex_usd(pm),
        bounds_mwh=energy_bounds_mwh(pm, power.gpus_used * hours), basis=basis,
        tokens_per_s=None if goodput is None else tokens_per_s, notes=notes,
    )


def energy_bounds_mwh(power: PowerModel, gpu_hours: float) -> dict[str, float]:
    """What GPU-hours imply at the two ends: GPUs at TDP only (the accounting of model cards),
    and servers at their rating (GPU TDP + rated overhead), IT and with PUE."""
    rated_w = power.tdp_w + power.overhead_rated_w
    return {"gpus_at_tdp": gpu_hours * power.tdp_w / 1e6,
            "servers_at_rating": gpu_hours * rated_w / 1e6,
            "servers_at_rating_with_pue": gpu_hours * rated_w * power.pue / 1e6}


def energy_from_gpu_hours(power: PowerReport, gpu_hours: float) -> dict[str, float]:
    """Energy of ``gpu_hours`` of the scenario's plan, per used GPU (network and storage shared
    out per GPU; idle spares excluded), against :func:`energy_bounds_mwh`."""
    pm = power.model
    mean_w = power.gpu_w["average"]
    per_gpu_it = mean_w + float(pm.overhead_w(mean_w)) + pm.storage_w + pm.network_w / pm.num_gpus
    out = {"gpu_hours": gpu_hours, "gpu_w": mean_w, "it_w_per_gpu": per_gpu_it,
           "it_mwh": gpu_hours * per_gpu_it / 1e6, "facility_mwh": gpu_hours * per_gpu_it * pm.pue / 1e6}
    out.update({f"bound_{k}_mwh": v for k, v in energy_bounds_mwh(pm, gpu_hours).items()})
    return out
