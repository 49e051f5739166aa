import pytest
import torch

from lab3.base.model import SimpleDNN, count_parameters, load_model, model_sha256, save_model
from lab3.compress import prune
from tests.helpers import lab_prune_layer, tiny_model

LAB_TABLE = {0.2: 16_793_939, 0.3: 12_976_961, 0.4: 9_646_059, 0.5: 6_805_929, 0.6: 4_465_225,
             0.7: 2_610_595, 0.8: 1_249_889, 0.9: 379_179, 0.92: 264_250, 0.95: 128_843}


@pytest.fixture(scope="module")
def full_size():
    """A full-size SimpleDNN whose neuron norms are distinct at every ratio, as the course model's were.

    A random initialisation is not enough: under ATEN_CPU_CAPABILITY=default, seed 0 gave two fc3 rows the same
    norm at the ratio-0.8 threshold, and the lab's rule (ties keep more) then rightly kept one neuron more than
    the table. Row i of each layer here is the constant (1 + perm[i]) / n, so any subset of its columns has a norm
    ordered as perm: distinct by about 1/n, far beyond float32 rounding.
    """
    model = SimpleDNN().eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in (model.fc1, model.fc2, model.fc3, model.fc4):
            n = layer.out_features
            level = (1 + torch.randperm(n, generator=g).float()) / n
            layer.weight.copy_(level[:, None].expand_as(layer.weight))
    return model


def test_parameter_counts_equal_the_labs_table(full_size):
    for ratio, expected in LAB_TABLE.items():
        assert count_parameters(prune.prune_model(full_size, ratio)) == expected, ratio


def test_prune_layer_is_the_labs_function():
    torch.manual_seed(0)
    wa, ba, wb = torch.randn(50, 20), torch.randn(50), torch.randn(7, 50)
    for ratio in (0.1, 0.33, 0.5, 0.9):
        ours, lab = prune.prune_layer(wa, ba, wb, ratio), lab_prune_layer(wa, ba, wb, ratio)
        assert all(torch.equal(a, b) for a, b in zip(ours, lab))


def test_quirk_keeps_one_more_than_the_ratio_says():
    torch.manual_seed(0)
    for n, ratio in [(1568, 0.2), (100, 0.5), (10, 0.9)]:
        w, b, nxt = prune.prune_layer(torch.randn(n, 5), torch.randn(n), torch.randn(3, n), ratio)
        assert w.shape[0] == n - int(n * ratio) + 1 == prune.lab_kept(n, ratio)
        assert b.shape == (w.shape[0],) and nxt.shape == (3, w.shape[0])


def test_quirk_ties_keep_more():
    w = torch.ones(10, 4)  # every neuron has the same norm
    kept, _, _ = prune.prune_layer(w, torch.zeros(10), torch.ones(2, 10), 0.5)
    assert kept.shape[0] == 10
    mask = prune.keep_mask(torch.ones(10), 0.5, "exact")
    assert int(mask.sum()) == 5 and mask[:5].all()


def test_quirk_k_zero_is_a_clear_error():
    with pytest.raises(RuntimeError):
        lab_prune_layer(torch.randn(10, 3), torch.randn(10), torch.randn(2, 10), 0.05)
    with pytest.raises(ValueError, match="int\\(n \\* ratio\\) >= 1.*ratio >= 0.1"):
        prune.prune_layer(torch.randn(10, 3), torch.randn(10), torch.randn(2, 10), 0.05)


def test_exact_rule_counts():
    m = tiny_model(hidden=(40, 30, 20))
    p = prune.prune_model(m, 0.25, rule="exact")
    assert p.sizes == [784, 30, 22, 15, 10]


def test_pruned_model_is_consistent_and_saves(tmp_path):
    m = tiny_model(hidden=(40, 30, 20))
    before = model_sha256(m)
    p = prune.prune_model(m, 0.5)
    assert model_sha256(m) == before
    assert p.fc2.in_features == p.fc1.out_features == p.fc1.weight.shape[0]
    assert p.fc4.in_features == p.fc3.out_features and p.fc4.out_features == 10
    assert p(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert f"in_features={p.fc2.in_features}" in repr(p)
    save_model(p, tmp_path / "p.pt")
    assert load_model(tmp_path / "p.pt").sizes == p.sizes
    assert prune.prune_model(m, 0.0).sizes == m.sizes


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5, float("nan"), True, "0.5"])
def test_bad_ratios(ratio):
    with pytest.raises(ValueError, match="ratio"):
        prune.prune_model(tiny_model(), ratio)


