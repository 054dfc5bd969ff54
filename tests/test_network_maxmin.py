"""Max-min fair rates and the event simulation: textbook cases and invariants."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from colossim.network.maxmin import REL_TOL, max_min_rates, run_flows, run_periodic


def incidence(paths: list[list[int]], n_links: int, weights: list[list[float]] | None = None) -> sp.csc_matrix:
    rows = [link for p in paths for link in p]
    cols = [f for f, p in enumerate(paths) for _ in p]
    data = [w for ws in weights for w in ws] if weights else [1.0] * len(rows)
    return sp.csc_matrix((data, (rows, cols)), shape=(n_links, len(paths)))


def test_textbook_example():
    """A on link 0, B on links 0 and 1, C on link 1; capacities 1 and 1.5 (Bertsekas & Gallager 6.5)."""
    rates = max_min_rates(incidence([[0], [0, 1], [1]], 2), np.array([1.0, 1.5]))
    assert rates == pytest.approx([0.5, 0.5, 1.0])


def test_weights_count_repeated_use():
    """A ring crossing a link twice moves at half the link's rate there."""
    rates = max_min_rates(incidence([[0], [1]], 2, [[2.0], [1.0]]), np.array([1.0, 1.0]))
    assert rates == pytest.approx([0.5, 1.0])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_rates_are_feasible_and_every_flow_has_a_bottleneck(n_flows, n_links, seed):
    """Max-min fairness: no link over capacity, and each flow crosses a saturated link on
    which no other flow gets more (within the solver's tolerance)."""
    rng = np.random.default_rng(seed)
    paths = [sorted(set(rng.integers(0, n_links, rng.integers(1, 4)).tolist())) for _ in range(n_flows)]
    inc = incidence(paths, n_links)
    cap = rng.uniform(0.5, 4.0, n_links)
    rates = max_min_rates(inc, cap)
    load = inc @ rates
    assert np.all(load <= cap * (1 + 1e-9))
    assert np.all(rates > 0)
    for f, path in enumerate(paths):
        ok = False
        for link in path:
            others = inc.getrow(link).indices
            saturated = load[link] >= cap[link] * (1 - 2 * REL_TOL)
            if saturated and rates[f] >= rates[others].max() * (1 - 2 * REL_TOL):
                ok = True
        assert ok, f"flow {f} has no bottleneck link"


def test_flows_finishing_release_capacity():
    """Two flows of 1 and 3 bytes on one unit link: 0.5 each until t=2, then 1 until t=4."""
    run = run_flows(incidence([[0], [0]], 1), np.array([1.0]), np.array([1.0, 3.0]))
    assert run.finish_s == pytest.approx([2.0, 4.0])
    assert run.time_s == pytest.approx(4.0)
    assert run.initial_rates == pytest.approx([0.5, 0.5])


def test_bytes_delivered_equal_sizes():
    rng = np.random.default_rng(3)
    paths = [rng.choice(6, size=2, replace=False).tolist() for _ in range(30)]
    sizes = rng.uniform(1.0, 10.0, 30)
    run = run_flows(incidence(paths, 6), np.ones(6), sizes)
    # a flow alone on its path would take size / 1; sharing only delays it
    assert np.all(run.finish_s >= sizes * (1 - 1e-9))
    assert run.time_s == pytest.approx(run.finish_s.max())


def test_two_jobs_on_one_link_halve_each_other():
    inc = incidence([[0], [0]], 1)
    run = run_periodic(inc, np.array([1.0]), np.array([1.0, 1.0]), np.array([0, 1]))
    assert run.step_s == pytest.approx([2.0, 2.0])
    assert np.all(run.cycles >= 4)


def test_job_alone_is_not_slowed():
    inc = incidence([[0], [1]], 2)
    run = run_periodic(inc, np.array([1.0, 1.0]), np.array([1.0, 2.0]), np.array([0, 1]))
    assert run.step_s == pytest.approx([1.0, 2.0])
