"""The report's figures. Each function takes results (lists of dicts or tensors) and returns a Figure."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import matplotlib
import matplotlib.lines
import matplotlib.patches
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import torch
from matplotlib.figure import Figure

from lab3.measure.stats import selected

WIDTH = 7.0  # inches: fits the PDF's text width at 100%
STYLE: dict[str, Any] = {
    "figure.dpi": 110, "savefig.dpi": 110, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "figure.constrained_layout.use": True, "pdf.fonttype": 42,
}


def use_style() -> None:
    """Apply the report's matplotlib style (sizes chosen for a 7-inch text width)."""
    cast(Any, matplotlib.rcParams).update(STYLE)  # the stub's keys are literals; STYLE's are checked at run time


def _pct(values: Sequence[float]) -> np.ndarray:
    return 100 * np.asarray(values, dtype=float)


def _errorbars(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    acc = _pct([r["accuracy"] for r in rows])
    return np.vstack([acc - _pct([r["ci_low"] for r in rows]), _pct([r["ci_high"] for r in rows]) - acc])


def weight_histogram(weights: torch.Tensor, title: str = "All weights of fc1..fc4",
                     marks: dict[str, float] | None = None, bins: int = 201) -> Figure:
    """Histogram of weight values on a log count scale, with optional vertical marks (e.g. candidate q)."""
    fig, ax = plt.subplots(figsize=(WIDTH, 2.8))
    ax.hist(weights.detach().flatten().numpy(), bins=bins, color="#4477aa")
    ax.set_yscale("log")
    ax.set(title=title, xlabel="weight value", ylabel="count (log scale)")
    for i, (label, x) in enumerate((marks or {}).items()):
        color = f"C{i + 1}"
        ax.axvline(x, color=color, lw=1, ls="--", label=f"±{label} = {x:.3g}")
        ax.axvline(-x, color=color, lw=1, ls="--")
    if marks:
        ax.legend(loc="upper right")
    return fig


def accuracy_vs_bits_and_q(grid: Sequence[dict[str, Any]], full_accuracy: float) -> Figure:
    """The lab's two plots: accuracy vs bits for each q, and accuracy vs q for each bit width."""
    by_q: dict[str, list] = defaultdict(list)
    by_bits: dict[int, list] = defaultdict(list)
    for r in grid:
        by_q[r["q_label"]].append(r)
        by_bits[r["bits"]].append(r)
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.6))
    q_colors = plt.cm.viridis(np.linspace(0, 0.9, len(by_q)))
    for color, (label, rows) in zip(q_colors, sorted(by_q.items(), key=lambda kv: kv[1][0]["q"])):
        rows = sorted(rows, key=lambda r: r["bits"])
        axes[0].errorbar([r["bits"] for r in rows], _pct([r["accuracy"] for r in rows]), yerr=_errorbars(rows),
                         marker="o", ms=3, capsize=2, color=color, label=f"q = {rows[0]['q']:.4g} ({label})")
    axes[0].set(title="Accuracy vs bits, one line per q", xlabel="bits l", ylabel="test accuracy (%)")
    bit_colors = plt.cm.plasma(np.linspace(0, 0.85, len(by_bits)))
    for color, (bits, rows) in zip(bit_colors, sorted(by_bits.items())):
        rows = sorted(rows, key=lambda r: r["q"])
        axes[1].errorbar([r["q"] for r in rows], _pct([r["accuracy"] for r in rows]), yerr=_errorbars(rows),
                         marker="s", ms=3, capsize=2, color=color, label=f"l = {bits}")
    axes[1].set(xlabel="half-range q (log scale)", ylabel="test accuracy (%)")
    axes[1].set_xscale("log")
    axes[1].xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.4f"))  # as the tables print q
    axes[1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[1].set_xticks(sorted({r["q"] for r in grid}))
    axes[1].tick_params(axis="x", labelrotation=60, labelsize=7)  # close q values must not overlap
    for ax in axes:
        ax.axhline(100 * full_accuracy, color="k", lw=0.8, ls=":", label="full precision")
    for ax in axes:
        ax.set_ylim(0, 100)  # every line inside the axes, as in the lab's plots
    axes[1].set_title("Accuracy vs q, one line per l")
    # legends below the panels, never over the data
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1, frameon=False)
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.42), ncol=3, frameon=False)
    return fig


