"""Video throughput: ingestion frames/s (decode + detect + crop/store) per detector, with decoding alone as the reference; and
`facelift predict` on a 640x480 video end to end (decode, track, regress, filter, write) with the shipped model, beside
MediaPipe Face Mesh's per-frame rate on the same frames."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from facelift.crop import face_box
from facelift.detect import DlibDetector, SimulatedLabeller
from facelift.synthetic_clips import make_synthetic_clips, write_video
from facelift.track import load_clip_truth
from facelift.video import _decode, ingest_videos


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
    from facelift.peers import mediapipe_predictor

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


def _predict_rows(tmp: Path, quick: bool) -> list[dict]:
    from facelift.model import pretrained
    from facelift.predict_files import predict_files

    frames = 48 if quick else 240
    video, uv = _wide_clip(tmp, frames)
    model = pretrained("cpu")
    detect = _dlib_cost_truth_boxes(uv)
    t0 = time.perf_counter()
    s = predict_files(video, model, tmp / "predicted", detector=detect, redetect_every=30, progress=False)
    fps = s["frames"] / (time.perf_counter() - t0)
    decoded, _ = _decode(video, 1, None)
    mp = _mediapipe_fps(decoded, repeat=4 if quick else 2)
    return [
        dict(
            name="predict video end to end, 640x480",
            value=fps,
            target=30.0,
            unit=f"frames/s (decode, dlib HOG on {s['detector_calls']} of {s['frames']} frames, track, regress with "
            f"the shipped model, the default uncertainty filter, "
            "write JSON, CSV and overlay video)",
            baseline=mp[0] if mp else None,
            baseline_name="MediaPipe Face Mesh (478 points, static-image mode, its own environment), same frames"
            + (
                f"; it found the face in {mp[1]:.0%} of them"
                if mp
                else ": environment not built, run facelift.peers.mediapipe_env()"
            ),
        )
    ]


def run(quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        return _ingest_rows(Path(tmp), quick) + _predict_rows(Path(tmp), quick)
