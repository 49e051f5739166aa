"""The one compression pipeline: prune -> drop empty pixels -> distill -> tune on the grid -> quantize -> pack.

Every compressed model of the deployment chapter is a ``Recipe`` run through ``build`` and ``pack_recipe``; the
chapter's two grids (the deployment sweep and the smallest models) are two lists of recipes given to ``sweep``.
Each step but the first is optional:

1. **Prune** neurons by activation importance with least-squares repair (``prune.prune_model``), to ``ratio``.
2. **Drop empty pixels** (``pixel_threshold``): fc1 stops reading pixels that are non-zero in at most that share
   of the training images; their usual value is folded into fc1's bias (``prune.drop_inputs``).
3. **Distill** from the full model for ``distill_epochs`` (fixed steps, so reproducible).
4. **Quantization-aware tuning** for ``qat_epochs``: distillation through the rounding to each layer's grid.
5. **Quantize** every layer on its per-channel MSE grid of the lab's levels, ``bits`` wide (one width, or one per
   layer fc1..fc4): GPTQ on the calibration images, or rounding to nearest when step 4 already tuned the weights
   on that grid (GPTQ would move them off what they were tuned for).
6. **Pack** codes + scales (+ biases) as ``side`` floats into a safetensors file, ``compress``-ed.

Only training images are used for building; the chapter's choices read the selection half of the test set and
its report the other half (``lab3.measure.holdout``). Caching is the caller's: ``sweep`` takes a ``ResultCache``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lab3.base import data
from lab3.base.cache import ResultCache, tensor_key
from lab3.base.model import LAYERS, SimpleDNN, count_parameters, model_sha256
from lab3.base.progress import bar
from lab3.compress import pack
from lab3.compress.distill import DistillConfig, distill, teacher_logits
from lab3.compress.gptq import gptq_quantize
from lab3.compress.prune import drop_inputs, pixel_frequency, prune_model
from lab3.compress.quantize import QParams, RoundThrough, Scheme, weight_codes
from lab3.measure import evaluate, timing
from lab3.measure.stats import hits_record

Train = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Recipe:
    """One compressed model: how far to prune, which steps to run, and the bit width of each layer."""

    ratio: float
    bits: int | tuple[int, ...]
    distill_epochs: int = 0
    pixel_threshold: float | None = None
    qat_epochs: int = 0
    qat_lr: float = 1e-3
    side: str = "float32"
    calibration_images: int = 4096
    seed: int = 0
    ridge: float = 1e-3
    compress: str = "lzma"

    def __post_init__(self) -> None:
        widths = self.bits if isinstance(self.bits, tuple) else (self.bits,)
        if len(widths) not in (1, len(LAYERS)) or not all(isinstance(b, int) and 2 <= b <= 8 for b in widths):
            raise ValueError(f"bits must be one width or {len(LAYERS)} (fc1..fc4), each 2..8, got {self.bits!r}")
        if not 0 <= self.ratio < 1:
            raise ValueError(f"ratio must be in [0, 1), got {self.ratio!r}")
        if self.pixel_threshold is not None and not 0 <= self.pixel_threshold < 1:
            raise ValueError(f"pixel_threshold must be in [0, 1) or None, got {self.pixel_threshold!r}")
        if self.distill_epochs < 0 or self.qat_epochs < 0:
            raise ValueError(f"epochs must be >= 0, got distill {self.distill_epochs}, qat {self.qat_epochs}")

    @property
    def layer_bits(self) -> dict[str, int]:
        """The bit width of each layer, fc1..fc4."""
        return dict(zip(LAYERS, self.bits)) if isinstance(self.bits, tuple) else dict.fromkeys(LAYERS, self.bits)

    @property
    def label(self) -> str:
        """Short name, built from the fields: 'ratio 0.95, fine-tuned, 4-bit' or 'ratio 0.96, bits 4/4/2/4'."""
        if isinstance(self.bits, tuple):
            return f"ratio {self.ratio:g}, bits {'/'.join(str(b) for b in self.bits)}"
        return f"ratio {self.ratio:g}, {'fine-tuned, ' if self.distill_epochs else ''}{self.bits}-bit"

    def schemes(self) -> dict[str, Scheme]:
        """The weight grid of each layer: per-channel MSE clipping on the lab's levels."""
        return {name: Scheme(bits=b, method="mse", granularity="channel", levels="lab")
                for name, b in self.layer_bits.items()}

    def student_key(self) -> tuple:
        """What the model before quantization depends on: recipes equal in it share one student."""
        return (self.ratio, self.pixel_threshold, self.distill_epochs, self.calibration_images, self.seed, self.ridge)

    def metadata(self) -> dict[str, Any]:
        """What the packed file records about how it was made."""
        return {"recipe": asdict(self)}


