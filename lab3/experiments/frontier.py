"""Below Deep Compression's size: neurons pruned, empty pixels dropped, distilled, quantization-aware, packed.

A recipe goes further than the deployment sweep in three measured ways, and keeps the same file format and
loaders (``pack.load_packed``, ONNX export):

1. **Pixels that carry no information are dropped.** MNIST digits are centred; pixels at the border are 0 in
   nearly every image. fc1 stops reading pixels that are non-zero in at most ``pixel_threshold`` of the
   training images (their usual value is folded into fc1's bias, ``prune.drop_inputs``). fc1 is the largest
   layer of a heavily pruned model, so this removes a third of its weights at the default threshold.
2. **Longer distillation** from the full model (``distill_epochs``), with fixed steps so it is reproducible.
3. **Quantization-aware fine-tuning** (``qat_epochs``): distillation through the rounding to each layer's
   bit width (``bits``, fc1..fc4), so the weights are learned on the grid the file stores.
4. **Scales and biases in float16**: at a few hundred neurons, float32 ones are over a tenth of the file.

Only training images are used for building; the choice among recipes reads the selection half of the test
set and the report the other half (``lab3.measure.holdout``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lab3.base import data, paths
from lab3.base.cache import ResultCache, tensor_key
from lab3.base.model import LAYERS, SimpleDNN, count_parameters, model_sha256
from lab3.base.progress import bar
from lab3.compress import calibrate, pack
from lab3.compress.distill import DistillConfig, distill, teacher_logits, training_set
from lab3.compress.prune import drop_inputs, pixel_frequency, prune_model
from lab3.compress.quantize import RoundThrough, Scheme, weight_codes
from lab3.measure import evaluate, timing
from lab3.measure.stats import hits_record


@dataclass(frozen=True)
class Recipe:
    """One small model: prune ratio, pixels kept, fine-tuning epochs and the bit width of each layer."""

    ratio: float
    bits: tuple[int, int, int, int]
    pixel_threshold: float = 0.05
    distill_epochs: int = 40
    qat_epochs: int = 20
    qat_lr: float = 1e-3
    calibration_images: int = 4096
    seed: int = 0
    ridge: float = 1e-3

    @property
    def label(self) -> str:
        """Short description, e.g. 'ratio 0.96, bits 4/4/2/4'."""
        return f"ratio {self.ratio:g}, bits {'/'.join(str(b) for b in self.bits)}"

    def schemes(self) -> dict[str, Scheme]:
        """The weight grid of each layer: per-channel MSE clipping on the lab's levels."""
        return {name: Scheme(bits=b, method="mse", granularity="channel", levels="lab")
                for name, b in zip(LAYERS, self.bits)}


def kept_pixels(threshold: float, images: torch.Tensor | None = None) -> torch.Tensor:
    """Mask of the pixels that are non-zero in more than ``threshold`` of the (raw) training images."""
    if not 0 <= threshold < 1:
        raise ValueError(f"pixel threshold must be in [0, 1), got {threshold!r}")
    if images is None:
        images, _ = data.raw_tensors("train")
    return pixel_frequency(images) > threshold


def background() -> torch.Tensor:
    """The normalized value of an empty pixel, for every pixel (what a dropped pixel is taken to be)."""
    return data.normalize(torch.zeros(1, 28, 28, dtype=torch.uint8)).reshape(-1)


def small_model(model: SimpleDNN, recipe: Recipe, calibration: torch.Tensor,
                train: tuple[torch.Tensor, torch.Tensor], teacher: torch.Tensor) -> tuple[SimpleDNN, float]:
    """Pruned, pixels dropped and distilled (before quantization-aware fine-tuning); (model, seconds)."""
    pruned = prune_model(model, recipe.ratio, importance="activation", repair=True, calibration=calibration,
                         ridge=recipe.ridge)
    narrow = drop_inputs(pruned, kept_pixels(recipe.pixel_threshold), background())
    return distill(narrow, train[0], train[1], teacher, DistillConfig(epochs=recipe.distill_epochs, seed=recipe.seed))


