"""Incast at the start of a synchronized all-to-all: the transient a max-min model leaves out.

The flow solver gives the rates congestion control converges to. What it cannot see is
the start of a step: every connection of a grouped send/receive is posted at once and
starts at line rate (DCQCN has no slow start: Zhu et al., SIGCOMM 2015, section 3), and
only an ECN mark, a CNP and a round trip later (``reaction_s``) can a sender be cut. A NIC
serves one connection at a time in line-rate bursts of what it may send before that cut
(``min(bytes for the peer, C x reaction_s)``; assumption), in an order no other NIC knows,
so the bursts that reach one receiving port together are a random count J out of its k
senders, each aiming at it with probability 1 / (the sender's peers): Binomial(k, 1/f).
The collective waits for its worst port: J* is the (1 - 1/R) quantile over the R receiving
ports. The last-hop leaf egress then holds Q = (J* - 1) x burst (it drains one burst while
J* arrive). Above the port's XOFF threshold (``xoff_bytes``) PFC pauses the cables that
feed the port for P = (Q - XOFF) / C. Those cables (every spine-to-leaf cable of the leaf
under spraying, the hashed ones under ECMP) also carry the traffic of the leaf's other
NICs: while paused they are FIFO input queues in front of the leaf's egress ports, whose
saturation throughput under uniform destinations is 2 - sqrt(2) (head-of-line blocking:
Karol, Hluchyj, Morgan, IEEE Trans. Commun. 1987; victims of PFC: Guo et al., SIGCOMM 2016).
The step loses ``(1 - eta) x P``. A non-blocking big switch with per-port virtual output
queues has no victims (eta = 1): the ideal reference keeps no such term, so the fabric
falls below it by the loss.

Only phases of independent transfers (all-to-all, point-to-point) start this way; pipelined
rings and trees are clocked by their chunks (a hop forwards what it has received), one
sender per receiving port and chain, and get nothing (bit-identical). Fan-in is counted
between NICs (PXN: the proxy NIC on the destination's rail), so it does not depend on the
routing: ECMP, adaptive spraying and flowlets get the same term, the ideal switch none.

Left out (each way): the leaf's own output queues, which keep a victim port busy for part
of the pause (the loss is an upper estimate there); successive DCQCN cuts for J* > 2
(one reaction is assumed to stop the burst: a lower estimate of Q); PFC spreading past the
spine (pause trees); bursts after the start (the rest of the step is the fluid max-min);
per-port buffer beyond one XOFF threshold (dynamic shared-buffer thresholds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from colossim.network.links import Topology
from colossim.network.traffic import Traffic


@dataclass(frozen=True)
class IncastParams:
    """The constants of the transient (``data/fabric.yaml: incast``)."""

    reaction_s: float  # ECN mark + CNP + one RTT: how long a sender runs at line rate
    xoff_bytes: float  # a leaf egress port's lossless queue before PFC XOFF
    hol_throughput: float  # FIFO input-queued switch under uniform traffic (2 - sqrt 2)


def incast_params() -> IncastParams:
    from colossim.network.topology import fabric_data

    d = fabric_data()["incast"]
    return IncastParams(float(d["reaction_s"]), float(d["xoff_bytes"]), float(d["hol_throughput"]))


@dataclass(frozen=True)
class Incast:
    """The incast transient of one collective, as ``colossim network --json`` reports it."""

    time_s: float  # added to the bandwidth time (0 for the ideal switch, rings, trees, fan-in 1)
    share: float  # time_s / bandwidth time
    fan_in: int  # senders (NICs) into the worst port
    fan_out: float  # peers (NICs) of the senders into it (mean)
    burst_bytes: float  # what each sender puts toward the port before the first cut
    peak_senders: int  # J*: bursts that meet at the worst port
    queue_bytes: float  # Q at the worst port's leaf egress
    xoff_bytes: float
    pause_s: float  # P: how long the cables into its leaf are paused
    hol_throughput: float
    receivers: int  # receiving NIC ports
    reaction_s: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def transient_s(fan_in: np.ndarray, fan_out: np.ndarray, bytes_per_sender: np.ndarray, capacity_bytes_s: np.ndarray,
                receivers: int, params: IncastParams) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Time each receiving port's leaf loses to the start burst (vectorized over ports), and
    the intermediate quantities (burst, J*, queue, pause)."""
    peak = peak_senders(fan_in, fan_out, receivers)
    lost, parts = burst_loss(peak, np.asarray(bytes_per_sender, dtype=float), capacity_bytes_s, params)
    return lost, {**parts, "peak": peak}


