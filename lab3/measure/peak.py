"""This machine's ceilings: peak multiply-adds per second from its vector units, and what a plain GEMM and a
plain memory read reach on it.

The peak is ``threads used × multiply-adds per core per cycle × clock``:

- the vector units come from the CPU flags in ``/proc/cpuinfo`` (the widest unit found for the data type);
- multiply-adds per cycle per core are the vendors' published throughputs for that unit, listed in
  ``MACS_PER_CYCLE`` (for example AVX-512 FMA on an Intel server core: 2 units × 16 float32 lanes = 32;
  VNNI ``vpdpbusd`` on 512 bits: 2 units × 64 int8 products = 128; one AMX TMUL: 1,024 int8 per cycle);
- the clock is ``cpu MHz`` from ``/proc/cpuinfo``. Under a hypervisor that is the nominal (TSC) rate, and
  turbo can run above it, so a measured share a little above 100% means the clock was higher, not an error.

A peak is what the silicon could do, not what any library reaches; ``gemm_ceiling`` measures what the best
matrix-multiply kernel PyTorch has here reaches on a large square product, and ``read_bandwidth`` what
streaming a buffer from memory reaches, which bounds batch-1 inference (every weight is read once per image).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

# (unit, data type) -> multiply-adds per core per cycle, on Intel cores. AMD's Zen 4 (CPU family 25) runs 512-bit
# ops on 256-bit units, which halves the AVX-512 rows (``_per_cycle``); Zen 5 (family 26) server cores have full
# 512-bit units, as Intel's do.
MACS_PER_CYCLE: dict[tuple[str, str], int] = {
    ("amx_int8", "int8"): 1024,     # TDPBSSD: 16x16 int32 tile += 16x64 by 64x16 int8, one every 16 cycles
    ("avx512_vnni", "int8"): 128,   # vpdpbusd zmm: 64 u8*s8 products, 2 ports
    ("avx_vnni", "int8"): 64,       # vpdpbusd ymm: 32 products, 2 ports
    ("avx2", "int8"): 32,           # vpmaddubsw + vpmaddwd: 32 products per 2 instructions, 2 ports
    ("avx512f", "fp32"): 32,        # vfmadd zmm: 16 lanes, 2 FMA units
    ("fma", "fp32"): 16,            # vfmadd ymm: 8 lanes, 2 FMA units
    ("sse2", "fp32"): 4,            # mulps + addps xmm: 4 lanes, no FMA
}
ORDER = {"int8": ("amx_int8", "avx512_vnni", "avx_vnni", "avx2"), "fp32": ("avx512f", "fma", "sse2")}


@dataclass(frozen=True)
class Cpu:
    """What the peak depends on: vendor, flags, physical cores, the nominal clock and the CPU family."""

    vendor: str
    model: str
    flags: frozenset[str]
    cores: int
    mhz: float
    family: int = 0  # "cpu family" in /proc/cpuinfo (AMD: 25 Zen 3/4, 26 Zen 5)


def read_cpu(cpuinfo: str | None = None) -> Cpu:
    """Parse ``/proc/cpuinfo`` (or the given text) into a ``Cpu``; missing fields become empty/0."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    fields: dict[str, str] = {}
    processors, core_ids = 0, set()
    physical = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor":
            processors += 1
        elif key == "physical id":
            physical = value
        elif key == "core id":
            core_ids.add((physical, value))
        fields.setdefault(key, value)
    mhz = float(fields.get("cpu MHz", "0") or 0)
    family = fields.get("cpu family", "0")
    return Cpu(fields.get("vendor_id", ""), fields.get("model name", ""), frozenset(fields.get("flags", "").split()),
               len(core_ids) or processors, mhz, int(family) if family.isdigit() else 0)


def unit(cpu: Cpu, dtype: str) -> str | None:
    """The widest vector unit this CPU has for ``dtype`` ("fp32" or "int8"), or None."""
    if dtype not in ORDER:
        raise ValueError(f"dtype must be one of {sorted(ORDER)}, got {dtype!r}")
    return next((u for u in ORDER[dtype] if u in cpu.flags), None)


def _per_cycle(cpu: Cpu, name: str, dtype: str) -> int:
    macs = MACS_PER_CYCLE[(name, dtype)]
    if cpu.vendor == "AuthenticAMD" and cpu.family <= 25 and name in ("avx512f", "avx512_vnni"):
        macs //= 2  # Zen 4: 512-bit instructions on 256-bit units
    return macs


def peak_macs(cpu: Cpu, dtype: str, threads: int) -> float:
    """Peak multiply-adds per second for ``dtype`` on ``threads`` cores (0.0 when the clock is unknown)."""
    name = unit(cpu, dtype)
    if name is None or cpu.mhz <= 0:
        return 0.0
    return min(threads, cpu.cores or threads) * _per_cycle(cpu, name, dtype) * cpu.mhz * 1e6


def describe(cpu: Cpu, dtype: str, threads: int) -> str:
    """One line saying how the peak for ``dtype`` was computed."""
    name = unit(cpu, dtype)
    if name is None or cpu.mhz <= 0:
        return f"{dtype}: no known vector unit or clock, peak unknown"
    used = min(threads, cpu.cores or threads)
    return (f"{dtype}: {used} cores × {_per_cycle(cpu, name, dtype):,} multiply-adds per cycle ({name}) × "
            f"{cpu.mhz / 1e3:.2f} GHz = {peak_macs(cpu, dtype, threads) / 1e9:,.0f} G/s")


def _best_rate(fn, work: float, min_time: float) -> float:
    fn()
    best = float("inf")
    end = time.perf_counter() + min_time
    while time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return work / best


def gemm_ceiling(dtype: str, n: int = 2048, min_time: float = 1.0) -> float:
    """Multiply-adds per second of PyTorch's best n×n×n product for ``dtype`` (``torch._int_mm`` for int8)."""
    g = torch.Generator().manual_seed(0)
    if dtype == "int8":
        a = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=g)
        b = torch.randint(-128, 128, (n, n), dtype=torch.int8, generator=g)
        fn = lambda: torch._int_mm(a, b)  # noqa: E731
    elif dtype == "fp32":
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        fn = lambda: a @ b  # noqa: E731
    else:
        raise ValueError(f"dtype must be 'fp32' or 'int8', got {dtype!r}")
    with torch.inference_mode():
        return _best_rate(fn, float(n) ** 3, min_time)


def read_bandwidth(nbytes: int, min_time: float = 0.5) -> float:
    """Bytes per second of summing a float32 buffer of ``nbytes`` (a streaming read with all threads)."""
    buf = torch.ones(max(1, nbytes // 4))
    with torch.inference_mode():
        return _best_rate(lambda: buf.sum(), 4.0 * buf.numel(), min_time)
