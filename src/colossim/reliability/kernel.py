"""A tiny deterministic discrete-event kernel (after SimPy's ``core.py``).

Events sit in a heap ordered by ``(time, priority, sequence)``: at equal times the lower
priority runs first, then the earlier scheduled, so a run is a pure function of its
inputs and seed. Callbacks may schedule further events; a :class:`Handle` cancels one.
Domain logic (failures, checkpoints, recoveries) lives in
:mod:`colossim.reliability.events`, on top of this.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class _Entry:
    time: float
    priority: int
    seq: int
    handle: Handle = field(compare=False)


class Handle:
    """A scheduled event; ``cancel()`` keeps it from running."""

    __slots__ = ("action", "cancelled", "time")

    def __init__(self, time: float, action: Callable[[], None]) -> None:
        self.time = time
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Kernel:
    """The clock and the event heap."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self._stopped = False
        self.events_run = 0

    def schedule(self, delay: float, action: Callable[[], None], priority: int = 0) -> Handle:
        """Run ``action`` ``delay`` seconds from now (``delay`` >= 0)."""
        assert delay >= 0.0 and not math.isnan(delay), f"cannot schedule {delay} s into the past"
        handle = Handle(self.now + delay, action)
        heapq.heappush(self._heap, _Entry(handle.time, priority, next(self._seq), handle))
        return handle

    def stop(self) -> None:
        """End :meth:`run` after the current event."""
        self._stopped = True

    def run(self, until: float = math.inf) -> None:
        """Process events in order until none is left, :meth:`stop` or time ``until``."""
        self._stopped = False
        while self._heap and not self._stopped:
            entry = self._heap[0]
            if entry.time > until:
                self.now = until
                return
            heapq.heappop(self._heap)
            if entry.handle.cancelled:
                continue
            self.now = entry.time
            self.events_run += 1
            entry.handle.action()

    def __len__(self) -> int:
        return len(self._heap)
