"""Regressor inference on CPU: the shipped reference model against 3DDFA_V2's CPU network (MobileNetV1 at 120 px) in PyTorch and
ONNX Runtime (float, and with int8 convolutions), on all threads and, at batch 1, on the one thread of the video path;
images/s per preset at batch 1 and 32, PyTorch eager against ONNX Runtime; parameters and FLOPs.

Each network runs in its faster memory layout: ours channels-last, as `load_regressor` gives it, MobileNetV1 in NCHW
(channels-last measured slower for it at batch 1). The two networks of a row take turns in short bursts and each rate is
the median burst (`_paired_rates`), so the machine's drift hits both alike."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from facelift.model.onnx_export import export_image_model, export_onnx
from facelift.model.quantize import calibration_inputs, quantize_onnx
from facelift.model.regressor import FaceLiftRegressor, RegressorConfig, for_inference, pretrained, shipped_models


def _rate(fn, batch: int, min_seconds: float) -> float:
    "Images/s of `fn` (one batch per call): one warm-up call, then calls until `min_seconds` have passed (at least 2)."
    fn()
    n, t0 = 0, time.perf_counter()
    while n < 2 or time.perf_counter() - t0 < min_seconds:
        fn()
        n += 1
    return n * batch / (time.perf_counter() - t0)


def _paired_rates(ours, theirs, batch: int, min_seconds: float, rounds: int = 8) -> tuple[float, float]:
    """Images/s of `ours` and `theirs`, measured in alternating bursts (`rounds` each, `min_seconds` in all per network)
    and given as the median burst: this machine's speed drifts by tens of percent over seconds, and alternating puts
    both networks under the same drift."""
    bursts = [
        (_rate(ours, batch, min_seconds / rounds), _rate(theirs, batch, min_seconds / rounds)) for _ in range(rounds)
    ]
    a, b = zip(*bursts)
    return statistics.median(a), statistics.median(b)


def _flops(model: FaceLiftRegressor) -> float:
    "Floating-point operations of one image through the model (multiply-add = 2)."
    S = model.config.image_size
    with FlopCounterMode(display=False) as counter:  # (its module tracker needs autograd on)
        model(torch.zeros(1, 3, S, S))
    return counter.get_total_flops()


def _onnx_session(model: torch.nn.Module, size: int, path: Path):
    "An ONNX Runtime session of a plain image model [B,3,size,size] -> tensor (batch axis dynamic)."
    import onnxruntime as ort

    return ort.InferenceSession(str(export_image_model(model, size, path)), providers=["CPUExecutionProvider"])


def _one_thread(path: Path):
    "An ONNX Runtime session on one intra-op thread, as `facelift predict` runs an exported regressor (`OnnxRegressor`)."
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = 1, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _versus_mobilenet(name: str, ours, theirs, batch: int, min_seconds: float, baseline_name: str) -> dict:
    "One row: `ours` against MobileNetV1-120's `theirs` (one batch per call), measured in turns, its target their rate."
    value, baseline = _paired_rates(ours, theirs, batch, min_seconds)
    return dict(
        name=name, value=value, unit="images/s", baseline=baseline, baseline_name=baseline_name, target=baseline
    )


def video_path_rows(files: dict[str, Path], mobilenet: Path, S: int, min_seconds: float) -> list[dict]:
    """Batch 1 on one thread, the video path's setting (`facelift predict --checkpoint X.onnx` leaves the other core
    to face detection and the overlay writer): each of `files` (label -> ONNX file) against MobileNetV1-120 alike."""
    x, y = torch.randn(1, 3, S, S).numpy(), torch.randn(1, 3, 120, 120).numpy()
    theirs = _one_thread(mobilenet)
    sessions = {label: _one_thread(path) for label, path in files.items()}
    return [
        _versus_mobilenet(
            f"reference cpu ({S} px): batch 1, ONNX Runtime{label}, 1 thread (the video path)",
            lambda ours=ours: ours.run(None, {"images": x}),
            lambda: theirs.run(None, {"images": y}),
            1,
            min_seconds,
            "MobileNetV1-120, ONNX Runtime, 1 thread",
        )
        for label, ours in sessions.items()
    ]


def reference_vs_mobilenet(batches: list[int], min_seconds: float, tmp: Path) -> list[dict]:
    """The shipped `cpu` model (its architecture with random weights when none is shipped: the cost does not depend on the
    weights) against a MobileNetV1 at 120 px with 3DDFA_V2's 62 outputs, built from timm with random weights."""
    import onnxruntime as ort
    import timm

    ref = (
        pretrained("cpu")
        if "cpu" in shipped_models()
        else for_inference(FaceLiftRegressor(RegressorConfig.preset("cpu")))
    )
    mobilenet = timm.create_model("mobilenetv1_100", pretrained=False, num_classes=62).eval()
    S = ref.config.image_size
    ref_file = export_onnx(ref, tmp / "ref.onnx")
    ours_onnx = ort.InferenceSession(str(ref_file), providers=["CPUExecutionProvider"])
    int8_file = quantize_onnx(ref_file, tmp / "ref_int8.onnx", calibration_inputs(ref.config.image_size))
    ours_int8 = ort.InferenceSession(str(int8_file), providers=["CPUExecutionProvider"])
    theirs_onnx = _onnx_session(mobilenet, 120, tmp / "mobilenet.onnx")
    rows = video_path_rows({"": ref_file, ", int8 convolutions": int8_file}, tmp / "mobilenet.onnx", S, min_seconds)
    for batch in batches:
        x, y = torch.randn(batch, 3, S, S), torch.randn(batch, 3, 120, 120)
        xn, yn = x.numpy(), y.numpy()
        with torch.no_grad():
            rows.append(
                _versus_mobilenet(
                    f"reference cpu ({S} px): batch {batch}, PyTorch",
                    lambda: ref(x),  # noqa: B023
                    lambda: mobilenet(y),  # noqa: B023
                    batch,
                    min_seconds,
                    "MobileNetV1-120 (3DDFA_V2's CPU network), PyTorch, same batch",
                )
            )
        for label, ours, baseline_name in (
            ("", ours_onnx, "MobileNetV1-120, ONNX Runtime, same batch"),
            (", int8 convolutions", ours_int8, "MobileNetV1-120 (float), ONNX Runtime, same batch"),
        ):
            rows.append(
                _versus_mobilenet(
                    f"reference cpu ({S} px): batch {batch}, ONNX Runtime{label}",
                    lambda ours=ours: ours.run(None, {"images": xn}),  # noqa: B023
                    lambda: theirs_onnx.run(None, {"images": yn}),  # noqa: B023
                    batch,
                    min_seconds,
                    baseline_name,
                )
            )
    return rows


