"""Deployment: prune -> (distill) -> quantize -> pack, choose a model by a stated rule, and hand it over.

``python -m lab3.deploy export`` writes the recommended model as our packed safetensors file and as an ONNX
file, with a JSON card beside them; ``python -m lab3.predict`` (a module of its own, without the experiment
machinery) classifies images with either file. Nothing from a model file is executed: packed files are
safetensors, ONNX files are parsed by ONNX Runtime.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lab3.base import data, fileio, numerics, paths
from lab3.base.cache import ResultCache, tensor_key
from lab3.base.model import SimpleDNN, count_parameters, load_model, model_sha256
from lab3.base.progress import bar
from lab3.compress import calibrate, pack
from lab3.compress.distill import DistillConfig, distill, teacher_logits, training_set
from lab3.compress.gptq import gptq_quantize
from lab3.compress.prune import prune_model
from lab3.compress.quantize import Scheme
from lab3.measure import evaluate, holdout, timing
from lab3.measure.stats import hits_record, selected, within

DEEP_COMPRESSION_LENET = {"label": "Deep Compression, LeNet-300-100 (external: Han et al. 2016)",
                          "bytes": 27_000, "accuracy": 0.9842, "original_bytes": 1_070_000}


@dataclass(frozen=True)
class Config:
    """One point of the pipeline: prune ratio, fine-tune epochs (0: none), bit width of the weights."""

    ratio: float
    bits: int
    finetune_epochs: int = 0
    calibration_images: int = 4096
    seed: int = 0
    ridge: float = 1e-3
    compress: str = "lzma"

    @property
    def label(self) -> str:
        """Short description, e.g. 'ratio 0.95, fine-tuned, 4-bit'."""
        return f"ratio {self.ratio:g}, {'fine-tuned, ' if self.finetune_epochs else ''}{self.bits}-bit"


def default_dir() -> Path:
    """Where deployment artifacts go: artifacts/deploy."""
    return paths.artifacts_dir() / "deploy"


def pruned_model(model: SimpleDNN, config: Config, calibration: torch.Tensor,
                 train: tuple[torch.Tensor, torch.Tensor] | None = None,
                 teacher: torch.Tensor | None = None) -> tuple[SimpleDNN, float]:
    """Prune (activation importance + least-squares repair), then optionally distill; (model, fine-tune seconds)."""
    pruned = prune_model(model, config.ratio, importance="activation", repair=True, calibration=calibration,
                         ridge=config.ridge) if config.ratio > 0 else model
    if not config.finetune_epochs:
        return pruned, 0.0
    if train is None or teacher is None:
        raise ValueError("fine-tuning needs the training set and the teacher's logits")
    tuned, seconds = distill(pruned, train[0], train[1], teacher,
                             DistillConfig(epochs=config.finetune_epochs, seed=config.seed))
    return tuned, seconds


def teacher_targets(model: SimpleDNN) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training set and the full model's logits on it: what distillation needs."""
    train = training_set()
    return train, teacher_logits(model, train[0])


def quantize_and_pack(model: SimpleDNN, config: Config, calibration: torch.Tensor, path: Path) -> dict[str, Any]:
    """GPTQ to ``config.bits`` with per-channel MSE grids, write the packed file; return its summary."""
    scheme = Scheme(bits=config.bits, method="mse", granularity="channel", levels="lab")
    _, codes = gptq_quantize(model, scheme, calibration)
    return pack.save_packed(model, path, config.bits, codes=codes, compress=config.compress,
                            metadata={"config": asdict(config)})