def kept_pixels(threshold: float, images: torch.Tensor) -> torch.Tensor:
    """Mask of the pixels that are non-zero in more than ``threshold`` of the raw (uint8) ``images``."""
    if not 0 <= threshold < 1:
        raise ValueError(f"pixel threshold must be in [0, 1), got {threshold!r}")
    return pixel_frequency(images) > threshold


def background() -> torch.Tensor:
    """The normalized value of an empty pixel, for every pixel (what a dropped pixel is taken to be)."""
    return data.normalize(torch.zeros(1, 28, 28, dtype=torch.uint8)).reshape(-1)


def student(model: SimpleDNN, recipe: Recipe, calibration: torch.Tensor, raw_train: torch.Tensor | None = None,
            train: Train | None = None, teacher: torch.Tensor | None = None) -> tuple[SimpleDNN, float]:
    """Steps 1-3: pruned, pixels dropped, distilled; (model, distillation seconds).

    ``raw_train`` (uint8 training images) is needed to drop pixels, ``train`` and ``teacher`` (the full
    model's logits on it) to distill.
    """
    small = prune_model(model, recipe.ratio, importance="activation", repair=True, calibration=calibration,
                        ridge=recipe.ridge) if recipe.ratio > 0 else model
    if recipe.pixel_threshold is not None:
        if raw_train is None:
            raise ValueError("dropping pixels needs the raw training images (raw_train)")
        small = drop_inputs(small, kept_pixels(recipe.pixel_threshold, raw_train), background())
    if not recipe.distill_epochs:
        return small, 0.0
    if train is None or teacher is None:
        raise ValueError("distillation needs the training set and the teacher's logits")
    return distill(small, train[0], train[1], teacher, DistillConfig(epochs=recipe.distill_epochs, seed=recipe.seed))


def quantized(small: SimpleDNN, recipe: Recipe, calibration: torch.Tensor, train: Train | None = None,
              teacher: torch.Tensor | None = None) -> tuple[SimpleDNN, dict[str, tuple[torch.Tensor, QParams]], float]:
    """Steps 4-5: (tuned model, each layer's codes and grid, tuning seconds)."""
    schemes = recipe.schemes()
    if not recipe.qat_epochs:
        if len(set(recipe.layer_bits.values())) == 1:  # one width: one GPTQ pass over the layers in order
            _, codes = gptq_quantize(small, schemes[LAYERS[0]], calibration)
        else:
            _, codes = gptq_quantize(small, schemes, calibration)
        return small, codes, 0.0
    if train is None or teacher is None:
        raise ValueError("quantization-aware tuning needs the training set and the teacher's logits")
    tuned, seconds = distill(small, train[0], train[1], teacher,
                             DistillConfig(epochs=recipe.qat_epochs, lr=recipe.qat_lr, seed=recipe.seed),
                             weights={name: RoundThrough(scheme) for name, scheme in schemes.items()})
    return tuned, weight_codes(tuned, schemes), seconds


def pack_recipe(small: SimpleDNN, recipe: Recipe, calibration: torch.Tensor, path: Path,
                train: Train | None = None, teacher: torch.Tensor | None = None) -> tuple[dict[str, Any], float]:
    """Steps 4-6 on a student from ``student``: the packed file at ``path``; (file summary, tuning seconds)."""
    tuned, codes, seconds = quantized(small, recipe, calibration, train, teacher)
    bits: int | dict[str, int] = recipe.bits if isinstance(recipe.bits, int) else recipe.layer_bits
    info = pack.save_packed(tuned, path, bits, codes=codes, compress=recipe.compress, side=recipe.side,
                            metadata=recipe.metadata())
    return info, seconds


