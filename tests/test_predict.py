"""`facelift predict` end to end: images, a video, nested folders with clashing names, unreadable files, no-face frames."""

import csv
import json
import signal
import subprocess
import time

import cv2
import numpy as np
import pytest
import torch

from conftest import BIN, run
from facelift.camera import CameraSpace
from facelift.heads.clips import make_synthetic_clips
from facelift.heads.synthetic import SyntheticHeads
from facelift.inference.faces import regress_faces
from facelift.model.regressor import FaceLiftRegressor, save_regressor


def _inputs(tmp_path):
    torch.manual_seed(0)
    net = FaceLiftRegressor()
    save_regressor(net, tmp_path / "net.pt", step=0)
    imgs = SyntheticHeads(image_size=200, distribution="video").render(
        torch.arange(3),
        CameraSpace(image_size=200).camera(
            torch.tensor([0.0, 30.0, -45.0]), torch.tensor([0.0, -10.0, 15.0]), delta_t=torch.tensor([0.0, 0.0, 0.6])
        ),
    )
    src = tmp_path / "in"
    (src / "more").mkdir(parents=True)
    for i, d in enumerate((src, src, src / "more")):  # two files named face.png in different folders
        cv2.imwrite(str(d / ("face.png" if i != 1 else "other.jpg")), imgs[i].numpy()[..., ::-1])
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (src / "truncated.mp4").write_bytes(b"\x00" * 100)
    make_synthetic_clips(1, src / "clips", frames=8, size=160, progress=False)
    return net, imgs, src


