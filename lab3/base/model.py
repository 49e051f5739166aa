"""The lab's SimpleDNN and its checkpoints: ours (state_dict + metadata) and the course's pickled model.

Loading never unpickles arbitrary objects: every file is read with ``torch.load(weights_only=True)``.
A course-style checkpoint (``torch.save(model)`` of ``mymodel.SimpleDNN``) names a few classes; we
map exactly those names to inert record classes that only store the pickled state, take the weight
tensors out of them, and build a fresh SimpleDNN. No method of any pickled class is ever run.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lab3.base import fileio

IN_FEATURES = 28 * 28
NUM_CLASSES = 10
LAB_HIDDEN = (1568, 3136, 6272)
LAYERS = ("fc1", "fc2", "fc3", "fc4")
FORMAT = "lab3.checkpoint/1"


class SimpleDNN(nn.Module):
    """The lab's MLP: fc1..fc4 with ReLU between layers (784-1568-3136-6272-10 by default).

    ``inputs`` (optional) lists the pixels fc1 reads, in increasing order: a model that drops pixels which carry
    no information still takes whole 28×28 images, and the list travels with its weights (a buffer)."""

    inputs: torch.Tensor | None  # a registered buffer (None: every pixel)

    def __init__(self, hidden: Sequence[int] = LAB_HIDDEN, in_features: int = IN_FEATURES,
                 num_classes: int = NUM_CLASSES, inputs: Sequence[int] | torch.Tensor | None = None) -> None:
        super().__init__()
        if inputs is not None:
            inputs = check_inputs(inputs)
            in_features = int(inputs.numel())
        sizes = [in_features, *hidden, num_classes]
        if len(hidden) != 3:
            raise ValueError(f"hidden must list 3 layer widths (fc1..fc3 outputs), got {list(hidden)}")
        if any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
        self.register_buffer("inputs", inputs)  # None: every pixel (and no entry in the state_dict)
        self.fc1 = nn.Linear(sizes[0], sizes[1])
        self.fc2 = nn.Linear(sizes[1], sizes[2])
        self.fc3 = nn.Linear(sizes[2], sizes[3])
        self.fc4 = nn.Linear(sizes[3], sizes[4])

    @property
    def sizes(self) -> list[int]:
        """[in, h1, h2, h3, classes]: the widths that rebuild this architecture (with ``inputs``, if any)."""
        return [self.fc1.in_features, self.fc1.out_features, self.fc2.out_features,
                self.fc3.out_features, self.fc4.out_features]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """What fc1 reads: the flattened images, restricted to ``inputs`` when the model has them."""
        x = x.reshape(x.shape[0], -1)
        return x if self.inputs is None else x.index_select(1, self.inputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of images (N, 1, 28, 28) or flat vectors (N, 784)."""
        x = self.features(x)
        x = torch.relu_(self.fc1(x))  # in place: same values and gradients, one activation buffer less per layer
        x = torch.relu_(self.fc2(x))
        x = torch.relu_(self.fc3(x))
        return self.fc4(x)


def check_inputs(inputs: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Pixel indices as an int64 vector; ``ValueError`` unless strictly increasing within 0..783."""
    idx = torch.as_tensor(inputs).reshape(-1)
    if idx.is_floating_point() or idx.dtype == torch.bool:
        raise ValueError(f"inputs must be integer pixel indices, got dtype {idx.dtype}")
    idx = idx.to(torch.int64)
    if idx.numel() == 0 or int(idx.min()) < 0 or int(idx.max()) >= IN_FEATURES or \
            (idx.numel() > 1 and not bool((idx[1:] > idx[:-1]).all())):
        raise ValueError(f"inputs must be strictly increasing pixel indices in 0..{IN_FEATURES - 1}")
    return idx


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the lab's count_parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def float32_bytes(model: nn.Module) -> int:
    """Bytes the parameters take as float32 (4 per parameter)."""
    return 4 * sum(p.numel() for p in model.parameters())


def saved_bytes(model: nn.Module) -> int:
    """Size of ``torch.save(model.state_dict())`` in bytes (float32 weights plus container overhead)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """The model's Linear layers in order (fc1..fc4 for SimpleDNN)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """Content hash of a state_dict: names, dtypes, shapes and bytes, in sorted order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def model_sha256(model: nn.Module) -> str:
    """Content hash of a model's weights (see ``state_sha256``)."""
    return state_sha256(model.state_dict())


def from_state_dict(state: Mapping[str, torch.Tensor], source: str = "state_dict") -> SimpleDNN:
    """Build a SimpleDNN whose sizes are read from ``state``; ``ValueError`` if it is not one."""
    expected = {f"{layer}.{kind}" for layer in LAYERS for kind in ("weight", "bias")}
    keys = set(state) - {"inputs"}
    if keys != expected:
        missing, extra = sorted(expected - keys), sorted(keys - expected)
        raise ValueError(f"{source}: not a SimpleDNN state (missing {missing}, unexpected {extra})")
    inputs = None
    if "inputs" in state:
        try:
            inputs = check_inputs(state["inputs"])
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    for key in expected:
        t = state[key]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise ValueError(f"{source}: {key} is not a floating-point tensor")
        if not torch.isfinite(t).all():
            raise ValueError(f"{source}: {key} contains NaN or infinite values")
    shapes = [tuple(state[f"{layer}.weight"].shape) for layer in LAYERS]
    if any(len(s) != 2 for s in shapes):
        raise ValueError(f"{source}: weights must be matrices, got shapes {shapes}")
    for i, layer in enumerate(LAYERS):
        if tuple(state[f"{layer}.bias"].shape) != (shapes[i][0],):
            raise ValueError(f"{source}: {layer}.bias has shape {tuple(state[f'{layer}.bias'].shape)}, "
                             f"expected ({shapes[i][0]},)")
        if i and shapes[i][1] != shapes[i - 1][0]:
            raise ValueError(f"{source}: {layer} takes {shapes[i][1]} inputs but {LAYERS[i - 1]} "
                             f"gives {shapes[i - 1][0]}")
    n_in = IN_FEATURES if inputs is None else int(inputs.numel())
    if shapes[0][1] != n_in or shapes[-1][0] != NUM_CLASSES:
        raise ValueError(f"{source}: expected {n_in} inputs and {NUM_CLASSES} outputs, "
                         f"got {shapes[0][1]} and {shapes[-1][0]}")
    model = SimpleDNN(hidden=[s[0] for s in shapes[:3]], inputs=inputs)
    clean = {k: state[k].detach().to(torch.float32) for k in expected}
    if inputs is not None:
        clean["inputs"] = inputs
    model.load_state_dict(clean)
    return model.eval()


def save_model(model: SimpleDNN, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> str:
    """Save weights and metadata atomically as a lab3 checkpoint; return the weights' sha256."""
    if not isinstance(model, SimpleDNN):
        raise TypeError(f"model must be a SimpleDNN, got {type(model).__name__}")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    digest = state_sha256(state)
    try:  # plain JSON types only, so that weights_only loading accepts the metadata
        meta = json.loads(json.dumps(dict(metadata or {})))
    except TypeError as exc:
        raise TypeError(f"metadata must be JSON-serializable: {exc}") from None
    meta.update(format=FORMAT, sizes=model.sizes, sha256=digest)
    with fileio.atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "state_dict": state, "metadata": meta}, tmp)
    return digest


