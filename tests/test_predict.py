"""Inference on real images: MNIST-style preparation, bad files refused in one line, a light import footprint."""
import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from lab3.base import data, paths
from lab3.base.model import load_model
from lab3.compress import pack
from lab3.runtime import predict


def needs_model(fn):
    """Mark a test that needs the trained model: skipped without it, left out by `make check`."""
    skip = pytest.mark.skipif(not paths.full_model_path().is_file(),
                              reason="needs the trained model (make test trains it first)")
    return pytest.mark.needs_model(skip(fn))
N = 100


@pytest.fixture(scope="module")
def packed_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "full-8bit.safetensors"
    pack.save_packed(load_model(paths.full_model_path()), path, 8)
    return path


def on_white(digit: np.ndarray, size: int) -> Image.Image:
    """An MNIST digit as a drawing: dark ink on white paper, upscaled to size x size, RGB."""
    big = Image.fromarray(255 - digit).resize((size, size), Image.Resampling.BICUBIC)
    return big.convert("RGB")


@needs_model
def test_real_digits_upscaled_on_white_are_classified_as_at_28x28(packed_model, tmp_path):
    images, labels = data.raw_tensors("test")
    small, big = [], []
    for i in range(N):
        small.append(tmp_path / f"d{i}.png")
        Image.fromarray(images[i].numpy(), mode="L").save(small[-1])
        big.append(tmp_path / f"w{i}.png")
        on_white(images[i].numpy(), 200).save(big[-1])
    as_is = [r["digit"] for r in predict.predict(packed_model, small, preprocess=False)]
    prepared = [r["digit"] for r in predict.predict(packed_model, big)]
    # PNG files give what the model gives on the test tensors, except on a near tie between two digits (top two
    # logits within 0.5, odds under 1.65 to 1), where rounding in the file path or the resampling of the upscaled
    # drawing may pick the other. A model trained under other numerics had test image 8 at logits 4.285 for 6 and
    # 4.270 for 5 (8-bit file: 0.054 apart): its PNG path said 6 in one run and 5 in another, its drawing 5.
    x_test, _ = data.tensors("test")
    with torch.inference_mode():
        logits = pack.load_packed(packed_model)(x_test[:N])
    top2 = logits.topk(2, dim=1)
    in_memory = top2.indices[:, 0].tolist()
    near_tie = (top2.values[:, 0] - top2.values[:, 1] < 0.5).tolist()
    assert sum(near_tie) <= 3  # the allowance stays an exception

    def agree(got: list[int]) -> bool:
        return all(g == m or (tie and g == int(t[1])) for g, m, tie, t in zip(got, in_memory, near_tie, top2.indices))

    moved = [(i, a, p, m) for i, (a, p, m) in enumerate(zip(as_is, prepared, in_memory)) if not a == p == m]
    assert agree(as_is) and agree(prepared), moved
    assert sum(a == b for a, b in zip(as_is, labels[:N].tolist())) >= 95


@needs_model
def test_a_56x56_grayscale_digit_and_16_bit_and_rgba_modes(packed_model, tmp_path):
    images, labels = data.raw_tensors("test")
    digit = images[3].numpy()
    Image.fromarray(digit).resize((56, 56), Image.Resampling.BICUBIC).save(tmp_path / "g56.png")
    Image.fromarray((255 - digit).astype(np.uint16) * 257).save(tmp_path / "w16.png")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = digit  # black ink drawn on a transparent sheet
    Image.fromarray(rgba, mode="RGBA").resize((90, 90)).save(tmp_path / "ink.png")
    found = predict.predict(packed_model, [tmp_path / n for n in ("g56.png", "w16.png", "ink.png")])
    assert [r["digit"] for r in found] == [int(labels[3])] * 3
    assert all(len(r["top"]) == 3 and abs(sum(t["probability"] for t in r["top"]) - 1) < 0.05 or
               r["top"][0]["probability"] >= r["top"][1]["probability"] for r in found)


def test_mnist_style_centres_the_ink_by_mass_in_a_20_pixel_box():
    img = np.ones((300, 200))
    img[50:250, 80:120] = 0.0  # a dark vertical bar on white
    out = predict.mnist_style(img)
    rows, cols = np.nonzero(out > 0)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 <= 6
    cy, cx = (np.indices(out.shape) * out).reshape(2, -1).sum(1) / out.sum()
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels (a decompression bomb's header) with a tiny body."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name, content, message", [
    ("bomb.png", png_header_only(30000, 30000), "more than the 40,000,000 pixels accepted"),
    ("large.png", png_header_only(8000, 8000), "8000x8000 pixels, more than the 40,000,000"),
    ("empty.png", b"", "not a readable image"),
    ("text.png", b"hello, not an image", "not a readable image"),
])
def test_bad_files_are_refused_in_one_line_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        predict.read_image(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_blank_and_wrong_size_without_preprocessing(tmp_path):
    Image.new("L", (64, 64), 255).save(tmp_path / "blank.png")
    with pytest.raises(ValueError, match="blank image"):
        predict.read_image(tmp_path / "blank.png")
    Image.new("L", (56, 56), 0).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="--no-preprocess needs 28x28"):
        predict.read_image(tmp_path / "big.png", preprocess=False)


def test_cli_error_is_one_line_without_traceback(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_header_only(30000, 30000))
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"")
    run = subprocess.run([sys.executable, "-m", "lab3.predict", "--model", str(model), str(tmp_path / "bomb.png")],
                         capture_output=True, text=True, cwd=paths.PROJECT_ROOT)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("error: ")


@needs_model
def test_cli_json(packed_model, tmp_path):
    images, labels = data.raw_tensors("test")
    on_white(images[0].numpy(), 200).save(tmp_path / "w.png")
    run = subprocess.run([sys.executable, "-m", "lab3.predict", "--json", "--model", str(packed_model),
                          str(tmp_path / "w.png")], capture_output=True, text=True, cwd=paths.PROJECT_ROOT)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found[0]["digit"] == int(labels[0]) and len(found[0]["top"]) == 3


def test_predict_imports_no_experiment_machinery():
    heavy = ("lab3.compress.gptq", "lab3.compress.distill", "lab3.experiments.sweep", "lab3.experiments.prune_sweep",
             "lab3.experiments.deploy", "lab3.compress.prune")
    code = f"import sys, lab3.runtime.predict; print([m for m in {heavy!r} if m in sys.modules])"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=paths.PROJECT_ROOT)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr
