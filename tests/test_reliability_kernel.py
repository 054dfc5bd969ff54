"""The tiny event kernel: deterministic order, cancellation, stopping."""

from __future__ import annotations

import pytest

from colossim.reliability.kernel import Kernel


def test_order_by_time_priority_then_sequence() -> None:
    k, seen = Kernel(), []
    k.schedule(2.0, lambda: seen.append("late"))
    k.schedule(1.0, lambda: seen.append("b"), priority=1)
    k.schedule(1.0, lambda: seen.append("a"), priority=0)
    k.schedule(1.0, lambda: seen.append("c"), priority=1)
    k.run()
    assert seen == ["a", "b", "c", "late"] and k.now == 2.0 and k.events_run == 4


def test_cancel_stop_and_until() -> None:
    k, seen = Kernel(), []
    h = k.schedule(1.0, lambda: seen.append("cancelled"))
    h.cancel()

    def chain() -> None:
        seen.append(k.now)
        k.schedule(1.0, chain)

    k.schedule(0.5, chain)
    k.run(until=3.0)
    assert seen == [0.5, 1.5, 2.5] and k.now == 3.0
    k.schedule(0.0, k.stop)
    k.run()
    assert len(seen) == 3 and len(k) == 1  # stopped at 3.0; the event at 3.5 is still queued
    with pytest.raises(AssertionError):
        k.schedule(-1.0, lambda: None)