def evaluate_point(model: SimpleDNN, config: Config, images: torch.Tensor, labels: torch.Tensor,
                   calibration: torch.Tensor, folder: Path, small: Callable[[], tuple[SimpleDNN, float]],
                   min_run_time: float, cache: ResultCache) -> dict[str, Any]:
    """Quantize, pack and measure one pipeline point (cached): accuracy, packed size, latency, throughput.

    ``small`` returns the pruned (and fine-tuned) model and the fine-tune seconds; it is only called when the
    point is not in the cache, and the sweep shares it between the bit widths of one ratio.
    """
    parts = {"kind": "deploy", "model": model_sha256(model), "config": asdict(config),
             "calibration": tensor_key(calibration), "data": tensor_key(images, labels),
             "min_run_time": min_run_time}
    path = folder / f"candidate-{cache.key(parts)[:12]}.safetensors"

    def compute() -> dict[str, Any]:
        pruned, seconds = small()
        info = quantize_and_pack(pruned, config, calibration, path)
        reloaded = pack.load_packed(path)
        hits = evaluate.hits(reloaded, images, labels)
        lat = timing.latency(reloaded, images, min_run_time=min_run_time)
        thr = timing.throughput(reloaded, images, min_run_time=min_run_time)
        return {"parameters": count_parameters(reloaded), "sizes": reloaded.sizes, "bytes": info["bytes"],
                "finetune_seconds": seconds, "latency_s": lat.median, "latency_iqr_s": lat.iqr,
                "throughput_s": thr.median, "throughput_iqr_s": thr.iqr, "threads": lat.threads,
                "path": str(path), **hits_record(hits)}

    return {**asdict(config), "label": config.label, **cache.get_or_compute(parts, compute)}


def sweep(model: SimpleDNN, configs: Sequence[Config], images: torch.Tensor, labels: torch.Tensor,
          folder: Path | None = None, min_run_time: float = 1.0, cache: ResultCache | None = None,
          progress: bool | None = None) -> list[dict[str, Any]]:
    """Evaluate every pipeline configuration; each pruned (and fine-tuned) model is built once, when first needed."""
    cache = cache or ResultCache(modules=("experiments.deploy",))
    folder = folder or default_dir() / "candidates"
    folder.mkdir(parents=True, exist_ok=True)
    calib_sets: dict[tuple[int, int], torch.Tensor] = {}
    smalls: dict[tuple, tuple[SimpleDNN, float]] = {}
    teacher: dict[str, Any] = {}

    def small_for(config: Config, calibration: torch.Tensor) -> Callable[[], tuple[SimpleDNN, float]]:
        key = (config.ratio, config.finetune_epochs, config.calibration_images, config.seed, config.ridge)

        def build() -> tuple[SimpleDNN, float]:
            if key not in smalls:
                if config.finetune_epochs and not teacher:
                    teacher["train"], teacher["logits"] = teacher_targets(model)
                smalls[key] = pruned_model(model, config, calibration, teacher.get("train"), teacher.get("logits"))
            return smalls[key]

        return build

    rows = []
    for config in bar(configs, desc="deploy sweep", progress=progress):
        key = (config.calibration_images, config.seed)
        if key not in calib_sets:
            calib_sets[key] = calibrate.calibration_images(*key)
        rows.append(evaluate_point(model, config, images, labels, calib_sets[key], folder,
                                   small_for(config, calib_sets[key]), min_run_time, cache))
    return rows


def pareto_front(points: Sequence[dict[str, Any]], cost: str) -> list[dict[str, Any]]:
    """Points no other point beats on both ``cost`` (lower) and accuracy (higher), sorted by cost."""
    front: list[dict[str, Any]] = []
    for p in sorted(points, key=lambda p: (p[cost], -p["accuracy"])):
        if not front or p["accuracy"] > front[-1]["accuracy"]:
            front.append(p)
    return front


def recommend(points: Sequence[dict[str, Any]], full_accuracy: float, tolerance_pp: float,
              cost: str) -> dict[str, Any] | None:
    """The rule: among points within ``tolerance_pp`` of the full model, the one with the lowest ``cost``."""
    ok = within(points, full_accuracy, tolerance_pp)
    return min(ok, key=lambda p: (p[cost], -selected(p))) if ok else None


# --- the artifact ------------------------------------------------------------------------------------


