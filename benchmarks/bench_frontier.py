"""The compression frontier (issue 14): each target, the value measured by the build that made the book, and
whether it is reached. Reads book/<chapter>.results.json; measures nothing itself.

Usage: python benchmarks/bench_frontier.py
"""
from __future__ import annotations

from lab3.base import numerics
from lab3.book import results
from lab3.experiments.deploy import DEEP_COMPRESSION_LENET

DEEP_COMPRESSION_BYTES, DEEP_COMPRESSION_ACC = DEEP_COMPRESSION_LENET["bytes"], DEEP_COMPRESSION_LENET["accuracy"]


def main() -> None:
    numerics.pin()
    q = results.load(results.book_path("quantizers"))["values"]
    d = results.load(results.book_path("deployment"))["values"]
    full = q["full_precision/accuracy"]["value"]

    # 1. smaller than Deep Compression's LeNet-300-100 at its accuracy
    label = d.get("frontier/chosen", {}).get("value")
    if label:
        size, acc = d[f"frontier/{label}/bytes"]["value"], d[f"frontier/{label}/accuracy"]["value"]
        secs = d[f"frontier/{label}/finetune_seconds"]["value"]
        reached = size <= DEEP_COMPRESSION_BYTES and acc >= DEEP_COMPRESSION_ACC
        print(f"1. file <= {DEEP_COMPRESSION_BYTES:,} B at >= {100 * DEEP_COMPRESSION_ACC:.2f}% (chosen on the "
              f"selection half): {label}, {size:,} B ({size / DEEP_COMPRESSION_BYTES:.2f}x the target) at "
              f"{100 * acc:.2f}% on the reporting half, fine-tuned in {secs:.0f} s -> "
              f"{'reached' if reached else 'NOT reached'}")
    else:
        print(f"1. no recipe reaches {100 * DEEP_COMPRESSION_ACC:.2f}% on the selection half -> NOT reached")
    accuracies = {k.rsplit("/", 1)[0]: v["value"] for k, v in d.items()
                  if k.startswith(("pipeline/", "frontier/")) and k.endswith("/accuracy")}
    ok = [(d[f"{k}/bytes"]["value"], k, acc) for k, acc in accuracies.items() if acc >= DEEP_COMPRESSION_ACC]
    if ok:
        size, key, acc = min(ok)
        print(f"   for comparison, the smallest file at that accuracy on the reporting half (chosen on it, so not a "
              f"result): {key}, {size:,} B at {100 * acc:.2f}%")

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

    # 3. runtimes at their best, measured in one run by the deployment chapter
    share, speed = d.get("targets/int8_peak_share"), d.get("targets/batch1_speedup")
    if share is None or speed is None:
        print("3. runtimes: this book was built before the runtime targets were measured; run `make report`")
        return
    share, speed = share["value"], speed["value"]
    ceiling = d["machine/gemm_ceiling_macs_per_s/int8"]["value"] / d["machine/peak_macs_per_s/int8"]["value"]
    print(f"3a. best int8 runtime on the 10,000-image pass ({share['runtime']}): {100 * share['value']:.0f}% of the "
          f"int8 peak (target >= 90%: {share['value'] / 0.9:.2f}x) -> "
          f"{'reached' if share['value'] >= 0.9 else 'NOT reached'}; "
          f"limit measured: PyTorch's best int8 square product reaches {100 * ceiling:.0f}% of that peak")
    floor = speed["floor_s"]
    print(f"3b. batch 1, full model, <= 0.1 pp loss ({speed['runtime']}, {speed['loss_pp']:+.2f} pp on the "
          f"reporting half): "
          f"{speed['value']:.1f}x faster than the fastest float32 runtime ({speed['fastest_fp32']}) (target >= 25x: "
          f"{speed['value'] / 25:.2f}x) -> {'reached' if speed['value'] >= 25 else 'NOT reached'}"
          + (f"; limit measured: reading its weights once takes {1e3 * floor:.3f} ms at this machine's bandwidth"
             if floor else ""))


if __name__ == "__main__":
    main()
