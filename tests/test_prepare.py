"""`facelift prepare`: the multi-view stage through the CLI, killed and resumed, machines merged, a real detector."""

import re
import signal

import pytest
import torch

from conftest import kill_after_first_entry, run
from facelift.heads.synthetic import SyntheticHeads
from facelift.lift.pseudolabels import PseudoLabelStore

pytestmark = pytest.mark.slow  # every test here runs the CLI or a child process


def _errors_vs_truth(d: dict) -> torch.Tensor:
    "3D errors of a store's valid pseudo-labels (`store.load()`) against the synthetic heads' truth, in inter-ocular distances."
    truth = SyntheticHeads().truth(d["seeds"]).landmarks3d
    iod = (truth[:, 60] - truth[:, 72]).norm(dim=-1)
    return ((d["points3d"] - truth).norm(dim=-1) / iod[:, None])[d["valid"]]


def test_prepare_killed_then_resumed_equals_uninterrupted(tmp_path):
    args = ["prepare", "--seeds", "0:640", "--shard-size", "64", "--no-progress"]
    ref = run("facelift", *args, "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr[-2000:]
    assert "640 seeds in 10 shards" in ref.stdout
    out = tmp_path / "killed"
    code = kill_after_first_entry([*args, "--out", out], out / "manifest.json", "shards")
    partial = PseudoLabelStore(out)
    assert code == -signal.SIGKILL and 1 <= len(partial.shards) < 10, "the kill must land mid-run"
    again = run("facelift", *args, "--out", out)
    assert again.returncode == 0, again.stderr[-2000:]
    a, b = PseudoLabelStore(out), PseudoLabelStore(tmp_path / "ref")
    a.verify()
    assert a.shards == b.shards and a.manifest["counts"] == b.manifest["counts"]
    da, db = a.load(), b.load()
    assert torch.equal(da["seeds"], torch.arange(640)) and torch.equal(da["valid"], db["valid"])
    assert torch.allclose(da["points3d"][da["valid"]], db["points3d"][db["valid"]])
    err = _errors_vs_truth(da)  # accuracy of the pseudo-labels against the truth of the synthetic heads
    assert err.median() < 0.02 and da["valid"][:, :96].float().mean() > 0.95


def test_prepare_shards_on_two_machines_merge(tmp_path):
    for i in (0, 1):
        r = run(
            "facelift",
            "prepare",
            "--seeds",
            "0:48",
            "--shard-size",
            "16",
            "--shard",
            f"{i}/2",
            "--no-progress",
            "--out",
            tmp_path / f"m{i}",
        )
        assert r.returncode == 0, r.stderr[-2000:]
    m0, m1 = PseudoLabelStore(tmp_path / "m0"), PseudoLabelStore(tmp_path / "m1")
    assert [len(m0), len(m1)] == [32, 16]
    merged = m0.merge(m1)
    assert len(merged) == 48 and torch.equal(merged.load()["seeds"], torch.arange(48))


def test_prepare_progress_counts_seeds_when_the_last_shard_is_short(tmp_path):
    r = run("facelift", "prepare", "--seeds", "0:20", "--shard-size", "16", "--out", tmp_path / "p")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "20/20" in r.stderr and not re.search(r"\d+/32\b", r.stderr), r.stderr[
        -500:
    ]  # 16 + 4 seeds, not 2 full shards
    again = run("facelift", "prepare", "--seeds", "0:20", "--shard-size", "16", "--out", tmp_path / "p")
    assert again.returncode == 0 and "20/20" in again.stderr  # resumed: everything already done


def test_prepare_with_dlib_renders_and_lifts_ibug68(tmp_path):
    r = run("facelift", "prepare", "--detector", "dlib", "--seeds", "0:3", "--no-progress", "--out", tmp_path / "dlib")
    assert r.returncode == 0, r.stderr[-2000:]
    store = PseudoLabelStore(tmp_path / "dlib")
    assert store.manifest["scheme"] == "ibug68" and store.manifest["detector"] == "DlibDetector"
    d = store.load()
    assert d["points3d"].shape == (3, 68, 3)
    assert d["valid"].any(), "dlib finds the near-frontal views, so inner landmarks lift"


def test_prepare_bad_arguments(tmp_path):
    r = run("facelift", "prepare", "--seeds", "10", "--out", tmp_path / "x")
    assert r.returncode == 1 and "seeds must be LO:HI" in r.stderr
    r = run("facelift", "prepare", "--shard", "3", "--out", tmp_path / "x")
    assert r.returncode == 1 and "--shard must be i/n" in r.stderr
    r = run(
        "facelift", "prepare", "--generator", "eg3d:/nonexistent.pkl", "--detector", "dlib", "--out", tmp_path / "x"
    )
    assert r.returncode == 1 and "network pickle not found" in r.stderr
    r = run("facelift", "prepare", "--views", tmp_path / "none.yaml", "--out", tmp_path / "x")
    assert r.returncode == 1 and "view set not found" in r.stderr


def test_prepare_score_weighted_votes_are_closer_to_the_truth(tmp_path):
    "`--weights score`: votes weighted by the labeller's score² (inverse variance) lift closer to the truth than equal votes."
    err = {}
    for w in ("none", "score"):
        r = run("facelift", "prepare", "--seeds", "0:64", "--weights", w, "--no-progress", "--out", tmp_path / w)
        assert r.returncode == 0, r.stderr[-2000:]
        store = PseudoLabelStore(tmp_path / w)
        assert store.manifest["vote_weights"] == w
        err[w] = _errors_vs_truth(store.load()).median().item()
    assert err["score"] < 0.95 * err["none"], err
    mixed = run("facelift", "prepare", "--seeds", "64:128", "--no-progress", "--out", tmp_path / "score")
    assert mixed.returncode == 1 and "vote_weights" in mixed.stderr  # a store keeps one weighting
    assert len(PseudoLabelStore(tmp_path / "score")) == 64


def test_prepare_into_a_store_adds_only_the_seeds_it_lacks(tmp_path):
    "0:4, then 0:8: seeds 4-7 are added once (the store held 0-3 twice before); another image size is refused by name."
    out = tmp_path / "p"
    assert run("facelift", "prepare", "--seeds", "0:4", "--out", out, "--no-progress").returncode == 0
    r = run("facelift", "prepare", "--seeds", "0:8", "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    seeds = PseudoLabelStore(out).load()["seeds"]
    assert torch.equal(seeds, torch.arange(8))  # each seed once, in order
    r = run("facelift", "prepare", "--seeds", "0:12", "--out", out, "--image-size", "160", "--no-progress")
    assert r.returncode == 1 and "image_size: store has 224, got 160" in r.stderr
    assert torch.equal(PseudoLabelStore(out).load()["seeds"], torch.arange(8))  # nothing lost or added
