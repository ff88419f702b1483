"""dlib with its MMOD CNN face detector (the option besides HOG) on a real photograph."""

import torch
from skimage import data

from facelift.labels.detect import DlibDetector


def test_mmod_finds_the_astronaut_like_hog():
    img = torch.from_numpy(data.astronaut())
    hog, mmod = DlibDetector("hog")(img[None]), DlibDetector("mmod")(img[None])
    assert hog.found.item() and mmod.found.item()
    assert mmod.points.shape == (1, 68, 2) and 0 < mmod.score.min() <= mmod.score.max() <= 1
    # the same face: landmark sets a few pixels apart (the boxes differ slightly, the shape predictor is the same)
    assert (mmod.points - hog.points).norm(dim=-1).median() < 8
