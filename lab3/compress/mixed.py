"""Mixed precision: a bit width per layer, chosen from measured sensitivity under a budget of bits per weight.

Uniform 2-bit weights cost this model several points of accuracy, but the chapter's sensitivity table shows
that almost all of it comes from one small layer. So the bits go where they buy accuracy: every layer starts
at the lowest width, and the upgrade with the largest measured accuracy gain per added bit is taken, one at a
time, while the whole file, scales and biases included, stays within the budget.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence


def average_bits(layer_bits: Mapping[str, int], weights: Mapping[str, int], side_bits: int) -> float:
    """Bits per weight of a packed model: codes of every layer plus ``side_bits`` (scales, biases, header)."""
    total = sum(weights[name] * b for name, b in layer_bits.items()) + side_bits
    return total / sum(weights.values())


def allocate(accuracy: Mapping[tuple[str, int], float], weights: Mapping[str, int], widths: Sequence[int],
             budget_bits: float, side_bits: int) -> dict[str, int]:
    """Greedy allocation: start every layer at the smallest width; repeatedly take the upgrade (one layer to its
    next width) with the largest gain in ``accuracy[(layer, bits)]`` (the model's accuracy with only that layer
    quantized to that width) per added bit, among those that keep ``average_bits`` within ``budget_bits``.
    Ties go to the smaller layer."""
    widths = sorted(set(widths))
    bits = {name: widths[0] for name in weights}
    if average_bits(bits, weights, side_bits) > budget_bits:
        raise ValueError(f"even {widths[0]} bits everywhere exceed the budget of {budget_bits} bits per weight")
    while True:
        options = []
        for name, b in bits.items():
            higher = [w for w in widths if w > b]
            if not higher:
                continue
            nxt = higher[0]
            trial = {**bits, name: nxt}
            if average_bits(trial, weights, side_bits) <= budget_bits + 1e-12:
                gain = accuracy[(name, nxt)] - accuracy[(name, b)]
                options.append((gain / (weights[name] * (nxt - b)), -weights[name], name, nxt))
        options = [o for o in options if o[0] > 0]
        if not options:
            return bits
        _, _, name, nxt = max(options)
        bits[name] = nxt
