"""The project's own consistency: environment files agree, the executed book is whole and ran with valid parameters."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import yaml

from lab3.book import params
from tests.helpers import unpinned_environment

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ("baseline", "quantization", "pruning", "quantizers", "repair", "deployment", "conclusion",
            "reproducibility")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section == ["-r requirements.lock"]
    assert project["project"]["requires-python"] == ">=3.11,<3.14"
    no_deps = project["tool"]["lab3"]["install-no-deps"]
    assert f"pip install --no-deps {' '.join(no_deps)}" in (ROOT / "environment.yml").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^NO_DEPS := (.+)$", makefile, re.M).group(1).split() == no_deps
    assert "pip install --disable-pip-version-check -q -r requirements.lock" in makefile


def lock_versions() -> dict[str, str]:
    """requirements.lock as {canonical name: version}."""
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_the_lock_pins_every_requirement_within_its_range():
    """pyproject.toml states ranges, requirements.lock one version of each, inside the range (and nothing unpinned)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = lock_versions()
    requirements = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["book"]
    for text in requirements:
        req = Requirement(text)
        assert "==" not in text, f"{text}: pyproject.toml states ranges; exact versions belong in the lock"
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is required but not in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"lock has {name}=={pins[name]}, outside {text}"
    no_deps = {canonicalize_name(t.split("==")[0]) for t in project["tool"]["lab3"]["install-no-deps"]}
    assert not no_deps & set(pins), "the --no-deps data packages must not be in the lock"


def test_executed_book_ran_with_parameters_that_pass_their_rules():
    """The appendix reads what each chapter ran with from the executed notebook; those values are complete."""
    for chapter in CHAPTERS:
        nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
        ran = nb.metadata["lab3"]["parameters"]
        assert set(ran) == set(params.defaults(chapter)), chapter
        params.check(chapter, ran)


def test_book_has_every_chapter_executed():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert files == ["intro", *CHAPTERS, "references"]
    assert [p["caption"] for p in toc["parts"]] == ["Part I: The lab", "Part II: Beyond the lab", "Appendix"]
    assert (ROOT / "book" / "intro.md").is_file() and (ROOT / "book" / "references.md").is_file()
    for chapter in CHAPTERS:
        nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
        assert nb.metadata.get("lab3", {}).get("inputs"), f"book/{chapter}.ipynb was not executed by lab3.build"
        code = [c for c in nb.cells if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])]
        assert all(c.get("execution_count") for c in code), chapter
        assert not any(o.get("output_type") == "error" for c in code for o in c.outputs), chapter


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make report" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_module_imports_on_its_own():
    """Each lab3 module imports first in a fresh interpreter state (no import cycles that depend on order)."""
    import subprocess
    import sys

    script = """
import importlib, pathlib, sys
failed = []
from lab3.base import cache
modules = cache.all_modules()
for module in modules:
    for name in [m for m in sys.modules if m == 'lab3' or m.startswith('lab3.')]:
        del sys.modules[name]
    try:
        importlib.import_module(('lab3.' + module).removesuffix('.__init__'))
    except Exception as exc:
        failed.append(f'{module}: {exc}')
print('\\n'.join(failed)); sys.exit(1 if failed else 0)
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_lab3_import_graph_has_no_circle():
    """Layers point one way: no module imports (even lazily, inside a function) one that imports it back."""
    from lab3.base import cache

    modules = cache.all_modules()
    graph = {m: cache.lab3_imports(cache.module_path(m).read_text()) - {m} for m in modules}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, "import circle: " + " -> ".join(path + [m, n])
            if n not in state:
                visit(n, path + [m])
        state[m] = 2

    for m in modules:
        if m not in state:
            visit(m, [])


def test_importing_lab3_changes_nothing_in_the_process():
    """Every module imports without touching torch's thread count or the environment; pin() does both."""
    script = """
import importlib, os, pathlib, sys, torch
torch.set_num_threads(1)
for path in sorted(pathlib.Path('lab3').rglob('*.py')):
    importlib.import_module('.'.join(path.with_suffix('').parts).removesuffix('.__init__'))
assert torch.get_num_threads() == 1, torch.get_num_threads()
from lab3.base import numerics
pinned = set().union(*numerics.PROFILES.values())  # torch's own imports may set theirs (TORCHINDUCTOR_CACHE_DIR)
assert not pinned & set(os.environ), pinned & set(os.environ)
numerics.pin()
assert torch.get_num_threads() == numerics.threads() and 'MKL_CBWR' in os.environ
"""
    env = unpinned_environment()
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
