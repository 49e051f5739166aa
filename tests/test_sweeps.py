"""The chapters' drivers on a small model: each sweep point equals the same computation done directly, and a
second run reads every point from the cache. A bug in a sweep fails `make check`, not only the book's nbval."""
from pathlib import Path

import pytest
import torch

from lab3.base import data
from lab3.base.cache import ResultCache
from lab3.base.model import LAYERS, count_parameters
from lab3.compress import pack, prune, quantize
from lab3.experiments import pipeline, prune_sweep, sweep
from lab3.experiments.pipeline import Recipe
from lab3.measure import evaluate
from tests.helpers import tiny_model


@pytest.fixture(scope="module")
def setting():
    """A small model that is better than chance on its own labels, and 300 images."""
    torch.manual_seed(1)
    m = tiny_model(seed=3)
    x = torch.randn(300, 1, 28, 28)
    y = m(x).argmax(1)
    y[::4] = (y[::4] + 1) % 10  # three quarters right: quantization and pruning have something to lose
    return m, x, y


def correct(model, x, y) -> int:
    return evaluate.count_correct(model, x, y)


def test_lab_quantization_grid_is_the_lab_quantizer_point_by_point(setting, tmp_path):
    m, x, y = setting
    cache = ResultCache(tmp_path, active=True, modules=("sweep",))
    q_grid = sweep.resolve_q_values(m, [0.5, 1.0], "max_abs")
    rows = sweep.lab_quantization_grid(m, x, y, q_grid, [2, 8], cache=cache, progress=False)
    assert [(r["q"], r["bits"]) for r in rows] == [(e["q"], b) for e in q_grid for b in (2, 8)]
    for r in rows:
        assert r["correct"] == correct(quantize.quantize_model(m, r["q"], r["bits"]), x, y), r["q_label"]
    assert rows[-1]["correct"] > rows[0]["correct"]  # 8 bits over the whole range beat 2 bits at half of it
    again = sweep.lab_quantization_grid(m, x, y, q_grid, [2, 8], cache=cache, progress=False)
    assert again == rows and cache.hits == len(rows)


def test_best_by_picks_the_best_on_the_selection_half():
    rows = [{"bits": 2, "q": 0.1, "select_accuracy": 0.5}, {"bits": 2, "q": 0.2, "select_accuracy": 0.7},
            {"bits": 4, "q": 0.1, "select_accuracy": 0.9}, {"bits": 4, "q": 0.2, "select_accuracy": 0.9}]
    best = sweep.best_by(rows, "bits")
    assert list(best) == [2, 4] and best[2]["q"] == 0.2 and best[4]["q"] == 0.1  # ties: the first


def test_scheme_accuracy_and_layer_sensitivity(setting, tmp_path):
    m, x, y = setting
    cache = ResultCache(tmp_path, active=True, modules=("sweep",))
    scheme = quantize.Scheme(bits=2, method="maxabs", granularity="tensor", levels="lab")
    whole = sweep.scheme_accuracy(m, scheme, x, y, cache)
    direct = tiny_model(seed=3)
    with torch.no_grad():
        for _, layer in quantize.linear_layers(direct):
            layer.weight.copy_(quantize.fake_quantize(layer.weight, scheme.qparams(layer.weight)))
    assert whole["correct"] == correct(direct, x, y)
    rows = sweep.layer_sensitivity(m, scheme, x, y, cache)
    assert [r["layer"] for r in rows] == ["fc1", "fc2", "fc3", "fc4"]
    for r in rows:  # only that layer quantized
        one = tiny_model(seed=3)
        with torch.no_grad():
            w = getattr(one, r["layer"]).weight
            w.copy_(quantize.fake_quantize(w, scheme.qparams(w)))
        assert r["correct"] == correct(one, x, y), r["layer"]


def test_lab_pruning_rows_are_prune_model(setting, tmp_path):
    m, x, y = setting
    cache = ResultCache(tmp_path, active=True, modules=("prune_sweep",))
    rows = prune_sweep.lab_pruning_rows(m, [0.25, 0.5], x, y, cache=cache, progress=False)
    for r in rows:
        p = prune.prune_model(m, r["ratio"])
        assert r["sizes"] == p.sizes and r["parameters"] == count_parameters(p)
        assert r["float32_bytes"] == 4 * count_parameters(p) and r["correct"] == correct(p, x, y)
    assert prune_sweep.lab_pruning_rows(m, [0.25, 0.5], x, y, cache=cache, progress=False) == rows


def test_method_rows_cover_every_method_and_ratio(setting, tmp_path):
    m, x, y = setting
    calib = torch.randn(200, 1, 28, 28)
    cache = ResultCache(tmp_path, active=True, modules=("prune_sweep",))
    rows = prune_sweep.method_rows(m, [0.5], x, y, calib, 1e-3, cache=cache, progress=False)
    assert [r["method"] for r in rows] == list(prune_sweep.METHODS)
    for r in rows:
        p = prune.prune_model(m, 0.5, calibration=calib, ridge=1e-3, **prune_sweep.METHODS[r["method"]])
        assert r["correct"] == correct(p, x, y) and r["parameters"] == count_parameters(p), r["method"]


