"""On what it trains: GPUs, their NVLink domains and the scale-out fabric.

A :class:`ClusterSpec` is complete once built: fields left out of a scenario are filled
from the GPU's catalog entry by :func:`colossim.scenario.loader.build_cluster`, so every
later stage reads explicit numbers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


Routing = Literal["adaptive", "ecmp"]


class FabricSpec(_Strict):
    """The scale-out network: a (rail-optimized) fat tree of ``tiers`` switch levels."""

    switch: str = Field(default="qm9700", description="switch catalog name (sn5600, qm9700, qm8700, ...)")
    tiers: int = Field(default=2, ge=1, le=3, description="switch levels: 1 (single switch), 2 (leaf-spine), 3 (+core)")
    switch_radix: PositiveInt | None = Field(
        default=None, description="ports per switch at port_gbps (default: from the switch catalog)"
    )
    port_gbps: PositiveFloat | None = Field(default=None, description="switch port speed, Gb/s (default: the NIC speed)")
    oversubscription: tuple[PositiveFloat, ...] = Field(
        default=(), description="down:up ratio at each tier boundary, bottom up (1 = non-blocking)"
    )
    pod_gpus: PositiveInt | None = Field(
        default=None, description="GPUs in one full-bisection pod; traffic leaving a pod sees the top oversubscription"
    )
    rail_optimized: bool = Field(default=True, description="GPU i of every node on leaf/rail i")
    routing: Routing = Field(default="adaptive", description="adaptive (packet spraying, Spectrum-X, IB AR) or ecmp (per-flow hashing)")

    @model_validator(mode="after")
    def _check(self) -> FabricSpec:
        if len(self.oversubscription) > max(self.tiers - 1, 0):
            raise ValueError(
                f"oversubscription has {len(self.oversubscription)} entries; a {self.tiers}-tier fabric "
                f"has {max(self.tiers - 1, 0)} tier boundaries"
            )
        if any(x < 1 for x in self.oversubscription):
            raise ValueError("oversubscription ratios must be >= 1 (1 = non-blocking)")
        return self

    @property
    def top_oversubscription(self) -> float:
        return self.oversubscription[-1] if self.oversubscription else 1.0


class ClusterSpec(_Strict):
    """A GPU cluster. Only ``gpu`` and ``num_gpus`` are required in a scenario."""

    name: str = "custom"
    gpu: str = Field(description="GPU catalog name (see `colossim catalog gpus`)")
    num_gpus: PositiveInt = Field(le=100_000_000, description="GPUs in the cluster (up to 100 million)")
    gpus_per_node: PositiveInt = Field(le=100_000, description="GPUs in one NVLink (scale-up) domain")
    gpus_per_server: PositiveInt = Field(description="GPUs in one server chassis (power, failures)")
    scaleup_gbps_per_gpu: PositiveFloat = Field(description="NVLink bandwidth per GPU, GB/s one direction")
    nic_gbps_per_gpu: PositiveFloat = Field(description="scale-out NIC bandwidth per GPU, Gb/s")
    fabric: FabricSpec = FabricSpec()
    gpus_per_rack: PositiveInt | None = None
    racks_per_group: PositiveInt | None = None
    cooling: Literal["air", "liquid"] = "air"
    notes: str | None = None
    efficiency_profile: str | None = Field(
        default=None, min_length=1,  # "" is not "no profile": a path left empty is refused, not ignored
        description="path of a profile YAML fitted by `colossim calibrate` (its fields replace the GPU family's)",
    )

    @model_validator(mode="after")
    def _check(self) -> ClusterSpec:
        if self.gpus_per_node % self.gpus_per_server and self.gpus_per_server % self.gpus_per_node:
            raise ValueError(
                f"gpus_per_server ({self.gpus_per_server}) and gpus_per_node ({self.gpus_per_node}) "
                "must divide one another"
            )
        if self.gpus_per_node > self.num_gpus:
            raise ValueError(f"gpus_per_node ({self.gpus_per_node}) exceeds num_gpus ({self.num_gpus})")
        pod = self.fabric.pod_gpus
        if pod is not None and pod % self.gpus_per_server:  # a pod's leaves cable whole servers
            raise ValueError(f"fabric.pod_gpus ({pod}) must be a whole number of servers of {self.gpus_per_server} "
                             f"GPUs (gpus_per_server), e.g. {max(pod // self.gpus_per_server, 1) * self.gpus_per_server}")
        return self

    @property
    def num_nodes(self) -> int:
        """NVLink domains, rounded up (a partial last node counts)."""
        return -(-self.num_gpus // self.gpus_per_node)

    @property
    def num_servers(self) -> int:
        return -(-self.num_gpus // self.gpus_per_server)
