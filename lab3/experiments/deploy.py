"""Deployment: choose a model of the pipeline (``lab3.experiments.pipeline``) by a stated rule, and hand it over.

``python -m lab3.deploy export`` writes the recommended model as our packed safetensors file and as an ONNX
file, with a JSON card beside them; ``python -m lab3.predict`` (a module of its own, without the experiment
machinery) classifies images with either file. Nothing from a model file is executed: packed files are
safetensors, ONNX files are parsed by ONNX Runtime.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from lab3.base import data, fileio, numerics, paths
from lab3.base.model import SimpleDNN, count_parameters, load_model
from lab3.compress import pack
from lab3.experiments import pipeline
from lab3.experiments.pipeline import Recipe
from lab3.measure import evaluate, holdout
from lab3.measure.stats import selected, within

DEEP_COMPRESSION_LENET = {"label": "Deep Compression, LeNet-300-100 (external: Han et al. 2016)",
                          "bytes": 27_000, "accuracy": 0.9842, "original_bytes": 1_070_000}


def default_dir() -> Path:
    """Where deployment artifacts go: artifacts/deploy."""
    return paths.artifacts_dir() / "deploy"


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


def export(model: SimpleDNN, recipe: Recipe, out: Path | None = None, rule: str = "",
           full_accuracy: float | None = None) -> dict[str, Any]:
    """Write model.safetensors (packed), model.onnx and card.json for ``recipe`` under ``out``; return the card."""
    from lab3.runtime.runtimes import export_onnx

    out = Path(out) if out is not None else default_dir()
    out.mkdir(parents=True, exist_ok=True)
    packed_path, onnx_path = out / "model.safetensors", out / "model.onnx"
    info = pipeline.build(model, recipe, packed_path)
    reloaded = pack.load_packed(packed_path)
    export_onnx(reloaded, onnx_path)
    x, y = _test_set()
    x, y = holdout.reporting(x, y, holdout.test_halves(y))  # the model was chosen on the other half
    correct = evaluate.count_correct(reloaded, x, y)
    widths = "/".join(str(b) for b in recipe.layer_bits.values()) if isinstance(recipe.bits, tuple) else recipe.bits
    card = {
        "model": "SimpleDNN (MNIST digit classifier), pruned, fine-tuned and quantized by lab3",
        "architecture": {"layers": reloaded.sizes, "activation": "ReLU", "parameters": count_parameters(reloaded)},
        "input": "28x28 grayscale digit, white on black; pixels p in 0..255 normalized to p/255*2-1; shape (N,1,28,28)",
        "output": "10 logits (digits 0-9)",
        "recipe": asdict(recipe), "bits": recipe.bits,
        "test_accuracy": correct / y.numel(), "test_correct": correct, "test_total": int(y.numel()),
        "test_images": ("the reporting half of the MNIST test set (lab3.measure.holdout); "
                        "the choice used the other half"),
        "full_model_accuracy": full_accuracy, "rule": rule,
        "files": {
            "packed": {"path": packed_path.name, "bytes": packed_path.stat().st_size,
                       "sha256": fileio.sha256_file(packed_path), "format": pack.FORMAT,
                       "note": f"{widths}-bit codes + per-channel scales, {recipe.compress} on top; "
                               f"lab3.compress.pack.load_packed"},
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
    if rec and "recipe" not in rec:
        raise ValueError(f"{recommendation_path()}: written by an older lab3 (no 'recipe'); run `make report` "
                         f"again or give --ratio and --bits")
    fields = dict(rec.get("recipe", {}))
    if isinstance(fields.get("bits"), list):
        fields["bits"] = tuple(fields["bits"])  # JSON has no tuples
    for name, value in (("ratio", args.ratio), ("bits", args.bits), ("distill_epochs", args.finetune_epochs)):
        if value is not None:
            fields[name] = value
    recipe = Recipe(**fields)  # checks the ranges: one line naming the field
    model = load_model(paths.full_model_path())
    card = export(model, recipe, args.out, rec.get("rule", "given on the command line"), rec.get("full_accuracy"))
    out = args.out or default_dir()
    print(f"wrote {out / 'model.safetensors'} ({card['files']['packed']['bytes']:,} bytes), "
          f"{out / 'model.onnx'} ({card['files']['onnx']['bytes']:,} bytes) and {out / 'card.json'}: "
          f"{recipe.label}, test accuracy {100 * card['test_accuracy']:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
