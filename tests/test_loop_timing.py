"""The lab's loop timed in parts: loading + model add up to the pass, on a small model and dataset."""
import pytest
import torch
from torch.utils.data import TensorDataset

from lab3.measure import loop_timing
from tests.helpers import tiny_model


def test_parts_add_up_to_the_pass():
    data = TensorDataset(torch.randn(512, 784), torch.zeros(512, dtype=torch.long))
    parts = loop_timing.lab_loop_parts(tiny_model(), data, batch_size=64, repeats=3)
    assert parts.passes == 3 and parts.images == 512 and parts.threads >= 1
    assert parts.loading_s > 0 and parts.model_s > 0
    # the parts of one pass (the median one): they add up to it, and the rest is the loop's bookkeeping
    assert 0 <= parts.other_s < 0.5 * parts.total_s
    assert parts.as_dict()["total_s"] == parts.total_s


def test_a_slow_model_shows_in_its_part():
    class Slow(torch.nn.Module):
        def forward(self, x):
            import time
            time.sleep(0.01)
            return x

    data = TensorDataset(torch.randn(64, 4), torch.zeros(64, dtype=torch.long))
    parts = loop_timing.lab_loop_parts(Slow(), data, batch_size=16, repeats=1)
    assert parts.model_s >= 0.04 and parts.model_s > parts.loading_s


def test_bad_arguments_are_one_clear_error():
    with pytest.raises(ValueError, match="repeats and batch_size"):
        loop_timing.lab_loop_parts(tiny_model(), TensorDataset(torch.randn(4, 784)), repeats=0)
