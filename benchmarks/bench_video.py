"""Video throughput: ingestion frames/s (decode + detect + crop/store) per detector, with decoding alone as the reference; and
`facelift predict` on a 640x480 video end to end (decode, track, regress, filter, write) with the shipped model in each
engine (PyTorch, and ONNX Runtime on its float and int8 exports), beside MediaPipe Face Mesh's per-frame rate on the same
frames."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from facelift.heads.clips import make_synthetic_clips, write_video
from facelift.labels.crop import face_box
from facelift.labels.detect import DlibDetector, SimulatedLabeller
from facelift.labels.videos import _decode, ingest_videos
from facelift.video.track import load_clip_truth


def _ingest_rows(tmp: Path, quick: bool) -> list[dict]:
    n, frames = (2, 24) if quick else (4, 96)
    rows = []
    clips = make_synthetic_clips(n, tmp / "videos", frames=frames, size=256, progress=False)
    t0 = time.perf_counter()
    for c in clips:
        _decode(c, 1, None)
    decode_only = n * frames / (time.perf_counter() - t0)
    for name, det in (("simulated labeller", SimulatedLabeller()), ("dlib HOG + 68-point predictor", DlibDetector())):
        t0 = time.perf_counter()
        store = ingest_videos(tmp / "videos", det, tmp / name.split()[0], progress=False)
        total = time.perf_counter() - t0
        secs = {
            k: sum(store.manifest["videos"][v]["seconds"][k] for v in store.videos)
            for k in ("decode", "detect", "crop_store")
        }
        share = ", ".join(f"{k} {v / total:.0%}" for k, v in secs.items())
        found = store.manifest["counts"]["faces_found"] / store.manifest["counts"]["frames_read"]
        rows.append(
            dict(
                name=f"ingest, {name}",
                value=n * frames / total,
                unit=f"frames/s (256 px; {share}; faces found {found:.0%})",
                baseline=decode_only,
                baseline_name="decoding alone (OpenCV), same clips",
            )
        )
    return rows


def _wide_clip(tmp: Path, frames: int) -> tuple[Path, torch.Tensor]:
    "A 640x480 clip (a 480 px synthetic clip centred on a wider frame) and its true landmarks [T,N,2] in its pixels."
    clip = make_synthetic_clips(1, tmp / "square", frames=frames, size=480, seed_offset=990_000, progress=False)[0]
    square, _ = _decode(clip, 1, None)
    wide = np.zeros((len(square), 480, 640, 3), np.uint8)
    wide[:, :, 80:560] = square
    truth = load_clip_truth(clip)
    return write_video(tmp / "wide.mp4", wide), truth.cameras.project(truth.landmarks3d) + torch.tensor([80.0, 0.0])


def _dlib_cost_truth_boxes(uv: torch.Tensor):
    "A face detector that pays dlib HOG's full cost on the frame but answers with the true box (dlib rarely fires on synthetic heads)."
    dlib = DlibDetector()

    def detect(frame, n):
        dlib.boxes(frame)
        return face_box(uv[n][None]), torch.ones(1)

    return detect


def _mediapipe_fps(frames: np.ndarray, repeat: int) -> tuple[float, float] | None:
    """MediaPipe Face Mesh frames/s in its own environment on the frames repeated `repeat` times: (time for all - time for one)
    / (count - 1), each the best of two runs, so its start-up (a new process, its models loaded) cancels; and the share of frames
    where it found the face (where it finds none, its mesh network does not run)."""
    from facelift.eval.peers import mediapipe_predictor

    try:
        mp = mediapipe_predictor()
    except (FileNotFoundError, RuntimeError, OSError):
        return None
    images = torch.from_numpy(np.concatenate([frames] * repeat))

    def best(x):
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            mp(x)
            times.append(time.perf_counter() - t0)
        return min(times)

    found = float((~torch.isnan(mp(images[: len(frames)])[:, 0, 0])).float().mean())
    return (len(images) - 1) / max(best(images) - best(images[:1]), 1e-9), found


def _engines(tmp: Path):
    "The shipped model as `facelift predict` can run it: PyTorch, and its ONNX exports (float, int8) in ONNX Runtime."
    from facelift.model.onnx_export import OnnxRegressor, export_onnx
    from facelift.model.quantize import calibration_inputs, quantize_onnx
    from facelift.model.regressor import pretrained

    model = pretrained("cpu")
    onnx = export_onnx(model, tmp / "cpu.onnx")
    int8 = quantize_onnx(onnx, tmp / "cpu_int8.onnx", calibration_inputs(model.config.image_size))
    return {
        "int8 ONNX Runtime (--checkpoint cpu_int8.onnx)": OnnxRegressor(int8),
        "float ONNX Runtime (--checkpoint cpu.onnx)": OnnxRegressor(onnx),
        "PyTorch (--checkpoint cpu)": model,
    }


def _predict_fps(video: Path, model, detect, out: Path, runs: int) -> tuple[float, dict]:
    "`predict_files` frames/s on `video`, the best of `runs` runs after a short warm-up, and the last run's summary."
    from facelift.inference.files import predict_files

    predict_files(video, model, out / "warm-up", detector=detect, progress=False, max_frames=8)
    best, s = 0.0, {}
    for r in range(runs):
        t0 = time.perf_counter()
        s = predict_files(video, model, out / f"run{r}", detector=detect, redetect_every=30, progress=False)
        best = max(best, s["frames"] / (time.perf_counter() - t0))
    return best, s


def _predict_rows(tmp: Path, quick: bool) -> list[dict]:
    frames = 48 if quick else 240
    video, uv = _wide_clip(tmp, frames)
    detect = _dlib_cost_truth_boxes(uv)
    measured = {
        name: _predict_fps(video, m, detect, tmp / "predicted" / str(k), 1 if quick else 2)  # a folder per engine
        for k, (name, m) in enumerate(_engines(tmp).items())
    }
    decoded, _ = _decode(video, 1, None)
    mp = _mediapipe_fps(decoded, repeat=4 if quick else 2)
    mp_name = "MediaPipe Face Mesh (478 points, static-image mode, its own environment), same frames" + (
        f"; it found the face in {mp[1]:.0%} of them"
        if mp
        else ": environment not built, run facelift.eval.peers.mediapipe_env()"
    )
    return [
        dict(
            name=f"predict video 640x480, {engine.split(' (')[0]}",
            value=fps,
            target=30.0 if engine.startswith("int8") else None,  # real time with the engine made for it
            unit=f"frames/s end to end, best of {1 if quick else 2} (decode, dlib HOG on {s['detector_calls']} of {s['frames']} frames "
            f"in the background, track, regress with the shipped model: {engine}, the default uncertainty filter, "
            "write JSON, CSV and overlay video)",
            baseline=mp[0] if mp else None,
            baseline_name=mp_name,
        )
        for engine, (fps, s) in measured.items()
    ]


def run(quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        return _ingest_rows(Path(tmp), quick) + _predict_rows(Path(tmp), quick)
