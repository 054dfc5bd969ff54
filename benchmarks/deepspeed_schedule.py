"""DeepSpeed's pipeline TrainSchedule under blocking sends: is it lock-stepped?

Replays DeepSpeed v0.5.4's ``deepspeed/runtime/pipe/schedule.py`` TrainSchedule (the
instruction order of every stage: RecvActivation / SendGrad before a forward step,
SendActivation / RecvGrad before a backward step) with rendezvous semantics: a send and its
receive complete together, when both stages have reached them, ``transfer`` after the later
of the two (``p2p.send``/``recv`` are blocking ``dist.send``/``dist.recv``). Forward takes
``fwd``, backward ``bwd`` (3 x forward with full recomputation).

    python benchmarks/deepspeed_schedule.py --stages 35 --micro-batches 240,192,160

prints each makespan against 1F1B's (m + p - 1)(fwd + bwd) and the transfers each slot pays.
With no transfer time it is exactly 1F1B's: the schedule is not lock-stepped. With transfers,
each slot pays about 3.7 of them on its critical path: perf/exposure.py pp_p2p charges a
blocking DeepSpeed exchange as send and receive one after the other, 4 per micro-batch.
"""

from __future__ import annotations

import argparse
import sys

PARTNER = {"sendA": (1, "recvA"), "recvA": (-1, "sendA"), "sendG": (-1, "recvG"), "recvG": (1, "sendG")}


def stage_commands(m: int, p: int, s: int) -> list[tuple[str, int]]:
    """Stage ``s``'s instructions, in TrainSchedule.steps() order (compute and p2p only)."""
    out: list[tuple[str, int]] = []
    prev = -1
    for step in range(2 * (m + p - 1)):
        even_step, even_stage = step % 2 == 0, s % 2 == 0
        if even_step == even_stage:  # a forward step (_even_step_forward_id / _odd_step_forward_id)
            mb, fwd = (step // 2 if even_step else (step - 1) // 2) - s // 2, True
        elif even_step:  # _even_step_backward_id
            mb, fwd = step // 2 - p + (s + 1) // 2, False
        else:  # _odd_step_backward_id
            mb, fwd = (step - 1) // 2 - p + 1 + s // 2, False
        cur, before = 0 <= mb < m, 0 <= prev < m
        if fwd:
            out += [("recvA", mb)] * (cur and s > 0) + [("sendG", prev)] * (before and s > 0)
        else:
            out += [("sendA", prev)] * (before and s < p - 1) + [("recvG", mb)] * (cur and s < p - 1)
        if cur:
            out.append(("F" if fwd else "B", mb))
        prev = mb
    return out


def makespan(m: int, p: int, fwd: float = 1.0, bwd: float = 3.0, transfer: float = 0.0) -> float:
    cmds = [stage_commands(m, p, s) for s in range(p)]
    pos, clock = [0] * p, [0.0] * p
    moved = True
    while moved:
        moved = False
        for s in range(p):
            while pos[s] < len(cmds[s]):
                op, mb = cmds[s][pos[s]]
                if op in ("F", "B"):
                    clock[s] += fwd if op == "F" else bwd
                    pos[s] += 1
                    moved = True
                    continue
                d, other = PARTNER[op]
                q = s + d
                if pos[q] < len(cmds[q]) and cmds[q][pos[q]] == (other, mb):
                    clock[s] = clock[q] = max(clock[s], clock[q]) + transfer
                    pos[s] += 1
                    pos[q] += 1
                    moved = True
                    continue
                break
    if any(pos[s] != len(cmds[s]) for s in range(p)):
        raise RuntimeError("deadlock: the replay does not match the schedule")
    return max(clock)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stages", type=int, default=35)
    ap.add_argument("--micro-batches", default="240,192,160")
    ap.add_argument("--transfer", type=float, default=0.01, help="one transfer, in forward-pass units")
    args = ap.parse_args(argv)
    p = args.stages
    for m in (int(x) for x in args.micro_batches.split(",")):
        ideal = (m + p - 1) * 4.0
        bare = makespan(m, p)
        timed = makespan(m, p, transfer=args.transfer)
        per_slot = (timed - ideal) / args.transfer / (m + p - 1) if args.transfer else 0.0
        print(f"p={p} m={m}: no transfer {bare / ideal:.4f} x 1F1B; transfer {args.transfer:g}: "
              f"{timed / ideal:.4f} x 1F1B, {per_slot:.2f} transfers per slot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
