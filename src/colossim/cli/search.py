"""`colossim search SCENARIO.yaml`: the best parallel plans for a scenario."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from colossim.cli.common import JSON_OPTION, print_json, scenario_path, user_errors
from colossim.errors import ColossimError

if TYPE_CHECKING:
    from colossim.search.space import Constraints

MAX_DIMS = ("tp", "pp", "dp", "cp", "ep", "vpp", "mbs")


def parse_pairs(pairs: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in pairs:
        if "=" not in item:
            raise ColossimError(f"{flag}: {item!r} is not allowed; write KEY=VALUE, e.g. {flag} tp=8", field=flag,
                                value=item)
        key, value = item.split("=", 1)
        key, value = key.strip(), value.strip()
        if key in out and out[key] != value:  # the last one silently won
            raise ColossimError(f"{flag}: {key} is given twice ({key}={out[key]}, {key}={value}); give each key once",
                                field=flag, value=item, allowed="each key once")
        out[key] = value
    return out


def build_constraints(fix: list[str], maximum: list[str], minimum: list[str], shortcuts: Mapping[str, int | None],
                      parallel: dict | None = None) -> Constraints:
    from colossim.search.space import Constraints, canonical, parse_value

    fixed: dict[str, int] = {}
    if parallel:
        for key in ("tp", "pp", "dp", "cp", "ep", "etp", "vpp", "sequence_parallel", "schedule"):
            if parallel.get(key) is not None:
                fixed[canonical(key)] = parse_value(canonical(key), parallel[key])
    for k, v in parse_pairs(fix, "--fix").items():
        fixed[canonical(k)] = parse_value(canonical(k), v, f"--fix {k}")
    mx = {canonical(k): parse_value(canonical(k), v, f"--max {k}") for k, v in parse_pairs(maximum, "--max").items()}
    for k, bound in shortcuts.items():
        if bound is not None:
            value = parse_value(k, bound, f"--max-{k}")
            if mx.get(k, value) != value:  # two bounds for one dimension: neither silently wins
                raise ColossimError(f"--max-{k}: {bound} and --max {k}={mx[k]} bound the same dimension; give one",
                                    field=f"--max-{k}", value=bound)
            mx[k] = value
    mn = {canonical(k): parse_value(canonical(k), v, f"--min {k}") for k, v in parse_pairs(minimum, "--min").items()}
    return Constraints(fixed=fixed, minimum=mn, maximum=mx)


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def search(
        scenario: Path = typer.Argument(..., help="scenario YAML (its parallel section is ignored unless --keep-parallel)"),
        objective: str = typer.Option(None, help="throughput | cost | energy | gpus (fewest GPUs for --deadline-days); "
                                                 "default: the scenario's search.objective, else throughput"),
        top: int = typer.Option(None, help="how many plans to show (default: search.top, else 10)"),
        fix: list[str] = typer.Option([], "--fix", help="fix a dimension, e.g. --fix tp=8 (repeatable)"),
        max_: list[str] = typer.Option([], "--max", help="upper bound, e.g. --max pp=32 (repeatable)"),
        min_: list[str] = typer.Option([], "--min", help="lower bound, e.g. --min dp=64 (repeatable)"),
        max_tp: int = typer.Option(None, "--max-tp"), max_pp: int = typer.Option(None, "--max-pp"),
        max_dp: int = typer.Option(None, "--max-dp"), max_cp: int = typer.Option(None, "--max-cp"),
        max_ep: int = typer.Option(None, "--max-ep"), max_vpp: int = typer.Option(None, "--max-vpp"),
        max_mbs: int = typer.Option(None, "--max-mbs"),
        keep_parallel: bool = typer.Option(False, "--keep-parallel", help="use the scenario's parallel values as fixed "
                                                                          "(a --fix of the same key replaces its value)"),
        deadline_days: float = typer.Option(None, "--deadline-days", help="for --objective gpus"),
        total_tokens: float = typer.Option(None, "--total-tokens", help="tokens to train (default: the scenario's)"),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on a terminal, lines otherwise"),
        workers: int = typer.Option(None, "--workers", help="processes evaluating chunks (default: every core; the "
                                                            "result is the same for any number)"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Search every valid plan (tp, pp, dp, cp, ep, vpp, micro-batch, schedule, recompute, ZeRO, sp) and rank them."""
        from colossim import gate
        from colossim.api import load_scenario
        from colossim.scenario.loader import check_mapping, read_scenario_data, validate_section
        from colossim.scenario.search_options import SearchOptions
        from colossim.search import search as run_search

        data = check_mapping(read_scenario_data(scenario_path(scenario)))
        raw_parallel = data.pop("parallel", None) or {}  # the search chooses the plan
        sc = load_scenario(data, plan="as-given")
        opts = validate_section(SearchOptions, sc.sections.get("search"), "search")  # defaults; flags win
        objective, top = objective or opts.objective, opts.top if top is None else top
        deadline_days = opts.deadline_days if deadline_days is None else deadline_days
        gate.check_number("--top", top, 1, 10_000, "plans to show: 1 to 10,000")
        gate.check_field("search.deadline_days", deadline_days, "--deadline-days")
        gate.check_field("training.total_tokens", total_tokens, "--total-tokens")
        fix = [*(f"{k}={v}" for k, v in opts.fix.items()), *fix]
        max_ = [*(f"{k}={v}" for k, v in opts.max.items()), *max_]
        min_ = [*(f"{k}={v}" for k, v in opts.min.items()), *min_]
        shortcuts = dict(zip(MAX_DIMS, (max_tp, max_pp, max_dp, max_cp, max_ep, max_vpp, max_mbs), strict=True))
        if keep_parallel and not isinstance(raw_parallel, dict):
            raise ColossimError("parallel: expected a mapping", field="parallel", value=raw_parallel)
        constraints = build_constraints(fix, max_, min_, shortcuts, raw_parallel if keep_parallel else None)
        with _progress(progress and not json_out) as report:
            result = run_search(sc, objective=objective, constraints=constraints, top=top,
                                deadline_days=deadline_days, total_tokens=total_tokens, progress=report,
                                workers=workers)
        if json_out:
            print_json(result.plan_dicts())
            return
        from colossim.report.search_text import print_search

        print_search(result)


class _progress:
    """A rich progress bar on a terminal; plain lines on stderr every 10% otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.next_line = 0.1

    def __enter__(self):
        if not self.enabled:
            return None
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress("search", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("plans", total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
        elif done / total >= self.next_line or done == total:
            print(f"search: {done:,}/{total:,} candidates ({done / total:.0%})", file=sys.stderr, flush=True)
            while self.next_line <= done / total:
                self.next_line += 0.1

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
