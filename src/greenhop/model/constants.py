"""Default constants of the feasibility model, each with its source.

All values are SI. Where a figure is an engineering assumption rather than a
measurement, the docstring says so; every one can be overridden per call and
on the command line.
"""

from __future__ import annotations

ALPHA = 0.1
"""Share of the destination's surplus window the migration downtime may use [-].

Source: Tomei, Mayer, Alcini, Salsano (2025), "Green Distributed AI Training:
Orchestrating Compute Across Renewable-Powered Micro Datacenters": migration
is feasible when the disruption fits in about 10% of the window.
"""

MSS_BYTES = 1460.0
"""TCP maximum segment size on a 1500-byte Ethernet MTU path [B] (RFC 879 / RFC 6691:
1500 B MTU - 20 B IPv4 header - 20 B TCP header)."""

EFFICIENCY = 0.8
"""Share of the nominal link rate a tuned parallel-stream transfer reaches [-].

Source: greenhop's WAN reference figure (docs/design.md section 8), tuned parallel-stream
tools (GridFTP, bbcp, fdt class) reach 60-90% of the link; 0.8 is the middle of that band.
"""

STREAMS = 8
"""Parallel TCP streams of a tuned transfer [-] (a common GridFTP/bbcp default class
setting; the Mathis bound applies per stream)."""

RTT_S = 0.02
"""Default WAN round-trip time [s]: 20 ms, a regional (same-continent) path."""

WRITE_BPS = 2.0e9
"""Checkpoint write rate at the source, including fsync [B/s].

Source: greenhop's reference figures (docs/design.md section 8), safetensors write +
fsync measured at about 2 GB/s on the development machine (a datacenter NVMe drive does
2-7 GB/s).
"""

READ_BPS = 2.0e9
"""Checkpoint read rate at the destination [B/s].

Source: sequential read of one datacenter NVMe drive is 3-7 GB/s (e.g. Samsung
PM9A3 datasheet: 6.9 GB/s); 2 GB/s is a conservative figure that includes
deserialisation, matching the measured safetensors write rate above.
"""

STARTUP_S = 60.0
"""Fixed restart cost at the destination [s]: process launch, framework and
accelerator initialisation, data-loader warm-up. An engineering assumption
(PyTorch job restarts on GPU clusters typically take 0.5-3 min); override it
with a measured value with ``--startup``.
"""

NETWORK_J_PER_BIT = 8.4e-7
"""Energy per bit carried over the wide-area network, end to end [J/bit].

Source: Aslan, Mayers, Koomey, France (2018), "Electricity Intensity of Internet
Data Transmission: Untangling the Estimates", J. Industrial Ecology 22(4):
0.06 kWh/GB for 2015, halving about every two years. Extrapolated to 2025:
0.06 / 2**5 = 0.001875 kWh/GB = 0.001875 x 3.6e6 J / 8e9 bit = 8.4e-7 J/bit.
"""

JOB_POWER_W = 700.0
"""Default power of the migrating job [W]: one NVIDIA H100 SXM under training load
(NVIDIA H100 datasheet, max TDP 700 W)."""

IDLE_POWER_W = 70.0
"""Default power the job's hardware draws while the job is down [W]: an idle
NVIDIA H100 SXM (about 60-80 W reported by nvidia-smi at idle)."""

GREEN_GAIN = 1.0
"""Gain in renewable share of the job's power after migrating [-]: 1.0 means the job
moves from fully grid-powered to fully surplus-powered."""
