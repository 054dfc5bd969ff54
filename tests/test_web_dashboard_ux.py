"""The dashboard as a newcomer meets it, in a real browser at 1280x800: the main actions
visible without scrolling, results from an older scenario marked stale, option boxes that
show their units, defaults and help. Debian's chromium driven by playwright (never
`playwright install`); skips, saying why, without them. The screenshot is kept at
build/test-artifacts/dashboard-1280x800.png (or $COLOSSIM_SCREENSHOT_DIR).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _browser import open_dashboard, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1280, 800


server = pytest.fixture(scope="module")(serve)


@pytest.fixture(scope="module")
def page(request, tmp_path_factory):
    yield from open_dashboard(request, tmp_path_factory, WIDTH, HEIGHT)


def _inside_viewport(page, selector: str) -> bool:
    box = page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); "
                                          "return [r.left, r.top, r.right, r.bottom]; }")
    left, top, right, bottom = box
    return left >= 0 and top >= 0 and right <= WIDTH and bottom <= HEIGHT


def test_main_actions_are_visible_at_1280x800_without_scrolling(page) -> None:
    assert page.evaluate("window.scrollY") == 0
    for selector in ("#preset", "#run-estimate", "#run-search", "#run-report"):
        assert _inside_viewport(page, selector), f"{selector} is outside the 1280x800 viewport"
    shots = Path(os.environ.get("COLOSSIM_SCREENSHOT_DIR", ROOT / "build" / "test-artifacts"))
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "dashboard-1280x800.png"))
    assert (shots / "dashboard-1280x800.png").stat().st_size > 10_000


def test_results_from_an_older_scenario_are_marked_stale(page) -> None:
    page.select_option("#preset", "llama3-8b-64")
    page.click("#run-estimate")
    page.wait_for_selector("#card-estimate .kpis", timeout=60_000)
    page.wait_for_function("document.querySelector('#card-estimate .state').textContent === ''", timeout=60_000)
    assert not page.eval_on_selector("#card-estimate", "c => c.classList.contains('stale')")
    assert not page.is_visible("#card-estimate .stale-note")
    page.fill("#f-seq_len", "2048")  # the scenario changes: the shown results no longer describe it
    assert page.eval_on_selector("#card-estimate", "c => c.classList.contains('stale')")
    assert page.is_visible("#card-estimate .stale-note")
    assert "older scenario" in page.inner_text("#card-estimate .stale-note")
    page.fill("#f-seq_len", "4096")  # back to what ran: no longer stale
    assert not page.eval_on_selector("#card-estimate", "c => c.classList.contains('stale')")
    page.fill("#f-seq_len", "2048")
    page.click("#run-estimate")
    page.wait_for_function("!document.querySelector('#card-estimate').classList.contains('stale')", timeout=60_000)
    assert page.errors == []


def test_option_boxes_show_units_defaults_and_help(page) -> None:
    card = "#card-power"
    if not page.query_selector(card):
        pytest.skip("no power capability on this install")
    page.click(f"{card} details.options summary")
    label = page.inner_text(f"{card} [data-option='budget_mw'] >> xpath=ancestor::label")
    assert "(MW)" in label and "budget" in label
    assert page.get_attribute(f"{card} [data-option='budget_mw']", "placeholder").startswith("default")
    helps = page.eval_on_selector_all(f"{card} .opt-help", "hs => hs.map(h => h.textContent)")
    assert helps and all(h.strip() for h in helps)