def run(quick: bool = False) -> list[dict]:
    import onnxruntime as ort

    presets, batches, min_seconds = (
        (["cpu"], [1, 8], 0.5) if quick else (["cpu", "vit_tiny", "resnet50", "resnet152", "paper"], [1, 32], 2.0)
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += reference_vs_mobilenet(batches if not quick else [1], min_seconds, Path(tmp))
        for name in presets:
            model = for_inference(FaceLiftRegressor(RegressorConfig.preset(name)))
            S = model.config.image_size
            params = sum(p.numel() for p in model.parameters())
            rows.append(
                dict(
                    name=f"{name}: parameters / GFLOPs per image ({S} px)",
                    value=params / 1e6,
                    unit=f"M params, {_flops(model) / 1e9:.2f} GFLOPs",
                )
            )
            session = ort.InferenceSession(
                str(export_onnx(model, Path(tmp) / f"{name}.onnx")), providers=["CPUExecutionProvider"]
            )
            for batch in batches:
                x = torch.randn(batch, 3, S, S)
                with torch.no_grad():
                    eager = _rate(lambda: model(x), batch, min_seconds)
                onnx = _rate(lambda: session.run(None, {"images": x.numpy()}), batch, min_seconds)
                rows.append(
                    dict(
                        name=f"{name}: batch {batch}, ONNX Runtime",
                        value=onnx,
                        unit="images/s",
                        baseline=eager,
                        baseline_name="PyTorch eager, same inputs",
                    )
                )
    return rows
