"""Masked multi-view lifting throughput (landmarks/s) against per-landmark scipy.optimize.least_squares; prepare seeds/s."""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import least_squares

from facelift.camera import CameraSpace
from facelift.landmarks import get_scheme
from facelift.lift.solver import lift
from facelift.lift.views import default_view_set


def _problem(seeds: int):
    "Noisy detections [B,V,N,2] of jittered templates seen by the default view set, its cameras and masks."
    vs = default_view_set()
    cams = vs.cameras(CameraSpace())
    g = torch.Generator().manual_seed(0)
    X = get_scheme("wflw98").template[None] + 0.01 * torch.randn(seeds, 98, 3, generator=g)
    uv = torch.einsum("vij,bnj->bvni", cams.R, X) + cams.t[None, :, None]
    uv = torch.einsum("vij,bvnj->bvni", cams.K, uv)
    x = (
        uv[..., :2] / uv[..., 2:] + torch.randn(seeds, len(vs), 98, 2, generator=g)
    ).contiguous()  # as detectors deliver them
    return x, cams, vs.mask()


def _scipy_lift(x: np.ndarray, P: np.ndarray, m: np.ndarray, X0: np.ndarray) -> np.ndarray:
    "One landmark: Huber least squares of the reprojection error over its voting views."
    Pv, xv = P[m], x[m]

    def residual(X):
        h = Pv[:, :, :3] @ X + Pv[:, :, 3]
        return (h[:, :2] / h[:, 2:] - xv).ravel()

    return least_squares(residual, X0, loss="huber", f_scale=3.0).x


def run(quick: bool = False) -> list[dict]:
    seeds = 1000 if quick else 10000
    x, cams, mask = _problem(seeds)
    lift(x[:10], cams, mask, scheme="wflw98")  # warm-up
    times = []
    for _ in range(
        3
    ):  # the median of 3 runs: the first run over fresh memory pays its page faults, and this machine drifts
        t0 = time.perf_counter()
        res = lift(x, cams, mask, scheme="wflw98")
        times.append(time.perf_counter() - t0)
    dt = float(np.median(times))
    n = int(res.valid.sum())
    P = (cams.K @ torch.cat([cams.R, cams.t[..., None]], -1)).numpy().astype(np.float64)
    xs, ms = x.numpy().astype(np.float64), mask.numpy()
    k = 100 if quick else 300
    t0 = time.perf_counter()
    for i in range(k):  # the baseline: one scipy solve per (seed, landmark)
        b, j = divmod(i, 96)
        _scipy_lift(xs[b, :, j], P, ms[:, j], np.array([0.0, 0.0, 0.2]))
    scipy_rate = k / (time.perf_counter() - t0)
    return [
        dict(
            name=f"lift {seeds} seeds x 98 landmarks x {x.shape[1]} views",
            value=n / dt,
            unit="landmarks/s",
            baseline=scipy_rate,
            baseline_name="scipy.optimize.least_squares (Huber), one landmark at a time",
            target=1e6,
        ),
        run_prepare(quick),
    ]


def run_prepare(quick: bool) -> dict:
    "`prepare` end to end on the embedded default (simulated labeller: no rendering), seeds/s with the share per step."
    import tempfile

    from facelift.heads.synthetic import SyntheticHeads
    from facelift.labels.detect import SimulatedLabeller
    from facelift.lift.pseudolabels import PseudoLabelStore, prepare

    n = 256 if quick else 2048
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = prepare(
            SyntheticHeads(), SimulatedLabeller(), range(n), default_view_set(), tmp, shard_size=256, progress=False
        )
        total = time.perf_counter() - t0
        secs = {}
        for v in PseudoLabelStore(store.root).manifest["shards"].values():
            for k, s in v["seconds"].items():
                secs[k] = secs.get(k, 0.0) + s
    share = ", ".join(f"{k} {s / total:.0%}" for k, s in secs.items() if k != "render")
    return dict(
        name=f"prepare {n} seeds x {len(default_view_set())} views (simulated labeller)",
        value=n / total,
        unit=f"seeds/s ({share})",
    )
