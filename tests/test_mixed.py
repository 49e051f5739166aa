"""Bit allocation per layer from measured sensitivity, under a budget of bits per weight."""
import pytest

from lab3.compress import mixed

WEIGHTS = {"fc1": 100, "fc2": 400, "fc3": 1600, "fc4": 10}


def test_average_bits_counts_codes_and_side_information():
    bits = {"fc1": 4, "fc2": 2, "fc3": 2, "fc4": 2}
    assert mixed.average_bits(bits, WEIGHTS, 0) == (400 + 2 * 2010) / 2110
    assert mixed.average_bits(bits, WEIGHTS, 2110) == pytest.approx((400 + 2 * 2010) / 2110 + 1)


def test_allocate_spends_bits_where_they_buy_accuracy():
    acc = {(n, b): 0.98 for n in WEIGHTS for b in (2, 3, 4)}
    acc[("fc1", 2)], acc[("fc1", 3)] = 0.80, 0.97  # the small first layer is the sensitive one
    acc[("fc2", 2)] = 0.975
    out = mixed.allocate(acc, WEIGHTS, [2, 3, 4], budget_bits=2.2, side_bits=0)
    assert out == {"fc1": 4, "fc2": 2, "fc3": 2, "fc4": 2}  # fc2's upgrade would need 2.28 bits
    out = mixed.allocate(acc, WEIGHTS, [2, 3, 4], budget_bits=2.3, side_bits=0)
    assert out == {"fc1": 4, "fc2": 3, "fc3": 2, "fc4": 2}
    assert mixed.average_bits(out, WEIGHTS, 0) <= 2.3


def test_allocate_takes_no_upgrade_that_buys_nothing_and_refuses_an_impossible_budget():
    acc = {(n, b): 0.98 for n in WEIGHTS for b in (2, 3, 4)}
    assert mixed.allocate(acc, WEIGHTS, [2, 3, 4], 8.0, 0) == {n: 2 for n in WEIGHTS}
    with pytest.raises(ValueError, match="exceed the budget"):
        mixed.allocate(acc, WEIGHTS, [2, 3, 4], 1.9, 0)
