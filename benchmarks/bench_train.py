"""Training throughput (cpu preset, 4 multi-view + 4 multi-frame per batch): live rendering/decoding in the training process
(the cpu preset's setting), live in one DataLoader worker, and the same loop fed from pre-rendered batches held in memory
(the baseline). Target: live data costs at most 15% of the throughput."""
from __future__ import annotations

import itertools
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

import facelift.train as T


def _rate(run_dir: Path) -> float:
    "Mean samples/s over the logged windows after the first (start-up: worker spawn, first render context, caches)."
    rows = [r for r in T.MetricsLog(run_dir / "metrics.jsonl").read() if "samples_per_s" in r]
    return float(np.mean([r["samples_per_s"] for r in rows[1:]]))


def run(quick: bool = False) -> list[dict]:
    steps = 40 if quick else 120
    tmp = Path(tempfile.mkdtemp(prefix="facelift-bench-train-"))
    base = T.TrainConfig.preset("cpu", out=str(tmp / "live0"), seeds=64, videos=2, clip_frames=24, steps=steps, val_samples=0,
                                log_every=10, checkpoint_every=10 ** 6, progress=False)
    T.ensure_data(base)
    data = dict(pseudolabels=str(tmp / "live0" / "pseudolabels"), frames=str(tmp / "live0" / "frames"))
    base = replace(base, **data)
    live0 = _rate(T.train(base))
    live1 = _rate(T.train(replace(base, out=str(tmp / "live1"), workers=1)))
    real_loader = T.loader
    def cached_loader(dataset, plans, workers=0):  # the same loop on batches rendered beforehand (cycled from memory)
        return itertools.cycle([dataset[p] for p in itertools.islice(plans, 16)])
    T.loader = cached_loader
    try: cached = _rate(T.train(replace(base, out=str(tmp / "cached"), workers=0)))
    finally: T.loader = real_loader
    overhead = lambda r: f"data pipeline overhead {max(0.0, 1 - r / cached):.0%}"
    return [dict(name="train, cpu preset, live data in the training process", value=live0, unit=f"samples/s ({overhead(live0)})", baseline=cached,
                 baseline_name="the same loop on pre-rendered batches", target=None if quick else 0.85 * cached),
            dict(name="train, cpu preset, live data in 1 worker process", value=live1, unit=f"samples/s ({overhead(live1)})", baseline=cached,
                 baseline_name="the same loop on pre-rendered batches", target=None)]
