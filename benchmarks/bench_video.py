"""Video ingestion frames/s (decode + detect + crop/store) with the share of each step, per detector; decoding alone as the reference."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from facelift.detect import DlibDetector, SimulatedLabeller
from facelift.video import _decode, ingest_videos, make_synthetic_clips


def run(quick: bool = False) -> list[dict]:
    n, frames = (2, 24) if quick else (4, 96)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = make_synthetic_clips(n, Path(tmp) / "videos", frames=frames, size=256, progress=False)
        t0 = time.perf_counter()
        for c in clips: _decode(c, 1, None)
        decode_only = n * frames / (time.perf_counter() - t0)
        for name, det in (("simulated labeller", SimulatedLabeller()), ("dlib HOG + 68-point predictor", DlibDetector())):
            t0 = time.perf_counter()
            store = ingest_videos(Path(tmp) / "videos", det, Path(tmp) / name.split()[0], progress=False)
            total = time.perf_counter() - t0
            secs = {k: sum(store.manifest["videos"][v]["seconds"][k] for v in store.videos) for k in ("decode", "detect", "crop_store")}
            share = ", ".join(f"{k} {v / total:.0%}" for k, v in secs.items())
            found = store.manifest["counts"]["faces_found"] / store.manifest["counts"]["frames_read"]
            rows.append(dict(name=f"ingest, {name}", value=n * frames / total, unit=f"frames/s (256 px; {share}; faces found {found:.0%})",
                             baseline=decode_only, baseline_name="decoding alone (OpenCV), same clips"))
    return rows
