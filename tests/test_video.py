"""Video ingestion through the CLI on generated .mp4 files: bad files, a killed-then-resumed run, the frame store."""

import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from conftest import kill_after_first_entry, run
from facelift.heads.clips import make_synthetic_clips
from facelift.labels.videos import FrameStore

pytestmark = pytest.mark.slow  # every test here runs the CLI or a child process


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    "Four synthetic clips (real .mp4 + truth side files), a corrupt copy of one, an empty file and a text file."
    d = tmp_path_factory.mktemp("videos")
    paths = make_synthetic_clips(4, d, frames=24, size=224, progress=False)
    data = paths[0].read_bytes()
    (d / "corrupt.mp4").write_bytes(data[: len(data) // 3])  # truncated: the moov atom is gone
    (d / "empty.mp4").touch()
    (d / "readme.mov").write_text("not a video")
    return d


def _frames(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))


def test_ingest_cli_records_bad_files_and_stores_crops(clips, tmp_path):
    r = run("facelift", "videos", clips, "--out", tmp_path / "store", "--detector", "simulated", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    store = FrameStore(tmp_path / "store")
    assert len(store.videos) == 4
    assert set(store.skipped) == {"corrupt", "empty", "readme"}
    assert store.skipped["empty"] == "empty file (0 bytes)"
    assert "corrupt: skipped" in r.stdout and "frames read" in r.stdout
    c = store.manifest["counts"]
    assert (
        c["frames_read"] == 4 * 24
        and 0 < c["faces_found"] <= c["frames_read"]
        and len(_frames(tmp_path / "store")) == c["faces_found"]
    )
    store.verify()
    lab = store.labels(store.videos[0])
    img = store.image(store.videos[0], int(lab["frame"][0]))
    assert img.shape == (224, 224, 3) and img.std() > 10  # a real picture, not a blank
    inside = (lab["points"] > 0) & (lab["points"] < 224)
    assert inside.mean() > 0.95  # labels sit in their crop


def test_killed_ingestion_resumes_without_loss_or_duplicates(clips, tmp_path):
    "dlib is slow enough (~50 ms a frame) to kill the run between videos; the re-run must equal an uninterrupted one."
    src = tmp_path / "src"
    src.mkdir()
    for p in sorted(clips.glob("clip_*")):
        shutil.copy(p, src / p.name)
    ref = run("facelift", "videos", src, "--out", tmp_path / "ref", "--detector", "dlib", "--no-progress")
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "killed"
    code = kill_after_first_entry(
        ["videos", src, "--out", out, "--detector", "dlib", "--no-progress"], out / "manifest.json", "videos"
    )
    partial = FrameStore(out)
    assert code == -signal.SIGKILL and 1 <= len(partial.manifest["videos"]) < 4, "the kill must land mid-run"
    r = run("facelift", "videos", src, "--out", out, "--detector", "dlib", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    done, want = FrameStore(out), FrameStore(tmp_path / "ref")
    done.verify()
    assert done.manifest["counts"] == want.manifest["counts"]
    assert _frames(out) == _frames(tmp_path / "ref")  # nothing lost, nothing duplicated
    for v in want.videos:
        a, b = done.labels(v), want.labels(v)
        assert np.array_equal(a["frame"], b["frame"]) and np.allclose(a["points"], b["points"])


def test_videos_cli_errors(tmp_path):
    r = run("facelift", "videos", tmp_path / "missing", "--out", tmp_path / "s", "--detector", "simulated")
    assert r.returncode == 1 and "no such video or folder" in r.stderr


def test_same_named_clips_in_two_folders_are_both_kept(clips, tmp_path):
    "Two different clips named clip.mp4 (a/, b/): both are ingested under ids of their own, on every run; a copy is one clip."
    names = sorted(p for p in clips.glob("clip_*.mp4"))
    for folder, src in (("a", names[0]), ("b", names[1]), ("c", names[0])):  # c/clip.mp4 is a copy of a/clip.mp4
        (tmp_path / "in" / folder).mkdir(parents=True)
        shutil.copy(src, tmp_path / "in" / folder / "clip.mp4")
        shutil.copy(src.with_suffix(".truth.npz"), tmp_path / "in" / folder / "clip.truth.npz")
    args = [
        "facelift",
        "videos",
        tmp_path / "in",
        "--out",
        tmp_path / "store",
        "--detector",
        "simulated",
        "--no-progress",
    ]
    r = run(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    store = FrameStore(tmp_path / "store")
    assert len(store.videos) == 2 and all(v.startswith("clip-") for v in store.videos), store.videos
    counts = dict(store.manifest["counts"])
    again = run(*args[:-1], "--no-progress")  # a re-run: nothing new, nothing doubled
    assert again.returncode == 0 and FrameStore(tmp_path / "store").manifest["counts"] == counts
    # a third, different clip.mp4 resumed into the same store gets an id of its own too
    (tmp_path / "more").mkdir()
    shutil.copy(names[2], tmp_path / "more" / "clip.mp4")
    shutil.copy(names[2].with_suffix(".truth.npz"), tmp_path / "more" / "clip.truth.npz")
    r = run(
        "facelift", "videos", tmp_path / "more", "--out", tmp_path / "store", "--detector", "simulated", "--no-progress"
    )
    assert r.returncode == 0 and len(FrameStore(tmp_path / "store").videos) == 3
