"""docs/energy.md: its scenario sections validate and its Llama 3 scenario is the tested one."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from colossim.energy.options import cost_options, power_options

DOC = Path(__file__).resolve().parents[1] / "docs" / "energy.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_documented_sections_validate() -> None:
    block = next(b for b in yaml_blocks() if "energy-example" in b)
    sections = yaml.safe_load(block)
    power = power_options(sections)
    cost = cost_options(sections)
    assert power.pue == "liquid" and power.budget_mw == 150
    assert cost.electricity == "tennessee" and cost.goodput == 0.9


def test_the_documented_llama_scenario_is_the_tested_one() -> None:
    from test_energy_cost import LLAMA3_405B

    block = next(b for b in yaml_blocks() if "llama3-405b" in b)
    assert yaml.safe_load(block) == LLAMA3_405B
