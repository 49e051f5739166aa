"""Benchmark deployment: real int8 kernels on the full model, and the recommended model, as ratios from one run.

Goals: full model, one runtime with <= 0.1 pp accuracy loss, >= 5x PyTorch fp32 throughput and >= 14x lower
batch-1 latency; recommended model: packed file <= 104 KB at >= 98.0% accuracy and >= 100x lower batch-1
latency than the full fp32 model.
Usage: python benchmarks/bench_deployment.py  (after `make report`, which writes artifacts/deploy/)
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from lab3 import data, pack, paths, runtimes, timing
from lab3.model import load_model


def measure(rt, x, y):
    correct = runtimes.count_correct(rt.run, x, y)
    lat = timing.latency(rt.run, x, min_run_time=1.0)
    thr = timing.throughput(rt.run, x, min_run_time=2.0)
    return correct / y.numel(), lat, thr


def main() -> None:
    x, y = data.tensors("test")
    model = load_model(paths.full_model_path())
    print(f"threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = {rt.name: measure(rt, x, y) for rt in runtimes.build_runtimes(model, Path(tmp), "full")}
    acc0, lat0, thr0 = rows["pytorch-fp32"]
    print(f"{'full model':<14} {'acc':>7} {'batch-1 ms':>11} {'x':>6} {'test set ms':>12} {'x':>6}")
    for name, (acc, lat, thr) in rows.items():
        print(f"{name:<14} {100 * acc:>6.2f}% {1e3 * lat.median:>11.3f} {lat0.median / lat.median:>6.1f} "
              f"{1e3 * thr.median:>12.1f} {thr0.median / thr.median:>6.1f}")
    ok = [n for n, (a, l, t) in rows.items() if n.endswith("int8") and 100 * (acc0 - a) <= 0.1
          and thr0.median / t.median >= 5 and lat0.median / l.median >= 14]
    print(f"goal (<= 0.1 pp loss, >= 5x throughput, >= 14x latency in one runtime): {'met by ' + ', '.join(ok) if ok else 'not met'}")

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
          f"{lat0.median / lat.median:.0f}x lower than full fp32")
    print(f"goals: file <= 104 KB: {size <= 104_000}; accuracy >= 98.0%: {acc >= 0.98}; "
          f"latency >= 100x lower: {lat0.median / lat.median >= 100}")


if __name__ == "__main__":
    main()
