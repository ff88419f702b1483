"""Regressor inference on CPU: images/s per preset at batch 1 and 32, PyTorch eager against ONNX Runtime; parameters and FLOPs."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from facelift.model import FaceLiftRegressor, RegressorConfig, export_onnx


def _rate(fn, batch: int, min_seconds: float) -> float:
    "Images/s of `fn` (one batch per call): one warm-up call, then calls until `min_seconds` have passed (at least 2)."
    fn()
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < min_seconds:
        fn(); n += 1
    return n * batch / (time.perf_counter() - t0)


def _flops(model: FaceLiftRegressor) -> float:
    "Floating-point operations of one image through the model (multiply-add = 2)."
    S = model.config.image_size
    with FlopCounterMode(display=False) as counter:  # (its module tracker needs autograd on)
        model(torch.zeros(1, 3, S, S))
    return counter.get_total_flops()


def run(quick: bool = False) -> list[dict]:
    import onnxruntime as ort
    presets, batches, min_seconds = (["cpu"], [1, 8], 0.5) if quick else (["cpu", "resnet50", "resnet152", "paper"], [1, 32], 2.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in presets:
            model = FaceLiftRegressor(RegressorConfig.preset(name)).eval()
            S = model.config.image_size
            params = sum(p.numel() for p in model.parameters())
            rows.append(dict(name=f"{name}: parameters / GFLOPs per image ({S} px)", value=params / 1e6, unit=f"M params, "
                             f"{_flops(model) / 1e9:.2f} GFLOPs"))
            session = ort.InferenceSession(str(export_onnx(model, Path(tmp) / f"{name}.onnx")), providers=["CPUExecutionProvider"])
            for batch in batches:
                x = torch.randn(batch, 3, S, S)
                with torch.no_grad():
                    eager = _rate(lambda: model(x), batch, min_seconds)
                onnx = _rate(lambda: session.run(None, {"images": x.numpy()}), batch, min_seconds)
                rows.append(dict(name=f"{name}: batch {batch}, ONNX Runtime", value=onnx, unit="images/s",
                                 baseline=eager, baseline_name="PyTorch eager, same inputs"))
    return rows