def test_smallest_within_the_tolerance():
    rows = [{"ratio": 0.5, "parameters": 50, "select_accuracy": 0.97},
            {"ratio": 0.8, "parameters": 20, "select_accuracy": 0.965},
            {"ratio": 0.9, "parameters": 10, "select_accuracy": 0.95}]
    assert prune_sweep.smallest_within(rows, 0.97, 0.5)["ratio"] == 0.8
    assert prune_sweep.smallest_within(rows, 0.99, 0.5) is None


def test_pipeline_sweep_points_are_their_packed_files_and_share_the_student(setting, tmp_path, monkeypatch):
    m, x, y = setting
    cache = ResultCache(tmp_path / "cache", active=True, modules=("experiments.pipeline",))
    recipes = [Recipe(0.5, 4, calibration_images=64), Recipe(0.5, 8, calibration_images=64)]
    calls = []
    student = pipeline.student
    monkeypatch.setattr(pipeline, "student", lambda *a, **k: calls.append(1) or student(*a, **k))
    rows = pipeline.sweep(m, recipes, x, y, tmp_path / "files", cache, min_run_time=0.01, progress=False)
    assert [r["label"] for r in rows] == ["ratio 0.5, 4-bit", "ratio 0.5, 8-bit"] and len(calls) == 1
    for r in rows:
        reloaded = pack.load_packed(r["path"])
        assert r["correct"] == correct(reloaded, x, y) and r["bytes"] == Path(r["path"]).stat().st_size
        assert reloaded.sizes == prune.prune_model(m, 0.5).sizes and r["distill_seconds"] == 0.0
    assert rows[0]["bytes"] < rows[1]["bytes"]
    again = pipeline.sweep(m, recipes, x, y, tmp_path / "files", cache, min_run_time=0.01, progress=False)
    assert again == rows and cache.hits == 2 and len(calls) == 1


def test_pipeline_sweep_builds_a_small_model_with_pixels_dropped_and_tuned_on_its_grid(setting, tmp_path):
    m, x, y = setting
    g = torch.Generator().manual_seed(0)
    raw = torch.zeros(256, 28, 28, dtype=torch.uint8)
    raw[:, 4:24, 4:24] = torch.randint(0, 256, (256, 20, 20), dtype=torch.uint8, generator=g)
    train = (data.normalize(raw).reshape(256, 1, 28, 28), torch.randint(0, 10, (256,), generator=g))
    recipe = Recipe(ratio=0.5, bits=(4, 4, 2, 4), pixel_threshold=0.05, distill_epochs=1, qat_epochs=1,
                    side="float16", calibration_images=64)
    cache = ResultCache(tmp_path / "cache", active=True, modules=("experiments.pipeline",))
    (row,) = pipeline.sweep(m, [recipe], x, y, tmp_path / "files", cache, min_run_time=0.01, progress=False,
                            inputs=pipeline.Inputs(m, train, raw))
    reloaded = pack.load_packed(row["path"])
    assert row["label"] == "ratio 0.5, bits 4/4/2/4" and row["correct"] == correct(reloaded, x, y)
    assert row["inputs"] == int(pipeline.kept_pixels(0.05, raw).sum()) == 400 and reloaded.sizes[0] == 400
    assert row["distill_seconds"] > 0 and row["qat_seconds"] > 0
    for name, b in zip(LAYERS, recipe.bits):  # each layer on its own grid: at most 2**b levels per row
        w = getattr(reloaded, name).weight
        assert max(len(torch.unique(r)) for r in w) <= 2**b, name


def test_without_a_cache_a_driver_computes_and_writes_nothing(setting, tmp_path, monkeypatch):
    """Caching is the caller's choice: a driver given no cache keeps no state on disk and returns the same rows."""
    m, x, y = setting
    monkeypatch.setenv("LAB3_ARTIFACTS", str(tmp_path / "artifacts"))
    cache = ResultCache(tmp_path / "cache", active=True, modules=("prune_sweep",))
    plain = prune_sweep.lab_pruning_rows(m, [0.5], x, y, progress=False)
    assert plain == prune_sweep.lab_pruning_rows(m, [0.5], x, y, cache=cache, progress=False)
    q_grid = sweep.resolve_q_values(m, [1.0], "max_abs")
    assert sweep.lab_quantization_grid(m, x, y, q_grid, [4], progress=False)[0]["correct"] == correct(
        quantize.quantize_model(m, q_grid[0]["q"], 4), x, y)
    assert not (tmp_path / "artifacts").exists() and cache.misses == 1
