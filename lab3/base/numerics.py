"""Numerics settings: fast native kernels by default, deterministic on one machine; a pinned profile on request.

What is promised. Same CPU model + same thread count + same seeds → the same bits, run after run: MKL's
conditional numerical reproducibility is asked for on its best code path for this CPU
(``MKL_CBWR=AUTO,STRICT``), and the intra-op thread count is fixed (``LAB3_THREADS``, default 2).
Bitwise equality across CPUs is *not* promised, and cannot be: MKL only promises it among Intel
processors, nothing promises it across vendors, and pinning every kernel to AVX2 made float32 GEMMs
1.5–4× slower on AVX-512 machines for bits that still differed on another vendor's CPU. Results that
differ in their last bits are checked against the reference within stated tolerances instead
(``reference/tolerances.yaml``, ``python -m lab3.reproduce``).

``LAB3_NUMERICS`` picks a profile:

- ``native`` (default): MKL's best path for this CPU with run-to-run reproducibility; ATen and oneDNN
  use every vector unit they find.
- ``avx2``: MKL and ATen at AVX2 (``MKL_CBWR=AVX2,STRICT``, ``ATEN_CPU_CAPABILITY=avx2``). On an AVX-512 CPU it
  gives other bits than ``native``: exactly what running on another machine does, so it emulates one. oneDNN is
  not capped: ``ONEDNN_MAX_CPU_ISA=AVX2`` on a CPU with AVX-512 VNNI makes ``torch._int_mm`` (torchao's int8
  product) wrong in every entry, because PyTorch sends it to oneDNN only on VNNI CPUs and oneDNN's AVX2 int8
  path overflows (pytorch/pytorch#136746), a state no real machine is in; no float32 kernel of the training
  changes with the cap (``numerics_fingerprint.py`` prints the same fingerprints).

The libraries read these variables lazily, so ``pin()`` works as long as no tensor op ran before it. Importing
lab3 sets nothing: the entry points (``python -m lab3.*``, the benchmarks) and the chapters
(``lab3.book.report.setup()``) call ``pin()`` first. A variable the user already set is left alone
(``os.environ.setdefault``).
"""
from __future__ import annotations

import os

# Every profile: no OpenMP banner, and torch.compile (torchao's int8 runtime) compiles in the calling process
# instead of its default pool of compile workers. The deployment chapter's runtimes cell hung twice, stuck in
# native code (a CI run on a Xeon, a clean clone on a Zen 5) and never on demand (three full runs here); the
# worker pool is the suspect (hangs of it are reported upstream), not a proven cause. In-process compilation of
# these four-layer graphs is as fast: 23.1 s against 23.0 s cold, measured on a Xeon with 2 cores.
COMMON = {"KMP_WARNINGS": "0", "TORCHINDUCTOR_COMPILE_THREADS": "1"}
PROFILES: dict[str, dict[str, str]] = {
    "native": {"MKL_CBWR": "AUTO,STRICT", **COMMON},
    "avx2": {"MKL_CBWR": "AVX2,STRICT", "ATEN_CPU_CAPABILITY": "avx2", **COMMON},
}
REPORTED = ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
DEFAULT_PROFILE = "native"
DEFAULT_THREADS = 2


def profile() -> str:
    """The numerics profile in force (``LAB3_NUMERICS``, default ``native``)."""
    name = os.environ.get("LAB3_NUMERICS", DEFAULT_PROFILE).strip() or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(f"LAB3_NUMERICS must be one of {sorted(PROFILES)}, got {name!r}")
    return name


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
    """Set the profile's variables (unless already set) and the thread count."""
    for key, value in PROFILES[profile()].items():
        os.environ.setdefault(key, value)
    # torch.compile's on-disk cache does not key on ATEN_CPU_CAPABILITY: torchao's int8 model compiled under the
    # native profile and reused under avx2 classified 34% of the test set instead of 97% (measured on a Xeon with
    # AMX), so each profile compiles into a cache of its own
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", cache_dir())
    import torch

    torch.set_num_threads(threads())


def cache_dir() -> str:
    """torch.compile's cache folder for this profile and user (under the system's temporary folder)."""
    import tempfile

    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")  # a container's uid
    name = f"torchinductor-{user}-lab3-{profile()}"  # may have no passwd entry
    # a dispatch variable set by hand changes the compiled code as a profile does (ATEN_CPU_CAPABILITY=default
    # beside a native cache would reuse AVX-512 kernels), so it names its own cache too
    chosen = os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if chosen and chosen != PROFILES[profile()].get("ATEN_CPU_CAPABILITY"):
        name += f"-aten-{chosen}"
    return os.path.join(tempfile.gettempdir(), name)


def describe() -> dict[str, str | int]:
    """Return the numerics settings in force, for records and the reproducibility appendix."""
    import torch

    out: dict[str, str | int] = {"profile": profile()}
    out.update({k: os.environ.get(k, "") for k in REPORTED})
    out["torch_threads"] = torch.get_num_threads()
    out["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return out
