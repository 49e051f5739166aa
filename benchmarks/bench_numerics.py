"""Benchmark the numerics profiles: native (the default) vs the old AVX2 pins, and same-machine determinism.

For each profile (``LAB3_NUMERICS``), in fresh processes, interleaved: the full model's test-set forward pass
(10,000 images, median of 3) and training steps of the real recipe (batch 256, median of 10 after 3 warm-up
steps), and a hash of the weights after those steps. Two processes of the same profile must print the same
hash (same CPU + same threads + same seeds -> same bits); the two profiles give different hashes on an AVX-512
CPU. Prints the ratio avx2 / native for each measurement.
Usage: python benchmarks/bench_numerics.py [--rounds N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import hashlib, json, statistics, time, torch
from lab3.base import data, numerics, paths
from lab3.experiments import train
from lab3.base.model import load_model, SimpleDNN
numerics.pin()
model = load_model(paths.full_model_path())
x, _ = data.tensors("test")
passes = []
with torch.inference_mode():
    model(x[:2000])
    for _ in range(3):
        t = time.perf_counter(); model(x); passes.append(time.perf_counter() - t)
images, labels = data.raw_tensors("train")
torch.manual_seed(0)
net = SimpleDNN().train()
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.05)
gen = torch.Generator().manual_seed(1)
steps = []
for i in range(13):
    idx = torch.randint(0, images.shape[0], (256,), generator=gen)
    t = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(net(data.normalize(images[idx])), labels[idx].long())
    opt.zero_grad(); loss.backward(); opt.step()
    if i >= 3:
        steps.append(time.perf_counter() - t)
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.parameters())).hexdigest()[:16]
print(json.dumps({"profile": numerics.profile(), "capability": torch.backends.cpu.get_cpu_capability(),
                  "test_pass_s": statistics.median(passes), "train_step_s": statistics.median(steps), "hash": digest}))
"""


def run(profile: str) -> dict:
    """One measurement in a fresh process with the given profile (and no inherited pins)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    env["LAB3_NUMERICS"] = profile
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of each profile")
    args = parser.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"cpu: {cpu}; threads {os.environ.get('LAB3_THREADS', 2)}")
    found: dict[str, list[dict]] = {"native": [], "avx2": []}
    for _ in range(args.rounds):
        for profile in found:
            found[profile].append(run(profile))
    print(f"{'profile':<8} {'kernels':<8} {'test set (s)':>12} {'train step (ms)':>16}  weights after 10 steps")
    for profile, rows in found.items():
        for r in rows:
            print(f"{profile:<8} {r['capability']:<8} {r['test_pass_s']:>12.3f} "
                  f"{1e3 * r['train_step_s']:>16.1f}  {r['hash']}")
    med = {p: {k: statistics.median(r[k] for r in rows) for k in ("test_pass_s", "train_step_s")}
           for p, rows in found.items()}
    print(f"avx2 / native: test-set pass {med['avx2']['test_pass_s'] / med['native']['test_pass_s']:.2f}x, "
          f"training step {med['avx2']['train_step_s'] / med['native']['train_step_s']:.2f}x")
    for profile, rows in found.items():
        print(f"{profile}: same bits in every process: {len({r['hash'] for r in rows}) == 1}")
    print(f"native and avx2 give other bits: {found['native'][0]['hash'] != found['avx2'][0]['hash']}")


if __name__ == "__main__":
    main()
