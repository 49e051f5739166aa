"""The README's examples stay true: its papermill command passes parameters the chapter accepts."""
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lab3.book import params

ROOT = Path(__file__).resolve().parent.parent


def readme_papermill_command() -> list[str]:
    line = next(l for l in (ROOT / "README.md").read_text().splitlines() if l.startswith("papermill "))
    return shlex.split(line.split("#")[0])


def injected_parameters(args: list[str], tmp_path: Path) -> tuple[str, dict]:
    """Run papermill with --prepare-only (parameters applied, nothing executed); return chapter and parameters."""
    out = tmp_path / "out.ipynb"
    args = [a if a != "out.ipynb" else str(out) for a in args]
    run = subprocess.run([sys.executable, "-m", "papermill", *args[1:], "--prepare-only"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    nb = nbformat.read(out, as_version=4)
    values: dict = {}
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags or "injected-parameters" in tags:
            exec(cell.source, {}, values)
    return Path(args[1]).stem, values


def test_readme_papermill_example_passes_a_real_list(tmp_path):
    args = readme_papermill_command()
    chapter, values = injected_parameters(args, tmp_path)
    assert chapter == "quantization" and values["bits_values"] == [2, 4, 8]
    params.check(chapter, values)


def test_the_p_flag_with_a_list_is_refused_with_the_fix(tmp_path):
    args = [a for a in readme_papermill_command() if a not in ("-y", "bits_values: [2, 4, 8]")]
    chapter, values = injected_parameters(args + ["-p", "bits_values", "[2, 4, 8]"], tmp_path)
    assert values["bits_values"] == "[2, 4, 8]"  # papermill's -p passes text
    with pytest.raises(params.ParameterError, match=r'papermill -y "bits_values: \[2, 4, 8\]"'):
        params.check(chapter, values)
