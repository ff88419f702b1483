"""Training throughput (cpu preset, 4 fresh multi-view renders + 4 multi-frame crops per step): the cpu preset as it
trains (a render pool in the training process), the paper's every-sample-live stream (no pool) in the training process
and in one DataLoader worker, each beside the same loop fed from pre-built batches held in memory (the baseline).
Target: the data pipeline of the cpu preset costs at most 15% of the throughput.

The loops run in alternating rounds and each overhead is the median over rounds of a loop vs the baseline of the same
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

POOL = 256  # the bench's pool: the preset's 8192 would spend minutes filling before the first step


def _rate(run_dir: Path) -> float:
    "Mean samples/s over the logged windows after the first (start-up: pool fill, worker spawn, first render context)."
    rows = [r for r in T.MetricsLog(run_dir / "metrics.jsonl").read() if "samples_per_s" in r]
    return float(np.mean([r["samples_per_s"] for r in rows[1:]]))


def _cached_rate(cfg: T.TrainConfig) -> float:
    "The same training loop on 16 of its own batches built beforehand, cycled from memory."
    built = T.build_batches

    def cached(cfg, data, step):
        return itertools.cycle(list(itertools.islice(built(cfg, data, step), 16)))

    T.build_batches = cached
    try:
        return _rate(T.train(cfg))
    finally:
        T.build_batches = built


def run(quick: bool = False) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="facelift-bench-train-") as d:  # run folders hold checkpoints
        return _run(Path(d), quick)


LOOPS = {  # name: (what it measures, its config overrides, whether the target applies)
    "pool": (f"cpu preset: render pool ({POOL}) in process", dict(pool=POOL, workers=0), True),
    "live0": ("no pool: every sample live, in process", dict(pool=0, workers=0), False),
    "live1": ("no pool: every sample live, 1 worker", dict(pool=0, workers=1), False),
}


def _run(tmp: Path, quick: bool) -> list[dict]:
    rounds, steps = (1, 20) if quick else (3, 60)
    base = T.TrainConfig.preset(
        "cpu",
        out=str(tmp / "data"),
        seeds=64,
        videos=2,
        clip_frames=24,
        steps=steps,
        val_samples=0,
        log_every=5 if quick else 10,
        checkpoint_every=10**6,
        progress=False,
    )
    ensure_data(base)
    base = replace(base, pseudolabels=str(tmp / "data" / "pseudolabels"), frames=str(tmp / "data" / "frames"))
    loops = {k: LOOPS[k] for k in (["pool"] if quick else LOOPS)}
    rates = {k: [] for k in [*loops, *(f"cached-{k}" for k in loops)]}
    for r, (key, (_, overrides, _)) in itertools.product(range(rounds), loops.items()):
        cfg = replace(base, **overrides)
        rates[key].append(_rate(T.train(replace(cfg, out=str(tmp / f"{key}-{r}")))))
        rates[f"cached-{key}"].append(_cached_rate(replace(cfg, out=str(tmp / f"cached-{key}-{r}"))))
    return [
        _row(key, what, target and not quick, rates[key], rates[f"cached-{key}"])
        for key, (what, _, target) in loops.items()
    ]


def _row(key: str, what: str, target: bool, live: list[float], cached: list[float]) -> dict:
    ratio = float(np.median(np.array(live) / np.array(cached)))  # per round, then the median
    baseline = float(np.median(cached))
    return dict(
        name=f"train, {what}",
        value=float(np.median(live)),
        unit=f"samples/s (data pipeline overhead {max(0.0, 1 - ratio):.0%}; rounds live/pre-built: "
        + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(live, cached))
        + ")",
        baseline=baseline,
        baseline_name=f"the same loop on 16 of its batches built beforehand (median of {len(cached)} rounds)",
        target=0.85 * baseline if target else None,
    )
