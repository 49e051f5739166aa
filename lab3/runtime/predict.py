"""Classify digit images with an exported model: ``python -m lab3.predict --model FILE IMAGE...``.

A photographed or drawn digit is prepared the way MNIST prepared its own: grayscale, inverted when the
background is light (MNIST has white ink on black), cropped to the ink's bounding box, the longer side
scaled to 20 pixels keeping the aspect ratio, then placed in a 28×28 frame so that its centre of mass is
at the centre. ``--no-preprocess`` feeds MNIST-format files (28×28, white ink on black) as they are.
This module imports only what inference needs: no GPTQ, distillation or sweeps.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from lab3.base import numerics
from lab3.base.data import normalize
from lab3.compress import pack
from lab3.measure.evaluate import torch_runner
from lab3.runtime.runtimes import ort_runner, ort_session

MAX_PIXELS = 40_000_000   # larger images are refused before decoding (decompression bombs)
INK_BOX = 20              # MNIST: the digit's longer side is 20 pixels inside the 28x28 frame
FRAME = 28
MIN_CONTRAST = 0.1        # below this spread between background and ink the image is called blank


def _grayscale(img: Image.Image, name: str) -> np.ndarray:
    """Pixels as float in [0, 1] from the common modes (1, L, LA, P, RGB, RGBA, I, I;16, F); alpha over white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return np.clip(arr / top, 0.0, 1.0)
    if img.mode in ("LA", "RGBA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode not in ("1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
        raise ValueError(f"{name}: unsupported image mode {img.mode!r}; use a grayscale or RGB(A) PNG/JPEG")
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def mnist_style(gray: np.ndarray, name: str = "image") -> np.ndarray:
    """A digit image (float grayscale in [0, 1], any size) as a 28x28 uint8 MNIST-style image."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if np.median(border) > 0.5 else gray.copy()     # ink bright on dark, as in MNIST
    ink = ink - np.median(np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]]))
    if ink.max(initial=0.0) < MIN_CONTRAST:
        raise ValueError(f"{name}: blank image (no ink stands out from the background)")
    ink = np.clip(ink / ink.max(), 0.0, 1.0)
    rows, cols = np.nonzero(ink > 0.2)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = INK_BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS),
                       dtype=np.float64)
    total = small.sum()
    cy, cx = ((np.indices(small.shape) * small).reshape(2, -1).sum(1) / total) if total else (h / 2, w / 2)
    top = int(np.clip(round(FRAME / 2 - cy), 0, FRAME - small.shape[0]))
    left = int(np.clip(round(FRAME / 2 - cx), 0, FRAME - small.shape[1]))
    frame = np.zeros((FRAME, FRAME))
    frame[top:top + small.shape[0], left:left + small.shape[1]] = small
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def read_image(path: Path, preprocess: bool = True) -> np.ndarray:
    """One image file as a 28x28 uint8 array; ``ValueError`` naming the file for anything unusable."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    too_big = f"more than the {MAX_PIXELS:,} pixels accepted (a decompression bomb?); scale it down first"
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ValueError(f"{path}: image declares {img.width}x{img.height} pixels, {too_big}")
            if img.width < 1 or img.height < 1:
                raise ValueError(f"{path}: empty image")
            img.load()
            if not preprocess:
                if img.size != (FRAME, FRAME):
                    raise ValueError(f"{path}: image is {img.width}x{img.height} pixels; --no-preprocess needs "
                                     f"28x28 MNIST-format files (drop the flag to resize and centre it)")
                return np.rint(_grayscale(img, str(path)) * 255).astype(np.uint8)
            return mnist_style(_grayscale(img, str(path)), str(path))
    except Image.DecompressionBombError:  # Pillow refuses it while reading the header
        raise ValueError(f"{path}: image declares {too_big}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"{path}: not a readable image ({str(exc).splitlines()[0][:120]})") from None


def read_inputs(files: Sequence[str | Path], preprocess: bool = True) -> tuple[torch.Tensor, list[str]]:
    """Images (PNG/JPEG/... files, or .npy uint8 batches in MNIST format) as normalized tensors and names."""
    batches, names = [], []
    for path in map(Path, files):
        if path.suffix.lower() == ".npy":
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such file")
            try:
                arr = np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise ValueError(f"{path}: not a readable .npy array without pickle ({str(exc)[:120]})") from None
            arr = arr[None] if arr.ndim == 2 else arr
            if arr.ndim != 3 or arr.shape[1:] != (FRAME, FRAME) or arr.dtype != np.uint8:
                raise ValueError(f"{path}: expected uint8 of shape (28, 28) or (N, 28, 28), "
                                 f"got {arr.dtype} {arr.shape}")
            batches.append(torch.from_numpy(arr.copy()))
            names += [f"{path.name}[{i}]" for i in range(arr.shape[0])]
        else:
            batches.append(torch.from_numpy(read_image(path, preprocess))[None])
            names.append(path.name)
    if not batches:
        raise ValueError("no images given")
    return normalize(torch.cat(batches)), names


def load_runner(model_path: str | Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """A callable images -> logits from a packed .safetensors file or an .onnx file."""
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if path.suffix == ".onnx":
        return ort_runner(ort_session(path))
    if path.suffix == ".safetensors":
        return torch_runner(pack.load_packed(path))
    raise ValueError(f"{path}: unknown model file type; expected .safetensors (lab3 packed) or .onnx")


def predict(model_path: str | Path, images: Sequence[str | Path], preprocess: bool = True,
            top: int = 3) -> list[dict[str, Any]]:
    """The ``top`` digits with their probabilities for every input image."""
    run = load_runner(model_path)
    x, names = read_inputs(images, preprocess)
    probs = torch.softmax(run(x), dim=1)
    p, digits = probs.topk(top, dim=1)
    return [{"input": n, "digit": int(d[0]), "probability": float(q[0]),
             "top": [{"digit": int(a), "probability": float(b)} for a, b in zip(d, q)]}
            for n, d, q in zip(names, digits, p)]


def main(argv: list[str] | None = None) -> int:
    """Command line: print the top 3 digits per image (``--json`` for scripts)."""
    parser = argparse.ArgumentParser(prog="python -m lab3.predict", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="a .safetensors (lab3 packed) or .onnx file")
    parser.add_argument("--no-preprocess", action="store_true",
                        help="feed 28x28 MNIST-format files as they are (no inversion, cropping or centring)")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of text")
    parser.add_argument("images", nargs="+", type=Path, help="image files (PNG, JPEG, ...) or .npy uint8 batches")
    args = parser.parse_args(argv)
    numerics.pin()
    try:
        start = time.perf_counter()
        found = predict(args.model, args.images, preprocess=not args.no_preprocess)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(found, indent=1))
    else:
        for r in found:
            print(f"{r['input']}: {r['digit']}  (" + ", ".join(f"{t['digit']}: {t['probability']:.3f}"
                                                              for t in r["top"]) + ")")
    print(f"{len(found)} image(s) in {1e3 * (time.perf_counter() - start):.0f} ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
