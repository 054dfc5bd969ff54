"""`colossim catalog stacks` and `catalog show STACK`: the software stacks a scenario can name."""

from __future__ import annotations

import json

from colossim.catalog import stacks
from colossim.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_stacks_listing_names_every_stack_and_the_default(capsys):
    code, out, _ = run(capsys, "catalog", "stacks", "--json")
    assert code == 0
    rows = json.loads(out)["stacks"]
    assert [r["name"] for r in rows] == stacks.stack_names()
    assert [r["name"] for r in rows if r["default"]] == [stacks.default_stack()]


def test_show_stack_gives_every_field_with_its_source(capsys):
    code, out, _ = run(capsys, "catalog", "show", stacks.default_stack(), "--json")
    assert code == 0
    entry = json.loads(out)
    assert entry["kind"] == "stack"
    for field in stacks.STACK_FIELDS:
        assert "source:" in entry[field]


def test_unknown_stack_is_one_line_with_did_you_mean(capsys):
    code, _, err = run(capsys, "catalog", "show", "megatron-core-2023")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "did you mean" in err