def accuracy_heatmap(grid: Sequence[dict[str, Any]]) -> Figure:
    """Heatmap of accuracy over the q x bits grid, every cell annotated."""
    qs = sorted({(r["q"], r["q_label"]) for r in grid})
    bits = sorted({r["bits"] for r in grid})
    table = np.full((len(qs), len(bits)), np.nan)
    for r in grid:
        table[qs.index((r["q"], r["q_label"])), bits.index(r["bits"])] = 100 * r["accuracy"]
    fig, ax = plt.subplots(figsize=(WIDTH, 0.42 * len(qs) + 1.2))
    im = ax.imshow(table, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i in range(len(qs)):
        for j in range(len(bits)):
            v = table[i, j]
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w" if v < 60 else "k")
    ax.set_xticks(range(len(bits)), [str(b) for b in bits])
    ax.set_yticks(range(len(qs)), [f"{q:.3g}" if label == f"{q:g}" else f"{q:.3g}  ({label})" for q, label in qs])
    ax.set(xlabel="bits l", ylabel="half-range q", title="Test accuracy (%) of the lab's quantizer")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="accuracy (%)")
    return fig


def histogram_pair(original: torch.Tensor, quantized: torch.Tensor, title: str, bins: int = 201,
                   log: bool = True, axes: Sequence[Any] | None = None) -> Figure:
    """Original vs quantized weight histograms side by side (shared x range)."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 2.4), sharex=True)
    else:
        fig = axes[0].figure
    o, q = original.detach().flatten().numpy(), quantized.detach().flatten().numpy()
    lo, hi = float(min(o.min(), q.min())), float(max(o.max(), q.max()))
    levels = np.unique(q)
    axes[0].hist(o, bins=np.linspace(lo, hi, bins), color="#4477aa")
    _levels(axes[1], q, (hi - lo) / 80)
    axes[0].set(title=f"{title}: original", xlabel="weight value", ylabel="count" + (" (log)" if log else ""))
    axes[1].set(title=f"{title}: quantized ({levels.size} distinct values)", xlabel="weight value")
    for ax in axes:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
    if log:
        for ax in axes:
            ax.set_yscale("log")
    return fig


def _levels(ax: Any, values: np.ndarray, width: float) -> None:
    """Quantized weights as one bar per level (its count), wide enough to see: histogram bins thinner
    than a pixel drop some levels from the picture."""
    levels, counts = np.unique(values, return_counts=True)
    ax.bar(levels, counts, width=width, color="#cc6677")


def histograms_by_bits(original: torch.Tensor, quantized: dict[int, tuple[float, torch.Tensor]]) -> Figure:
    """The original weights, then the quantized ones at each bit width (its q in the title); log counts."""
    n = len(quantized) + 1
    fig, axes = plt.subplots(1, n, figsize=(WIDTH, 2.5), sharex=True, sharey=True)
    o = original.detach().flatten().numpy()
    lo = min(float(o.min()), *(float(w.min()) for _, w in quantized.values()))
    hi = max(float(o.max()), *(float(w.max()) for _, w in quantized.values()))
    edges = np.linspace(lo, hi, 201)
    axes[0].hist(o, bins=edges, color="#4477aa")
    axes[0].set(title="original", ylabel="count (log scale)")
    for ax, (bits, (q, w)) in zip(axes[1:], sorted(quantized.items())):
        _levels(ax, w.detach().flatten().numpy(), (hi - lo) / 40)
        ax.set(title=f"{bits} bits, q = {q:.3g}")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("weight value")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
    return fig


def per_layer_histograms(original: dict[str, torch.Tensor], quantized: dict[str, torch.Tensor]) -> Figure:
    """One row per layer: original vs quantized weights (log counts)."""
    names = list(original)
    fig, axes = plt.subplots(len(names), 2, figsize=(WIDTH, 1.9 * len(names)))
    for row, name in zip(np.atleast_2d(axes), names):
        histogram_pair(original[name], quantized[name], name, axes=row)
    return fig


def method_comparison(rows: Sequence[dict[str, Any]], full_accuracy: float) -> Figure:
    """Accuracy vs bits, one line per quantization method, with 95% intervals; a zoom panel at the top."""
    by_method: dict[str, list] = defaultdict(list)
    for r in rows:
        by_method[r["method"]].append(r)
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.2))
    for i, (method, rs) in enumerate(by_method.items()):
        rs = sorted(rs, key=lambda r: r["bits"])
        for ax in axes:
            ax.errorbar([r["bits"] for r in rs], _pct([r["accuracy"] for r in rs]), yerr=_errorbars(rs),
                        marker="os^vD<>p*h"[i % 10], ms=4, capsize=2, label=method)
    for ax in axes:
        ax.axhline(100 * full_accuracy, color="k", lw=0.8, ls=":", label="full precision")
        ax.set(xlabel="bits", xticks=sorted({r["bits"] for r in rows}))
    axes[0].set(ylabel="test accuracy (%)", title="All methods", ylim=(0, 100))
    axes[1].set(title="Zoom: within 3 pp of full precision",
                ylim=(100 * full_accuracy - 3, 100 * full_accuracy + 0.5))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return fig


def lab_pruning_plots(rows: Sequence[dict[str, Any]], time_key: str = "lab_loop_s",
                      time_label: str = "lab loop time (s)") -> Figure:
    """The lab's six plots: accuracy, parameters and inference time against each other and the ratio."""
    rows = sorted(rows, key=lambda r: r["ratio"])
    ratio = [r["ratio"] for r in rows]
    params = [r["parameters"] for r in rows]
    acc = _pct([r["accuracy"] for r in rows])
    t = [r[time_key] for r in rows]
    panels = [(params, acc, "parameters", "accuracy (%)", True), (t, acc, time_label, "accuracy (%)", False),
              (ratio, acc, "pruning ratio", "accuracy (%)", False), (params, t, "parameters", time_label, True),
              (ratio, t, "pruning ratio", time_label, False), (ratio, params, "pruning ratio", "parameters", False)]
    fig, axes = plt.subplots(2, 3, figsize=(WIDTH, 4.6))
    for ax, (x, y, xl, yl, logx) in zip(axes.flat, panels):
        ax.plot(x, y, marker="o", ms=3)
        ax.set(xlabel=xl, ylabel=yl, title=f"{yl.split(' (')[0]} vs {xl.split(' (')[0]}")
        if logx:
            ax.set_xscale("log")
        if yl == "parameters":
            ax.set_yscale("log")
    return fig


