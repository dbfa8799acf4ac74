"""Energy conventions: the accounting choices that are not physics, named and documented.

Every choice the books make about who draws what while a job is not training is a
field here, with a default, so a reader can see it and a researcher can change it
(scenario table ``[energy]``). ``EnergyConventions.legacy()`` reproduces the books of
greenhop before these were named (for before/after comparisons). The full statement,
with the reasons for each default, is ``docs/design.md`` section "Energy conventions".

What a migration's GPUs draw, phase by phase (``gpus`` = the GPUs that move; every
power per GPU, host share included, then x the site's PUE):

============  ==============================  ================================
phase         source site                      destination site
============  ==============================  ================================
save          idle (writing the checkpoint)   nothing
transfer      ``source_in_flight``             ``dest_held``
restore       ``source_in_flight``             idle (reading, restarting)
============  ==============================  ================================

The GPUs of a partially migratable job that stay at home draw idle power for the whole
downtime, whatever the conventions. A ``Resume`` restores at the job's own site (idle),
with no transfer and no source/destination split.
"""

from __future__ import annotations

from dataclasses import dataclass

from greenhop.core.errors import ConfigError

#: what the source's held GPUs may draw while the job is in flight
DRAW_CHOICES = ("zero", "idle", "training")
#: what the destination's reserved slots may draw while the checkpoint is in flight
HELD_CHOICES = ("zero", "idle")
#: the largest host share accepted [-] (a sanity bound, far above any real server)
HOST_SHARE_MAX = 5.0

HOST_SHARE = 0.5
"""Host power per GPU (CPUs, memory, fans, NICs, NVSwitches, power-supply losses) as a
share of the GPU's power [-].

Source: Latif, Newkirk, Carbone, Munir, Lin, Koomey, Yu, Dong (2025), "Single-Node Power
Demand During AI Training: Measurements on an 8-GPU NVIDIA H100 System", IEEE Access 13,
61740-61747 (arXiv:2412.08602): the largest power measured at the input of an 8-GPU
H100 HGX node training with its GPUs near full utilisation was about 8.4 kW. The eight
GPUs are rated 700 W each (8 x 0.7 kW = 5.6 kW) and cannot draw more, so the rest of
the node drew at least 8.4 - 5.6 = 2.8 kW: 2.8 / 5.6 = 0.5 of the GPUs' power. Had the
GPUs drawn less than their rating, the share is larger, so 0.5 is the low end of what
that measurement allows; the node's rated maximum input of 10.2 kW (the same paper)
bounds it from above at (10.2 - 5.6) / 5.6 = 0.82. The same share is applied to idle
power (a host does not power down while its GPUs wait), an assumption.
"""


@dataclass(frozen=True, slots=True)
class EnergyConventions:
    """Accounting conventions (powers per GPU; facility power = IT power x PUE).

    Attributes:
        source_in_flight: what the source's GPUs, still held by a migrating job, draw
            after its checkpoint is saved until the job has left, i.e. during the
            transfer and the restore at the destination (``"zero"``, ``"idle"``: the
            platform's idle power, ``"training"``: its training power).
        dest_held: what the GPU slots reserved at the destination draw while the
            checkpoint is in flight, i.e. during the transfer (``"zero"`` or ``"idle"``);
            during the restore they draw idle power in every convention.
        host_share: host power (CPUs, memory, fans, NICs) drawn per GPU as a share of
            the GPU's power, added to training and idle power alike [-]; a GPU's IT
            power is ``(1 + host_share) x`` the platform's figure (see
            :data:`HOST_SHARE`).
        suspend_saves: a ``Suspend`` writes a checkpoint first and pays its save time
            (``checkpoint / write rate``, no progress) and energy (idle power x PUE), as
            a migration does; only then does the job stop drawing power. A later move of
            the suspended job carries that checkpoint and writes none.
        network_to_grid: network energy of a transfer is grid energy: it is booked on
            the two end sites (half each, not x PUE) as demand served by the grid only,
            never by the site's renewables or battery (the wide-area network is not on
            the site's supply). ``False`` (legacy) adds the same halves to the two end
            sites' demand, dispatched like any other load.
    """

    source_in_flight: str = "idle"
    dest_held: str = "idle"
    host_share: float = HOST_SHARE
    suspend_saves: bool = True
    network_to_grid: bool = True

    def __post_init__(self) -> None:
        if self.source_in_flight not in DRAW_CHOICES:
            raise ConfigError(f"energy.source_in_flight: '{self.source_in_flight}' is not one "
                              f"of {', '.join(DRAW_CHOICES)}")
        if self.dest_held not in HELD_CHOICES:
            raise ConfigError(f"energy.dest_held: '{self.dest_held}' is not one of "
                              f"{', '.join(HELD_CHOICES)}")
        share = self.host_share
        if isinstance(share, bool) or not isinstance(share, int | float) \
                or not (0.0 <= share <= HOST_SHARE_MAX):
            raise ConfigError(f"energy.host_share: {share!r} is outside [0, {HOST_SHARE_MAX:g}]")
        for name in ("suspend_saves", "network_to_grid"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"energy.{name}: expected true or false, got "
                                  f"{getattr(self, name)!r}")

    @classmethod
    def legacy(cls) -> EnergyConventions:
        """The books before the conventions were named: the source draws nothing once its
        checkpoint is saved, the destination's slots idle while the checkpoint is in
        flight, no host power, a suspend that stops at once for free, network energy on
        the two end sites' demand (dispatched through their renewables)."""
        return cls(source_in_flight="zero", dest_held="idle", host_share=0.0,
                   suspend_saves=False, network_to_grid=False)

    def gpu_power_w(self, platform_w):
        """A GPU's IT power with its host share [W] (broadcasts over arrays)."""
        return platform_w * (1.0 + self.host_share)