def quantize_and_pack(student: SimpleDNN, recipe: Recipe, train: tuple[torch.Tensor, torch.Tensor],
                      teacher: torch.Tensor, path: Path) -> tuple[dict[str, Any], float]:
    """Quantization-aware fine-tuning to the recipe's widths, then the packed file; (file summary, seconds)."""
    schemes = recipe.schemes()
    tuned, seconds = distill(student, train[0], train[1], teacher,
                             DistillConfig(epochs=recipe.qat_epochs, lr=recipe.qat_lr, seed=recipe.seed),
                             weights={name: RoundThrough(scheme) for name, scheme in schemes.items()})
    info = pack.save_packed(tuned, path, dict(zip(LAYERS, recipe.bits)), codes=weight_codes(tuned, schemes),
                            compress="lzma", side="float16", metadata={"recipe": asdict(recipe)})
    return info, seconds


def sweep(model: SimpleDNN, recipes: Sequence[Recipe], images: torch.Tensor, labels: torch.Tensor,
          folder: Path | None = None, min_run_time: float = 1.0, cache: ResultCache | None = None,
          progress: bool | None = None) -> list[dict[str, Any]]:
    """Build, pack, reload, score and time every recipe (cached); the distilled model is shared between widths."""
    cache = cache or ResultCache(modules=("frontier",))
    folder = folder or paths.artifacts_dir() / "deploy" / "frontier"
    folder.mkdir(parents=True, exist_ok=True)
    shared: dict[str, Any] = {}
    students: dict[tuple, tuple[SimpleDNN, float]] = {}
    rows = []
    for recipe in bar(recipes, desc="frontier", progress=progress):
        calibration = calibrate.calibration_images(recipe.calibration_images, recipe.seed)
        parts = {"kind": "frontier", "model": model_sha256(model), "recipe": asdict(recipe),
                 "calibration": tensor_key(calibration), "data": tensor_key(images, labels),
                 "min_run_time": min_run_time}
        path = folder / f"candidate-{cache.key(parts)[:12]}.safetensors"

        def compute(recipe: Recipe = recipe, calibration: torch.Tensor = calibration,
                    path: Path = path) -> dict[str, Any]:  # bound now: called in this iteration
            if not shared:
                shared["train"] = training_set()
                shared["teacher"] = teacher_logits(model, shared["train"][0])
            key = (recipe.ratio, recipe.pixel_threshold, recipe.distill_epochs, recipe.calibration_images,
                   recipe.seed, recipe.ridge)
            if key not in students:
                students[key] = small_model(model, recipe, calibration, shared["train"], shared["teacher"])
            student, distill_seconds = students[key]
            info, qat_seconds = quantize_and_pack(student, recipe, shared["train"], shared["teacher"], path)
            reloaded = pack.load_packed(path)
            lat = timing.latency(reloaded, images, min_run_time=min_run_time)
            return {"latency_s": lat.median, "latency_iqr_s": lat.iqr, "inputs": reloaded.sizes[0],
                    "parameters": count_parameters(reloaded), "sizes": reloaded.sizes, "bytes": info["bytes"],
                    "bits_per_weight": info["bits_per_weight"], "distill_seconds": distill_seconds,
                    "qat_seconds": qat_seconds, "path": str(path),
                    **hits_record(evaluate.hits(reloaded, images, labels))}

        rows.append({**asdict(recipe), "label": recipe.label, **cache.get_or_compute(parts, compute)})
    return rows


def smallest_at(rows: Sequence[dict[str, Any]], accuracy: float) -> dict[str, Any] | None:
    """The smallest file whose selection-half accuracy reaches ``accuracy`` (None if none does)."""
    ok = [r for r in rows if r["select_accuracy"] >= accuracy]
    return min(ok, key=lambda r: (r["bytes"], r["label"])) if ok else None
