"""The selection and reporting halves: disjoint, complete, stratified, the same everywhere; records split right."""
import torch

from lab3.base import data
from lab3.measure import holdout, stats


def test_halves_never_overlap_and_cover_the_test_set():
    _, labels = data.tensors("test")
    h = holdout.test_halves(labels)
    select, report = set(h.select.tolist()), set(h.report.tolist())
    assert not select & report
    assert select | report == set(range(labels.numel()))
    assert (len(select), len(report)) == (5000, 5000)


def test_halves_hold_the_same_number_of_each_digit():
    _, labels = data.tensors("test")
    h = holdout.test_halves(labels)
    for digit in range(10):
        a, b = int((labels[h.select] == digit).sum()), int((labels[h.report] == digit).sum())
        assert abs(b - a) <= 1, digit  # a digit of odd count gives its extra image to one half


def test_halves_are_fixed_by_the_seed():
    labels = torch.arange(1000) % 10
    a, b = holdout.test_halves(labels), holdout.test_halves(labels)
    assert torch.equal(a.select, b.select) and torch.equal(a.report, b.report)
    c = holdout.test_halves(labels, seed=1)
    assert not torch.equal(a.select, c.select)
    # a known draw: numpy's PCG64 is the same on every platform, so the first indices are pinned
    assert a.select[:5].tolist() == [1, 4, 5, 7, 8]
    _, test_labels = data.tensors("test")
    assert holdout.test_halves(test_labels).select[:5].tolist() == [1, 2, 4, 6, 8]


def test_split_scores_each_half_from_the_stored_hits():
    labels = torch.arange(20) % 2
    hits = torch.tensor([True, False] * 5 + [True] * 10)
    h = holdout.test_halves(labels)
    rec = holdout.split(stats.hits_record(hits), h)
    assert rec["correct"] == int(hits[h.report].sum()) and rec["total"] == 10
    assert rec["select_correct"] == int(hits[h.select].sum()) and rec["select_total"] == 10
    assert rec["whole_correct"] == int(hits.sum())
    assert rec["accuracy"] == rec["correct"] / 10 and rec["ci_low"] <= rec["accuracy"] <= rec["ci_high"]
    assert stats.selected(rec) == rec["select_accuracy"]


def test_split_refuses_a_record_of_another_set():
    h = holdout.test_halves(torch.arange(10) % 2)
    try:
        holdout.split(stats.hits_record(torch.ones(12, dtype=torch.bool)), h)
    except ValueError as exc:
        assert "12 images" in str(exc)
    else:
        raise AssertionError("a record of 12 images was split by halves of 10")


def test_mcnemar_uses_only_the_reporting_half():
    labels = torch.arange(40) % 2
    h = holdout.test_halves(labels)
    a = torch.ones(40, dtype=torch.bool)
    b = a.clone()
    b[h.select] = False  # b is wrong only where choices are made
    only_a, only_b, p = holdout.mcnemar(stats.hits_record(a), stats.hits_record(b), h)
    assert (only_a, only_b, p) == (0, 0, 1.0)
    b[h.report[:6]] = False
    only_a, only_b, p = holdout.mcnemar(stats.hits_record(a), stats.hits_record(b), h)
    assert (only_a, only_b) == (6, 0) and abs(p - 2 / 2**6) < 1e-12


def test_hits_round_trip():
    for n in (1, 7, 8, 9, 10000):
        hits = torch.rand(n, generator=torch.Generator().manual_seed(n)) > 0.3
        assert torch.equal(stats.decode_hits(stats.encode_hits(hits), n), hits)
