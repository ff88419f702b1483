"""The shipped reference model `pretrained("cpu")`: it loads from the package, and on 64 held-out synthetic renders of the full
camera space it keeps the accuracy its run record shows (a change that breaks its input pipeline fails here)."""
import pytest
import torch

from facelift.benchmarks import evaluate, regressor_predictor, synthetic_testset
from facelift.model import pretrained, pretrained_dir, shipped_models
from facelift.train import validate

pytestmark = pytest.mark.skipif("cpu" not in shipped_models(), reason="no shipped cpu model in this installation")


@pytest.fixture(scope="module")
def scored():
    "The shipped model on 64 held-out renders at the evaluation size (224 px, resized to the model's input as `evaluate` does)."
    model = pretrained("cpu")
    ts = synthetic_testset(64, image_size=224, seed=7)  # seed 7: cameras the validation of the run (seed 0) never used
    ours = evaluate(regressor_predictor(model), ts, name="reference")
    template = evaluate(regressor_predictor(model, template=True), ts, name="its template, its pose")
    return model, ts, ours, template, validate(model, ts)


def test_shipped_model_learned_pose(scored):
    _, _, _, _, v = scored
    # the reference run reached a median rotation error of about 6° on these renders; a constant frontal guess scores over 60°
    assert v["val/rot_deg"] < 10, v
    assert v["val/rot_deg_frontal"] > 50, v


def test_shipped_model_scores_well_and_keeps_up_with_its_template(scored):
    _, _, ours, template, v = scored
    assert ours.scores.mean < 0.09, ours.scores.mean  # the reference reached about 0.06 (dlib scores about 0.16 on such renders)
    # its shape offsets do not yet beat its template at its own pose (11_train: the shipped model's run); they must not lose to it
    paired = ours.scores.per_image - template.scores.per_image
    assert paired.mean() < 0.003, (ours.scores.mean, template.scores.mean)
    assert v["val/err3d"] < v["val/err3d_template"] * 1.1, v


def test_shipped_model_carries_its_record():
    d = pretrained_dir("cpu")
    record = (d / "RECORD.md").read_text()
    assert "facelift train --preset cpu" in record and "git " in record
    assert (d / "model.pt").stat().st_size < 25e6  # the budget: at most 25 MB inside the package
    weights = torch.load(d / "model.pt", weights_only=True)["model"]
    assert all(v.dtype in (torch.float16, torch.int64) for v in weights.values())
