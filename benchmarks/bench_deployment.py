"""Benchmark deployment: every runtime on the full model, and the recommended model, as ratios from one run.

Speed-ups are against the fastest float32 runtime of the same run (PyTorch float32 is also timed without
MKL's STRICT mode, in a child process). Goals: full model, one int8 runtime with <= 0.1 pp accuracy loss,
>= 5x the fastest float32 throughput; recommended model: packed file <= 104 KB at >= 98.0% accuracy and
>= 100x lower batch-1 latency than the full model on the fastest float32 runtime.
Usage: python benchmarks/bench_deployment.py  (after `make report`, which writes artifacts/deploy/)
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from lab3.base import data, numerics, paths
from lab3.base.model import load_model
from lab3.compress import pack
from lab3.measure import timing
from lab3.runtime import fp32_timing, runtimes


def measure(rt, x, y):
    """Accuracy, median batch-1 seconds and median seconds for the whole test set."""
    correct = runtimes.count_correct(rt.run, x, y)
    lat = timing.latency(rt.run, x, min_run_time=1.0)
    thr = timing.throughput(rt.run, x, min_run_time=2.0)
    return correct / y.numel(), lat.median, thr.median


def main() -> None:
    numerics.pin()
    x, y = data.tensors("test")
    model = load_model(paths.full_model_path())
    print(f"threads {torch.get_num_threads()}")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rt in runtimes.build_runtimes(model, Path(tmp), "full", data.calibration_images(1024),
                                          fp32_file=paths.full_model_path()):
            name = rt.name + (" (strict)" if rt.name == "pytorch-fp32" else "")
            rows[name] = (rt.compute, *measure(rt, x, y))
    fast = fp32_timing.time_pytorch_fp32(paths.full_model_path())  # child process, MKL without STRICT
    rows["pytorch-fp32"] = (*rows["pytorch-fp32 (strict)"][:2], fast["latency_s"], fast["throughput_s"])
    lat0 = min(v[2] for v in rows.values() if v[0] == "fp32")
    thr0 = min(v[3] for v in rows.values() if v[0] == "fp32")
    acc0 = rows["pytorch-fp32 (strict)"][1]
    print(f"{'full model':<22} {'acc':>7} {'batch-1 ms':>11} {'x':>6} {'test set ms':>12} {'x':>6}"
          "   (x: vs the fastest float32)")
    for name, (_, acc, lat, thr) in rows.items():
        print(f"{name:<22} {100 * acc:>6.2f}% {1e3 * lat:>11.3f} {lat0 / lat:>6.1f} "
              f"{1e3 * thr:>12.1f} {thr0 / thr:>6.1f}")
    ok = [n for n, (c, a, l, t) in rows.items() if c == "int8" and 100 * (acc0 - a) <= 0.1 and thr0 / t >= 5]
    verdict = "met by " + ", ".join(ok) if ok else "not met"
    print(f"goal (int8, <= 0.1 pp loss, >= 5x the fastest float32 throughput): {verdict}")

    packed = paths.artifacts_dir() / "deploy" / "model.safetensors"
    if not packed.is_file():
        print(f"{packed} missing: run `make report` (or python -m lab3.deploy export) first")
        return
    small = pack.load_packed(packed)
    acc = (small(x).argmax(1) == y).double().mean().item()
    lat = timing.latency(small, x, min_run_time=1.0)
    size = packed.stat().st_size
    fp32 = paths.full_model_path().stat().st_size
    print(f"recommended model: {small.sizes}, packed file {size:,} bytes ({fp32 / size:,.0f}x smaller than "
          f"{fp32:,}), accuracy {100 * acc:.2f}%, batch-1 {1e3 * lat.median:.4f} ms = "
          f"{lat0 / lat.median:.0f}x lower than the full model on the fastest float32 runtime")
    print(f"goals: file <= 104 KB: {size <= 104_000}; accuracy >= 98.0%: {acc >= 0.98}; "
          f"latency >= 100x lower: {lat0 / lat.median >= 100}")


if __name__ == "__main__":
    main()
