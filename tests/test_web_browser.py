"""End to end in a real browser: Debian's chromium driven by playwright loads the dashboard
from a `colossim serve` started here on 127.0.0.1, picks a preset, runs it, and checks that
the charts drew, that a mistake shows next to its field, and that a search runs and cancels.

Never `playwright install` (no internet for browsers): the system chromium is used, and the
test skips, saying why, when it or playwright is missing. The screenshot is saved to
build/test-artifacts/dashboard.png (or $COLOSSIM_SCREENSHOT_DIR).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _browser import open_dashboard, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


server = pytest.fixture(scope="module")(serve)


@pytest.fixture(scope="module")
def page(request, tmp_path_factory):
    yield from open_dashboard(request, tmp_path_factory, 1500, 1000)


def charts_drawn(page, card: str) -> int:
    """Plotly plots in a card that drew at least one bar or line."""
    return page.eval_on_selector_all(
        f"#card-{card} .js-plotly-plot",
        "plots => plots.filter(p => p.querySelector('.barlayer .point, .scatterlayer .trace path.js-line, "
        ".scatterlayer .point')).length")


def test_preset_runs_and_charts_draw(page) -> None:
    page.select_option("#preset", "llama3-8b-64")
    assert page.input_value("#f-model") == "llama3-8b"
    page.click("#run-estimate")
    for card, expected in (("estimate", 2), ("scaling", 2)):
        page.wait_for_function(f"document.querySelectorAll('#card-{card} .js-plotly-plot').length >= {expected}",
                               timeout=60_000)
        assert charts_drawn(page, card) == expected
    assert "MFU" in page.inner_text("#card-estimate .kpis")
    for card, expected in (("power", 1), ("cost", 1), ("reliability", 2), ("goodput", 1)):
        if page.query_selector(f"#card-{card}"):  # capabilities present on this install
            page.wait_for_function(f"document.querySelectorAll('#card-{card} .js-plotly-plot').length >= {expected}",
                                   timeout=60_000)
            assert charts_drawn(page, card) == expected
    assert page.errors == []


def test_search_fills_the_table_and_a_plan_can_be_used(page) -> None:
    page.click("#run-search")
    page.wait_for_selector("#card-search table tbody tr", timeout=60_000)
    rows = page.query_selector_all("#card-search table:first-of-type tbody tr")
    assert len(rows) >= 3 and charts_drawn(page, "search") == 2
    page.click("#card-search tbody tr:first-child button")  # "use": the plan goes into the form
    page.wait_for_function("document.querySelector('#card-estimate .state').textContent === ''", timeout=30_000)
    shots = Path(os.environ.get("COLOSSIM_SCREENSHOT_DIR", ROOT / "build" / "test-artifacts"))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert (shots / "dashboard.png").stat().st_size > 10_000


def test_mistakes_show_next_to_their_field(page) -> None:
    page.fill("#f-seq_len", "-5")
    page.click("#run-estimate")
    note = page.wait_for_selector("#f-seq_len >> xpath=ancestor::label/following-sibling::div[1]", timeout=20_000)
    assert note.inner_text().startswith("training.seq_len: -5 is not allowed")
    page.click("#tab-yaml")
    page.fill("#yaml", "model: llama3-8x\ncluster: colossus-100k\ntraining: {seq_len: 8192, global_batch_size: 512}\n")
    page.click("#run-estimate")
    page.wait_for_function("document.querySelector('#yaml-error').textContent.includes('did you mean')", timeout=20_000)
    assert page.inner_text("#yaml-error").startswith("model: 'llama3-8x' is not allowed")
    page.click("#tab-form")


def test_a_long_search_can_be_cancelled(page) -> None:
    page.select_option("#preset", "grok1-colossus-100k")
    page.click("#run-search")
    page.wait_for_function("/running [0-9]+%/.test(document.querySelector('#card-search .state').textContent)",
                           timeout=30_000)
    page.click("#card-search .card-head button:last-child")
    page.wait_for_function("document.querySelector('#card-search .state').textContent === 'cancelled'",
                           timeout=30_000)
    assert page.errors == []