@pytest.mark.slow
def test_predict_folder_end_to_end(tmp_path):
    net, imgs, src = _inputs(tmp_path)
    out = tmp_path / "out"
    r = run(
        "facelift",
        "predict",
        src,
        "--checkpoint",
        tmp_path / "net.pt",
        "--out",
        out,
        "--detector",
        "none",
        "--batch",
        "4",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "4 of 6 inputs read: 11 frames, 11 faces" in r.stdout
    assert (
        "skipped" in r.stderr
        and "broken.jpg: not a readable image" in r.stderr
        and "truncated.mp4: not a readable video" in r.stderr
    )
    assert sorted(p.name for p in out.glob("*.json")) == [
        "clip_0500000_mp4.json",
        "face_png.json",
        "face_png_2.json",
        "other_jpg.json",
        "run.json",
        "skipped.json",
    ]
    rec = json.loads((out / "other_jpg.json").read_text())
    assert rec["kind"] == "image" and (rec["width"], rec["height"]) == (200, 200) and len(rec["landmarks"]) == 98
    face = rec["frames"][0]["faces"][0]
    # the JSON holds what the network says about that image (read back from the file the CLI read)
    img = torch.from_numpy(cv2.imread(str(src / "other.jpg"))[..., ::-1].copy())[None]
    ref = regress_faces(
        net, img, torch.tensor([[0.0, 0.0, 200.0, 200.0]]), margin=0.0
    )  # --detector none: the image is the crop
    assert np.allclose(face["points2d"], ref.points2d[0].numpy(), atol=2e-3) and np.allclose(
        face["points3d"], ref.points3d[0].numpy(), atol=2e-3
    )
    R = np.array(face["rotation"])
    assert np.allclose(R @ R.T, np.eye(3), atol=5e-3)
    assert all(u > 0 for u in face["uncertainty_px"]) and set(face["angles"]) == {"azimuth", "elevation", "roll"}
    video = json.loads((out / "clip_0500000_mp4.json").read_text())
    assert video["kind"] == "video" and [f["frame"] for f in video["frames"]] == list(range(8)) and video["fps"] == 24.0
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert len(rows) == 3 + 2 * 8 and {r["source"] for r in rows} >= {
        str(src / "other.jpg"),
        str(src / "more" / "face.png"),
    }
    assert sum(r["values"] == "filtered" for r in rows) == 8  # the video's faces: raw and filtered rows
    row = next(r for r in rows if r["source"] == str(src / "other.jpg"))
    assert np.isclose(float(row["x17"]), face["points2d"][17][0], atol=1e-3) and np.isclose(
        float(row["Z5"]), face["points3d"][5][2], atol=1e-3
    )
    assert cv2.imread(str(out / "overlays" / "other_jpg.jpg")).shape == (200, 200, 3)
    cap = cv2.VideoCapture(str(out / "overlays" / "clip_0500000_mp4.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    cap.release()
    skipped = json.loads((out / "skipped.json").read_text())
    side = str(src / "clips" / "clip_0500000.truth.npz")  # every file a folder scan does not read is listed
    assert set(skipped) == {str(src / "broken.jpg"), str(src / "truncated.mp4"), side}
    assert skipped[side] == "not an image or video (.npz)"


@pytest.mark.slow
def test_predict_with_dlib_reports_frames_without_a_face(tmp_path):
    torch.manual_seed(0)
    save_regressor(FaceLiftRegressor(), tmp_path / "net.pt")
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((160, 160, 3), 128, np.uint8))
    r = run(
        "facelift",
        "predict",
        tmp_path / "blank.png",
        "--checkpoint",
        tmp_path / "net.pt",
        "--out",
        tmp_path / "out",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "1 of 1 inputs read: 1 frames, 0 faces (1 frames without a face)" in r.stdout
    assert json.loads((tmp_path / "out" / "blank_png.json").read_text())["frames"] == [
        {"frame": 0, "time": 0.0, "faces": []}
    ]


@pytest.mark.slow
def test_predict_bad_arguments_are_clear_errors(tmp_path):
    torch.manual_seed(0)
    save_regressor(FaceLiftRegressor(), tmp_path / "net.pt")
    r = run("facelift", "predict", tmp_path / "nowhere", "--checkpoint", tmp_path / "net.pt", "--out", tmp_path / "out")
    assert r.returncode == 1 and "no such image, video or folder" in r.stderr and "nowhere" in r.stderr
    r = run("facelift", "predict", tmp_path, "--checkpoint", tmp_path / "missing.pt", "--out", tmp_path / "out")
    assert r.returncode == 1 and "checkpoint not found" in r.stderr
    (tmp_path / "empty").mkdir()
    r = run("facelift", "predict", tmp_path / "empty", "--checkpoint", tmp_path / "net.pt", "--out", tmp_path / "out")
    assert r.returncode == 1 and "no images or videos found" in r.stderr
    r = run("facelift", "predict", tmp_path, "--checkpoint", tmp_path / "missing.onnx", "--out", tmp_path / "out")
    assert r.returncode == 1 and "ONNX model not found" in r.stderr and "missing.onnx" in r.stderr
    (tmp_path / "text.onnx").write_text("not a model")
    r = run("facelift", "predict", tmp_path, "--checkpoint", tmp_path / "text.onnx", "--out", tmp_path / "out")
    assert r.returncode == 1 and "is not a model ONNX Runtime can load" in r.stderr


@pytest.mark.slow
def test_predict_runs_never_mix_and_overwrite_replaces_only_a_run(tmp_path):
    net, imgs, src = _inputs(tmp_path)
    out = tmp_path / "out"
    args = ("--checkpoint", tmp_path / "net.pt", "--detector", "none", "--no-progress", "--no-overlays")
    assert run("facelift", "predict", src / "other.jpg", "--out", out, *args).returncode == 0
    first = (out / "other_jpg.json").read_bytes()
    r = run("facelift", "predict", src / "face.png", "--out", out, *args)  # a second run into the same folder
    assert r.returncode == 1 and "is not empty" in r.stderr and "--overwrite" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and (out / "other_jpg.json").read_bytes() == first  # nothing lost
    r = run("facelift", "predict", src / "face.png", "--out", out, "--overwrite", *args)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.glob("*.json")) == ["face_png.json", "run.json", "skipped.json"]  # no stale JSON
    assert {row["source"] for row in csv.DictReader((out / "predictions.csv").open())} == {str(src / "face.png")}
    (out / "notes.txt").write_text("mine")  # a file no run wrote: even --overwrite stops
    r = run("facelift", "predict", src / "other.jpg", "--out", out, "--overwrite", *args)
    assert r.returncode == 1 and "no predict run wrote" in r.stderr and (out / "face_png.json").exists(), r.stderr


@pytest.mark.slow
def test_predict_ctrl_c_keeps_the_finished_inputs(tmp_path):
    torch.manual_seed(0)
    save_regressor(FaceLiftRegressor(), tmp_path / "net.pt", step=0)
    clips = make_synthetic_clips(4, tmp_path / "clips", frames=24, size=160, progress=False)
    out = tmp_path / "out"
    cmd = [BIN / "facelift", "predict", tmp_path / "clips", "--checkpoint", tmp_path / "net.pt", "--out", out]
    proc = subprocess.Popen([*map(str, cmd), "--detector", "truth", "--no-progress"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (out / f"{clips[0].stem}_mp4.json").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # Ctrl-C after the first clip
    stderr = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr[-2000:]
    run_record = json.loads((out / "run.json").read_text())
    skipped = json.loads((out / "skipped.json").read_text())
    done = [c for c in clips if (out / f"{c.stem}_mp4.json").exists()]
    assert run_record["complete"] is False and 1 <= len(done) < 4
    assert {str(c) for c in clips if c not in done} <= set(skipped)  # the clips not reached are listed
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    assert {r["source"] for r in rows} == {str(c) for c in done} and len(rows) == 2 * 24 * len(done)  # raw + filtered
