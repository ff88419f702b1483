"""`EG3DGenerator` against NVlabs' own EG3D code (random weights, CPU, small resolutions). Runs when FACELIFT_EG3D_REPO
names a checkout of the public NVlabs/eg3d repository (the folder holding eg3d/); skipped otherwise. No EG3D code is
copied here: it is imported from that checkout."""

import os
import sys
from pathlib import Path

import pytest
import torch

from facelift.camera import CameraSpace
from facelift.heads.generators import EG3DGenerator, SuppressNearBackground

REPO = os.environ.get("FACELIFT_EG3D_REPO")
pytestmark = pytest.mark.skipif(
    not REPO, reason="set FACELIFT_EG3D_REPO to a checkout of NVlabs/eg3d to test against EG3D's own code"
)


@pytest.fixture(scope="module")
def eg3d():
    "EG3D's TriPlaneGenerator with random weights: neural rendering at 64 px, a 2x super-resolution, 12 + 12 depth samples."
    src = Path(REPO) / "eg3d"
    if not (src / "training" / "triplane.py").exists():
        pytest.fail(
            f"FACELIFT_EG3D_REPO={REPO} holds no eg3d/training/triplane.py: point it at an NVlabs/eg3d checkout"
        )
    sys.path.insert(0, str(src))
    from training.triplane import TriPlaneGenerator  # EG3D's own network

    rendering = dict(
        image_resolution=128, disparity_space_sampling=False, clamp_mode="softplus",
        superresolution_module="training.superresolution.SuperresolutionHybrid2X", c_gen_conditioning_zero=False,
        gpc_reg_prob=0.5, c_scale=1.0, superresolution_noise_mode="random", density_reg=0.25, density_reg_p_dist=0.004,
        reg_type="l1", decoder_lr_mul=1.0, sr_antialias=True, depth_resolution=12, depth_resolution_importance=12,
        ray_start=2.25, ray_end=3.3, box_warp=1, avg_camera_radius=2.7, avg_camera_pivot=[0, 0, 0.2],
    )  # fmt: skip
    torch.manual_seed(0)
    G = TriPlaneGenerator(
        z_dim=64, c_dim=25, w_dim=512, img_resolution=128, img_channels=3, sr_num_fp16_res=0,
        mapping_kwargs=dict(num_layers=2), rendering_kwargs=rendering, channel_base=2048, channel_max=64,
        fused_modconv_default="inference_only",
    )  # fmt: skip
    return G.eval().requires_grad_(False)


def test_renders_of_a_seed_are_deterministic_whatever_the_batch(eg3d):
    gen = EG3DGenerator(eg3d, image_size=64, batch_size=4)
    cams = CameraSpace(image_size=64).camera(torch.tensor([0.0, 25.0]), torch.tensor([0.0, -10.0]))
    pair = gen.render([11, 12], cams)
    assert torch.equal(gen.render([11, 12], cams), pair)  # the same on every call
    assert torch.equal(gen.render([11], cams[:1])[0], pair[0])  # alone or beside seed 12
    free = EG3DGenerator(eg3d, image_size=64, deterministic=False, noise_mode="random")
    assert not torch.equal(free.render([11, 12], cams), free.render([11, 12], cams))  # EG3D's own rendering is random


def test_our_cameras_give_eg3ds_rays_through_our_pixel_centres(eg3d):
    "Camera.to_eg3d() fed to EG3D's RaySampler: each ray passes through the pixel centre our camera projects it to."
    from training.volumetric_rendering.ray_sampler import RaySampler

    R = 32
    space = CameraSpace(image_size=R)
    cams, _ = space.sample(256, generator=torch.Generator().manual_seed(0))  # roll and Δt of the augmented space
    c = cams.to_eg3d()
    origins, dirs = RaySampler()(c[:, :16].view(-1, 4, 4), c[:, 16:].view(-1, 3, 3), R)
    uv = cams.project(origins + 2.7 * dirs)  # [256, R*R, 2]
    j, i = torch.meshgrid(torch.arange(R) + 0.5, torch.arange(R) + 0.5, indexing="xy")
    centres = torch.stack([j, i], -1).reshape(1, -1, 2)  # EG3D's ray order: row by row
    assert (uv - centres).norm(dim=-1).max() < 1e-3


def test_the_hook_wraps_eg3ds_run_model(eg3d):
    "SuppressNearBackground on the real renderer.run_model: called on every render, with this batch's camera centres."
    hook = SuppressNearBackground()
    seen = []
    original = SuppressNearBackground.__call__

    def spy(self, out, coordinates):
        seen.append((coordinates.shape, self.origins.clone()))
        return original(self, out, coordinates)

    SuppressNearBackground.__call__ = spy
    try:
        gen = EG3DGenerator(eg3d, image_size=64, hook=hook)
        cams = CameraSpace(image_size=64).camera(torch.tensor([0.0, 25.0]), torch.tensor([0.0, -10.0]))
        gen.render([3, 4], cams)
    finally:
        SuppressNearBackground.__call__ = original
        eg3d.renderer.run_model = type(eg3d.renderer).run_model.__get__(eg3d.renderer)  # unwrap for the other tests
    assert seen and all(o.shape == (1, 3) for _, o in seen)  # one sample at a time, its own camera centre
    assert {tuple(o[0].tolist()) for _, o in seen} == {tuple(x) for x in cams.center.tolist()}
