"""The regressor: FaRL checkpoint mapping on FaRL's exact layout, an overfit run on synthetic heads, ONNX export."""

import re

import pytest
import torch

from facelift.camera import CameraSpace
from facelift.heads.synthetic import SyntheticHeads
from facelift.landmarks import SCHEMES
from facelift.model.encoder_weights import load_encoder_weights
from facelift.model.losses import LossWeights, multiview_loss
from facelift.model.regressor import FaceLiftRegressor, RegressorConfig, to_model_input


def _farl_state(width=768, layers=12, patches=196, patch=16, embed=512) -> dict:
    "A randomly initialised state dict with FaRL's (CLIP ViT-B/16) exact visual keys and shapes, plus text keys."
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g) * 0.02
    sd = {
        "visual.class_embedding": r(width),
        "visual.positional_embedding": r(patches + 1, width),
        "visual.conv1.weight": r(width, 3, patch, patch),
        "visual.ln_pre.weight": torch.ones(width),
        "visual.ln_pre.bias": r(width),
        "visual.ln_post.weight": torch.ones(width),
        "visual.ln_post.bias": r(width),
        "visual.proj": r(width, embed),
        "transformer.resblocks.0.ln_1.weight": torch.ones(embed),
        "logit_scale": torch.ones(()),
    }
    for i in range(layers):
        p = f"visual.transformer.resblocks.{i}."
        sd.update(
            {
                p + "ln_1.weight": torch.ones(width),
                p + "ln_1.bias": r(width),
                p + "ln_2.weight": torch.ones(width),
                p + "ln_2.bias": r(width),
                p + "attn.in_proj_weight": r(3 * width, width),
                p + "attn.in_proj_bias": r(3 * width),
                p + "attn.out_proj.weight": r(width, width),
                p + "attn.out_proj.bias": r(width),
                p + "mlp.c_fc.weight": r(4 * width, width),
                p + "mlp.c_fc.bias": r(4 * width),
                p + "mlp.c_proj.weight": r(width, 4 * width),
                p + "mlp.c_proj.bias": r(width),
            }
        )
    return {"state_dict": sd}


def test_farl_checkpoint_maps_onto_timm(tmp_path):
    import timm

    torch.save(_farl_state(), tmp_path / "FaRL-Base-Patch16-LAIONFace20M-ep64.pth")
    enc = timm.create_model("vit_base_patch16_clip_quickgelu_224", pretrained=False, num_classes=0)
    load_encoder_weights(enc, tmp_path / "FaRL-Base-Patch16-LAIONFace20M-ep64.pth")
    sd = _farl_state()["state_dict"]
    assert torch.equal(enc.blocks[5].attn.qkv.weight, sd["visual.transformer.resblocks.5.attn.in_proj_weight"])
    assert torch.equal(enc.cls_token[0, 0], sd["visual.class_embedding"])
    assert torch.equal(enc.norm.bias, sd["visual.ln_post.bias"])
    bad = _farl_state()
    del bad["state_dict"]["visual.transformer.resblocks.11.mlp.c_fc.weight"]
    torch.save(bad, tmp_path / "partial.pth")
    try:
        load_encoder_weights(enc, tmp_path / "partial.pth")
        raise AssertionError("a partial checkpoint must not load")
    except ValueError as e:
        assert "missing keys [blocks.11.mlp.fc1.weight]" in str(e)


