import math

import pytest
import torch

from lab3.base.model import model_sha256
from lab3.compress import quantize as Q
from tests.helpers import lab_quantize, tiny_model


@pytest.mark.parametrize("q", [0.05, 0.5, 1.0, 1.7])
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 8, 12, 16])
def test_quantize_tensor_is_the_labs_formula(q, bits):
    torch.manual_seed(bits)
    w = torch.randn(64, 50) * q
    out = Q.quantize_tensor(w, q, bits)
    assert out.dtype == torch.float32
    assert torch.equal(out, lab_quantize(w, q, bits))


def test_quantize_tensor_levels_and_range():
    w = torch.linspace(-3, 3, 10001)
    out = Q.quantize_tensor(w, 1.0, 3)
    assert out.unique().numel() == 8
    assert float(out.min()) == -1.0 and float(out.max()) == 1.0 - 0.25


def test_quantize_model_copies_and_keeps_biases():
    m = tiny_model()
    before = model_sha256(m)
    qm = Q.quantize_model(m, 0.1, 3)
    assert model_sha256(m) == before and qm is not m
    for (_, a), (_, b) in zip(Q.linear_layers(m), Q.linear_layers(qm)):
        assert torch.equal(b.weight, lab_quantize(a.weight.detach(), 0.1, 3))
        assert torch.equal(a.bias, b.bias)
    qb = Q.quantize_model(m, 0.1, 3, quantize_bias=True)
    assert not torch.equal(qb.fc1.bias, m.fc1.bias)
    assert torch.equal(qb.fc1.bias, lab_quantize(m.fc1.bias.detach(), 0.1, 3))


def test_quantized_state_matches_quantize_model():
    m = tiny_model()
    state = Q.quantized_state(m, 0.2, 4)
    qm = Q.quantize_model(m, 0.2, 4)
    for name, value in qm.state_dict().items():
        assert torch.equal(state[name], value)


