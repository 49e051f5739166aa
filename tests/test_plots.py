"""The weight histograms show every level of the quantized weights, with its count."""
import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from lab3.book import plots  # noqa: E402
from lab3.compress import quantize


def test_quantized_histograms_draw_one_bar_per_level_with_its_count():
    w = torch.randn(20000, generator=torch.Generator().manual_seed(0)) * 0.05
    q2 = quantize.quantize_tensor(w, 0.138, 2)
    fig = plots.histograms_by_bits(w, {2: (0.138, q2)})
    bars = fig.axes[1].patches
    levels, counts = torch.unique(q2, return_counts=True)
    assert len(bars) == len(levels) == 4
    assert sorted(round(b.get_height()) for b in bars) == sorted(counts.tolist())
    assert all(b.get_width() > 0.01 for b in bars)  # wide enough to see at any resolution
    fig = plots.histogram_pair(w, q2, "fc1")
    assert len(fig.axes[1].patches) == 4
