"""Pin the CPU numerics so training and evaluation give the same bits on any x86-64 with AVX2.

Floating-point sums depend on the order of operations, which BLAS and ATen choose from the CPU's
vector units and the thread count. We fix all three: MKL's conditional numerical reproducibility
(``MKL_CBWR=AVX2,STRICT``), ATen's kernels at AVX2 (``ATEN_CPU_CAPABILITY=avx2``), oneDNN at AVX2,
and a fixed intra-op thread count (``LAB3_THREADS``, default 2). The libraries read these lazily, so
setting them when lab3 is imported works as long as no tensor op ran before. A variable the user
already set is left alone (``os.environ.setdefault``), so any pin can be overridden.
"""
from __future__ import annotations

import os

PINNED_ENV = {
    "MKL_CBWR": "AVX2,STRICT",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "KMP_WARNINGS": "0",
}
DEFAULT_THREADS = 2


def threads() -> int:
    """Return the pinned intra-op thread count (``LAB3_THREADS``, default 2)."""
    raw = os.environ.get("LAB3_THREADS", str(DEFAULT_THREADS))
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"LAB3_THREADS must be a positive integer, got {raw!r}") from None
    if n < 1:
        raise ValueError(f"LAB3_THREADS must be a positive integer, got {raw!r}")
    return n


def pin() -> None:
    """Set the reproducibility variables (unless already set) and the thread count."""
    for key, value in PINNED_ENV.items():
        os.environ.setdefault(key, value)
    import torch

    torch.set_num_threads(threads())


def describe() -> dict[str, str | int]:
    """Return the numerics settings in force, for records and the reproducibility appendix."""
    import torch

    out: dict[str, str | int] = {k: os.environ.get(k, "") for k in PINNED_ENV}
    out["torch_threads"] = torch.get_num_threads()
    out["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return out