def timing_breakdown(rows: Sequence[dict[str, Any]]) -> Figure:
    """Where the lab's 'inference time' goes: each pass of its loop split into batch loading and the model."""
    rows = sorted(rows, key=lambda r: r["ratio"])
    ratio = [r["ratio"] for r in rows]
    fig, ax = plt.subplots(figsize=(WIDTH, 2.8))
    ax.plot(ratio, [r["lab_loop_s"] for r in rows], marker="o", ms=3, color="k", label="lab loop, whole pass")
    ax.plot(ratio, [r["loading_s"] for r in rows], marker="^", ms=3, label="of which: waiting for the DataLoader")
    ax.plot(ratio, [r["model_s"] for r in rows], marker="v", ms=3, label="of which: the model")
    ax.plot(ratio, [r["throughput_s"] for r in rows], marker="s", ms=3, ls="--",
            label="model alone, test set as one tensor")
    ax.set(xlabel="pruning ratio", ylabel="seconds for 10,000 images", yscale="log",
           title="What the lab's timing measures")
    ax.legend(fontsize=7, loc="center left")
    return fig


def pruning_comparison(rows: Sequence[dict[str, Any]], full_accuracy: float) -> Figure:
    """Accuracy vs ratio for each pruning method, with 95% intervals; a zoom panel near full precision."""
    by_method: dict[str, list] = defaultdict(list)
    for r in rows:
        by_method[r["method"]].append(r)
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.2))
    for i, (method, rs) in enumerate(by_method.items()):
        rs = sorted(rs, key=lambda r: r["ratio"])
        for ax in axes:
            ax.errorbar([r["ratio"] for r in rs], _pct([r["accuracy"] for r in rs]), yerr=_errorbars(rs),
                        marker="os^vD"[i % 5], ms=4, capsize=2, label=method)
    for ax in axes:
        ax.axhline(100 * full_accuracy, color="k", lw=0.8, ls=":", label="full model")
        ax.set(xlabel="pruning ratio")
    axes[0].set(ylabel="test accuracy (%)", title="All ratios", ylim=(0, 100))
    top = max(r["ratio"] for r in rows)
    axes[1].set(title="Zoom: within 3 pp of the full model", ylim=(100 * full_accuracy - 3, 100 * full_accuracy + 0.5),
                xlim=(0.75, top + 0.01))  # the axis ends where the ratios do
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.0))
    return fig


