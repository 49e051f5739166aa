"""lab3's layers are its folders: a module imports only modules of its own folder or of folders below it.

The layers, bottom to top (README, "Layout"): ``base`` (paths, files, numerics, data, the model and its
checkpoints, the result cache), ``measure`` (accuracy, statistics, the test halves, timing), ``compress`` (the
algorithms: quantize, GPTQ, prune, pack, mixed precision, distillation, calibration), ``runtime`` (ONNX Runtime,
OpenVINO, torchao, the command-line predictor), ``experiments`` (the chapters' sweeps and the training recipe)
and ``book`` (build, parameters, results, reproduction, the report's text, figures and Sphinx extensions). The
top level holds only the public commands (``python -m lab3.build`` ...), each a few lines calling its layer's
``main``; nothing imports them.
"""
import pytest

from lab3.base import cache
from lab3.base.cache import lab3_imports

ORDER = ["base", "measure", "compress", "runtime", "experiments", "book"]
COMMANDS = {"build": "book", "train": "experiments", "predict": "runtime", "deploy": "experiments",
            "reproduce": "book"}
TOP = "commands"


def layer_of(module: str) -> str:
    """The layer of a lab3 module (its folder; the top-level files are the commands)."""
    parts = module.split(".")
    if len(parts) == 1:
        return TOP
    assert parts[0] in ORDER, f"lab3/{parts[0]}/ is not a layer: add it to ORDER (and the README's layout)"
    return parts[0]


def rank(layer: str) -> int:
    return len(ORDER) if layer == TOP else ORDER.index(layer)


def upward_imports(modules: dict[str, str]) -> list[str]:
    """Every import of ``modules`` (name -> source) that points to a higher layer, as readable lines."""
    wrong = []
    for name, source in sorted(modules.items()):
        for dep in sorted(lab3_imports(source) - {name}):
            if dep == "__init__":
                continue
            if rank(layer_of(dep)) > rank(layer_of(name)) or (layer_of(dep) == TOP and layer_of(name) != TOP):
                wrong.append(f"lab3/{name.replace('.', '/')}.py ({layer_of(name)}) imports {dep} ({layer_of(dep)})")
    return wrong


def sources() -> dict[str, str]:
    return {m: cache.module_path(m).read_text() for m in cache.all_modules()}


def test_every_folder_is_a_layer_and_the_top_level_holds_only_commands():
    modules = cache.all_modules()
    for m in modules:
        layer_of(m)
    top = {m for m in modules if "." not in m} - {"__init__"}
    assert top == set(COMMANDS), f"top-level modules other than the commands: {sorted(top - set(COMMANDS))}"
    assert {m.split(".")[0] for m in modules if "." in m} == set(ORDER)


def test_imports_point_down():
    wrong = upward_imports(sources())
    assert not wrong, "\n".join(wrong)


def test_an_upward_import_is_caught():
    """Planting a book import in a compression module (even inside a function) fails the check."""
    planted = sources()
    planted["compress.quantize"] += "\ndef _f():\n    from lab3.book import plots\n"
    assert upward_imports(planted) == ["lab3/compress/quantize.py (compress) imports book.plots (book)"]


@pytest.mark.parametrize("command,layer", sorted(COMMANDS.items()))
def test_each_command_calls_its_layers_main(command, layer):
    source = cache.module_path(command).read_text()
    assert lab3_imports(source) == {f"{layer}.{command}"}
    assert f"from lab3.{layer}.{command} import main" in source and len(source.splitlines()) <= 7


def test_the_scan_sees_imports_inside_functions():
    source = ("import os\nfrom lab3.base import data, model\ndef g():\n    from lab3.measure.stats import x\n"
              "    import lab3.base.paths\n    from lab3 import compress\n")
    assert lab3_imports(source) == {"base.data", "base.model", "measure.stats", "base.paths", "compress.__init__"}