def test_too_high_exact_ratio():
    with pytest.raises(ValueError, match="remove all"):
        prune.prune_model(tiny_model(hidden=(4, 4, 4)), 0.9, rule="exact")


def test_data_aware_options_need_calibration():
    with pytest.raises(ValueError, match="calibration"):
        prune.prune_model(tiny_model(), 0.5, importance="activation")
    with pytest.raises(ValueError, match="importance"):
        prune.prune_model(tiny_model(), 0.5, importance="random")
    with pytest.raises(ValueError, match="rule"):
        prune.prune_model(tiny_model(), 0.5, rule="other")


def test_least_squares_recovers_a_linear_map():
    torch.manual_seed(0)
    x = torch.randn(500, 8)
    w, b = torch.randn(3, 8), torch.randn(3)
    w_hat, b_hat = prune.least_squares_layer(x, x @ w.T + b, ridge=0.0)
    assert torch.allclose(w_hat, w, atol=1e-4) and torch.allclose(b_hat, b, atol=1e-4)


def test_repair_reproduces_the_original_when_nothing_is_lost():
    # a duplicated neuron can be removed and repaired without changing the outputs
    m = tiny_model(hidden=(6, 5, 4))
    with torch.no_grad():
        m.fc1.weight[1] = m.fc1.weight[0]
        m.fc1.bias[1] = m.fc1.bias[0]
        m.fc1.weight[0] *= 0.001  # the lab's L2 rule removes this one
        m.fc1.bias[0] *= 0.001
    calib = torch.randn(400, 1, 28, 28)
    plain = prune.prune_model(m, 0.2, rule="exact")
    repaired = prune.prune_model(m, 0.2, rule="exact", repair=True, calibration=calib, ridge=0.0)
    x = torch.randn(50, 1, 28, 28)
    def err(p):
        return (p(x) - m(x)).abs().max()
    assert err(repaired) < err(plain)


def test_activation_importance_removes_a_dead_neuron_that_l2_keeps():
    m = tiny_model(hidden=(20, 16, 12))
    with torch.no_grad():  # fc1's neuron 0: the largest weights, but never active (a dead ReLU)
        m.fc1.weight[0] = 10 * m.fc1.weight[0] / m.fc1.weight[0].norm()
        m.fc1.bias[0] = -1e6
    calib = torch.randn(100, 1, 28, 28)
    by_activation = prune.prune_model(m, 0.5, importance="activation", calibration=calib)
    by_l2 = prune.prune_model(m, 0.5)
    assert by_activation.sizes == by_l2.sizes

    def kept(p):  # does fc1 still hold the dead neuron's row?
        return any(torch.equal(row, m.fc1.weight[0]) for row in p.fc1.weight)

    assert kept(by_l2) and not kept(by_activation)


def test_data_aware_pruning_keeps_the_labs_count_when_most_neurons_are_dead():
    m = tiny_model(hidden=(20, 16, 12))
    with torch.no_grad():  # 15 of fc1's 20 neurons never fire: their activation scores are all exactly 0
        m.fc1.bias[5:] = -1e6
    calib = torch.randn(100, 1, 28, 28)
    for ratio in (0.3, 0.5, 0.9):
        pruned = prune.prune_model(m, ratio, importance="activation", repair=True, calibration=calib)
        assert pruned.sizes == prune.prune_model(m, ratio).sizes, ratio  # the lab's count, not every tie
        if ratio <= 0.5:  # room for them: the five live neurons are all kept
            live = m.fc1.weight[:5]
            assert all(any(torch.equal(row, w) for w in pruned.fc1.weight) for row in live)


def test_kept_count_is_what_the_rules_keep_with_distinct_scores():
    scores = torch.randperm(50).float()
    for ratio in (0.0, 0.01, 0.3, 0.5, 0.9):
        for rule in ("lab", "exact"):
            assert int(prune.keep_mask(scores, ratio, rule).sum()) == prune.kept_count(50, ratio, rule)