@pytest.mark.parametrize("q", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_bad_q(q):
    with pytest.raises(ValueError, match="q .*finite number > 0"):
        Q.quantize_tensor(torch.ones(3), q, 4)


@pytest.mark.parametrize("bits", [0, 33, 2.5, True, "8"])
def test_bad_bits(bits):
    with pytest.raises(ValueError, match="bits must be an integer in 1..32"):
        Q.quantize_tensor(torch.ones(3), 1.0, bits)


def test_bad_tensors():
    with pytest.raises(ValueError, match="NaN or infinite"):
        Q.quantize_tensor(torch.tensor([1.0, float("nan")]), 1.0, 4)
    with pytest.raises(ValueError, match="floating-point"):
        Q.quantize_tensor(torch.tensor([1, 2]), 1.0, 4)
    with pytest.raises(TypeError):
        Q.quantize_tensor([1.0], 1.0, 4)


def test_code_ranges():
    assert Q.code_range(2, "lab") == (-2, 1)
    assert Q.code_range(2, "symmetric") == (-1, 1)
    assert Q.code_range(8, "symmetric") == (-127, 127)
    with pytest.raises(ValueError):
        Q.code_range(1, "symmetric")


@pytest.mark.parametrize("granularity", ["tensor", "channel"])
def test_maxabs_covers_the_largest_weight(granularity):
    torch.manual_seed(0)
    w = torch.randn(16, 40)
    qp = Q.choose_qparams(w, 4, "maxabs", granularity)
    codes = Q.quantize_codes(w, qp)
    assert codes.dtype == torch.int32 and int(codes.abs().max()) <= qp.qmax
    assert qp.scale.shape == (() if granularity == "tensor" else (16, 1))
    deq = Q.dequantize_codes(codes, qp).abs()
    if granularity == "channel":
        assert torch.allclose(deq.amax(dim=1), w.abs().amax(dim=1), rtol=1e-6)
    else:
        assert torch.isclose(deq.max(), w.abs().max(), rtol=1e-6)


def mse_clip_one_at_a_time(w, granularity, qmin, qmax, grid):
    """The search written plainly: every candidate fraction of max|w| tried in turn, the first smallest kept."""
    def err(row, amax, frac):
        scale = (amax * frac / qmax).clamp_min(torch.finfo(torch.float32).tiny)
        return float((torch.round(row / scale).clamp(qmin, qmax) * scale - row).square().sum(dtype=torch.float64))

    step = 1.0 / grid
    out = []
    for row in [w.flatten()] if granularity == "tensor" else list(w):
        amax = row.abs().max()
        coarse = [torch.tensor(i * step) for i in range(1, grid + 1)]
        best = min(coarse, key=lambda f: err(row, amax, f))  # min keeps the first of equal errors
        fine = [(best + i * step / (grid // 2 + 1)).clamp(step / grid, 1.0)
                for i in range(-grid // 2, grid // 2 + 1) if i]
        best = min([best, *fine], key=lambda f: err(row, amax, f))
        out.append(amax * best)
    return torch.stack(out).reshape(()) if granularity == "tensor" else torch.stack(out).reshape(-1, 1)


@pytest.mark.parametrize("block", [1, 7 * 64, Q.MSE_BLOCK])
@pytest.mark.parametrize("granularity", ["tensor", "channel"])
def test_mse_clip_batches_equal_the_one_at_a_time_search(block, granularity, monkeypatch):
    monkeypatch.setattr(Q, "MSE_BLOCK", block)
    torch.manual_seed(1)
    for shape, bits, grid in [((12, 64), 3, 10), ((5, 40), 2, 4), ((1, 9), 4, 1), ((30, 17), 8, 10)]:
        w = torch.randn(*shape) * 0.1
        w[0, 0] = 1.0  # an outlier, so clipping pays
        qmin, qmax = Q.code_range(bits, "lab")
        got = Q._mse_clip(w, granularity, qmin, qmax, grid)
        want = mse_clip_one_at_a_time(w, granularity, qmin, qmax, grid)
        assert got.shape == want.shape
        assert torch.equal(got, want)


def test_mse_beats_maxabs_and_percentile_clips():
    torch.manual_seed(0)
    w = torch.randn(32, 256)
    w[0, 0] = 20.0  # one outlier
    err = {m: (Q.fake_quantize(w, Q.choose_qparams(w, 3, m, "tensor")) - w).pow(2).sum() for m in ("maxabs", "mse")}
    assert err["mse"] < err["maxabs"]
    qp = Q.choose_qparams(w, 8, "percentile", "tensor", percentile=99.0)
    assert float(Q.fake_quantize(w, qp).max()) < 20.0


def test_trio_round_trip_and_fixed_grid_equals_lab_inside_the_range():
    torch.manual_seed(1)
    w = torch.randn(20, 30) * 0.3
    qp = Q.choose_qparams(w, 4, "fixed", levels="lab", q=0.5)
    assert torch.equal(Q.fake_quantize(w, qp), Q.dequantize_codes(Q.quantize_codes(w, qp), qp))
    lab = lab_quantize(w, 0.5, 4)
    inside = w.abs() < 0.45
    assert torch.equal(Q.fake_quantize(w, qp)[inside], lab[inside])
    assert torch.allclose(Q.fake_quantize(w, qp), lab, atol=1e-7)


def test_choose_qparams_validation():
    w = torch.randn(4, 4)
    with pytest.raises(ValueError, match="method"):
        Q.choose_qparams(w, 4, "kmeans")
    with pytest.raises(ValueError, match="granularity"):
        Q.choose_qparams(w, 4, "maxabs", "group")
    with pytest.raises(ValueError, match="needs q"):
        Q.choose_qparams(w, 4, "fixed")
    with pytest.raises(ValueError, match="2-D"):
        Q.choose_qparams(torch.randn(4), 4)
    with pytest.raises(ValueError, match="percentile"):
        Q.choose_qparams(w, 4, "percentile", percentile=0)


def test_scheme_model_and_helpers():
    m = tiny_model()
    before = model_sha256(m)
    s = Q.Scheme(bits=3, method="mse", granularity="channel")
    qm = Q.fake_quantize_model(m, s)
    assert model_sha256(m) == before
    codes = Q.weight_codes(m, s)
    for name, layer in Q.linear_layers(qm):
        c, qp = codes[name]
        assert torch.equal(layer.weight, Q.dequantize_codes(c, qp))
        assert Q.distinct_values([c]) <= 7
    assert Q.sqnr_db(m.fc1.weight, m.fc1.weight) == math.inf
    assert 5 < Q.sqnr_db(m.fc1.weight.detach(), qm.fc1.weight.detach()) < 40
    assert s.label == "mse/channel"
    assert Q.weights_vector(m).numel() == sum(l.weight.numel() for _, l in Q.linear_layers(m))
