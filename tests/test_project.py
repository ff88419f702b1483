"""Project conventions: nbdev 3 configuration, clean and small notebooks, papermill-ready pipelines, README."""

import json
import re
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest
import tomllib

from conftest import REPO, run

NOTEBOOKS = sorted((REPO / "nbs").rglob("*.ipynb"))
PIPELINES = sorted((REPO / "nbs" / "pipelines").glob("*.ipynb"))


def test_nbdev3_config_lives_in_pyproject():
    assert not (REPO / "settings.ini").exists()  # nbdev 3 refuses to run beside a settings.ini
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    nbdev = cfg["tool"]["nbdev"]
    assert nbdev["tst_flags"].split() == ["notest", "slow"]
    assert "tags" in nbdev["allowed_cell_metadata_keys"]
    assert any(d.replace(" ", "").startswith("nbdev>=3,<4") for d in cfg["project"]["optional-dependencies"]["lab"])
    assert "torch>=2.4" in cfg["project"]["dependencies"]


def _tagged(path):
    return [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]


@pytest.mark.slow
def test_parameters_tag_survives_nbdev_clean(tmp_path):
    src = PIPELINES[0]
    inside = REPO / "nbs" / "pipelines" / "_tmp_clean_check.ipynb"
    shutil.copy(src, inside)
    try:
        r = run("nbdev-clean", "--fname", inside)
        assert r.returncode == 0, r.stderr
        assert len(_tagged(inside)) == 1  # with the project's config the tag is kept
    finally:
        inside.unlink()
    # the control: nbdev's defaults (no project config) silently drop it, which is why the config matters
    outside = tmp_path / "nb.ipynb"
    shutil.copy(src, outside)
    (tmp_path / "pyproject.toml").write_text("[tool.nbdev]\nlib_path = 'x'\n")
    r = run("nbdev-clean", "--fname", outside, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _tagged(outside) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_notebooks_are_small_without_inlined_plotly(path):
    assert path.stat().st_size < 1_000_000
    assert "plotly.js v" not in path.read_text()  # no inlined plotly.js bundle in outputs


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_pipelines_are_papermill_ready(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    tagged = _tagged(path)
    assert len(tagged) == 1
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code == tagged[0]
    assert "run_dir = None" in first_code.source  # smoke-runnable by nbdev-test into a temporary folder


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_remove_the_temporary_folders_they_make(path):
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    if "tempfile.mkdtemp(" not in code:
        return
    assert "shutil.rmtree(" in code, "a notebook that makes temporary folders must remove them (its last cell)"


@pytest.mark.slow
def test_notebook_runs_leave_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    """nbdev-test of a notebook with examples on disk and of a pipeline run without a run directory: their scratch
    folders (`facelift-*`, one run of 38_train.loop alone wrote 431 MB) are gone afterwards."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    for nb in ("00_core.ipynb", "pipelines/camera_space.ipynb"):
        r = run("nbdev-test", REPO / "nbs" / nb)
        assert r.returncode == 0, r.stderr[-2000:]
    assert not sorted(p.name for p in tmp.iterdir() if p.name.startswith("facelift-"))


def test_readme_starts_with_the_two_commands_and_matches_index():
    readme = (REPO / "README.md").read_text()
    block = readme.split("```")[1].splitlines()[1:]
    assert [l.split("#")[0].strip() for l in block if l.strip()] == ["make demo", "make test"]
    r = run("jupyter", "nbconvert", "--to", "markdown", REPO / "nbs" / "index.ipynb", "--stdout")
    assert r.returncode == 0, r.stderr
    assert r.stdout == readme, "README.md is generated from nbs/index.ipynb: run `make readme`"


@pytest.mark.slow
def test_fresh_install_pulls_no_other_torch(tmp_path):
    """Re-resolving the project in this environment must not ask for another torch (a multi-GB CUDA download)."""
    report = tmp_path / "report.json"
    r = run("pip", "install", "--dry-run", "--quiet", "--report", report, "-e", f"{REPO}[dev]", timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    planned = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
    assert not {p for p in planned if p in {"torch", "torchvision"} or p.startswith("nvidia-")}, planned


BLOCK_EXTRAS = textwrap.dedent("""
    import sys
    from importlib.machinery import PathFinder
    EXTRAS = ("plotly", "ipywidgets", "papermill", "nbconvert", "nbformat", "nbdev", "dlib", "onnx", "onnxscript",
              "onnxruntime", "matplotlib", "jupyterlab", "anywidget")
    _find = PathFinder.find_spec.__func__
    def find_spec(cls, name, path=None, target=None):  # as if only the core dependencies were installed
        return None if name.split(".")[0] in EXTRAS else _find(cls, name, path, target)
    PathFinder.find_spec = classmethod(find_spec)
""")


def test_the_core_runs_without_the_extras():
    "Every module but the figures imports with the core dependencies only; a missing extra is named in the error."
    probe = BLOCK_EXTRAS + textwrap.dedent("""
        import importlib, pkgutil, facelift
        skip = {"figures", "result_figures", "widgets", "mask_editor", "report", "_modidx", "mediapipe_runner"}  # the [lab] modules
        for m in pkgutil.iter_modules(facelift.__path__):
            if m.name not in skip:
                importlib.import_module(f"facelift.{m.name}")
        from facelift.labels.detect import DlibDetector
        from facelift.cli.main import main
        try:
            DlibDetector()
        except ImportError as e:
            print("dlib:", e)
        try:
            main(["demo", "--quick", "--out", sys.argv[1]])
        except ImportError as e:
            print("demo:", e)
    """)
    r = subprocess.run([sys.executable, "-c", probe, "/nonexistent/run"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'dlib: the dlib detector needs dlib, which is not installed: pip install "facelift[dlib]"' in r.stdout
    assert (
        'demo: running the pipeline notebooks needs papermill, which is not installed: pip install "facelift[lab]"'
        in r.stdout
    )


def test_no_notebook_imports_from_a_later_one():
    "Notebooks follow the data flow: each imports only modules exported by itself or by notebooks before it."
    numbered = sorted((REPO / "nbs").glob("[0-9]*.ipynb"))
    cells = {
        p.name: [c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code"] for p in numbered
    }
    owner = {
        m.group(1): name for name, srcs in cells.items() for s in srcs for m in re.finditer(r"#\| default_exp (\S+)", s)
    }
    later = [
        f"{name} imports facelift.{mod} ({owner[mod]})"
        for name, srcs in cells.items()
        for s in srcs
        for mod in re.findall(r"from facelift\.([\w.]+) import|import facelift\.([\w.]+)", s)
        for mod in [m for m in mod if m]
        if mod in owner and owner[mod] > name
    ]
    assert not later, later


@pytest.mark.parametrize("path", sorted((REPO / "nbs" / "experiments").glob("*.ipynb")), ids=lambda p: p.name)
def test_experiments_are_not_run_by_nbdev_test(path):
    "Experiments are records, not run by CI: nbdev-test must find `skip_exec` in their front matter (a raw first cell)."
    from fastcore.nbio import read_nb
    from nbdev.frontmatter import nb_frontmatter

    assert nb_frontmatter(read_nb(path)).get("skip_exec") is True, (
        f"{path.name}: open it with a raw cell ---/skip_exec: true/---"
    )
