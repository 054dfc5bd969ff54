"""The Results section of docs/validation.md, from the live validation (no hand-copied figures).

    python benchmarks/validation_tables.py            # print the section (markdown)
    python benchmarks/validation_tables.py --write    # replace it in docs/validation.md

The section runs from the line ``## Results`` to the end of the file: a result line, one row
per case family (GPU, stack, runs, cross-validated and in-sample MAPE, worst in-sample error,
the settings its source states and the plan settings it fills by convention) and one row per
run. Same code path as ``colossim validate --cross-validate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from colossim.atomic import write_text
from colossim.validation.runs import case_info, cross_validated_mape, family_summary, mape, validate
from colossim.validation.unknowns import unknowns_summary

DOC = Path(__file__).resolve().parents[1] / "docs" / "validation.md"
HEADER = "## Results"
ORIGINAL_28 = ("megatron_sc21_table1", "korthikanti_2022_table5", "megatron_core_h100_readme_2024", "bloom_176b")


def _fields(section: dict) -> list[str]:
    out: list[str] = []
    for name, value in section.items():
        out.extend(_fields(value) if isinstance(value, dict) and name in ("training", "parallel") else [name])
    return out


def _gpu(case: str) -> str:
    from colossim.validation.runs import _data

    return next(c["gpu"] for c in _data()["cases"] if c["case"] == case)


def _range(row) -> str:
    u = row.unknowns
    if not (u.knobs or u.not_swept):
        return "-"
    if not u.knobs:
        return "not swept"
    return f"{100 * u.low:+.1f}% .. {100 * u.high:+.1f}%"


def section() -> str:
    rows = validate(cross_validate=True, unknowns=True)
    orig = [r for r in rows if r.case in ORIGINAL_28]
    unk = unknowns_summary(rows)
    stated, open_ = unk["fully_stated"], unk["with_unknowns"]
    lines = [HEADER, "",
             f"**Result: {len(rows)} runs; cross-validated MAPE {cross_validated_mape(rows):.2%}, in-sample MAPE "
             f"{mape(rows):.2%}, worst in-sample {max(abs(r.error) for r in rows):.1%}.** The {len(orig)} runs of "
             f"issue #2: in-sample {mape(orig):.2%}, cross-validated {cross_validated_mape(orig):.2%}.", "",
             f"**What the sources leave out** (`colossim validate --unknowns`, validation/unknowns.py): "
             f"{stated['runs']} runs state every knob: cross-validated MAPE {stated['cross_validated_mape']:.2%}, "
             f"in-sample {stated['mape']:.2%} (the step model's own error); {open_['runs']} fill knobs by convention: "
             f"cross-validated {open_['cross_validated_mape']:.2%}, in-sample {open_['mape']:.2%}. Swept jointly over "
             f"their admissible values, those conventions span a range that holds the measured step for "
             f"{open_['inside_range']} of them and misses it for {len(open_['outside_range'])}; "
             f"{len(open_['not_swept'])} fill only knobs without a finite set of values (column `unknowns' "
             f"range`; `-`: the run states every knob; `not swept`: it fills only knobs without a finite set of "
             f"values).", "",
             "| case family | GPU | stack | runs | cross-validated MAPE | in-sample MAPE | worst in-sample "
             "| its source states | by convention |",
             "|---|---|---|---:|---:|---:|---:|---|---|"]
    for f in family_summary(rows):
        info = case_info(f["case"])
        stated = ", ".join(_fields(info["stated"])) or "-"
        conv = ", ".join(_fields(info["conventions"])) or "-"
        lines.append(f"| {f['case']} | {_gpu(f['case'])} | {info['stack']} | {f['runs']} | "
                     f"{f['cross_validated_mape']:.2%} | {f['mape']:.2%} | {f['max_abs_error']:.1%} | {stated} | {conv} |")
    lines += ["", "| case | run | GPUs | measured step (s) | predicted (s) | error | cross-validated error | predicted MFU "
              "| unknowns' range |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.case} | {r.run} | {r.gpus:,} | {r.measured_iter_s:.3f} | {r.predicted_iter_s:.3f} | "
                     f"{r.error:+.1%} | {r.cross_validated_error:+.1%} | {r.predicted_mfu:.1%} | {_range(r)} |")
    lines += ["", "Sources: each case's `source` block in the data file. Each run's own row (batch, micro-batch, "
              "parallel sizes) is stated by its table; `by convention` lists the case-level fills (a run may carry "
              "its own, e.g. the Megatron-Core README's interleaving). Regenerate this section with "
              "`python benchmarks/validation_tables.py --write`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help=f"replace the section in {DOC.name}")
    args = ap.parse_args(argv)
    text = section()
    if not args.write:
        sys.stdout.write(text)
        return 0
    doc = DOC.read_text(encoding="utf-8")
    start = doc.index(HEADER + "\n")
    write_text(DOC, doc[:start] + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
