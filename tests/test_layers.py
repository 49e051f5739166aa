"""lab3's layers: each module belongs to one, and imports only modules of its own layer or of layers below it.

The layers, bottom to top (README, "Layout"): the base (paths, files, numerics, data, the model and its
checkpoints, the result cache), measurement (accuracy, statistics, the test halves, timing), compression (the
algorithms: quantize, GPTQ, prune, pack, mixed precision, distillation, calibration), runtimes (ONNX Runtime,
OpenVINO, torchao, the command-line predictor), experiments (the chapters' sweeps and the training recipe) and
the book (build, parameters, results, reproduction, the report's text, figures and Sphinx extensions). Nothing
imports the book; the compression algorithms import no experiment, runtime or book module.
"""
from lab3 import paths
from lab3.cache import lab3_imports

LAYERS = {
    "base": {"__init__", "paths", "fileio", "numerics", "progress", "data", "model", "cache"},
    "measure": {"evaluate", "stats", "holdout", "timing", "peak", "loop_timing"},
    "compress": {"quantize", "gptq", "prune", "pack", "mixed", "distill", "calibrate"},
    "runtime": {"runtimes", "predict", "fp32_timing"},
    "experiments": {"sweep", "prune_sweep", "deploy", "frontier", "course", "course_recipe", "train"},
    "book": {"build", "params", "results", "reproduce", "report", "plots", "sphinx_assets", "latex_parts"},
}
ORDER = list(LAYERS)
PACKAGE = paths.PROJECT_ROOT / "lab3"


def layer_of(module: str) -> str:
    """The layer a lab3 module belongs to."""
    for layer, modules in LAYERS.items():
        if module in modules:
            return layer
    raise AssertionError(f"lab3/{module}.py belongs to no layer: add it to LAYERS (and the README's layout)")


def test_every_module_has_a_layer():
    for path in PACKAGE.glob("*.py"):
        layer_of(path.stem)
    listed = set().union(*LAYERS.values())
    assert listed <= {p.stem for p in PACKAGE.glob("*.py")}, listed - {p.stem for p in PACKAGE.glob("*.py")}


def test_imports_point_down():
    wrong = []
    for path in sorted(PACKAGE.glob("*.py")):
        mine = ORDER.index(layer_of(path.stem))
        for dep in sorted(lab3_imports(path.read_text()) - {path.stem}):
            if ORDER.index(layer_of(dep)) > mine:
                wrong.append(f"lab3/{path.name} ({ORDER[mine]}) imports {dep} ({layer_of(dep)})")
    assert not wrong, "\n".join(wrong)


def test_the_scan_sees_imports_inside_functions():
    source = "import os\nfrom lab3 import data, model\ndef g():\n    from lab3.stats import x\n    import lab3.paths\n"
    assert lab3_imports(source) == {"data", "model", "stats", "paths"}
