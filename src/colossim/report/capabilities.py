"""What the dashboard, the HTTP API and the reports can run: one entry per capability.

A :class:`Capability` pairs the library call a CLI command makes (``run``: scenario +
options -> the command's ``--json`` object) with its presentation (``present``: that
object -> a :class:`~colossim.report.present.Section`), an options model (the command's
flags as a pydantic model) and, for long work, a ``check_first`` that refuses a request
that would fail or is too large for a shared server before it starts. The HTTP API makes one route per entry
and the dashboard one panel; a report runs the entries it is asked for. An entry whose
library is not installed yet (``requires``) is simply absent.

Adding a capability (e.g. reliability, once ``colossim.reliability`` has its entry point)
is one options model, one ``run`` function and one ``Capability(...)`` line in
:func:`_registry`; see docs/web.md.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from colossim.errors import ColossimError
from colossim.report import present
from colossim.scenario import Scenario

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Limits:
    """How much work one request may ask of a shared server (``colossim serve`` flags)."""

    max_candidates: int = 100_000_000  # plans one search (or a searched scaling curve) may enumerate
    max_points: int = 16  # cluster sizes in one scaling curve
    max_gpus: int = 1 << 20  # cluster.num_gpus (building a scenario is linear in it when dp is inferred)
    max_global_batch: int = 1 << 24  # training.global_batch_size (the plan space factors it)
    max_failures: int = 20_000_000  # Monte Carlo: failures simulated, summed over replications and sizes
    max_flows: int = 2_000_000  # network twin: flows one collective simulation routes (GPUs x flows per pair)


@dataclass
class Context:
    """One run's inputs: the scenario, the mapping it came from, the options, a progress hook."""

    scenario: Scenario
    raw: dict[str, Any]
    options: BaseModel
    progress: Progress | None = None


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True)
class Capability:
    name: str
    title: str
    options: type[Options]
    run: Callable[[Context], dict[str, Any]]
    present: Callable[[dict[str, Any]], present.Section]
    long: bool = False  # runs as a background job in the web API (progress, cancel)
    check_first: Callable[[Context, Limits], None] | None = None  # cheap checks and the budget, before any work
    requires: tuple[str, ...] = ()  # modules that must exist (a subsystem still being built)
    flags: dict[str, str] | None = None  # CLI flag named in a library error -> option name

    @property
    def available(self) -> bool:
        return all(_exists(m) for m in self.requires)

    def execute(self, ctx: Context) -> dict[str, Any]:
        """``run``, with errors about a CLI flag renamed to the option that carries it."""
        return self._renamed(self.run, ctx)

    def check(self, ctx: Context, limits: Limits) -> None:
        """Refuse, before any work, what would fail or exceed the server's budget."""
        if self.check_first is not None:
            self._renamed(self.check_first, ctx, limits)

    def _renamed(self, func: Callable[..., Any], *args: Any) -> Any:
        try:
            return func(*args)
        except ColossimError as exc:
            name = (self.flags or {}).get(exc.field or "")
            if name is None:
                raise
            raise ColossimError(str(exc), field=f"options.{name}", value=exc.value, allowed=exc.allowed,
                                suggestion=exc.suggestion) from None


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# ---- estimate -------------------------------------------------------------------------


class NoOptions(Options):
    pass


def run_estimate(ctx: Context) -> dict[str, Any]:
    from colossim.api import estimate, estimate_record

    return estimate_record(ctx.scenario, estimate(ctx.scenario))


# ---- search (`colossim search`) --------------------------------------------------------


class SearchOptions(Options):
    objective: str = Field("throughput", description="throughput | cost | energy | gpus (fewest GPUs for deadline_days)")
    top: int = Field(10, ge=1, le=100, description="how many plans to keep")
    fix: dict[str, int | str | bool] = Field(default_factory=dict, description="fixed dimensions, e.g. {\"tp\": 8}")
    max: dict[str, int] = Field(default_factory=dict, description="upper bounds, e.g. {\"pp\": 32}")
    min: dict[str, int] = Field(default_factory=dict, description="lower bounds, e.g. {\"dp\": 64}")
    keep_parallel: bool = Field(False, description="use the scenario's parallel values as fixed")
    deadline_days: PositiveFloat | None = Field(None, description="for objective gpus")
    total_tokens: PositiveFloat | None = Field(None, description="tokens to train (default: the scenario's)")


SEARCH_FLAGS = {"--objective": "objective", "--deadline-days": "deadline_days", "--top": "top",
                "--fix": "fix", "--max": "max", "--min": "min", "constraint": "fix"}


