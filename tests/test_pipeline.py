"""The one pipeline (lab3.experiments.pipeline): its recipes, dropping empty pixels, quantization-aware
distillation, and each recipe's packed file equal to the steps done by hand."""
import numpy as np
import pytest
import torch
from torch.nn.utils import parametrize

from lab3.base import data
from lab3.base.model import SimpleDNN, check_inputs, from_state_dict, linear_layers, model_sha256
from lab3.compress import pack, prune
from lab3.compress.distill import DistillConfig, distill
from lab3.compress.gptq import gptq_quantize
from lab3.compress.quantize import RoundThrough, Scheme, fake_quantize, weight_codes
from lab3.experiments import pipeline
from lab3.experiments.pipeline import Recipe
from lab3.runtime import runtimes
from tests.helpers import tiny_model


def _centred_images(n: int = 64) -> torch.Tensor:
    """Raw uint8 images whose border (outside the centre 14x14) is always empty."""
    g = torch.Generator().manual_seed(0)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    images[:, 7:21, 7:21] = torch.randint(0, 256, (n, 14, 14), dtype=torch.uint8, generator=g)
    return images


def test_pixel_frequency_and_kept_pixels():
    images = _centred_images()
    freq = prune.pixel_frequency(images)
    assert freq.shape == (784,) and float(freq.reshape(28, 28)[0].max()) == 0.0
    keep = pipeline.kept_pixels(0.0, images)
    assert int(keep.sum()) == int((freq > 0).sum()) and not bool(keep.reshape(28, 28)[:7].any())
    with pytest.raises(ValueError, match="pixel threshold"):
        pipeline.kept_pixels(1.0, images)
    with pytest.raises(TypeError, match="raw uint8"):
        prune.pixel_frequency(images.float())


def test_dropping_empty_pixels_changes_no_output_on_images_where_they_are_empty():
    m = tiny_model()
    raw = _centred_images()
    x = (raw.float() / 255 - 0.1307) / 0.3081
    bg = torch.full((784,), (0 - 0.1307) / 0.3081)
    keep = pipeline.kept_pixels(0.0, raw)
    small = prune.drop_inputs(m, keep, bg)
    assert small.sizes[0] == int(keep.sum()) and small.inputs.tolist() == torch.nonzero(keep).reshape(-1).tolist()
    assert torch.allclose(small(x.unsqueeze(1)), m(x.unsqueeze(1)), atol=1e-5)
    with pytest.raises(ValueError, match="already reads a subset"):
        prune.drop_inputs(small, keep[keep], bg)


def test_check_inputs_and_state_round_trip():
    assert check_inputs([3, 5, 9]).tolist() == [3, 5, 9]
    for bad in ([5, 3], [0, 0], [-1], [784], [], [1.5]):
        with pytest.raises(ValueError, match="inputs must be"):
            check_inputs(bad)
    m = SimpleDNN(hidden=(4, 3, 2), inputs=[1, 2, 40])
    again = from_state_dict(m.state_dict())
    assert again.inputs.tolist() == [1, 2, 40] and model_sha256(again) == model_sha256(m)
    assert "inputs" not in tiny_model().state_dict()  # the full-pixel model's state (and hash) is unchanged
    bad = {**m.state_dict(), "inputs": torch.tensor([1, 2])}
    with pytest.raises(ValueError, match="expected 2 inputs"):
        from_state_dict(bad)


def test_packed_file_keeps_the_pixels_and_reloads_exactly(tmp_path):
    m = prune.drop_inputs(tiny_model(), pipeline.kept_pixels(0.0, _centred_images()), torch.zeros(784))
    info = pack.save_packed(m, tmp_path / "m.safetensors", 4, compress="lzma")
    back = pack.load_packed(tmp_path / "m.safetensors")
    assert back.inputs.tolist() == m.inputs.tolist() and back.sizes == m.sizes
    x = torch.randn(16, 1, 28, 28)
    scheme = Scheme(bits=4, method="mse", granularity="channel")
    # exactly the per-channel 4-bit grid of m's weights (the file's default scheme), biases unchanged
    for (name, layer), (_, original) in zip(linear_layers(back), linear_layers(m)):
        codes, qp = weight_codes(m, scheme)[name]
        assert torch.equal(layer.weight, codes.float() * qp.scale), name
        assert torch.equal(layer.bias, original.bias), name
    assert info["bytes"] == (tmp_path / "m.safetensors").stat().st_size
    # the same file through ONNX Runtime: the pixel selection is part of the graph
    onnx_path = runtimes.export_onnx(back, tmp_path / "m.onnx")
    assert torch.allclose(runtimes.ort_runner(runtimes.ort_session(onnx_path))(x), back(x), atol=1e-5)
    assert scheme.bits == 4


def test_round_through_forwards_the_grid_and_passes_gradients():
    scheme = Scheme(bits=3, method="mse", granularity="channel", levels="lab")
    w = torch.randn(5, 7, requires_grad=True)
    out = RoundThrough(scheme)(w)
    assert torch.equal(out.detach(), fake_quantize(w.detach(), scheme.qparams(w.detach())))
    out.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))


def test_quantization_aware_distillation_returns_plain_float_weights():
    m = tiny_model()
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    schemes = Recipe(0.5, (2, 3, 4, 8)).schemes()
    rounding = {name: RoundThrough(scheme) for name, scheme in schemes.items()}
    tuned, seconds = distill(m, x, y, m(x).detach(), DistillConfig(epochs=1, batch_size=32), weights=rounding)
    assert seconds >= 0 and not any(parametrize.is_parametrized(getattr(tuned, n)) for n in schemes)
    assert isinstance(tuned.fc1.weight, torch.nn.Parameter) and not torch.equal(tuned.fc1.weight, m.fc1.weight)
    with pytest.raises(ValueError, match="not a Linear layer"):
        distill(m, x, y, m(x).detach(), DistillConfig(epochs=1), weights={"fc9": rounding["fc1"]})


