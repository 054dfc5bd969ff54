"""What-ifs on a build-out, each a re-run of the same twin with one thing changed.

- :func:`wait_vs_ready`: tokens lost by waiting for the whole cluster (``start: full``)
  against training on what is ready (``start: ready``), by the report day;
- :func:`pod_orders`: which pod order (sequential, interleaved) reaches a token count first;
- :func:`with_power_ramp`: the supply replaced by a grid ramp of X MW per month (on-site
  generation kept), to ask when the full cluster can train;
- :func:`compare`: key figures of several build-outs side by side.

Re-runs of one scenario share its :class:`~colossim.buildout.plans.Planner`, so the searches
are not repeated.
"""

from __future__ import annotations

from typing import Any

from colossim.buildout.config import BuildoutConfig, buildout_config
from colossim.buildout.result import BuildoutResult, run_buildout
from colossim.errors import ColossimError
from colossim.scenario import Scenario

POD_ORDERS = ("sequential", "interleaved")
KEY_FIGURES = ("first_training_day", "full_scale_day", "full_scale_gpus", "tokens_by_day", "cluster_gpus")


def changed(cfg: BuildoutConfig, changes: dict[str, Any]) -> BuildoutConfig:
    """The config with dotted-path changes (``training.start``), validated again."""
    body = cfg.model_dump(exclude_unset=True)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = body
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return buildout_config(body)


def rerun(base: BuildoutResult, scenario: Scenario, changes: dict[str, Any]) -> BuildoutResult:
    cfg = changed(base.config, changes)
    return run_buildout(scenario, cfg, planner=base.planner, phases=False)


def wait_vs_ready(base: BuildoutResult, scenario: Scenario) -> dict[str, Any]:
    other_start = "full" if base.config.training.start == "ready" else "ready"
    other = rerun(base, scenario, {"training.start": other_start})
    ready, wait = (base, other) if other_start == "full" else (other, base)
    day = base.config.report_day
    return {"report_day": day,
            "ready": {"first_training_day": ready.first_training_day, "tokens_by_day": ready.tokens_by_day()},
            "wait_for_full": {"first_training_day": wait.first_training_day, "tokens_by_day": wait.tokens_by_day()},
            "tokens_lost_by_waiting": ready.tokens_by_day() - wait.tokens_by_day()}


def pod_orders(base: BuildoutResult, scenario: Scenario, target_tokens: float | None) -> dict[str, Any]:
    """Days each pod order needs to reach ``target_tokens`` (default: the base run's tokens by
    the report day)."""
    target = target_tokens if target_tokens is not None else base.tokens_by_day()
    rows: dict[str, Any] = {}
    for order in POD_ORDERS:
        res = base if order == base.config.network.pod_order else rerun(base, scenario, {"network.pod_order": order})
        rows[order] = {"first_training_day": res.first_training_day, "full_scale_day": res.full_scale_day,
                       "tokens_by_day": res.tokens_by_day(), "day_reaching_target": res.day_tokens_reach(target)}
    reached = {k: v["day_reaching_target"] for k, v in rows.items() if v["day_reaching_target"] is not None}
    first = min(reached, key=lambda k: (reached[k], POD_ORDERS.index(k))) if reached else None
    return {"target_tokens": target, "orders": rows, "first": first}


def with_power_ramp(cfg: BuildoutConfig, mw_per_month: float) -> BuildoutConfig:
    if mw_per_month <= 0:
        raise ColossimError(f"--power-mw-per-month: {mw_per_month!r} is not allowed; give a positive MW per month",
                            field="--power-mw-per-month", value=mw_per_month, allowed="a positive number")
    return changed(cfg, {"power.grid": [], "power.grid_mw_per_month": float(mw_per_month)})


def compare(results: list[BuildoutResult]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        d = r.to_dict()
        rows.append({"scenario": r.scenario, **{k: d[k] for k in KEY_FIGURES},
                     "report_day": r.config.report_day, "steps": len(r.traj.steps),
                     "peak_facility_mw": float(r.traj.cols["facility_mw"].max()),
                     "bottleneck_days": d["bottleneck_days"]})
    return rows


def buildout_report(scenario: Scenario, changes: dict[str, Any] | None = None, *,
                    power_mw_per_month: float | None = None, target_tokens: float | None = None,
                    others: list[Scenario] | None = None) -> tuple[dict[str, Any], list[BuildoutResult]]:
    """The ``colossim buildout --json`` object (the run, its questions, comparisons) and the
    results behind it (for plots). ``changes`` are dotted ``buildout:`` paths applied to the
    scenario and to every one in ``others``."""
    def config(sc: Scenario) -> BuildoutConfig:
        cfg = changed(buildout_config(sc.sections.get("buildout")), dict(changes or {}))
        return cfg if power_mw_per_month is None else with_power_ramp(cfg, power_mw_per_month)

    res = run_buildout(scenario, config(scenario))
    compared = [run_buildout(sc, config(sc)) for sc in others or []]
    out = res.to_dict()
    out["questions"] = {"wait_vs_ready": wait_vs_ready(res, scenario),
                        "pod_order": pod_orders(res, scenario, target_tokens)}
    if power_mw_per_month is not None:
        out["questions"]["power_ramp"] = {"mw_per_month": power_mw_per_month, "full_scale_day": res.full_scale_day,
                                          "full_scale_date": res.date_of(res.full_scale_day)}
    if compared:
        out["compare"] = compare([res, *compared])
    return out, [res, *compared]
