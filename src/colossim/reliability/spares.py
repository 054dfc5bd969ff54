"""The hot-spare pool of the vectorized simulation: failed servers in repair, per replication.

A server of a server-taking class goes to repair for its class's repair time; the job is
short of ``max(0, in_repair - spares)`` servers. Servers come back in the order they left
within one repair time, so the pool keeps one ring buffer (FIFO) of return times per
distinct repair time and replication. Pushes are written in bulk (:meth:`flush`), and
returned servers are popped only when the count could exceed the pool: with ample spares
the pool costs a few array operations per failure.
"""

from __future__ import annotations

import math

import numpy as np

from colossim import gate
from colossim.reliability.job import Job


class SparePool:
    def __init__(self, job: Job, replications: int, horizon_s: float) -> None:
        repair, takes, rates = job.repair_s(), job.takes_server_mask(), job.class_rates_per_s
        used = takes & (rates > 0)
        times = sorted({float(repair[i]) for i in np.nonzero(used)[0]})
        self.fifo_of = np.array([times.index(float(repair[i])) if used[i] else -1 for i in range(len(repair))])
        self.repair_f = np.array(times)
        self.spares = job.spare_servers
        self.rows = np.arange(replications)
        self.bufs, self.heads, self.tails, self.nexts = [], [], [], []
        for f, d in enumerate(times):
            in_repair = float(rates[self.fifo_of == f].sum()) * min(d, horizon_s)
            cap = 1 << max(6, math.ceil(math.log2(2.0 * in_repair + 6.0 * math.sqrt(in_repair + 1.0) + 64.0)))
            gate.check_allocation("servers in repair at once", replications * cap, field="spares.repair_h",
                                  fix="use shorter repair times or fewer replications")
            self.bufs.append(np.zeros((replications, cap)))
            self.heads.append(np.zeros(replications, dtype=np.int64))
            self.tails.append(np.zeros(replications, dtype=np.int64))
            self.nexts.append(np.full(replications, np.inf))  # earliest pending return (inf: none)

    @property
    def active(self) -> bool:
        return bool(self.bufs)

    def count(self) -> np.ndarray:
        """Servers pushed and not yet popped (an upper bound on those in repair)."""
        return sum((tl - hd for tl, hd in zip(self.tails, self.heads, strict=True)), np.zeros(len(self.rows), np.int64))

    def flush(self, times: np.ndarray, fifos: np.ndarray, mask: np.ndarray) -> None:
        """Write the failures of several steps at once: ``times``, ``fifos`` and ``mask``
        are (steps, replications), in step order."""
        for f in range(len(self.bufs)):
            m = mask & (fifos == f)
            added = m.sum(axis=0)
            if not added.any():
                continue
            if ((self.tails[f] - self.heads[f] + added) > self.bufs[f].shape[1]).any():
                self._bulk_pop(f, times[-1])
                self._grow(f, added)
            buf, tail = self.bufs[f], self.tails[f]
            steps, rows = np.nonzero(m)
            rank = np.cumsum(m, axis=0)[steps, rows] - 1
            buf[rows, (tail[rows] + rank) % buf.shape[1]] = times[steps, rows] + self.repair_f[f]
            tail += added
            self._refresh(f)

    def shortage(self, t: np.ndarray) -> np.ndarray:
        """Servers the job lacks at time ``t`` (call after :meth:`flush`)."""
        for f, buf in enumerate(self.bufs):
            head, tail, nxt = self.heads[f], self.tails[f], self.nexts[f]
            pop = nxt <= t
            while pop.any():
                idx = self.rows[pop]
                head[idx] += 1
                h = head[idx]
                nxt[idx] = np.where(h < tail[idx], buf[idx, h % buf.shape[1]], np.inf)
                pop[idx] = nxt[idx] <= t[idx]
        return np.maximum(self.count() - self.spares, 0).astype(float)

    def kth_return(self, k: np.ndarray) -> np.ndarray:
        """Time of the ``k``-th next server return (where k > 0; NaN elsewhere)."""
        out = np.full(k.shape, np.nan)
        rows = np.nonzero(k > 0)[0]
        if rows.size == 0:
            return out
        kk = k[rows]
        if len(self.bufs) == 1:
            out[rows] = self._entry(0, rows, kk - 1)
        elif len(self.bufs) == 2:
            out[rows] = self._kth_of_two(rows, kk)
        else:  # rare (many distinct repair times): sort the first k of every FIFO
            width = int(kk.max())
            cols = np.broadcast_to(np.arange(width)[None, :], (rows.size, width))
            parts = [self._entry(f, rows[:, None], cols) for f in range(len(self.bufs))]
            merged = np.sort(np.concatenate(parts, axis=1), axis=1)
            out[rows] = merged[np.arange(rows.size), kk - 1]
        return out

    def _entry(self, f: int, rows: np.ndarray, i: np.ndarray) -> np.ndarray:
        """The ``i``-th pending return of FIFO ``f`` (inf past its end, -inf before it)."""
        buf, head, tail = self.bufs[f], self.heads[f][rows], self.tails[f][rows]
        idx = head + i
        value = buf[rows, idx % buf.shape[1]]
        return np.where(i < 0, -np.inf, np.where(idx < tail, value, np.inf))

    def _kth_of_two(self, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
        """k-th smallest of two sorted FIFOs: bisect on how many come from the first."""
        n0 = self.tails[0][rows] - self.heads[0][rows]
        n1 = self.tails[1][rows] - self.heads[1][rows]
        lo, hi = np.maximum(k - n1, 0), np.minimum(k, n0)
        while (lo < hi).any():
            mid = (lo + hi) // 2
            take_more = (lo < hi) & (self._entry(0, rows, mid) < self._entry(1, rows, k - mid - 1))
            lo = np.where(take_more, mid + 1, lo)
            hi = np.where((lo < hi) & ~take_more, mid, hi)
        return np.maximum(self._entry(0, rows, lo - 1), self._entry(1, rows, k - lo - 1))

    def _refresh(self, f: int) -> None:
        buf, head, tail = self.bufs[f], self.heads[f], self.tails[f]
        self.nexts[f] = np.where(head < tail, buf[self.rows, head % buf.shape[1]], np.inf)

    def _bulk_pop(self, f: int, t: np.ndarray) -> None:
        buf, head, tail = self.bufs[f], self.heads[f], self.tails[f]
        cap = buf.shape[1]
        offsets = np.arange(cap)
        vals = buf[self.rows[:, None], (head[:, None] + offsets) % cap]
        valid = offsets < (tail - head)[:, None]
        head += ((vals <= t[:, None]) & valid).sum(axis=1)
        self._refresh(f)

    def _grow(self, f: int, added: np.ndarray) -> None:
        buf, head, tail = self.bufs[f], self.heads[f], self.tails[f]
        cap = buf.shape[1]
        need = int((tail - head + added).max())
        if need <= cap:
            return
        new_cap = 1 << math.ceil(math.log2(need))
        new = np.zeros((buf.shape[0], new_cap))
        for o in range(int((tail - head).max())):
            idx = head + o
            ok = idx < tail
            new[self.rows[ok], idx[ok] % new_cap] = buf[self.rows[ok], idx[ok] % cap]
        self.bufs[f] = new
