"""Energy conventions: the accounting choices that are not physics, named and documented.

Every choice the books make about who draws what while a job is not training is a
field here, with a default, so a reader can see it and a researcher can change it
(scenario table ``[energy]``). ``EnergyConventions.legacy()`` reproduces the books of
greenhop before these were named (for before/after comparisons).
"""

from __future__ import annotations

from dataclasses import dataclass

from greenhop.core.errors import ConfigError

DRAW_CHOICES = ("zero", "idle", "training")


@dataclass(frozen=True, slots=True)
class EnergyConventions:
    """Accounting conventions (all powers are per GPU, before PUE).

    Attributes:
        source_in_flight: what the source's GPUs, still held by a migrating job, draw
            after its checkpoint is saved until the job has left (``"zero"``, ``"idle"``:
            the platform's idle power, ``"training"``).
        dest_held: what the GPU slots reserved at the destination draw while the
            checkpoint is in flight (``"zero"`` or ``"idle"``).
        host_share: host power (CPUs, memory, fans, NICs) drawn per GPU as a share of
            the GPU's power, added to training and idle power alike [-].
        suspend_saves: a ``Suspend`` writes a checkpoint first and pays its save time
            and energy, as a migration does.
        network_to_grid: network energy of a transfer is booked to the grid only (the
            WAN is not on the site's renewables); ``False`` adds it to the source site's
            demand, dispatched like any other load.
    """

    source_in_flight: str = "idle"
    dest_held: str = "idle"
    host_share: float = 0.0
    suspend_saves: bool = True
    network_to_grid: bool = True

    def __post_init__(self) -> None:
        if self.source_in_flight not in DRAW_CHOICES:
            raise ConfigError(f"energy.source_in_flight: '{self.source_in_flight}' is not one "
                              f"of {', '.join(DRAW_CHOICES)}")
        if self.dest_held not in ("zero", "idle"):
            raise ConfigError(f"energy.dest_held: '{self.dest_held}' is not one of zero, idle")
        if not (0.0 <= self.host_share <= 5.0):
            raise ConfigError(f"energy.host_share: {self.host_share} is outside [0, 5]")

    @classmethod
    def legacy(cls) -> EnergyConventions:
        """The books before the conventions were named: nothing drawn while in flight,
        no host power, a free suspend, network energy on the source site's demand."""
        return cls(source_in_flight="zero", dest_held="zero", host_share=0.0,
                   suspend_saves=False, network_to_grid=False)
