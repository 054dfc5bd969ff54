"""Plan search: same numbers as estimate, constraints, counts, clear failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from colossim.errors import ColossimError
from colossim.perf import estimate
from colossim.scenario import load_scenario
from colossim.search import Constraints, search
from colossim.search.space import build_space, canonical, parse_value

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SMALL = {"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
         "training": {"seq_len": 4096, "global_batch_size": 128, "total_tokens": 1e11}}


@pytest.fixture(scope="module")
def small_result():
    return search(load_scenario(SMALL), top=5)


def replay(plan: dict) -> dict:
    training = {**SMALL["training"], "micro_batch_size": plan["micro_batch_size"], "recompute": plan["recompute"],
                "zero_stage": plan["zero_stage"]}
    parallel = {k: plan[k] for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "sequence_parallel", "schedule")}
    return estimate(load_scenario({**SMALL, "training": training, "parallel": parallel})).to_dict()


def test_every_reported_plan_reproduces_through_estimate(small_result) -> None:
    for e in small_result.top:
        again = replay(e.plan)
        got = e.to_dict()
        for key in ("step_time_s", "tokens_per_s", "mfu", "hfu", "memory_per_gpu_gb", "breakdown_s", "memory_breakdown_gb"):
            assert again[key] == got[key], key


def test_ranked_and_counted(small_result) -> None:
    r = small_result
    speeds = [e.tokens_per_s for e in r.top]
    assert speeds == sorted(speeds, reverse=True)
    assert r.candidates == r.evaluated + r.redundant + sum(r.broken_rules.values()) + r.bounded
    assert r.bounded > 0  # the branch and bound skipped plans that could not reach the top 5
    assert all(e.fits_in_memory for e in r.top)
    assert r.explanation.startswith("#1")


def test_constraints_are_honoured() -> None:
    sc = load_scenario(SMALL)
    r = search(sc, top=5, constraints=Constraints(fixed={"tp": 2}, maximum={"pp": 2}))
    assert all(e.plan["tp"] == 2 and e.plan["pp"] <= 2 for e in r.top)
    assert "tp=2" in r.constraints and "pp<=2" in r.constraints


def test_memory_limits_are_counted_not_dropped() -> None:
    sc = load_scenario({**SMALL, "model": "llama3-70b", "cluster": {"gpu": "a100-40gb", "num_gpus": 64}})
    r = search(sc, top=3)
    assert r.not_fitting > 0 and r.smallest_memory_not_fitting_gb > 40


def test_impossible_fixed_value_says_which_rule() -> None:
    with pytest.raises(ColossimError, match=r"no plan satisfies.*tp=5.*parallel.tp"):
        search(load_scenario(SMALL), constraints=Constraints(fixed={"tp": 5}))


def test_impossible_fixed_value_on_a_100k_cluster_is_blamed_without_walking_the_product() -> None:
    # --fix tp=3 on examples/grok1-colossus-100k.yaml: no legal plan; the blame walked all 1.7e9 plans of the
    # unpruned product (minutes, Ctrl+C); it now looks at the stage that ran out (the tp rules), under a second
    sc = load_scenario(EXAMPLES / "grok1-colossus-100k.yaml")
    assert build_space(sc.model, sc.cluster, sc.training, Constraints(fixed={"tp": 3})).product_size > 10**9
    with pytest.raises(ColossimError, match=r"tp=3.*every candidate breaks parallel.tp: model.num_kv_heads \(8\)"):
        search(sc, constraints=Constraints(fixed={"tp": 3}))


def test_everything_too_big_says_memory() -> None:
    sc = load_scenario({**SMALL, "model": "llama3-405b", "cluster": {"gpu": "a100-40gb", "num_gpus": 8}})
    with pytest.raises(ColossimError, match="exceed the a100-40gb's memory"):
        search(sc)


def test_objective_errors() -> None:
    sc = load_scenario(SMALL)
    with pytest.raises(ColossimError, match="did you mean 'throughput'"):
        search(sc, objective="thruput")
    with pytest.raises(ColossimError, match="needs --deadline-days"):
        search(sc, objective="gpus")


def test_fewest_gpus_for_deadline() -> None:
    sc = load_scenario(SMALL)
    fast = search(sc, top=1).top[0]
    deadline = fast.time_to_train_days * 3
    r = search(sc, objective="gpus", deadline_days=deadline, top=3)
    assert r.top[0].gpus_used < fast.gpus_used
    assert all(e.time_to_train_days <= deadline for e in r.top)


def test_dimension_names_and_values() -> None:
    assert canonical("micro_batch_size") == "mbs"
    with pytest.raises(ColossimError, match="did you mean 'tp'"):
        canonical("tq")
    assert parse_value("recompute", "selective") == 1
    with pytest.raises(ColossimError):
        parse_value("tp", "eight")
    space = build_space(load_scenario(SMALL).model, load_scenario(SMALL).cluster, load_scenario(SMALL).training,
                        Constraints())
    assert space.size > 1000


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "colossim", *args], capture_output=True, text=True, timeout=300)


def test_cli_json_and_progress_lines(tmp_path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(json.dumps(SMALL))
    r = run_cli("search", str(p), "--json", "--top", "3", "--fix", "tp=2", "--max-pp", "2")
    assert r.returncode == 0, r.stderr
    plans = json.loads(r.stdout)
    assert len(plans) == 3 and plans[0]["rank"] == 1 and plans[0]["plan"]["tp"] == 2
    assert {"step_time_s", "mfu", "memory_per_gpu_gb", "breakdown_s", "plan"} <= set(plans[0])
    r = run_cli("search", str(p), "--top", "2")
    assert r.returncode == 0 and "search: " in r.stderr and "100%" in r.stderr  # plain progress lines off a terminal
    assert "why:" in r.stdout


def test_cli_bad_input_exit_2(tmp_path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(json.dumps(SMALL))
    for args, needle in ((["--fix", "tp"], "KEY=VALUE"), (["--fix", "tq=2"], "did you mean"),
                         (["--fix", "tp=5"], "no plan satisfies"), (["--objective", "gpus"], "--deadline-days"),
                         (["--top", "0"], "--top")):
        r = run_cli("search", str(p), "--no-progress", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr


def test_a_key_given_twice_with_two_values_is_refused() -> None:
    # --fix tp=8 --fix tp=2 searched tp=2 without a word
    from colossim.cli.search import build_constraints

    with pytest.raises(ColossimError, match=r"--fix: tp is given twice \(tp=8, tp=2\); give each key once"):
        build_constraints(["tp=8", "tp=2"], [], [], {})
    with pytest.raises(ColossimError, match="--max: pp is given twice"):
        build_constraints([], ["pp=4", "pp=8"], [], {})
    assert build_constraints(["tp=8", "tp=8"], [], [], {}).fixed == {"tp": 8}  # the same value twice is one
    # --max-pp 16 --max pp=8: the shortcut silently won
    with pytest.raises(ColossimError, match=r"--max-pp: 16 and --max pp=8 bound the same dimension"):
        build_constraints([], ["pp=8"], [], {"pp": 16})
    assert build_constraints([], ["pp=8"], [], {"pp": 8}).maximum == {"pp": 8}


def test_two_workers_give_the_one_worker_result() -> None:
    """Chunks run in processes, merged in chunk order: identical plans and counts."""
    sc = load_scenario(SMALL)
    one = search(sc, top=5, workers=1, chunk=1 << 12)
    two = search(sc, top=5, workers=2, chunk=1 << 12)
    assert [e.to_dict() for e in one.top] == [e.to_dict() for e in two.top]
    for key in ("candidates", "evaluated", "redundant", "broken_rules", "not_fitting", "missed_condition", "bounded"):
        assert getattr(one, key) == getattr(two, key), key


def test_pruned_enumeration_matches_the_whole_product() -> None:
    """Building only legal rows drops nothing the rules keep: the brute force over the whole
    product (the first search's path) evaluates the same plans and ranks the same best."""
    sc = load_scenario(SMALL)
    pruned = search(sc, top=5, workers=1, exhaustive=True)
    brute = search(sc, top=5, workers=1, naive=True)
    assert pruned.evaluated == brute.evaluated and pruned.redundant == brute.redundant
    assert pruned.candidates + pruned.pruned == brute.candidates
    assert [e.plan for e in pruned.top] == [e.plan for e in brute.top]


def test_no_cap_on_vpp_cp_or_micro_batches() -> None:
    from colossim.search.space import dimension_values

    sc = load_scenario({"model": "mt-nlg-530b", "cluster": {"gpu": "a100-80gb", "num_gpus": 5128},
                        "training": {"seq_len": 2048, "global_batch_size": 1920}})
    values = dimension_values(sc.model, sc.cluster, sc.training)
    assert 21 in values["vpp"]  # 105 layers on 5 stages, 21 per stage: one layer per chunk
    assert 64 in values["cp"] and 1920 in values["mbs"] and 15 in values["mbs"]  # every divisor, by default
    assert values["schedule"] == [0, 1, 2]
    legacy = dimension_values(sc.model, sc.cluster, sc.training, legacy=True)
    assert max(legacy["vpp"]) <= 8


def test_workers_must_be_positive() -> None:
    with pytest.raises(ColossimError, match="--workers"):
        search(load_scenario(SMALL), workers=0)


@pytest.mark.parametrize("workers", [1025, 10**8, 10**20])
def test_workers_are_bounded_as_the_sweeps(workers: int) -> None:
    # --workers 100000000 on a 100k-GPU search split the index into 1e8 pieces and forked a pool of that
    # many processes (MemoryError, traceback); --workers is 1 to 1024, as colossim sweep's
    with pytest.raises(ColossimError, match=r"--workers: .* is not allowed; processes: 1 to 1024"):
        search(load_scenario(SMALL), workers=workers)


def test_memory_screen_is_the_step_models_memory() -> None:
    from colossim.perf import evaluate
    from colossim.scenario.rules import check_plans
    from colossim.search.engine import plan_memory_bytes

    sc = load_scenario({"model": "mixtral-8x7b", "cluster": {"gpu": "h100-sxm", "num_gpus": 128},
                        "training": {"seq_len": 4096, "global_batch_size": 256}})
    space = build_space(sc.model, sc.cluster, sc.training, Constraints())
    batch = space.batch(0, 1 << 14)
    plans = batch.take(check_plans(sc.model, sc.cluster, sc.training, batch) == 0)
    assert len(plans) > 100
    r = evaluate(sc.model, sc.cluster, sc.training, plans)
    assert (plan_memory_bytes(sc.model, sc.training, plans) == r.memory_bytes).all()


def test_the_space_holds_megatrons_edge_split() -> None:
    """edges 1: the embedding and the loss count as one layer each (Megatron-Core's
    account_for_embedding/loss_in_pipeline_split), so Llama 3.1 405B's 126 layers on 8 stages
    at VP 8 put 15 on the first and last, 16 on the others, as the published recipes do."""
    import numpy as np

    from colossim.search.space import Constraints, build_space

    sc = load_scenario({"model": "llama3-405b", "cluster": {"gpu": "h100-sxm", "num_gpus": 1024},
                        "training": {"seq_len": 8192, "global_batch_size": 512}})
    space = build_space(sc.model, sc.cluster, sc.training, Constraints(fixed={"pp": 8, "vpp": 8, "tp": 8}))
    assert space.values["edges"] == [0, 1] and space.rows > 0
    legal = space.legal
    assert legal is not None and (legal["edges"] == 1).all()  # 126 % 64 != 0: only the edge split interleaves 8 ways
    plans = space.batch(0, 64)
    assert (plans.first_stage_layers == 15).all() and (plans.last_stage_layers == 15).all()
    whole = build_space(sc.model, sc.cluster, sc.training, Constraints())
    rows = whole.legal
    assert rows is not None
    edge = rows["edges"] == 1
    assert edge.any() and (rows["pp"][edge] > 2).all()
    assert ((sc.model.num_layers + 2) % (rows["pp"][edge] * rows["vpp"][edge]) == 0).all()
    assert np.isin(8, rows["vpp"][edge & (rows["pp"] == 8)])


def test_cost_and_energy_searches_show_what_they_rank_by(tmp_path) -> None:
    """--objective cost/energy ranks by a value the plan records do not hold: it is reported per
    plan (text column, JSON, report table), ascending, and equals the energy model's figure for
    the plan re-run alone."""
    from colossim.energy.objectives import cost_per_token_usd
    from colossim.perf import evaluate
    from colossim.report.present import present_search

    sc = load_scenario(SMALL)
    r = search(sc, objective="cost", top=4)
    assert r.objective_unit == "USD per million tokens" and len(r.objective_values) == 4
    assert r.objective_values == sorted(r.objective_values)
    p = r.top[0].plan
    training = {**SMALL["training"], "micro_batch_size": p["micro_batch_size"], "recompute": p["recompute"],
                "zero_stage": p["zero_stage"]}
    parallel = {k: p[k] for k in ("tp", "pp", "dp", "cp", "ep", "vpp", "sequence_parallel", "schedule")}
    again = load_scenario({**SMALL, "training": training, "parallel": parallel})
    arrays = evaluate(again.model, again.cluster, again.training, again.plan_batch())
    alone = cost_per_token_usd(arrays, again.cluster)[0] * 1e6
    assert r.objective_values[0] == pytest.approx(alone, rel=1e-9)
    assert "USD per million tokens" in r.explanation
    table = present_search(r.to_dict()).tables[0]
    assert "USD per million tokens" in table["columns"]
    assert search(sc, top=2).objective_unit is None  # throughput: tokens/s is the value
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(SMALL))
    out = run_cli("search", str(path), "--json", "--top", "2", "--objective", "energy")
    assert out.returncode == 0, out.stderr
    plans = json.loads(out.stdout)
    assert plans[0]["objective_unit"] == "kWh per million tokens"
    assert 0 < plans[0]["objective_value"] <= plans[1]["objective_value"]
    text = run_cli("search", str(path), "--top", "2", "--objective", "energy", "--no-progress")
    assert "kWh/Mtok" in text.stdout and "kWh per million tokens" in text.stdout


def test_a_search_left_with_duplicates_only_says_so(capsys) -> None:
    # --fix sp=1 --fix tp=1 said "no single rule removes every candidate; together they leave none"
    from colossim.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["search", str(EXAMPLES / "llama3-8b-64.yaml"), "--fix", "sp=1", "--fix", "tp=1", "--no-progress"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "duplicate of one the constraints exclude" in err and "sequence parallelism" in err
