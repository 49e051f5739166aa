"""Real low-bit storage: integer weight codes bit-packed into a safetensors file.

A packed file holds, per Linear layer, the weight codes as ``bits``-bit unsigned integers packed
little-endian into bytes (optionally lzma-compressed on top), the scale(s) and the bias (float32, or float16
for the smallest files: ``side="float16"``), and, for a model that reads only some pixels, their 784-bit mask.
Its metadata, one JSON document with sorted keys under the key ``lab3``, has what rebuilds the model,
even a pruned one with smaller layers, and the sha256 of the rebuilt weights. (One key, because
safetensors writes a metadata dict in a per-process random order; with one key the same model gives
the same bytes in every run, so a file's sha256 can be checked by a reader.) safetensors holds no pickle, so
loading a file runs no code; anything that does not check out is a ``ValueError`` naming the file.
"""
from __future__ import annotations

import json
import lzma
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lab3.base import fileio
from lab3.base.model import IN_FEATURES, SimpleDNN, from_state_dict, linear_layers, state_sha256
from lab3.compress.quantize import QParams, Scheme, check_bits, dequantize_codes, weight_codes

FORMAT = "lab3.packed/2"
META_KEY = "lab3"
CODECS = ("none", "lzma")


SIDE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def pack_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned integers < 2**bits into a uint8 array, little-endian bit order, ceil(n*bits/8) bytes."""
    check_bits(bits, 1, 8)
    v = np.ascontiguousarray(values, dtype=np.uint8).ravel()
    if v.size and int(v.max()) >= 2**bits:
        raise ValueError(f"values must be < 2**{bits}, got max {int(v.max())}")
    if bits == 8:
        return v.copy()
    planes = (v[:, None] >> np.arange(bits, dtype=np.uint8)) & 1
    return np.packbits(planes.ravel(), bitorder="little")


def unpack_bits(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of ``pack_bits``: the first ``count`` values as uint8."""
    check_bits(bits, 1, 8)
    need = -(-count * bits // 8)
    if packed.size != need:
        raise ValueError(f"expected {need} packed bytes for {count} values of {bits} bits, found {packed.size}")
    if bits == 8:
        return packed.astype(np.uint8, copy=True)
    planes = np.unpackbits(packed, bitorder="little")[: count * bits].reshape(count, bits)
    return (planes << np.arange(bits, dtype=np.uint8)).sum(axis=1, dtype=np.uint8)


def _layer_blob(codes: torch.Tensor, qp: QParams, codec: str) -> np.ndarray:
    unsigned = (codes.to(torch.int64) - qp.qmin).numpy().astype(np.uint8)
    packed = pack_bits(unsigned, qp.bits)
    if codec == "lzma":
        packed = np.frombuffer(lzma.compress(packed.tobytes(), preset=9 | lzma.PRESET_EXTREME), dtype=np.uint8)
    return packed


def save_packed(model: nn.Module, path: str | os.PathLike, bits: int | Mapping[str, int] = 8,
                scheme: Scheme | None = None, codes: Mapping[str, tuple[torch.Tensor, QParams]] | None = None,
                compress: str = "none", metadata: Mapping[str, Any] | None = None,
                side: str = "float32") -> dict[str, Any]:
    """Write ``model``'s weights as ``bits``-bit codes + scales to a safetensors file; return its summary.

    ``bits`` is one width for every layer or one per layer name (mixed precision, with ``codes``). The codes
    come from ``codes`` (e.g. from GPTQ) or else from ``scheme`` (default: per-channel MSE clipping,
    symmetric levels). Scales and biases are stored as ``side`` ("float32" or "float16"); the weights the
    file rebuilds (and its sha256) use the stored values.
    """
    from safetensors.numpy import save_file

    if not isinstance(model, SimpleDNN):
        raise TypeError(f"model must be a SimpleDNN, got {type(model).__name__}")
    layer_bits = dict(bits) if isinstance(bits, Mapping) else {name: bits for name, _ in linear_layers(model)}
    for b in layer_bits.values():
        check_bits(b, 2, 8)
    if isinstance(bits, Mapping) and codes is None:
        raise ValueError("per-layer bits need the codes of every layer (e.g. from gptq_quantize)")
    bits = bits if not isinstance(bits, Mapping) else max(layer_bits.values())
    if compress not in CODECS:
        raise ValueError(f"compress must be one of {CODECS}, got {compress!r}")
    if side not in SIDE_DTYPES:
        raise ValueError(f"side must be one of {tuple(SIDE_DTYPES)}, got {side!r}")
    stored = SIDE_DTYPES[side]

    def kept(t: torch.Tensor) -> torch.Tensor:  # the float32 value a reader gets back
        return t.detach().to(stored).to(torch.float32)

    if codes is None:
        scheme = scheme or Scheme(bits=bits, method="mse", granularity="channel")
        if scheme.bits != bits:
            raise ValueError(f"scheme.bits={scheme.bits} disagrees with bits={bits}")
        codes = weight_codes(model, scheme)
    tensors: dict[str, np.ndarray] = {}
    layers = []
    state: dict[str, torch.Tensor] = {}
    for name, layer in linear_layers(model):
        if name not in codes:
            raise ValueError(f"codes has no entry for layer {name!r}")
        c, qp = codes[name]
        if name not in layer_bits:
            raise ValueError(f"bits has no entry for layer {name!r}")
        if qp.bits != layer_bits[name]:
            raise ValueError(f"layer {name} was quantized to {qp.bits} bits, not {layer_bits[name]}")
        if tuple(c.shape) != tuple(layer.weight.shape):
            raise ValueError(f"codes for {name} have shape {tuple(c.shape)}, weight has {tuple(layer.weight.shape)}")
        if int(c.min()) < qp.qmin or int(c.max()) > qp.qmax:
            raise ValueError(f"codes for {name} fall outside [{qp.qmin}, {qp.qmax}]")
        tensors[f"{name}.codes"] = _layer_blob(c, qp, compress)
        tensors[f"{name}.scale"] = qp.scale.detach().to(stored).reshape(-1).numpy()
        tensors[f"{name}.bias"] = layer.bias.detach().to(stored).numpy()
        layers.append({"name": name, "shape": list(c.shape), "qmin": qp.qmin, "qmax": qp.qmax,
                       "per_channel": qp.per_channel, "bits": qp.bits})
        state[f"{name}.weight"] = dequantize_codes(c, QParams(kept(qp.scale), qp.qmin, qp.qmax, qp.bits))
        state[f"{name}.bias"] = kept(layer.bias)
    if model.inputs is not None:  # the pixels fc1 reads, as a 784-bit mask (98 bytes)
        mask = np.zeros(IN_FEATURES, dtype=bool)
        mask[model.inputs.numpy()] = True
        tensors["inputs.mask"] = np.packbits(mask)
        state["inputs"] = model.inputs.clone()
    meta = {"format": FORMAT, "bits": bits, "codec": compress, "sizes": list(model.sizes), "layers": layers,
            "sha256": state_sha256(state),
            "scheme": scheme.__dict__ if scheme is not None else {"method": "external"},
            "extra": dict(metadata or {})}
    with fileio.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    size = Path(path).stat().st_size
    n_weights = sum(layer.weight.numel() for _, layer in linear_layers(model))
    return {"path": str(path), "bytes": size, "bits": bits, "layer_bits": layer_bits, "codec": compress,
            "sha256": meta["sha256"], "parameters": sum(p.numel() for p in model.parameters()),
            "bits_per_weight": 8 * size / n_weights}


def _bad(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: not a valid lab3 packed model: {why}")


def read_packed(path: str | os.PathLike) -> tuple[SimpleDNN, dict[str, Any]]:
    """Load a packed file into a float32 SimpleDNN; return (model, metadata). No code from the file runs."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such packed model file")
    try:
        with safe_open(str(path), framework="numpy") as fh:
            raw = fh.metadata() or {}
            meta = json.loads(raw.get(META_KEY, "{}"))
            found = meta.get("format") if isinstance(meta, dict) else None
            if found != FORMAT:
                found = found or raw.get("format")
                hint = " (an older lab3 format: write it again with lab3.compress.pack.save_packed)" if found else ""
                raise _bad(path, f"format is {found!r}, expected {FORMAT!r}{hint}")
            arrays = {key: fh.get_tensor(key) for key in fh.keys()}
    except (SafetensorError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"unreadable safetensors data or metadata ({str(exc)[:160]})") from None
    try:
        bits = int(meta["bits"])
        codec = meta["codec"]
        layers, sizes = meta["layers"], [int(s) for s in meta["sizes"]]
        extra, scheme = dict(meta.get("extra", {})), dict(meta.get("scheme", {}))
        check_bits(bits, 2, 8)
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}")
        state: dict[str, torch.Tensor] = {}
        for spec in layers:
            name, shape = spec["name"], tuple(int(s) for s in spec["shape"])
            blob = arrays[f"{name}.codes"]
            if blob.dtype != np.uint8:
                raise ValueError(f"{name}.codes has dtype {blob.dtype}, expected uint8")
            if codec == "lzma":
                blob = np.frombuffer(lzma.decompress(blob.tobytes()), dtype=np.uint8)
            count = shape[0] * shape[1]
            layer_bits = check_bits(int(spec.get("bits", bits)), 2, 8)  # files before mixed precision: one width
            codes = torch.from_numpy(unpack_bits(blob, layer_bits, count).astype(np.int32)).reshape(shape)
            codes = codes + int(spec["qmin"])
            if arrays[f"{name}.scale"].dtype not in (np.float32, np.float16) or \
                    arrays[f"{name}.bias"].dtype not in (np.float32, np.float16):
                raise ValueError(f"{name}: scale and bias must be float32 or float16")
            scale = torch.from_numpy(arrays[f"{name}.scale"].astype(np.float32, copy=True))
            scale = scale.reshape(shape[0], 1) if spec["per_channel"] else scale.reshape(())
            qp = QParams(scale, int(spec["qmin"]), int(spec["qmax"]), layer_bits)
            state[f"{name}.weight"] = dequantize_codes(codes, qp)
            state[f"{name}.bias"] = torch.from_numpy(arrays[f"{name}.bias"].astype(np.float32, copy=True))
        if "inputs.mask" in arrays:
            mask = arrays["inputs.mask"]
            if mask.dtype != np.uint8 or mask.size * 8 < IN_FEATURES:
                raise ValueError(f"inputs.mask must hold {IN_FEATURES} bits as uint8")
            state["inputs"] = torch.from_numpy(np.nonzero(np.unpackbits(mask)[:IN_FEATURES])[0].astype(np.int64))
    except (KeyError, ValueError, TypeError, lzma.LZMAError, RuntimeError, json.JSONDecodeError) as exc:
        raise _bad(path, str(exc)[:200]) from None
    if state_sha256(state) != meta.get("sha256"):
        raise _bad(path, "weights do not match the sha256 in its metadata (file corrupted?)")
    model = from_state_dict(state, str(path))
    if model.sizes != sizes:
        raise _bad(path, f"layer sizes {model.sizes} disagree with metadata {sizes}")
    return model, {"bits": bits, "codec": codec, "sizes": sizes, "sha256": meta["sha256"], "scheme": scheme,
                   "extra": extra, "bytes": path.stat().st_size}


def load_packed(path: str | os.PathLike) -> SimpleDNN:
    """Load a packed file (see ``save_packed``) into a working float32 SimpleDNN."""
    return read_packed(path)[0]
