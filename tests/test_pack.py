from pathlib import Path

import numpy as np
import pytest
import torch

from lab3.compress import pack, prune
from lab3.compress.quantize import Scheme, fake_quantize_model
from tests.helpers import tiny_model


@pytest.mark.parametrize("bits", range(1, 9))
def test_bit_packing_round_trip(bits):
    rng = np.random.default_rng(bits)
    for n in (0, 1, 7, 8, 1001):
        values = rng.integers(0, 2**bits, n).astype(np.uint8)
        packed = pack.pack_bits(values, bits)
        assert packed.size == -(-n * bits // 8)
        assert np.array_equal(pack.unpack_bits(packed, bits, n), values)


def test_packing_rejects_large_values():
    with pytest.raises(ValueError, match="< 2\\*\\*3"):
        pack.pack_bits(np.array([8], np.uint8), 3)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("compress", ["none", "lzma"])
def test_packed_file_reloads_exactly(tmp_path, bits, compress):
    m = tiny_model()
    scheme = Scheme(bits=bits, method="mse", granularity="channel", levels="lab")
    info = pack.save_packed(m, tmp_path / "m.safetensors", bits, scheme, compress=compress)
    loaded, meta = pack.read_packed(tmp_path / "m.safetensors")
    expected = fake_quantize_model(m, scheme)
    for name, value in expected.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert meta["bits"] == bits and meta["sizes"] == m.sizes and info["bytes"] == meta["bytes"]


def test_pruned_model_round_trip(tmp_path):
    m = prune.prune_model(tiny_model(hidden=(40, 30, 20)), 0.5)
    pack.save_packed(m, tmp_path / "p.safetensors", 4)
    assert pack.load_packed(tmp_path / "p.safetensors").sizes == m.sizes


def test_size_is_close_to_bits_per_weight(tmp_path):
    torch.manual_seed(0)
    from lab3.base.model import SimpleDNN

    m = SimpleDNN(hidden=(512, 512, 256))
    n_weights = sum(l.weight.numel() for l in (m.fc1, m.fc2, m.fc3, m.fc4))
    for bits in (2, 3, 4, 8):
        size = pack.save_packed(m, tmp_path / f"{bits}.safetensors", bits)["bytes"]
        ideal = n_weights * bits / 8
        assert ideal < size < ideal * 1.03 + 16_000, (bits, size, ideal)


def test_truncated_corrupt_and_foreign_files(tmp_path):
    m = tiny_model()
    path = tmp_path / "m.safetensors"
    pack.save_packed(m, path, 4)
    blob = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(blob[: len(blob) - 100])
    with pytest.raises(ValueError, match="cut.safetensors: not a valid lab3 packed model"):
        pack.load_packed(tmp_path / "cut.safetensors")
    flipped = bytearray(blob)
    flipped[-50] ^= 0xFF
    (tmp_path / "flip.safetensors").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="flip.safetensors.*sha256"):
        pack.load_packed(tmp_path / "flip.safetensors")
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="foreign.safetensors.*format"):
        pack.load_packed(tmp_path / "foreign.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="junk.safetensors"):
        pack.load_packed(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        pack.load_packed(tmp_path / "missing.safetensors")


def test_bad_arguments(tmp_path):
    m = tiny_model()
    with pytest.raises(ValueError, match="bits"):
        pack.save_packed(m, tmp_path / "x", 9)
    with pytest.raises(ValueError, match="compress"):
        pack.save_packed(m, tmp_path / "x", 4, compress="zip")
    with pytest.raises(ValueError, match="disagrees"):
        pack.save_packed(m, tmp_path / "x", 4, Scheme(bits=3))
    with pytest.raises(TypeError):
        pack.save_packed(torch.nn.Linear(2, 2), tmp_path / "x", 4)
    assert not (tmp_path / "x").exists()


def test_linear_layers_live_in_model_and_quantize_keeps_the_name():
    from lab3.base import model
    from lab3.compress import quantize

    assert quantize.linear_layers is model.linear_layers


def test_same_model_gives_same_bytes_in_every_process(tmp_path):
    """safetensors orders a metadata dict by a per-process hash seed; a packed file must not depend on it."""
    import subprocess
    import sys

    script = ("import sys, torch; from lab3.compress import pack; from tests.helpers import tiny_model; "
              "pack.save_packed(tiny_model(), sys.argv[1], 4, compress='lzma', metadata={'b': 1, 'a': [2]})")
    paths = [tmp_path / f"run{i}.safetensors" for i in range(3)]
    for p in paths:
        subprocess.run([sys.executable, "-c", script, str(p)], check=True, cwd=str(Path(__file__).parent.parent))
    blobs = {p.read_bytes() for p in paths}
    assert len(blobs) == 1
    assert pack.read_packed(paths[0])[1]["extra"] == {"b": 1, "a": [2]}


def test_older_format_is_named(tmp_path):
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "old.safetensors"), metadata={"format": "lab3.packed/1"})
    with pytest.raises(ValueError, match="older lab3 format"):
        pack.load_packed(tmp_path / "old.safetensors")


def test_mixed_precision_file_reloads_exactly_and_sizes_follow_the_bits(tmp_path):
    from lab3.compress import gptq

    m = tiny_model()
    bits = {"fc1": 4, "fc2": 2, "fc3": 3, "fc4": 2}
    schemes = {n: Scheme(bits=b, method="mse", granularity="channel", levels="lab") for n, b in bits.items()}
    calib = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    quantized, codes = gptq.gptq_quantize(m, schemes, calib)
    info = pack.save_packed(quantized, tmp_path / "mixed.safetensors", bits, codes=codes)
    loaded, meta = pack.read_packed(tmp_path / "mixed.safetensors")
    for name, value in quantized.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert info["layer_bits"] == bits and meta["bits"] == 4
    for name, b in bits.items():  # each layer's codes take exactly its own width
        w = getattr(m, name).weight
        assert codes[name][1].bits == b and int(codes[name][0].max()) <= 2 ** (b - 1) - 1
        assert info["bits_per_weight"] == 8 * info["bytes"] / sum(
            getattr(m, n).weight.numel() for n in bits) and w.numel() > 0
    with pytest.raises(ValueError, match="per-layer bits need the codes"):
        pack.save_packed(m, tmp_path / "x.safetensors", bits)
    with pytest.raises(ValueError, match="fc2 was quantized to 2 bits, not 3"):
        pack.save_packed(quantized, tmp_path / "x.safetensors", {**bits, "fc2": 3}, codes=codes)