def pareto(points: Sequence[dict[str, Any]], x_key: str, x_label: str, front: Sequence[dict[str, Any]],
           references: Sequence[dict[str, Any]] = (), title: str = "", full_accuracy: float | None = None,
           zoom_pp: float = 3.0, chosen: dict[str, Any] | None = None, tolerance_pp: float = 0.5) -> Figure:
    """Accuracy vs a cost (log x): all points on the left, a zoom near full accuracy on the right.

    Points are grouped by their 'group' key; the Pareto front is drawn as a step line; external references
    (with a 'label') are starred and annotated.
    """
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.6), sharex=True)
    groups: dict[str, list] = defaultdict(list)
    for p in points:
        groups[p["group"]].append(p)
    f = sorted(front, key=lambda p: p[x_key])
    for ax in axes:
        for i, (group, ps) in enumerate(groups.items()):
            ax.scatter([p[x_key] for p in ps], _pct([p["accuracy"] for p in ps]), s=16,
                       marker="os^vD<>ph"[i % 9], label=group, alpha=0.8, zorder=3)
        ax.plot([p[x_key] for p in f], _pct([p["accuracy"] for p in f]), color="k", lw=1, drawstyle="steps-post",
                label="Pareto front")
        for ref in references:
            ax.scatter([ref[x_key]], [100 * ref["accuracy"]], marker="*", s=90, color="crimson", zorder=2,
                       alpha=0.6, label=ref["label"])  # under the points: ours may sit right on it
        if chosen is not None:
            ax.scatter([chosen[x_key]], [100 * chosen["accuracy"]], s=110, facecolors="none", edgecolors="crimson",
                       linewidths=1.5, zorder=6, label="recommended model")
        if full_accuracy is not None:
            ax.axhline(100 * full_accuracy, color="k", lw=0.8, ls=":", label="full model")
            ax.axhline(100 * full_accuracy - tolerance_pp, color="grey", lw=0.8, ls="--",
                       label=f"full model − {tolerance_pp:g} pp")
        ax.set(xscale="log", xlabel=x_label)
    axes[0].set(ylabel="test accuracy (%)", title=f"{title}: all models", ylim=(0, 100))
    if full_accuracy is not None:
        axes[1].set_ylim(100 * full_accuracy - zoom_pp, 100 * full_accuracy + 0.4)
    axes[1].set_title(f"Zoom: within {zoom_pp:g} pp of the full model")
    handles, labels = axes[0].get_legend_handles_labels()
    # below the figure, clear of the x-axis labels (the inline backend saves the tight bounding box)
    fig.legend(handles, labels, loc="upper center", ncol=3, fontsize=7, bbox_to_anchor=(0.5, -0.01), frameon=False)
    return fig


def pipeline_heatmap(points: Sequence[dict[str, Any]], full_accuracy: float, full_selected: float,
                     tolerance_pp: float) -> Figure:
    """Every pipeline model at a glance: one row per pruned model, one column per bit width; each cell gives the
    reporting accuracy and the packed size, in bold where the model is eligible for the rules (within
    ``tolerance_pp`` of the full model on the selection half, ``full_selected``)."""
    rows = sorted({(p["ratio"], p["distill_epochs"]) for p in points})
    cols = sorted({p["bits"] for p in points}, reverse=True)
    acc = np.full((len(rows), len(cols)), np.nan)
    text = [["" for _ in cols] for _ in rows]
    for p in points:
        i, j = rows.index((p["ratio"], p["distill_epochs"])), cols.index(p["bits"])
        acc[i, j] = 100 * p["accuracy"]
        size = f"{p['bytes'] / 1e3:.0f} KB" if p["bytes"] < 1e6 else f"{p['bytes'] / 1e6:.1f} MB"
        text[i][j] = f"{100 * p['accuracy']:.2f}%\n{size}"
    fig, ax = plt.subplots(figsize=(WIDTH, 0.5 * len(rows) + 1.2))
    lo = 100 * full_accuracy - 3
    im = ax.imshow(np.clip(acc, lo, None), cmap="RdYlGn", vmin=lo, vmax=100 * full_accuracy, aspect="auto", alpha=0.6)
    fig.colorbar(im, ax=ax, label="accuracy (%), clipped 3 pp below the full model")
    for i in range(len(rows)):
        for j in range(len(cols)):
            if text[i][j]:
                p = next(p for p in points if (p["ratio"], p["distill_epochs"], p["bits"]) == (*rows[i], cols[j]))
                good = 100 * (full_selected - selected(p)) <= tolerance_pp + 1e-9
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=7.5, color="black")
                if good:  # a frame, which survives any rendering, rather than bold type
                    ax.add_patch(matplotlib.patches.Rectangle((j - 0.48, i - 0.46), 0.96, 0.92, fill=False,
                                                              edgecolor="black", linewidth=1.4))
    ax.set_xticks(range(len(cols)), [f"{b} bits" for b in cols])
    ax.set_yticks(range(len(rows)), [f"ratio {r:g}" + (", fine-tuned" if e else "") for r, e in rows])
    ax.set_title("Accuracy (reporting half) and packed file size; framed: eligible for the rules", fontsize=8)
    return fig


def answers(rows: Sequence[dict[str, Any]], reference: dict[str, Any] | None = None) -> Figure:
    """The conclusion's answers: accuracy (with 95% intervals) against size on a log axis, one labelled point each."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    for i, r in enumerate(rows):
        a = r["acc"]
        y = 100 * a["accuracy"]
        ax.errorbar([r["bytes"]], [y], yerr=[[y - 100 * a["ci_low"]], [100 * a["ci_high"] - y]],
                    marker="os^vDph"[i % 7],
                    ms=6, capsize=3, label=r["model"])
    if reference:
        ax.scatter([reference["bytes"]], [100 * reference["accuracy"]], marker="*", s=120, color="crimson", zorder=5,
                   label=reference["label"])
    ax.set(xscale="log", xlabel="size (bytes, log scale)", ylabel="test accuracy (%, reporting half)",
           title="Size and accuracy of the answers")
    # one entry per line: no wraps
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1, frameon=False)
    return fig


def accuracy_vs_bits_per_weight(uniform: Sequence[dict[str, Any]], mixed_rows: Sequence[dict[str, Any]],
                                full_accuracy: float) -> Figure:
    """Accuracy (95% intervals) against the bits per weight of real files: uniform widths and mixed allocations."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.0))
    for rows, marker, label in ((uniform, "o", "GPTQ, one width for all layers"),
                                (mixed_rows, "D", "GPTQ, a width per layer (mixed)")):
        rows = sorted(rows, key=lambda r: r["bpw"])
        ax.errorbar([r["bpw"] for r in rows], _pct([r["accuracy"] for r in rows]), yerr=_errorbars(rows),
                    marker=marker, ms=5, capsize=3, ls="-" if marker == "o" else "none", label=label)
        for r in rows:
            ax.annotate(r["tag"], (r["bpw"], 100 * r["accuracy"]), textcoords="offset points", xytext=(6, -10),
                        fontsize=7)
    ax.axhline(100 * full_accuracy, color="k", lw=0.8, ls=":", label="full precision")
    ax.axhline(100 * full_accuracy - 1, color="grey", lw=0.8, ls="--", label="full precision − 1 pp")
    ax.margins(x=0.08)
    ax.set(xlabel="bits per weight of the packed file (scales, biases and header included)",
           ylabel="test accuracy (%, reporting half)", title="Accuracy against stored bits per weight")
    ax.legend(fontsize=7, loc="lower right")
    return fig