def export(model: SimpleDNN, config: Config, out: Path | None = None, rule: str = "",
           full_accuracy: float | None = None) -> dict[str, Any]:
    """Write model.safetensors (packed), model.onnx and card.json for ``config`` under ``out``; return the card."""
    from lab3.runtime.runtimes import export_onnx

    out = Path(out) if out is not None else default_dir()
    out.mkdir(parents=True, exist_ok=True)
    calibration = calibrate.calibration_images(config.calibration_images, config.seed)
    train, teacher = teacher_targets(model) if config.finetune_epochs else (None, None)
    small, _ = pruned_model(model, config, calibration, train, teacher)
    packed_path, onnx_path = out / "model.safetensors", out / "model.onnx"
    info = quantize_and_pack(small, config, calibration, packed_path)
    reloaded = pack.load_packed(packed_path)
    export_onnx(reloaded, onnx_path)
    x, y = _test_set()
    x, y = holdout.reporting(x, y, holdout.test_halves(y))  # the model was chosen on the other half
    correct = evaluate.count_correct(reloaded, x, y)
    card = {
        "model": "SimpleDNN (MNIST digit classifier), pruned, fine-tuned and quantized by lab3",
        "architecture": {"layers": reloaded.sizes, "activation": "ReLU", "parameters": count_parameters(reloaded)},
        "input": "28x28 grayscale digit, white on black; pixels p in 0..255 normalized to p/255*2-1; shape (N,1,28,28)",
        "output": "10 logits (digits 0-9)",
        "config": asdict(config), "bits": config.bits,
        "test_accuracy": correct / y.numel(), "test_correct": correct, "test_total": int(y.numel()),
        "test_images": ("the reporting half of the MNIST test set (lab3.measure.holdout); "
                        "the choice used the other half"),
        "full_model_accuracy": full_accuracy, "rule": rule,
        "files": {
            "packed": {"path": packed_path.name, "bytes": packed_path.stat().st_size,
                       "sha256": fileio.sha256_file(packed_path), "format": pack.FORMAT,
                       "note": f"{config.bits}-bit codes + per-channel scales, lzma on top; lab3.pack.load_packed"},
            "onnx": {"path": onnx_path.name, "bytes": onnx_path.stat().st_size,
                     "sha256": fileio.sha256_file(onnx_path),
                     "note": "the same dequantized weights as float32, for ONNX Runtime"},
        },
        "weights_sha256": info["sha256"],
        "created_by": "python -m lab3.deploy export",
    }
    fileio.write_json(out / "card.json", card)
    return card


def _test_set() -> tuple[torch.Tensor, torch.Tensor]:
    return data.tensors("test")


def main(argv: list[str] | None = None) -> int:
    """Command line: export the recommended model (prediction is ``python -m lab3.predict``)."""
    parser = argparse.ArgumentParser(prog="python -m lab3.deploy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write the recommended model (packed + ONNX + card.json)")
    ex.add_argument("--out", type=Path, default=None, help="folder (default artifacts/deploy)")
    ex.add_argument("--ratio", type=float, help="pruning ratio (default: the deployment chapter's recommendation)")
    ex.add_argument("--bits", type=int, help="weight bits, 2..8")
    ex.add_argument("--finetune-epochs", type=int, default=None, help="distillation epochs (0: none)")
    args = parser.parse_args(argv)
    numerics.pin()
    try:
        return _export_cli(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def recommendation_path() -> Path:
    """Where the deployment chapter stores its computed recommendation."""
    return default_dir() / "recommendation.json"


def _export_cli(args: argparse.Namespace) -> int:
    rec: dict[str, Any] = {}
    if args.ratio is None or args.bits is None:
        path = recommendation_path()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no recommendation yet; run `make report` (the deployment chapter "
                                    f"computes it) or give --ratio and --bits")
        rec = fileio.read_json(path)
    cfg = dict(rec.get("config", {}))
    if args.ratio is not None:
        cfg["ratio"] = args.ratio
    if args.bits is not None:
        cfg["bits"] = args.bits
    if args.finetune_epochs is not None:
        cfg["finetune_epochs"] = args.finetune_epochs
    config = Config(**cfg)
    if not 0 <= config.ratio < 1 or not 2 <= config.bits <= 8 or config.finetune_epochs < 0:
        raise ValueError(f"need 0 <= ratio < 1, 2 <= bits <= 8 and finetune_epochs >= 0, got {config}")
    model = load_model(paths.full_model_path())
    card = export(model, config, args.out, rec.get("rule", "given on the command line"), rec.get("full_accuracy"))
    out = args.out or default_dir()
    print(f"wrote {out / 'model.safetensors'} ({card['files']['packed']['bytes']:,} bytes), "
          f"{out / 'model.onnx'} ({card['files']['onnx']['bytes']:,} bytes) and {out / 'card.json'}: "
          f"{config.label}, test accuracy {100 * card['test_accuracy']:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