def peak_senders(fan_in: np.ndarray, fan_out: np.ndarray, receivers: int) -> np.ndarray:
    """J*: the (1 - 1/receivers) quantile of Binomial(fan-in, 1/fan-out) bursts meeting at a
    port (at least 1 where a port has a sender). Independent of the collective's size."""
    k = np.asarray(fan_in, dtype=np.int64)
    p = 1.0 / np.maximum(np.asarray(fan_out, dtype=float), 1.0)
    level = 1.0 - 1.0 / max(int(receivers), 1)
    peak = np.minimum(k, 1)
    many = k > 1
    if many.any():  # the quantile once per distinct (k, p): ports of a collective share a handful
        combos, back = np.unique(k[many] + 1j * p[many], return_inverse=True)  # (k, p) pairs, sorted
        ks = combos.real.astype(np.int64)
        peak[many] = np.clip(binomial_quantile(level, ks, combos.imag), 1, ks)[back.ravel()]
    return peak


def burst_loss(peak: np.ndarray, bytes_per_sender: np.ndarray, capacity_bytes_s: np.ndarray,
               params: IncastParams) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The loss of J* (``peak``) bursts meeting at a port: burst = min(bytes, C x reaction),
    queue = (J* - 1) x burst, PFC pause = (queue - XOFF)+ / C, lost = (1 - eta) x pause."""
    burst = np.minimum(bytes_per_sender, capacity_bytes_s * params.reaction_s)
    queue = np.maximum(peak - 1, 0) * burst
    pause = np.maximum(queue - params.xoff_bytes, 0.0) / capacity_bytes_s
    lost = (1.0 - params.hol_throughput) * pause
    return lost, {"burst": burst, "queue": queue, "pause": pause}


def binomial_quantile(level: float, k: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The smallest j with P(Binomial(k, p) <= j) >= level, for a few (k, p) at once (the
    pmf by its ratio recursion in log space; scipy.stats's import would cost more than the
    whole term). The loop runs over j, up to the largest quantile, not over ports."""
    k = np.asarray(k, dtype=np.int64)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    out = np.where(p >= 1.0, k, 0)
    todo = p < 1.0
    if not todo.any():
        return out
    kk, pp = k[todo].astype(float), p[todo]
    log_pmf = kk * np.log1p(-pp)  # j = 0
    cdf = np.exp(log_pmf)
    found = np.where(cdf >= level, 0, -1)
    odds = np.log(np.maximum(pp, 1e-300)) - np.log1p(-pp)
    j = 0
    while np.any(found < 0) and j < kk.max():
        log_pmf = log_pmf + np.log(np.maximum(kk - j, 1e-300)) - np.log(j + 1.0) + odds
        j += 1
        cdf = cdf + np.where(j <= kk, np.exp(log_pmf), 0.0)
        found = np.where((found < 0) & ((cdf >= level) | (j >= kk)), j, found)
    out[todo] = np.where(found < 0, k[todo], found)
    return out