def search_options(ctx: Context) -> Any:
    """The options, with the scenario's ``search:`` section for those not given (as `colossim
    search` takes its defaults from it)."""
    o: Any = ctx.options
    section = ctx.scenario.sections.get("search") or {}
    merged = {k: v for k, v in section.items() if k in type(o).model_fields and k not in o.model_fields_set}
    if not merged:
        return o
    from colossim.scenario.loader import validate_section

    return validate_section(type(o), {**o.model_dump(exclude_unset=True), **merged}, "search")


def search_constraints(ctx: Context) -> Any:
    """The search's constraints, built exactly as `colossim search` builds them from its flags."""
    from colossim.cli.search import build_constraints

    o: Any = search_options(ctx)
    raw_parallel = None
    if o.keep_parallel:
        raw_parallel = ctx.scenario.to_dict()["parallel"]
        if ctx.scenario.dp_was_inferred:
            raw_parallel = {k: v for k, v in raw_parallel.items() if k != "dp"}
    fix, most, least = ([f"{k}={v}" for k, v in getattr(o, name).items()] for name in ("fix", "max", "min"))
    return build_constraints(fix, most, least, {}, raw_parallel)


def search_size(scenario: Scenario, constraints: Any) -> int:
    from colossim.search.space import build_space

    return build_space(scenario.model, scenario.cluster, scenario.training, constraints).size


def _over(what: str, n: int, limit: int, fix: str) -> ColossimError:
    return ColossimError(f"{what} has {n:,} candidate plans, more than this server allows ({limit:,}; "
                         f"`colossim serve --max-candidates`): {fix}, or run `colossim search` locally",
                         field="options", value=n, allowed=f"at most {limit:,} candidates")


def check_search(ctx: Context, limits: Limits) -> None:
    """The objective's own checks (as search() makes them), then the size of the space."""
    from colossim.search.objectives import ObjectiveOptions, check_objective

    o: Any = search_options(ctx)
    check_objective(o.objective, ObjectiveOptions(deadline_days=o.deadline_days,
                                                  total_tokens=o.total_tokens or ctx.scenario.training.total_tokens))
    n = search_size(ctx.scenario, search_constraints(ctx))
    if n > limits.max_candidates:
        raise _over("the search", n, limits.max_candidates, "fix or bound dimensions (e.g. fix tp=8, max pp=16)")


def run_search(ctx: Context) -> dict[str, Any]:
    from colossim.search import search

    o: Any = search_options(ctx)
    result = search(ctx.scenario, objective=o.objective, constraints=search_constraints(ctx), top=o.top,
                    deadline_days=o.deadline_days, total_tokens=o.total_tokens, progress=ctx.progress)
    return result.to_dict()


# ---- scaling curve (a sweep over cluster sizes, as `colossim sweep` with one grid key) --


class ScalingOptions(Options):
    num_gpus: list[PositiveInt] | None = Field(
        None, max_length=64, description="cluster sizes (default: the cluster and 5 halvings of it)")
    plan: Literal["fixed", "searched"] = Field(
        "fixed", description="fixed: the scenario's tp/pp/cp/ep with the largest dp that fits; searched: the best "
                             "plan at each size (a search per size)")
    objective: str = Field("throughput", description="the search objective (searched plan)")


def scaling_sizes(ctx: Context) -> list[int]:
    o: Any = ctx.options
    if o.num_gpus:
        return sorted(set(o.num_gpus))
    n = ctx.scenario.cluster.num_gpus
    floor = ctx.scenario.cluster.gpus_per_node  # at least one NVLink domain
    if o.plan == "fixed":
        floor = max(floor, ctx.scenario.parallel.model_parallel_size)
    return sorted({n >> k for k in range(6) if (n >> k) >= floor} | {n})


def _point_scenario(ctx: Context, n: int) -> Scenario:
    from colossim.api import load_scenario
    from colossim.search.sweep import scenario_for

    raw = scenario_for(ctx.raw, {"cluster.num_gpus": n})  # drops parallel: re-added for a fixed plan
    if getattr(ctx.options, "plan", "fixed") == "fixed":
        raw["parallel"] = {k: v for k, v in ctx.scenario.to_dict()["parallel"].items() if k != "dp"}
    return load_scenario(raw)


def check_scaling(ctx: Context, limits: Limits) -> None:
    from colossim.search.space import Constraints

    o: Any = ctx.options
    sizes = scaling_sizes(ctx)
    if len(sizes) > limits.max_points:
        raise ColossimError(f"options.num_gpus: {len(sizes)} cluster sizes is more than this server allows "
                            f"({limits.max_points})", field="options.num_gpus", value=len(sizes),
                            allowed=f"at most {limits.max_points} sizes")
    if sizes and max(sizes) > limits.max_gpus:
        raise ColossimError(f"options.num_gpus: {max(sizes):,} GPUs is more than this server simulates "
                            f"({limits.max_gpus:,}; `colossim serve --max-gpus`)", field="options.num_gpus",
                            value=max(sizes), allowed=f"at most {limits.max_gpus:,}")
    if o.plan == "searched":
        from colossim.search.objectives import ObjectiveOptions, check_objective

        check_objective(o.objective, ObjectiveOptions(total_tokens=ctx.scenario.training.total_tokens))
        total = 0
        for n in sizes:
            try:
                total += search_size(_point_scenario(ctx, n), Constraints())
            except ColossimError:
                continue  # that point reports its own error in its row
        if total > limits.max_candidates:
            raise _over("the searched scaling curve", total, limits.max_candidates,
                        "give fewer sizes in num_gpus or use plan: fixed")


