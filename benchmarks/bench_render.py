"""Synthetic views/s at 224 px including read-back: batched draw calls against one view per call."""

from __future__ import annotations

import time

import torch

from facelift.camera import CameraSpace
from facelift.heads.synthetic import SyntheticHeads
from facelift.landmarks import SCHEMES


def _rate(fn, n: int, repeats: int = 2) -> float:
    fn()  # warm-up (GL context, buffers)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def run(quick: bool = False) -> list[dict]:
    heads = SyntheticHeads(image_size=224)
    space = CameraSpace()
    heads_n, views = (4, 16) if quick else (8, 24)
    n = heads_n * views
    cams, _ = space.sample(n, landmarks3d=SCHEMES["wflw98"].template, generator=torch.Generator().manual_seed(0))
    seeds_mv = torch.arange(heads_n).repeat_interleave(views)
    seeds_fresh = torch.arange(1000, 1000 + n)
    mv = _rate(lambda: heads.render(seeds_mv, cams), n)
    fresh = _rate(lambda: heads.render(seeds_fresh, cams), n)
    one = _rate(lambda: [heads.render(seeds_mv[i : i + 1], cams[i]) for i in range(0, n, 4)], n // 4, 1)
    b = heads.build(torch.arange(heads_n))
    idx = seeds_mv
    app = heads.appearance(seeds_mv)
    raster = _rate(
        lambda: heads.renderer.render(
            b["vertices"][idx],
            heads.topology.faces,
            b["colors"][idx],
            cams,
            app.light,
            app.background,
            normals=b["vertex_normals"][idx],
        ),
        n,
    )
    return [
        dict(
            name=f"multi-view batch: {heads_n} heads x {views} views",
            value=mv,
            unit="views/s (224 px, read-back)",
            baseline=one,
            baseline_name="the same views, one render call per view",
            target=200,
        ),
        dict(name=f"fresh head per view ({n} heads)", value=fresh, unit="views/s (builds every head)"),
        dict(name="rasterise + read back only (heads prebuilt)", value=raster, unit="views/s"),
    ]
