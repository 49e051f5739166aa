"""PyTorch float32 at its best: timed in a child process without MKL's STRICT mode.

The report runs with ``MKL_CBWR=AUTO,STRICT`` (``lab3.base.numerics``) so that one machine always gives the same
bits. STRICT can cost speed, and MKL reads the setting once, when it loads, so a speed baseline without it
needs its own process: ``time_pytorch_fp32`` starts ``python -m lab3.runtime.fp32_timing FILE`` with
``MKL_CBWR=AUTO`` and reads back one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from torch import nn

from lab3.base import data, numerics
from lab3.base.model import load_model
from lab3.compress.pack import load_packed
from lab3.measure import timing
from lab3.measure.evaluate import torch_runner


def time_pytorch_fp32(file: str | os.PathLike, min_run_time: float = 1.0, timeout: float = 600) -> dict[str, float]:
    """PyTorch float32 timings of a checkpoint (.pt) or packed file (.safetensors), measured in a child process
    with MKL at its fastest (``MKL_CBWR=AUTO``, no STRICT): the speed baseline at its best, not the report's bits."""
    env = {**os.environ, "MKL_CBWR": "AUTO"}
    command = [sys.executable, "-m", "lab3.runtime.fp32_timing", str(file), "--min-run-time", str(min_run_time)]
    proc = subprocess.run(command,
                          env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"timing PyTorch float32 on {file} failed: {tail}")
    return json.loads(lines[-1])


def _load_any(file: Path) -> nn.Module:
    return load_packed(file) if file.suffix == ".safetensors" else load_model(file)


def main(argv: list[str] | None = None) -> int:
    """Child process of ``time_pytorch_fp32``: print one JSON line of batch-1 and test-set timings."""
    ap = argparse.ArgumentParser(prog="python -m lab3.runtime.fp32_timing", description=main.__doc__)
    ap.add_argument("file", type=Path)
    ap.add_argument("--min-run-time", type=float, default=1.0)
    args = ap.parse_args(argv)
    numerics.pin()
    model = _load_any(args.file).eval()
    x, _ = data.tensors("test")
    run = torch_runner(model)
    lat = timing.latency(run, x, min_run_time=args.min_run_time)
    thr = timing.throughput(run, x, min_run_time=2 * args.min_run_time)
    print(json.dumps({"latency_s": lat.median, "latency_iqr_s": lat.iqr, "throughput_s": thr.median,
                      "threads": lat.threads, "mkl_cbwr": os.environ.get("MKL_CBWR", "")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