def port_fan_in(topo: Topology, traffic: Traffic, pxn: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per receiving GPU NIC: senders (NICs), their mean number of peers, bytes per sender
    (one call of the collective), over the phases of independent transfers that cross NICs.
    Sampled all-to-all windows count ``steps`` times (they stand for the peers not simulated)."""
    g, gpn = topo.num_gpus, topo.gpus_per_node
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []  # (sender, receiver, bytes, steps)
    fan_out = np.zeros(g)  # receivers per sender NIC over the call
    for ph in traffic.phases:
        if ph.chain is not None or not ph.src.size:
            continue
        inter = (ph.src // gpn) != (ph.dst // gpn)
        if not inter.any():
            continue
        src, dst = ph.src[inter], ph.dst[inter]
        nic = topo.proxy_gpu(src, dst) if pxn else src
        pairs, count = np.unique(nic.astype(np.int64) * g + dst, return_counts=True)
        s, r = pairs // g, pairs % g
        fan_out += np.bincount(s, minlength=g) * ph.steps
        parts.append((s, r, count * ph.size_bytes, ph.steps))
    fan_in, bytes_in, inv_out = np.zeros(g), np.zeros(g), np.zeros(g)
    for s, r, size, steps in parts:
        fan_in += np.bincount(r, minlength=g) * steps
        bytes_in += np.bincount(r, weights=size, minlength=g) * steps
        inv_out += np.bincount(r, weights=1.0 / fan_out[s], minlength=g) * steps
    ports = np.flatnonzero(fan_in > 0)
    k = fan_in[ports]
    return ports, np.rint(k), k / np.maximum(inv_out[ports], 1e-300), bytes_in[ports] / k


def _receiving_ports(topo: Topology, capacity: np.ndarray, traffic: Traffic, pxn: bool,
                     enabled: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Ports, fan-in, fan-out, bytes per sender and NIC capacity of the phases that start in
    a burst; None where none does (the ideal switch, pipelined rings and trees, fan-in 0)."""
    if not enabled or all(ph.chain is not None for ph in traffic.phases):
        return None
    ports, k, f, per_sender = port_fan_in(topo, traffic, pxn)
    if not ports.size:
        return None
    cap = capacity[topo.nic_down(ports)]
    return ports, k, f, per_sender, np.where(cap > 0, cap, np.inf)


def incast_transient(topo: Topology, capacity: np.ndarray, traffic: Traffic, bandwidth_time_s: float, *,
                     pxn: bool = True, params: IncastParams | None = None, enabled: bool = True) -> Incast:
    """The incast loss of one collective on the fabric (``capacity``: payload rates per link);
    ``enabled=False`` (the ideal switch) reports none."""
    params = params or incast_params()
    found = _receiving_ports(topo, capacity, traffic, pxn, enabled)
    if found is None:
        return _none(params)
    ports, k, f, per_sender, cap = found
    lost, parts = transient_s(k, f, per_sender, cap, ports.size, params)
    i = int(np.argmax(lost)) if np.any(lost > 0) else int(np.argmax(k))
    t = float(lost[i])
    return Incast(time_s=t, share=t / (bandwidth_time_s + t) if bandwidth_time_s + t > 0 else 0.0,
                  fan_in=int(k[i]), fan_out=float(f[i]), burst_bytes=float(parts["burst"][i]),
                  peak_senders=int(parts["peak"][i]), queue_bytes=float(parts["queue"][i]),
                  xoff_bytes=params.xoff_bytes, pause_s=float(parts["pause"][i]),
                  hol_throughput=params.hol_throughput, receivers=int(ports.size), reaction_s=params.reaction_s)


@dataclass(frozen=True)
class IncastCurve:
    """The incast loss of one collective's traffic pattern as a function of its size: fan-in,
    fan-out and J* do not depend on the size, only each sender's burst does (it grows with
    the bytes per peer until the first rate cut caps it). The distinct (J*, bytes, capacity)
    port classes are kept, a handful for a regular collective (for FlowCollectives, which
    simulates one 1 GiB call and scales it)."""

    peak: np.ndarray  # J* per port class
    bytes_per_unit: np.ndarray  # bytes per sender toward the port, per unit of the size the traffic was built with
    capacity_bytes_s: np.ndarray
    params: IncastParams

    def time_s(self, scale: np.ndarray) -> np.ndarray:
        """Loss per call for sizes ``scale`` x the built size (any shape)."""
        scale = np.asarray(scale, dtype=float)
        if not self.peak.size:
            return np.zeros(scale.shape)
        lost, _ = burst_loss(self.peak, scale[..., None] * self.bytes_per_unit, self.capacity_bytes_s, self.params)
        return lost.max(axis=-1)


def incast_curve(topo: Topology, capacity: np.ndarray, traffic: Traffic, *, pxn: bool = True,
                 params: IncastParams | None = None, enabled: bool = True) -> IncastCurve:
    """:func:`incast_transient`'s loss for any size of the same traffic pattern."""
    params = params or incast_params()
    found = _receiving_ports(topo, capacity, traffic, pxn, enabled)
    if found is None:
        return IncastCurve(np.zeros(0), np.zeros(0), np.zeros(0), params)
    ports, k, f, per_sender, cap = found
    peak = peak_senders(k, f, ports.size)
    classes = np.unique(np.stack([peak.astype(float), per_sender, cap], axis=1), axis=0)
    return IncastCurve(classes[:, 0], classes[:, 1], classes[:, 2], params)


def _none(params: IncastParams) -> Incast:
    return Incast(0.0, 0.0, 0, 0.0, 0.0, 0, 0.0, params.xoff_bytes, 0.0, params.hol_throughput, 0, params.reaction_s)
