"""GPU platforms a micro-datacenter can host, datacenter and edge, with their sources.

Each entry gives the power under training load [W], the idle power [W], the
relative training throughput [-] against the reference GPU (A100 SXM4 80GB =
1.0), the memory [B] and the kind (``datacenter`` or ``edge``). The model, the
traces and the simulator all read it, so it lives in ``core``.

Sources and method (every figure can be overridden on the command line):

* Training power: the vendor's maximum board / module power (TDP), which LLM
  and CNN training reaches in practice. NVIDIA datasheets: H100 SXM5 700 W,
  A100 SXM4 400 W, L40S 350 W; GeForce RTX 4090 total board power 450 W
  (NVIDIA product specifications); Jetson AGX Orin 64GB MAXN mode 60 W (Jetson
  AGX Orin series datasheet); DGX Spark GB10 superchip 140 W TDP (NVIDIA DGX
  Spark hardware documentation; the system's power supply is 240 W).
* Idle power: typical ``nvidia-smi`` / module readings reported publicly for an
  idle, initialised device. Approximate (+-50%); an engineering assumption
  rather than a datasheet value.
* Relative throughput: the geometric mean of the dense BF16 tensor throughput
  ratio and the memory-bandwidth ratio to the A100, from datasheet peaks
  (training is partly compute-, partly memory-bound). It gives H100 SXM about
  2.3x, inside the 2-3x per-GPU range of MLPerf Training v3.0 (2023) results.
  Datasheet peaks used, dense BF16 [TFLOP/s] / memory bandwidth [GB/s]:
  A100 SXM4 80GB 312 / 2039; H100 SXM5 989 / 3350; L40S 362 / 864;
  RTX 4090 165 (FP32 accumulate, Ada whitepaper) / 1008; Jetson AGX Orin 64GB
  about 42.5 (half of its 85 dense INT8 GPU TOPS) / 204.8; DGX Spark GB10 about
  125 (1 PFLOP/s sparse FP4 / 8) / 273.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from greenhop.core.errors import ConfigError

REFERENCE = "A100-SXM4-80GB"
"""The reference GPU of relative throughput and of work in GPU-hours."""


@dataclass(frozen=True)
class Platform:
    """One GPU platform.

    Attributes:
        name: canonical name, e.g. ``"A100-SXM4-80GB"``.
        kind: ``"datacenter"`` or ``"edge"``.
        train_power_w: power under training load [W].
        idle_power_w: power when initialised but idle [W].
        relative_throughput: training throughput relative to the reference GPU [-].
        memory_bytes: accelerator (or unified) memory [B].
        bf16_flops: dense BF16 tensor peak [FLOP/s].
        memory_Bps: memory bandwidth [B/s].
        aliases: other accepted names (matched case-insensitively).
        source: where the power and peak figures come from.
    """

    name: str
    kind: str
    train_power_w: float
    idle_power_w: float
    memory_bytes: float
    bf16_flops: float
    memory_Bps: float
    aliases: tuple[str, ...]
    source: str

    @property
    def relative_throughput(self) -> float:
        """sqrt(BF16 ratio x bandwidth ratio) to the reference GPU [-], two decimals."""
        ref = _REFERENCE_PEAKS
        ratio = (self.bf16_flops / ref[0]) * (self.memory_Bps / ref[1])
        return round(math.sqrt(ratio), 2)


_REFERENCE_PEAKS = (312e12, 2039e9)

PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("H100-SXM", "datacenter", 700.0, 70.0, 80e9, 989e12, 3350e9,
                 ("h100", "h100-sxm5", "h100-sxm5-80gb"),
                 "NVIDIA H100 Tensor Core GPU datasheet (SXM5: 700 W, 989 TFLOP/s BF16, "
                 "3.35 TB/s)"),
        Platform(REFERENCE, "datacenter", 400.0, 50.0, 80e9, 312e12, 2039e9,
                 ("a100", "a100-sxm4", "a100-80gb", "a100-sxm"),
                 "NVIDIA A100 Tensor Core GPU datasheet (SXM4 80GB: 400 W, 312 TFLOP/s BF16, "
                 "2039 GB/s)"),
        Platform("L40S", "datacenter", 350.0, 35.0, 48e9, 362e12, 864e9,
                 ("l40s-48gb",),
                 "NVIDIA L40S datasheet (350 W, 362 TFLOP/s BF16 dense, 864 GB/s)"),
        Platform("RTX-4090", "edge", 450.0, 25.0, 24e9, 165e12, 1008e9,
                 ("4090", "rtx4090", "geforce-rtx-4090"),
                 "NVIDIA GeForce RTX 4090 specifications (450 W board power, 1008 GB/s); "
                 "NVIDIA Ada Lovelace architecture whitepaper (165 TFLOP/s BF16, FP32 accumulate)"),
        Platform("Jetson-AGX-Orin", "edge", 60.0, 10.0, 64e9, 42.5e12, 204.8e9,
                 ("orin", "agx-orin", "jetson-orin", "jetson-agx-orin-64gb"),
                 "NVIDIA Jetson AGX Orin series datasheet (64GB module: 15-60 W, "
                 "170 sparse INT8 GPU TOPS, 204.8 GB/s LPDDR5)"),
        Platform("DGX-Spark", "edge", 140.0, 35.0, 128e9, 125e12, 273e9,
                 ("spark", "gb10", "dgx-spark-gb10"),
                 "NVIDIA DGX Spark documentation (GB10 Grace Blackwell superchip: 140 W TDP, "
                 "1 PFLOP/s sparse FP4, 128 GB unified LPDDR5x at 273 GB/s)"),
    )
}


def _key(name: str) -> str:
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


_LOOKUP: dict[str, str] = {}
for _p in PLATFORMS.values():
    for _alias in (_p.name, *_p.aliases):
        _LOOKUP[_key(_alias)] = _p.name


def names() -> list[str]:
    """Canonical platform names, in table order."""
    return list(PLATFORMS)


def platform(name: str) -> Platform:
    """The platform called ``name`` (case-insensitive; spaces, ``_`` and ``-`` alike;
    aliases such as ``a100``, ``h100``, ``4090``, ``orin``, ``spark``).

    Raises:
        ConfigError: unknown name; the message lists the valid names.
    """
    canonical = _LOOKUP.get(_key(name)) if isinstance(name, str) else None
    if canonical is None:
        raise ConfigError(
            f"unknown GPU platform {name!r}; valid platforms: {', '.join(PLATFORMS)} "
            "(case-insensitive; aliases such as a100, h100, 4090, orin, spark also work)"
        )
    return PLATFORMS[canonical]
