"""MediaPipe Face Mesh as a peer: its isolated environment (mediapipe 0.10.21 with numpy<2) built from the package registry,
its landmarks read back through files, its 68 iBUG points checked against the synthetic truth, and `facelift evaluate --peers`."""

import sys

import pytest
import torch

from conftest import run
from facelift.eval.benchmarks import synthetic_testset
from facelift.eval.peers import mediapipe_env, mediapipe_predictor
from facelift.landmarks import get_scheme
from facelift.model.regressor import FaceLiftRegressor, save_regressor


@pytest.fixture(scope="session")
def mediapipe_python():
    "The environment's python (built once per machine, about 40 s and 1 GB; reused from ~/.cache/facelift afterwards)."
    return mediapipe_env()


@pytest.fixture(scope="module")
def testset():
    return synthetic_testset(n=24, image_size=224)


@pytest.mark.slow
def test_mediapipe_landmarks_sit_where_the_truth_is(mediapipe_python, testset):
    points = mediapipe_predictor(mediapipe_python, all_points=True)(testset.images)
    assert points.shape == (24, 478, 3)
    found = ~points.isnan().any(-1).any(-1)
    assert points[found].isfinite().all() and points[~found].isnan().all()  # a face found whole, or NaN whole
    assert found.sum() >= 6, f"MediaPipe found a face in only {int(found.sum())} of 24 synthetic renders"
    p68 = mediapipe_predictor(mediapipe_python)(testset.images)[found]
    truth = testset.verts[:, testset.index][found]
    err = (p68 - truth).norm(dim=-1).mean()
    mirrored = (p68[:, list(get_scheme("ibug68").flip)] - truth).norm(dim=-1).mean()
    assert err < 0.5 * mirrored, (
        err,
        mirrored,
    )  # the 68-point correspondence keeps each side and each landmark in place
    eye = testset.verts[:, testset.index][found][:, 36:48].mean(
        1
    )  # the eyes' centre, truth vs MediaPipe's iris-refined eyes
    assert (p68[:, 36:48].mean(1) - eye).norm(dim=-1).median() < 0.05 * 224


def test_a_broken_environment_is_a_clear_error(testset):
    predict = mediapipe_predictor(sys.executable)  # the workbench's own python has no mediapipe
    with pytest.raises(RuntimeError, match="No module named 'mediapipe'"):
        predict(testset.images[:2])


@pytest.mark.slow
def test_evaluate_with_mediapipe_and_dlib_as_peers(mediapipe_python, tmp_path):
    torch.manual_seed(0)
    save_regressor(FaceLiftRegressor(), tmp_path / "net.pt")
    r = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        tmp_path / "net.pt",
        "--testset",
        "synthetic:16",
        "--peers",
        "dlib",
        "mediapipe",
        "--out",
        tmp_path / "eval",
    )  # the same default environment as the fixture's
    assert r.returncode == 0, r.stderr[-3000:]
    header = (tmp_path / "eval" / "regions.md").read_text().splitlines()[0]
    assert "MediaPipe 478 (68 scored)" in header
    line = next(l for l in r.stdout.splitlines() if l.startswith("MediaPipe 478 (68 scored): NMLC"))
    failures, total = map(int, line.split("failures ")[1].split("/"))
    assert total == 16 and failures < 16  # failures counted, not hidden
    bad = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        tmp_path / "net.pt",
        "--testset",
        "synthetic:4",
        "--peers",
        "openface",
        "--out",
        tmp_path / "x",
    )
    assert bad.returncode == 2 and "invalid choice: 'openface'" in bad.stderr
