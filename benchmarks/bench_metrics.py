"""NMLC on a DAD-3DHeads-sized test set (M=2000 images, |V|=5023 FLAME vertices, N=68): streamed vs one plain torch.cdist."""

from __future__ import annotations

import resource
import time

import torch

from facelift.eval.metrics import box_norm, nmlc


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(quick: bool = False) -> list[dict]:
    M, V, N = (400, 5023, 68) if quick else (2000, 5023, 68)
    g = torch.Generator().manual_seed(0)
    verts = torch.rand(M, V, 2, generator=g) * 224
    pred = verts[:, torch.randint(V, (N,), generator=g)] + torch.randn(M, N, 2, generator=g)
    z = box_norm(torch.cat([verts.amin(1), verts.amax(1)], -1))
    nmlc(pred[:8], verts[:8], z[:8])  # warm-up
    before = _peak_mb()
    t0 = time.perf_counter()
    ours = nmlc(pred, verts, z)
    t_ours = time.perf_counter() - t0
    extra_ours = _peak_mb() - before
    before = _peak_mb()
    t0 = time.perf_counter()
    total = (torch.cdist(pred, verts) * z[:, None, None]).sum(0)  # [M,N,V] at once
    plain_index = total.argmin(1)
    t_plain = time.perf_counter() - t0
    extra_plain = _peak_mb() - before
    assert torch.equal(plain_index, ours.index), "streamed and plain NMLC must choose the same vertices"
    return [
        dict(
            name=f"nmlc M={M} |V|={V} N={N}, streamed (chunks of 4)",
            value=1 / t_ours,
            unit=f"evaluations/s ({t_ours:.2f} s; peak memory +{extra_ours:.0f} MB vs +{extra_plain:.0f} MB plain)",
            baseline=1 / t_plain,
            baseline_name=f"one torch.cdist over all images ({t_plain:.2f} s)",
            target=None if quick else 0.5,
        )
    ]