def run_scaling(ctx: Context) -> dict[str, Any]:
    from colossim.api import estimate
    from colossim.search import search

    o: Any = ctx.options
    sizes = scaling_sizes(ctx)
    rows = []
    for i, n in enumerate(sizes):
        def sub(done: int, total: int, i: int = i) -> None:
            if ctx.progress is not None:
                ctx.progress(i * 1000 + (1000 * done) // max(total, 1), 1000 * len(sizes))

        row: dict[str, Any] = {"num_gpus": n}
        try:
            sc = _point_scenario(ctx, n)
            if o.plan == "fixed":
                best, candidates = estimate(sc), 1
            else:
                result = search(sc, objective=o.objective, top=1, progress=sub)
                best, candidates = result.top[0], result.candidates
            row.update(status="ok", gpus_used=best.gpus_used, step_time_s=best.step_time_s,
                       tokens_per_s=best.tokens_per_s, mfu=best.mfu, hfu=best.hfu,
                       memory_per_gpu_gb=best.memory_per_gpu_gb, fits_in_memory=best.fits_in_memory,
                       time_to_train_days=best.time_to_train_days, dominant_overhead=best.dominant_overhead,
                       candidates=candidates,
                       **{f"plan_{k}": v for k, v in best.plan.items() if not k.endswith("stage_layers")})
        except ColossimError as exc:
            row.update(status=f"error: {exc}")
        rows.append(row)
        sub(1, 1)
    notes = ["fixed plan: the scenario's tp, pp, cp, ep at every size, dp the largest that fits"
             if o.plan == "fixed" else f"searched plan: the best ({o.objective}) at every size"]
    return {"scenario": ctx.scenario.name, "plan": o.plan, "objective": o.objective, "rows": rows, "notes": notes}


# ---- the registry ----------------------------------------------------------------------

def _registry() -> tuple[Capability, ...]:
    """Every capability, in display order. A new one is one line here (and its module)."""
    from colossim.report import cap_buildout as bo
    from colossim.report import cap_energy as en
    from colossim.report import cap_network as net
    from colossim.report import cap_reliability as rel

    return (
        Capability("estimate", "Step estimate", NoOptions, run_estimate, present.present_estimate),
        Capability("scaling", "Scaling curve", ScalingOptions, run_scaling, present.present_scaling, long=True,
                   check_first=check_scaling, flags={"--objective": "objective"}),
        Capability("search", "Best plans", SearchOptions, run_search, present.present_search, long=True,
                   check_first=check_search, flags=SEARCH_FLAGS),
        Capability("power", "Power", en.PowerOptions, en.run_power, en.present_power,
                   requires=("colossim.energy.site", "colossim.energy.options")),
        Capability("cost", "Cost", en.CostOptions, en.run_cost, en.present_cost,
                   requires=("colossim.energy.cost", "colossim.energy.site")),
        Capability("reliability", "Reliability", rel.ReliabilityOptions, rel.run_reliability, rel.present_reliability,
                   long=True, check_first=rel.check_reliability, requires=rel.REQUIRES),
        Capability("goodput", "Goodput against scale", rel.GoodputOptions, rel.run_goodput, rel.present_goodput,
                   long=True, check_first=rel.check_goodput, requires=rel.REQUIRES),
        Capability("network", "Collectives on the fabric", net.NetworkOptions, net.run_network,
                   net.present_network, long=True, check_first=net.check_network, requires=net.REQUIRES,
                   flags=net.FLAGS),
        Capability("buildout", "Build-out", bo.BuildoutOptions, bo.run_buildout, bo.present_buildout,
                   long=True, check_first=bo.check_buildout, requires=bo.REQUIRES),
    )


def available() -> dict[str, Capability]:
    """The capabilities whose libraries are installed, by name, in display order."""
    return {c.name: c for c in _registry() if c.available}


def get(name: str) -> Capability:
    from colossim.errors import field_error

    caps = available()
    if name not in caps:
        raise field_error("capability", name, f"allowed: {', '.join(caps)}", choices=caps)
    return caps[name]


def validate_options(cap: Capability, body: Any) -> Options:
    """A capability's options from a mapping, with errors naming ``options.<field>``."""
    from colossim.scenario.loader import validate_section

    return validate_section(cap.options, body, "options")
