"""Training throughput (cpu preset, 4 multi-view + 4 multi-frame per batch): live rendering/decoding in the training process
(the cpu preset's setting), live in one DataLoader worker, and the same loop fed from pre-rendered batches held in memory
(the baseline). Target: live data costs at most 15% of the throughput.

The three loops run in alternating rounds and each overhead is the median over rounds of live vs the baseline of the same
round (the target is checked on the medians of the rates), so a machine whose speed drifts during the benchmark (shared
cores) does not bias the comparison."""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

import facelift.train.loop as T
from facelift.train.run_data import ensure_data


def _rate(run_dir: Path) -> float:
    "Mean samples/s over the logged windows after the first (start-up: worker spawn, first render context, caches)."
    rows = [r for r in T.MetricsLog(run_dir / "metrics.jsonl").read() if "samples_per_s" in r]
    return float(np.mean([r["samples_per_s"] for r in rows[1:]]))


def _cached_rate(cfg: T.TrainConfig) -> float:
    "The same training loop on 16 batches rendered beforehand, cycled from memory."
    real_loader = T.loader

    def cached_loader(dataset, plans, workers=0):
        return itertools.cycle([dataset[p] for p in itertools.islice(plans, 16)])

    T.loader = cached_loader
    try:
        return _rate(T.train(cfg))
    finally:
        T.loader = real_loader


def run(quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory(
        prefix="facelift-bench-train-"
    ) as d:  # run directories hold checkpoints: removed afterwards
        return _run(Path(d), quick)


def _run(tmp: Path, quick: bool) -> list[dict]:
    rounds, steps = (1, 40) if quick else (3, 60)
    base = T.TrainConfig.preset(
        "cpu",
        out=str(tmp / "data"),
        seeds=64,
        videos=2,
        clip_frames=24,
        steps=steps,
        val_samples=0,
        log_every=10,
        checkpoint_every=10**6,
        progress=False,
    )
    ensure_data(base)
    base = replace(base, pseudolabels=str(tmp / "data" / "pseudolabels"), frames=str(tmp / "data" / "frames"))
    rates = {"live0": [], "live1": [], "cached": []}
    for r in range(rounds):
        rates["live0"].append(_rate(T.train(replace(base, out=str(tmp / f"live0-{r}")))))
        rates["cached"].append(_cached_rate(replace(base, out=str(tmp / f"cached-{r}"))))
        rates["live1"].append(_rate(T.train(replace(base, out=str(tmp / f"live1-{r}"), workers=1))))
    cached = float(np.median(rates["cached"]))
    rows = []
    for key, what, target in (
        ("live0", "live data in the training process", True),
        ("live1", "live data in 1 worker process", False),
    ):
        ratio = float(np.median(np.array(rates[key]) / np.array(rates["cached"])))  # per round, then the median
        rows.append(
            dict(
                name=f"train, cpu preset, {what}",
                value=float(np.median(rates[key])),
                unit=f"samples/s (data pipeline overhead {max(0.0, 1 - ratio):.0%}; rounds: "
                + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(rates[key], rates["cached"]))
                + ")",
                baseline=cached,
                baseline_name=f"the same loop on pre-rendered batches (median of {rounds} rounds)",
                target=0.85 * cached if target and not quick else None,
            )
        )
    return rows