class _PickledObject:
    """Inert stand-in for a class named in a course checkpoint: it only keeps the pickled state."""

    pickled_name = "?"

    def __setstate__(self, state: Any) -> None:
        self.state = state


_COURSE_CLASSES = (
    "mymodel.SimpleDNN",
    "__main__.SimpleDNN",
    "torch.nn.modules.linear.Linear",
    "torch.nn.modules.activation.ReLU",
    "torch.nn.modules.flatten.Flatten",
    "torch.nn.modules.dropout.Dropout",
)


def _course_safe_globals() -> list[Any]:
    return [(type(name.replace(".", "_"), (_PickledObject,), {"pickled_name": name}), name)
            for name in _COURSE_CLASSES]


def _course_state(obj: _PickledObject, source: str) -> dict[str, torch.Tensor]:
    """Collect fc1..fc4 parameters from the record of a pickled SimpleDNN."""
    state = getattr(obj, "state", None)
    if not isinstance(state, dict) or not obj.pickled_name.endswith("SimpleDNN"):
        raise ValueError(f"{source}: pickled object is {obj.pickled_name}, not a SimpleDNN")
    modules = state.get("_modules", {})
    out: dict[str, torch.Tensor] = {}
    for layer in LAYERS:
        sub = modules.get(layer)
        params = getattr(sub, "state", {}).get("_parameters", {}) if isinstance(sub, _PickledObject) else {}
        for kind in ("weight", "bias"):
            if isinstance(params.get(kind), torch.Tensor):
                out[f"{layer}.{kind}"] = params[kind].detach()
    return out


def _describe_load_error(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
    if isinstance(exc, pickle.UnpicklingError) or "Weights only" in lines[0]:
        reason = next((ln for ln in lines if "GLOBAL" in ln or "Trying to" in ln or "Can only" in ln), lines[-1])
        reason = reason.split(" was not an allowed global")[0]
        return f"it asks to run code that is not on the allow-list, refused ({reason})"
    return f"it is corrupt, truncated or not a PyTorch checkpoint ({lines[0][:160]})"


def read_checkpoint(path: str | os.PathLike) -> tuple[SimpleDNN, dict[str, Any]]:
    """Load a lab3 or course-style checkpoint safely; return (model, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint; build it with `python -m lab3.train`")
    try:
        with torch.serialization.safe_globals(_course_safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, AttributeError,
            TypeError, ValueError, KeyError, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot load checkpoint: {_describe_load_error(exc)}") from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        state, meta = obj.get("state_dict"), dict(obj.get("metadata") or {})
        if not isinstance(state, dict):
            raise ValueError(f"{path}: lab3 checkpoint without a state_dict")
        model = from_state_dict(state, str(path))
        digest = state_sha256(state)
        if meta.get("sha256") != digest:
            raise ValueError(f"{path}: weights do not match the sha256 in its metadata (file corrupted?)")
        meta["source"] = "lab3"
        return model, meta
    if isinstance(obj, _PickledObject):
        model = from_state_dict(_course_state(obj, str(path)), str(path))
        return model, {"source": f"course checkpoint ({obj.pickled_name})", "sizes": model.sizes,
                       "sha256": model_sha256(model)}
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        model = from_state_dict(obj, str(path))
        return model, {"source": "plain state_dict", "sizes": model.sizes, "sha256": model_sha256(model)}
    raise ValueError(f"{path}: not a SimpleDNN checkpoint (found {type(obj).__name__})")


def load_model(path: str | os.PathLike) -> SimpleDNN:
    """Load a SimpleDNN from a lab3 checkpoint, a course ``torch.save(model)`` file or a state_dict."""
    return read_checkpoint(path)[0]


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of a checkpoint (see ``read_checkpoint``)."""
    return read_checkpoint(path)[1]