@pytest.mark.slow
def test_cpu_preset_overfits_eight_synthetic_samples_tenfold():
    """The issue's overfit check: the cpu preset drives the 3D landmark error on 8 synthetic samples down >= 10x in
    200 steps, trained on eq. 3's 3D term (Adam: decoder 1e-3, encoder 3e-5 as usual for a backbone, x0.1 at step 150).
    Measured here: 0.0541 -> 0.0046 EG3D units (11.6x). With all eq. 3 terms at equal weight the 2D likelihood and pose
    terms dominate this tiny run and the 3D error only halves; their balance is a training question (issue 7)."""
    torch.manual_seed(0)
    cfg = RegressorConfig.preset("cpu")
    space = CameraSpace(image_size=cfg.image_size)
    heads = SyntheticHeads(image_size=cfg.image_size)
    cams, angles = space.sample(8, landmarks3d=SCHEMES["wflw98"].template, generator=torch.Generator().manual_seed(0))
    res, truth = heads.render_full(torch.arange(8), cams)
    x = to_model_input(res.images, cfg.image_size)
    rest = space.camera(angles[:, 0], angles[:, 1], angles[:, 2])
    target = dict(
        points3d=truth.landmarks3d,
        points2d=cams.project(truth.landmarks3d),
        rotation=cams.R,
        delta_t=cams.t - rest.t,
        mask=SCHEMES["wflw98"].liftable.expand(8, -1),
    )
    model = FaceLiftRegressor(cfg)
    opt = torch.optim.Adam(
        [
            {"params": [p for n, p in model.named_parameters() if not n.startswith("encoder.")], "lr": 1e-3},
            {"params": model.encoder.parameters(), "lr": 3e-5},
        ]
    )
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [150], 0.1)
    err = lambda p: (p.points3d - truth.landmarks3d)[:, :96].norm(dim=-1).mean().item()
    with torch.no_grad():
        start = err(model(x))
    weights = LossWeights(points3d=1.0, delta_t=0.0, lll_mv=0.0, rotation=0.0)
    for _ in range(200):
        loss, terms = multiview_loss(model(x), target, weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    assert torch.isfinite(torch.stack(list(terms.values()))).all()
    with torch.no_grad():
        end = err(model.eval()(x))
    print(f"3D landmark error: {start:.4f} -> {end:.4f} EG3D units ({start / end:.1f}x)")
    assert end < start / 10


@pytest.mark.slow
def test_export_onnx_cli_matches_pytorch(tmp_path):
    from conftest import run
    from facelift.model.regressor import save_regressor

    torch.manual_seed(1)
    save_regressor(FaceLiftRegressor(RegressorConfig.preset("cpu")), tmp_path / "model.pt", step=0)
    r = run("facelift", "export-onnx", "--checkpoint", tmp_path / "model.pt", "--out", tmp_path / "onnx" / "model.onnx")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ONNX Runtime vs PyTorch, max abs difference: points3d" in r.stdout
    diffs = dict(re.findall(r"(\w+) ([\d.e+-]+)(?:,|$)", r.stdout.split("max abs difference: ")[1].strip()))
    assert set(diffs) == {"points3d", "rotation", "delta_t", "translation", "points2d", "scale_tril"}
    assert max(float(v) for v in diffs.values()) < 1e-3
    import onnx

    m = onnx.load(str(tmp_path / "onnx" / "model.onnx"))
    assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # the batch axis is dynamic
    bad = run("facelift", "export-onnx", "--checkpoint", tmp_path / "missing.pt", "--out", tmp_path / "x.onnx")
    assert bad.returncode == 1 and "checkpoint not found" in bad.stderr


@pytest.mark.slow
def test_evaluate_cli_writes_tables(tmp_path):
    from conftest import run
    from facelift.model.regressor import save_regressor

    torch.manual_seed(2)
    save_regressor(FaceLiftRegressor(RegressorConfig.preset("cpu")), tmp_path / "net.pt")
    r = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        tmp_path / "net.pt",
        "--testset",
        "synthetic:16",
        "--out",
        tmp_path / "eval",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    for f in (
        "regions.csv",
        "regions.md",
        "categories.csv",
        "categories.md",
        "table1.md",
        "table1.csv",
        "table2.md",
        "table2.csv",
        "regions.html",
    ):
        assert (tmp_path / "eval" / f).stat().st_size > 100
    rows = (tmp_path / "eval" / "regions.csv").read_text().splitlines()
    assert rows[0].startswith("region,net NMLC") and rows[-1].startswith("all,")
    assert (
        "NMLC x 100 in the paper's Table 1 layout:\n| model | full | contour | brows | nose | eyes | mouth | front | sided | atypical |"
        in r.stdout
    )
    nmlc = dict(re.findall(r"^(.+?): NMLC ([\d.]+)", r.stdout, re.M))
    assert float(nmlc["mean template, true pose"]) < float(
        nmlc["net"]
    )  # an untrained net is worse than the posed template
    bad = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        tmp_path / "net.pt",
        "--testset",
        "dad3dheads:/nowhere",
        "--out",
        tmp_path / "x",
    )
    assert bad.returncode == 1 and "DAD-3DHeads item list not found: /nowhere/val/val.json" in bad.stderr
    bad = run(
        "facelift", "evaluate", "--checkpoint", tmp_path / "net.pt", "--testset", "imagenet", "--out", tmp_path / "x"
    )
    assert (
        bad.returncode == 1
        and "--testset: a test set must be synthetic[:N], dad3dheads:ROOT, multiface:ROOT, pts:FOLDER or scan:PATH[:N]"
        in bad.stderr
    )


@pytest.mark.slow
def test_export_onnx_int8_cli_keeps_the_shipped_models_predictions(tmp_path):
    "`--int8` writes a quantized model beside the float one; on held-out renders it stays close to the float model."
    from conftest import run

    r = run("facelift", "export-onnx", "--checkpoint", "cpu", "--out", tmp_path / "cpu.onnx", "--int8")
    assert r.returncode == 0, r.stderr[-2000:]
    int8 = tmp_path / "cpu_int8.onnx"
    # the encoder's convolutions in int8 (but its first, high-resolution ones), the decoder in float32
    assert int8.stat().st_size < 0.6 * (tmp_path / "cpu.onnx").stat().st_size
    rotation, pixels = re.search(r"rotation ([\d.]+)° median .* 2D landmarks ([\d.]+) px median", r.stdout).groups()
    assert float(rotation) < 1.0 and float(pixels) < 0.5, r.stdout
    import onnx

    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
