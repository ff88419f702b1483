"""`facelift train`: the CLI with resume, a kill -9 mid-run, the NaN guard, and 2-process distributed data parallel (gloo)."""

import os
import signal
import socket
import subprocess
import time

import pytest
import torch

from conftest import BIN, run
from facelift.train.loop import MetricsLog, TrainConfig, TrainingDiverged, train

SMALL = [
    "seeds=48",
    "videos=2",
    "clip_frames=16",
    "val_samples=12",
    "log_every=1",
    "checkpoint_every=5",
    "workers=0",
    "mv_per_batch=4",
    "mf_per_batch=4",
    "pool=16",
    "pool_draw=8",
]  # the cpu recipe at toy sizes: 4 fresh renders per step


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    "Small embedded-default stores, prepared once by a 1-step run of the CLI (which makes them in its run directory)."
    d = tmp_path_factory.mktemp("data")
    r = run("facelift", "train", "--preset", "cpu", "--steps", "1", "--out", d, "--no-progress", "--set", *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(pseudolabels=str(d / "pseudolabels"), frames=str(d / "frames"))


def _steps(run_dir) -> list[int]:
    return [r["step"] for r in MetricsLog(run_dir / "metrics.jsonl").read() if "loss" in r]


@pytest.mark.slow
def test_train_cli_steps_then_resume(tmp_path, data):
    out = tmp_path / "run"
    sets = [*SMALL, f"pseudolabels={data['pseudolabels']}", f"frames={data['frames']}"]
    r = run("facelift", "train", "--preset", "cpu", "--steps", "20", "--out", out, "--no-progress", "--set", *sets)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "step 20: loss" in r.stdout and "validation at step 20" in r.stdout
    assert _steps(out) == list(range(1, 21))
    again = run(
        "facelift",
        "train",
        "--preset",
        "cpu",
        "--steps",
        "30",
        "--out",
        out,
        "--no-progress",
        "--resume",
        "--set",
        *sets,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert _steps(out) == list(range(1, 31))
    assert torch.load(out / "model.pt", weights_only=True)["step"] == 30
    # without --resume an existing run is never overwritten; a changed setting is refused on resume
    clash = run("facelift", "train", "--preset", "cpu", "--steps", "30", "--out", out, "--no-progress", "--set", *sets)
    assert clash.returncode == 1 and "pass --resume" in clash.stderr
    changed = run(
        "facelift",
        "train",
        "--preset",
        "cpu",
        "--steps",
        "40",
        "--out",
        out,
        "--no-progress",
        "--resume",
        "--set",
        *sets,
        "lr=0.5",
    )
    assert changed.returncode == 1 and "lr: run has 0.002, now 0.5" in changed.stderr
    bad = run("facelift", "train", "--preset", "cpu", "--out", tmp_path / "x", "--set", "epoch=3")
    assert bad.returncode == 1 and "unknown key 'epoch'" in bad.stderr


@pytest.mark.slow
def test_real_frames_and_randomised_renders_train(tmp_path, data):
    "dlib's iBUG-68 labels of the real carphone clip train the wflw98 model's multi-frame branch, beside randomised renders."
    from facelift.assets import assets_dir

    clip = assets_dir() / "video" / "carphone_pristine.mp4"
    r = run("facelift", "videos", clip, "--out", tmp_path / "frames", "--max-frames", "24", "--no-progress")
    assert r.returncode == 0 and "24 frames read" in r.stdout, r.stdout + r.stderr[-3000:]
    looks = ["background_photo=0.5", "background_texture=0.3", "occluder=0.3", "blur=0.3", "jpeg=0.3", "mf_geometric=1"]
    sets = [*SMALL, f"pseudolabels={data['pseudolabels']}", f"frames={tmp_path / 'frames'}", "videos=null", *looks]
    out = tmp_path / "run"
    r = run("facelift", "train", "--preset", "cpu", "--steps", "6", "--out", out, "--no-progress", "--set", *sets)
    assert r.returncode == 0, r.stderr[-3000:]
    logged = [m for m in MetricsLog(out / "metrics.jsonl").read() if "loss" in m]
    assert len(logged) == 6 and all(0 < m["lll_mf"] < float("inf") for m in logged)  # real frames were trained on
    cfg = (out / "config.yaml").read_text()
    assert "background_photo: 0.5" in cfg and "mf_geometric: 1" in cfg


@pytest.mark.slow
def test_kill_during_training_then_resume(tmp_path, data):
    "SIGKILL mid-run (after a checkpoint): the checkpoint loads, metrics continue from it, and the result equals an uninterrupted run."
    sets = [*SMALL, f"pseudolabels={data['pseudolabels']}", f"frames={data['frames']}"]
    args = ["train", "--preset", "cpu", "--steps", "24", "--no-progress", "--set", *sets]
    ref = run("facelift", *args[: -len(sets) - 1], "--out", tmp_path / "ref", "--set", *sets)
    assert ref.returncode == 0, ref.stderr[-3000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [str(BIN / "facelift"), *args[:2], *args[2:], "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / "metrics.jsonl").exists() and max(_steps(out), default=0) >= 12:  # past the checkpoint at step 10
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert proc.wait() == -signal.SIGKILL, "the kill must land mid-run"
    ck = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ck["step"] in (10, 12, 15) and not (out / "model.pt").exists()
    again = run("facelift", *args, "--out", out, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _steps(out) == list(range(1, 25))  # no gap, no step logged twice
    a, b = (torch.load(d / "model.pt", weights_only=True)["model"] for d in (out, tmp_path / "ref"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert not list((out / "checkpoints").glob("*.tmp*"))  # no temp file left behind


def _cfg(tmp_path, data, **kw) -> TrainConfig:
    settings = dict(
        out=str(tmp_path / "run"),
        seeds=48,
        videos=2,
        val_samples=0,
        log_every=1,
        checkpoint_every=2,
        workers=0,
        progress=False,
        mv_per_batch=4,
        mf_per_batch=4,
        pool=16,
        pool_draw=8,
        **data,
    )
    return TrainConfig.preset("cpu", **{**settings, **kw})


def test_nan_guard_skips_bad_batches_and_stops_when_they_persist(tmp_path, data, monkeypatch):
    import facelift.train.loop as T

    real, calls = T.multiview_loss, {"n": 0}

    def poisoned(pred, target, weights=None):  # steps 3 and 4 produce a NaN loss (a corrupt sample, an overflow...)
        calls["n"] += 1
        loss, terms = real(pred, target, weights)
        return (loss * float("nan"), terms) if calls["n"] in (3, 4) else (loss, terms)

    monkeypatch.setattr(T, "multiview_loss", poisoned)
    run_dir = train(_cfg(tmp_path, data, steps=8))
    rows = MetricsLog(run_dir / "metrics.jsonl").read()
    assert [r["step"] for r in rows if "skipped" in r] == [3, 4] and all(
        r["skipped"] == "non-finite loss" for r in rows if "skipped" in r
    )
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 5, 6, 7, 8]
    w = torch.load(run_dir / "model.pt", weights_only=True)["model"]
    assert all(torch.isfinite(v).all() for v in w.values())  # a NaN never reached the weights

    # persistent failure: training stops after max_bad_steps, the last good checkpoint intact
    def nan_after(n):
        count = {"n": 0}

        def loss(pred, target, weights=None):
            count["n"] += 1
            total, terms = real(pred, target, weights)
            return (total * float("nan") if count["n"] > n else total), terms

        return loss

    monkeypatch.setattr(T, "multiview_loss", nan_after(4))
    cfg = _cfg(tmp_path, data, steps=20, max_bad_steps=3, out=str(tmp_path / "diverge"))
    with pytest.raises(TrainingDiverged, match="3 consecutive non-finite steps"):
        train(cfg)
    ck = torch.load(tmp_path / "diverge" / "checkpoints" / "last.pt", weights_only=True)
    assert ck["step"] == 4 and all(torch.isfinite(v).all() for v in ck["model"].values())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path, data):
    out = tmp_path / "ddp"
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", TMPDIR=str(tmp_path)
    )  # torchrun keeps its logs in a temporary folder
    cmd = [
        str(BIN / "torchrun"),
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        str(BIN / "facelift"),
        "train",
        "--preset",
        "cpu",
        "--steps",
        "6",
        "--out",
        str(out),
        "--no-progress",
        "--set",
        *SMALL,
        f"pseudolabels={data['pseudolabels']}",
        f"frames={data['frames']}",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = MetricsLog(out / "metrics.jsonl").read()
    ddp = [x for x in rows if "ddp_processes" in x]
    assert ddp and ddp[0]["ddp_processes"] == 2 and ddp[0]["ddp_weight_spread"] < 1e-9  # replicas stayed identical
    assert [x["step"] for x in rows if "loss" in x] == list(range(1, 7))
    import yaml

    info = yaml.safe_load((out / "config.yaml").read_text())
    assert info["world_size"] == 2 and info["steps_per_epoch"] == 48 // (4 * 2)
