"""The compression frontier (issue 14): each target, the value measured by the build that made the book, and
whether it is reached. Reads book/<chapter>.results.json; measures nothing itself.

Usage: python benchmarks/bench_frontier.py
"""
from __future__ import annotations

from lab3 import results

DEEP_COMPRESSION_BYTES, DEEP_COMPRESSION_ACC = 27_000, 0.9842


def main() -> None:
    q = results.load(results.book_path("quantization"))["values"]
    d = results.load(results.book_path("deployment"))["values"]
    full = q["full_precision/accuracy"]["value"]

    # 1. smaller than Deep Compression's LeNet-300-100 at its accuracy
    points = {k.split("/")[1]: v for k, v in d.items() if k.startswith("pipeline/") and k.endswith("/accuracy")}
    ok = [(d[f"pipeline/{label}/bytes"]["value"], label, acc["value"]) for label, acc in points.items()
          if acc["value"] >= DEEP_COMPRESSION_ACC]
    if ok:
        size, label, acc = min(ok)
        print(f"1. file <= {DEEP_COMPRESSION_BYTES:,} B at >= {100 * DEEP_COMPRESSION_ACC:.2f}%: smallest at that accuracy "
              f"is {label}, {size:,} B ({size / DEEP_COMPRESSION_BYTES:.2f}x the target) at {100 * acc:.2f}% -> "
              f"{'reached' if size <= DEEP_COMPRESSION_BYTES else 'NOT reached'}")
    else:
        print(f"1. no pipeline model reaches {100 * DEEP_COMPRESSION_ACC:.2f}% -> NOT reached")

    # 2. mixed precision without retraining
    budgets = sorted(float(k.split("/")[1]) for k in q if k.startswith("mixed/") and k.endswith("/allocation"))
    for b in budgets:
        bpw = q[f"mixed/{b:g}/bits_per_weight"]["value"]
        acc = q[f"mixed/{b:g}/accuracy"]["value"]
        loss = 100 * (full - acc)
        reached = bpw <= 2.3 and loss <= 1.0
        print(f"2. mixed precision, budget {b:g}: {q[f'mixed/{b:g}/allocation']['value']} bits, {bpw:.3f} bits/weight "
              f"(target <= 2.3: {bpw / 2.3:.2f}x), {loss:.2f} pp below full precision (target <= 1 pp) -> "
              f"{'reached' if reached else 'not reached' if b <= 2.3 else 'above the target budget'}")

    # 3. runtimes at their best: not built yet
    print("3. int8 >= 90% of peak, batch-1 >= 25x the fastest float32 runtime: not measured by this build")


if __name__ == "__main__":
    main()