class Inputs:
    """What the recipes of one sweep share, each read or computed once, when a recipe first needs it.

    By default the training set is MNIST's 60,000 images; a test passes a small ``train`` (normalized images,
    labels) and ``raw_train`` (uint8 images) instead.
    """

    def __init__(self, model: SimpleDNN, train: Train | None = None, raw_train: torch.Tensor | None = None) -> None:
        self.model = model
        self.source = "mnist" if train is None and raw_train is None else tensor_key(
            *(t for t in (*(train or ()), raw_train) if t is not None))
        self._train, self._raw = train, raw_train
        self._teacher: torch.Tensor | None = None
        self._calibration: dict[tuple[int, int], torch.Tensor] = {}

    def calibration(self, recipe: Recipe) -> torch.Tensor:
        """The recipe's calibration images (seeded training images)."""
        key = (recipe.calibration_images, recipe.seed)
        if key not in self._calibration:
            self._calibration[key] = data.calibration_images(*key)
        return self._calibration[key]

    def raw(self) -> torch.Tensor:
        """The raw (uint8) training images, for the pixels' frequencies."""
        if self._raw is None:
            self._raw = data.raw_tensors("train")[0]
        return self._raw

    def train(self) -> tuple[Train, torch.Tensor]:
        """The normalized training set and the full model's logits on it (what distillation needs)."""
        if self._train is None:
            self._train = data.tensors("train")
        if self._teacher is None:
            self._teacher = teacher_logits(self.model, self._train[0])
        return self._train, self._teacher


def build(model: SimpleDNN, recipe: Recipe, path: Path, inputs: Inputs | None = None,
          students: dict[tuple, tuple[SimpleDNN, float]] | None = None) -> dict[str, Any]:
    """Run the whole recipe on ``model`` and write the packed file; its summary and the fine-tuning seconds.

    ``students`` (student key -> (student, distillation seconds)), when given, is read and filled, so that the
    recipes of one sweep that differ only after step 3 share one student."""
    inputs = inputs or Inputs(model)
    students = {} if students is None else students
    calibration = inputs.calibration(recipe)
    needs_train = recipe.distill_epochs or recipe.qat_epochs
    train, teacher = inputs.train() if needs_train else (None, None)
    key = recipe.student_key()
    if key not in students:
        raw = inputs.raw() if recipe.pixel_threshold is not None else None
        students[key] = student(model, recipe, calibration, raw, train, teacher)
    small, distill_seconds = students[key]
    info, qat_seconds = pack_recipe(small, recipe, calibration, path, train, teacher)
    return {**info, "distill_seconds": distill_seconds, "qat_seconds": qat_seconds}


def sweep(model: SimpleDNN, recipes: Sequence[Recipe], images: torch.Tensor, labels: torch.Tensor, folder: Path,
          cache: ResultCache, min_run_time: float = 1.0, progress: bool | None = None,
          inputs: Inputs | None = None) -> list[dict[str, Any]]:
    """Build, pack, reload, score and time every recipe (cached); recipes with one student share it."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = inputs or Inputs(model)
    students: dict[tuple, tuple[SimpleDNN, float]] = {}
    rows = []
    for recipe in bar(recipes, desc="pipeline", progress=progress):
        calibration = inputs.calibration(recipe)
        parts = {"kind": "pipeline", "model": model_sha256(model), "recipe": asdict(recipe),
                 "calibration": tensor_key(calibration), "data": tensor_key(images, labels),
                 "train": inputs.source, "min_run_time": min_run_time}
        path = folder / f"candidate-{cache.key(parts)[:12]}.safetensors"

        def compute(recipe: Recipe = recipe, path: Path = path) -> dict[str, Any]:  # bound now: runs in this iteration
            info = build(model, recipe, path, inputs, students)
            reloaded = pack.load_packed(path)
            lat = timing.latency(reloaded, images, min_run_time=min_run_time)
            thr = timing.throughput(reloaded, images, min_run_time=min_run_time)
            return {"parameters": count_parameters(reloaded), "sizes": reloaded.sizes, "inputs": reloaded.sizes[0],
                    "bytes": info["bytes"], "bits_per_weight": info["bits_per_weight"],
                    "distill_seconds": info["distill_seconds"], "qat_seconds": info["qat_seconds"],
                    "latency_s": lat.median, "latency_iqr_s": lat.iqr, "throughput_s": thr.median,
                    "throughput_iqr_s": thr.iqr, "threads": lat.threads, "path": str(path),
                    **hits_record(evaluate.hits(reloaded, images, labels))}

        rows.append({**asdict(recipe), "label": recipe.label, **cache.get_or_compute(parts, compute)})
    return rows


def smallest_at(rows: Sequence[dict[str, Any]], accuracy: float) -> dict[str, Any] | None:
    """The smallest file whose selection-half accuracy reaches ``accuracy`` (None if none does)."""
    ok = [r for r in rows if r["select_accuracy"] >= accuracy]
    return min(ok, key=lambda r: (r["bytes"], r["label"])) if ok else None
