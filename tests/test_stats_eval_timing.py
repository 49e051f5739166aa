import math

import pytest
import torch
from torch.utils.data import TensorDataset

from lab3.base.model import saved_bytes
from lab3.measure import evaluate, stats, timing
from tests.helpers import tiny_model


def test_wilson_interval_known_values():
    lo, hi = stats.wilson_interval(9859, 10000)
    assert abs(lo - 0.98340) < 5e-5 and abs(hi - 0.98803) < 5e-5  # Wilson, z = 1.96
    assert 0.22 < stats.half_width_pp(9859, 10000) < 0.25
    assert stats.wilson_interval(0, 10)[0] == 0.0 and stats.wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)


@pytest.mark.parametrize("correct,total", [(0, 10), (1, 10), (3, 7), (81, 263), (9859, 10000)])
def test_wilson_interval_solves_the_score_equation(correct, total):
    # Wilson's interval is the set of p with (correct/total - p)^2 <= z^2 p (1 - p) / total: its ends are the roots
    z, phat = stats.Z95, correct / total
    for p in stats.wilson_interval(correct, total):
        if 0 < p < 1:
            assert math.isclose((phat - p) ** 2, z * z * p * (1 - p) / total, rel_tol=1e-9, abs_tol=1e-15)
    assert math.isclose(stats.wilson_interval(0, 10)[1], z * z / (10 + z * z), rel_tol=1e-12)  # closed form at 0


def test_mcnemar_exact():
    a = torch.tensor([True] * 10 + [True] * 5)
    b = torch.tensor([False] * 10 + [True] * 5)
    only_a, only_b, p = stats.mcnemar_exact(a, b)
    assert (only_a, only_b) == (10, 0) and math.isclose(p, 2 / 2**10)
    assert stats.mcnemar_exact(a, a)[2] == 1.0
    seven_two = torch.tensor([True] * 7 + [False] * 2), torch.tensor([False] * 7 + [True] * 2)
    # two-sided exact binomial: 2 * P(X <= 2), X ~ Bin(9, 1/2) = 2 * (1 + 9 + 36) / 512
    assert stats.mcnemar_exact(*seven_two) == (7, 2, 92 / 512)
    with pytest.raises(ValueError):
        stats.mcnemar_exact(a, a[:3])


def test_accuracy_tensors_and_dataset_agree():
    m = tiny_model()
    x, y = torch.randn(300, 1, 28, 28), torch.randint(0, 10, (300,))
    acc = evaluate.accuracy(m, (x, y))
    assert acc == evaluate.accuracy(m, TensorDataset(x, y))
    assert acc == float((m(x).argmax(1) == y).double().mean())
    assert torch.equal(evaluate.predict(m, x, batch_size=7), m(x).argmax(1))
    with pytest.raises(ValueError):
        evaluate.accuracy(m, (x, y[:5]))
    with pytest.raises(TypeError):
        evaluate.accuracy(m, [1, 2])
    with pytest.raises(ValueError):
        evaluate.predict(m, x, batch_size=0)


def test_timings_are_well_formed():
    m = tiny_model()
    x = torch.randn(200, 1, 28, 28)
    lat = timing.latency(m, x, min_run_time=0.05)
    thr = timing.throughput(m, x, batch_size=50, min_run_time=0.05)
    assert lat.median > 0 and lat.runs >= 1 and lat.iqr >= 0 and lat.threads >= 1 and lat.items == 1
    assert thr.items == 200 and thr.items_per_second > 0 and thr.per_item > 0
    loop = timing.lab_loop(m, TensorDataset(x, torch.zeros(200)), batch_size=64, repeats=2)
    assert loop.runs == 2 and loop.median > 0
    assert saved_bytes(m) > 4 * sum(p.numel() for p in m.parameters())
    with pytest.raises(ValueError):
        timing.time_callable(lambda: None, "x", threads=0)
    with pytest.raises(ValueError):
        timing.lab_loop(m, TensorDataset(x, x), repeats=0)
