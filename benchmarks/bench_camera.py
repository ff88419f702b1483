"""Camera sampling with the Δt rule: batched `CameraSpace.sample` against a per-camera Python loop."""

from __future__ import annotations

import math
import random
import time

import numpy as np
import torch

from facelift.camera import CameraSpace
from facelift.landmarks import SCHEMES


def _loop_sample(space: CameraSpace, lm: np.ndarray, n: int, rng: random.Random) -> int:
    """The same sampler written camera by camera (rejection, look-at, Δt placement, verification)."""
    S, f = space.image_size, space.focal * space.image_size
    look = np.array(space.look_at)
    done = 0
    while done < n:
        a, b, g = (rng.uniform(-1, 1) for _ in range(3))
        if rng.random() >= math.exp(-(a * a + b * b + g * g)):
            continue
        az, el, ro = math.radians(a * space.A), math.radians(b * space.B), math.radians(g * space.Gamma)
        c = look + space.radius * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
        fw = (look - c) / np.linalg.norm(look - c)
        right = np.cross(fw, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        R = np.array([[math.cos(ro), -math.sin(ro), 0], [math.sin(ro), math.cos(ro), 0], [0, 0, 1]]) @ np.stack(
            [right, np.cross(fw, right), fw]
        )
        xc = lm @ R.T - R @ c
        uv = xc[:, :2] / xc[:, 2:] * f + S / 2
        size = uv.max(0) - uv.min(0)
        k_lo, k_hi = space.min_box_fraction * S * 1.01 / size.min(), 0.99 * S / size.max()
        if not k_lo < k_hi:
            continue
        zbar = xc[:, 2].mean()
        dt = np.array([0.0, 0.0, zbar / (k_lo + rng.random() * (k_hi - k_lo)) - zbar])
        u = np.array([rng.random(), rng.random()])
        target = None
        for _ in range(3):
            p = xc + dt
            uv = p[:, :2] / p[:, 2:] * f + S / 2
            lo, size = uv.min(0), uv.max(0) - uv.min(0)
            if target is None:
                target = 0.01 * S + u * np.clip(0.98 * S - size, 0, None)
            dt[:2] += (target - lo) * (zbar + dt[2]) / f
        p = xc + dt
        uv = p[:, :2] / p[:, 2:] * f + S / 2
        if uv.min() >= 0 and uv.max() <= S and (uv.max(0) - uv.min(0)).min() > space.min_box_fraction * S:
            done += 1
    return done


def _best_rate(fn, n: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def run(quick: bool = False) -> list[dict]:
    space = CameraSpace()
    lm = SCHEMES["wflw98"].template
    n_vec, n_loop = (20_000, 300) if quick else (100_000, 2_000)
    g = torch.Generator().manual_seed(0)
    space.sample(1000, landmarks3d=lm, generator=g)  # warm-up
    vec = _best_rate(lambda: space.sample(n_vec, landmarks3d=lm, generator=g), n_vec, 3)
    loop = _best_rate(lambda: _loop_sample(space, lm.numpy().astype(np.float64), n_loop, random.Random(0)), n_loop, 1)
    angles = _best_rate(lambda: space.sample(n_vec, generator=g), n_vec, 3)
    return [
        dict(
            name=f"sample {n_vec:,} cameras with the Δt rule",
            value=vec,
            unit="valid cameras/s",
            baseline=loop,
            baseline_name=f"per-camera Python/numpy loop, {n_loop:,} cameras",
            target=1e5,
        ),
        dict(name=f"sample {n_vec:,} cameras, angles only", value=angles, unit="cameras/s"),
    ]