def course_quantization(table: Sequence[dict[str, Any]]) -> Figure:
    """The lab's two quantization plots with the course's published points overlaid (whole test set)."""
    qs = sorted({r["q"] for r in table})
    bits = sorted({r["bits"] for r in table})
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.4))
    for color, q in zip(plt.cm.viridis(np.linspace(0, 0.9, len(qs))), qs):
        rows = sorted((r for r in table if r["q"] == q), key=lambda r: r["bits"])
        axes[0].plot([r["bits"] for r in rows], [r["ours"] for r in rows], marker="o", ms=3, color=color,
                     label=f"q = {q:g}")
        axes[0].plot([r["bits"] for r in rows], [r["seed"] for r in rows], ls="--", marker="o", ms=4,
                     mfc="none", color=color, lw=0.9)
    for color, b in zip(plt.cm.plasma(np.linspace(0, 0.85, len(bits))), bits):
        rows = sorted((r for r in table if r["bits"] == b), key=lambda r: r["q"])
        axes[1].plot([r["q"] for r in rows], [r["ours"] for r in rows], marker="s", ms=3, color=color, label=f"l = {b}")
        axes[1].plot([r["q"] for r in rows], [r["seed"] for r in rows], ls="--", marker="s", ms=4, mfc="none",
                     color=color, lw=0.9)
    axes[0].set(title="Accuracy vs bits, one line per q", xlabel="bits l", ylabel="test accuracy (%)",
                xticks=bits, ylim=(0, 100))
    axes[1].set(title="Accuracy vs q, one line per l", xlabel="half-range q", ylabel="test accuracy (%)",
                xticks=qs, ylim=(0, 100))
    style = [matplotlib.lines.Line2D([], [], color="0.3", marker="o", ms=3, label="this run"),
             matplotlib.lines.Line2D([], [], color="0.3", ls="--", marker="o", mfc="none", ms=4,
                                     label="course (seed)")]
    for ax, ncol in ((axes[0], 4), (axes[1], 3)):
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles=style + handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol,
                  frameon=False)
    return fig


def course_pruning(table: Sequence[dict[str, Any]]) -> Figure:
    """The lab's accuracy-vs-ratio and accuracy-vs-parameters plots with the course's points overlaid."""
    rows = sorted(table, key=lambda r: r["ratio"])
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 2.9))
    for ax, key, label in ((axes[0], "ratio", "pruning ratio"), (axes[1], "parameters", "parameters")):
        ax.plot([r[key] for r in rows], [r["ours"] for r in rows], marker="o", ms=3, label="this run")
        ax.plot([r[key] for r in rows], [r["seed"] for r in rows], ls="--", marker="o", mfc="none", ms=4,
                color="k", lw=0.9, label="course (seed)")
        ax.set(xlabel=label, ylabel="test accuracy (%)", title=f"Accuracy vs {label}")
    axes[1].set_xscale("log")
    axes[0].legend(fontsize=7, loc="lower left")
    return fig