def test_recipe_label_schemes_and_the_choice():
    r = Recipe(0.96, (4, 4, 2, 4))
    assert r.label == "ratio 0.96, bits 4/4/2/4" and [s.bits for s in r.schemes().values()] == [4, 4, 2, 4]
    rows = [{"label": "a", "bytes": 30, "select_accuracy": 0.985},
            {"label": "b", "bytes": 20, "select_accuracy": 0.983},
            {"label": "c", "bytes": 25, "select_accuracy": 0.9842}]
    assert pipeline.smallest_at(rows, 0.9842)["label"] == "c"
    assert pipeline.smallest_at(rows, 0.99) is None
    bg = pipeline.background()
    assert bg.shape == (784,) and torch.unique(bg).numel() == 1
    assert np.isclose(bg[0].item(), data.normalize(torch.zeros(1, 1, 1, dtype=torch.uint8)).item())


def test_float16_side_information_is_smaller_and_reloads_exactly(tmp_path):
    m = tiny_model()
    a = pack.save_packed(m, tmp_path / "a.safetensors", 4, compress="lzma")
    b = pack.save_packed(m, tmp_path / "b.safetensors", 4, compress="lzma", side="float16")
    outputs = sum(m.sizes[1:])
    assert a["bytes"] - b["bytes"] >= 2 * 2 * outputs - 64  # scale + bias: 2 bytes each saved per output
    back = pack.load_packed(tmp_path / "b.safetensors")  # the sha256 check inside holds for the stored values
    x = torch.randn(8, 1, 28, 28)
    assert torch.allclose(back(x), pack.load_packed(tmp_path / "a.safetensors")(x), atol=1e-2)
    with pytest.raises(ValueError, match="side must be one of"):
        pack.save_packed(m, tmp_path / "c.safetensors", 4, side="bfloat16")


def test_recipe_checks_its_fields_and_names_itself_from_them():
    assert Recipe(0.95, 4, 10).label == "ratio 0.95, fine-tuned, 4-bit" and Recipe(0.5, 8).label == "ratio 0.5, 8-bit"
    assert Recipe(0.5, 3).layer_bits == {"fc1": 3, "fc2": 3, "fc3": 3, "fc4": 3}
    for bad in (dict(ratio=0.5, bits=9), dict(ratio=0.5, bits=(4, 4)), dict(ratio=1.0, bits=4),
                dict(ratio=0.5, bits=4, pixel_threshold=1.0), dict(ratio=0.5, bits=4, qat_epochs=-1)):
        with pytest.raises(ValueError):
            Recipe(**bad)
    a, b = Recipe(0.9, 4, 10), Recipe(0.9, 8, 10)
    assert a.student_key() == b.student_key() != Recipe(0.9, 4, 0).student_key()


def test_a_uniform_recipe_is_activation_pruning_then_gptq_then_pack(tmp_path):
    m = tiny_model()
    calib = torch.randn(64, 1, 28, 28)
    recipe = Recipe(0.5, 4, calibration_images=64)
    small, seconds = pipeline.student(m, recipe, calib)
    assert seconds == 0.0
    by_hand = prune.prune_model(m, 0.5, importance="activation", repair=True, calibration=calib, ridge=1e-3)
    assert model_sha256(small) == model_sha256(by_hand)
    info, _ = pipeline.pack_recipe(small, recipe, calib, tmp_path / "r.safetensors")
    gptq_model, _ = gptq_quantize(by_hand, Scheme(bits=4, method="mse", granularity="channel", levels="lab"), calib)
    back = pack.load_packed(tmp_path / "r.safetensors")
    assert model_sha256(back) == model_sha256(gptq_model)
    assert info["bytes"] == (tmp_path / "r.safetensors").stat().st_size
    assert pack.read_packed(tmp_path / "r.safetensors")[1]["extra"]["recipe"]["bits"] == 4


def test_steps_that_need_training_data_say_so():
    m, calib = tiny_model(), torch.randn(16, 1, 28, 28)
    with pytest.raises(ValueError, match="raw training images"):
        pipeline.student(m, Recipe(0.5, 4, pixel_threshold=0.05), calib)
    with pytest.raises(ValueError, match="distillation needs"):
        pipeline.student(m, Recipe(0.5, 4, distill_epochs=1), calib)
    with pytest.raises(ValueError, match="quantization-aware tuning needs"):
        pipeline.quantized(m, Recipe(0.5, 4, qat_epochs=1), calib)


def test_export_command_names_a_bad_recipe_or_an_old_recommendation(tmp_path, monkeypatch, capsys):
    from lab3.experiments import deploy

    monkeypatch.setenv("LAB3_ARTIFACTS", str(tmp_path))
    monkeypatch.setattr(deploy.numerics, "pin", lambda: None)  # the command pins the process; a test must not
    assert deploy.main(["export", "--ratio", "0.5", "--bits", "9"]) == 2
    assert capsys.readouterr().err.strip() == "error: bits must be one width or 4 (fc1..fc4), each 2..8, got 9"
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "recommendation.json").write_text('{"config": {"ratio": 0.9, "bits": 4}}')
    assert deploy.main(["export"]) == 2
    err = capsys.readouterr().err
    assert "recommendation.json: written by an older lab3 (no 'recipe')" in err and err.count("\n") == 1
