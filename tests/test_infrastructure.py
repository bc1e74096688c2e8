"""Shared infrastructure: config loading, atomic IO, the prepared-data store, the book driver's chapter list."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lmvid_lib import io as lio
from lmvid_lib.config import from_dict, load_profile, notebook_parameters
from lmvid_lib.data import store
from lmvid_lib.publish.notebooks import chapters
from lmvid_lib.seed import seed_everything

REPO = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Inner:
    width: int = 4


@dataclasses.dataclass
class Outer:
    name: str = "x"
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_from_dict_fills_nested_and_rejects_unknown_keys():
    cfg = from_dict(Outer, {"name": "y", "inner": {"width": 8}})
    assert cfg == Outer("y", Inner(8))
    with pytest.raises(ValueError, match=r"Outer.inner: unknown parameter\(s\) \['depth'\]"):
        from_dict(Outer, {"inner": {"depth": 1}})


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_profiles_load_and_every_section_is_a_notebook(profile):
    data = load_profile(profile)
    stems = {p.stem for p in (REPO / "nbs").glob("[0-9][0-9]*_*.py")}
    assert set(data) - {"common"} <= stems, "a params section names no notebook"
    for stem in stems:
        params = notebook_parameters(profile, stem)
        assert {"dataset", "seed", "device"} <= set(params)


def test_unknown_profile_names_the_file():
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_profile("nope")


def test_toc_chapters_exist_and_have_one_parameters_cell():
    found = chapters(REPO)
    assert found, "no notebook in _toc.yml"
    for chapter in found:
        text = chapter.source.read_text()
        assert text.count('tags=["parameters"]') == 1, chapter.source


def test_seed_everything_is_reproducible():
    g1 = seed_everything(3)
    a = torch.rand(4, generator=g1), torch.rand(4), np.random.rand(2)
    g2 = seed_everything(3)
    b = torch.rand(4, generator=g2), torch.rand(4), np.random.rand(2)
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "m.json"
    lio.atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        lio.atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_atomic_dir_leaves_previous_folder_intact_on_failure(tmp_path):
    dst = tmp_path / "set"
    with lio.atomic_dir(dst) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with lio.atomic_dir(dst) as tmp:
            (tmp / "a.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert (dst / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_checkpoint_round_trip_and_corrupt_file_is_named(tmp_path):
    path = tmp_path / "ck.pt"
    lio.save_checkpoint(path, {"w": torch.arange(3), "step": 7})
    state = lio.load_checkpoint(path)
    assert state["step"] == 7 and torch.equal(state["w"], torch.arange(3))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(RuntimeError, match="ck.pt"):
        lio.load_checkpoint(path)


def _videos(n=3, t=5, j=2, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, t, 8, 6, 3), dtype=np.uint8)
    kp = rng.random((n, t, j, 2)).astype(np.float32)
    return store.VideoSet.from_clips(frames, np.arange(n) % 2, kp, keypoint_names=["a", "b"]), frames, kp


def test_store_round_trip(tmp_path):
    videos, frames, kp = _videos()
    store.write_dataset(tmp_path / "d", "toy", {"train": videos}, {"source": "test"}, ["a", "b"])
    back = store.open_split(tmp_path / "d", "train")
    clips, kp_back = back.as_clips()
    assert np.array_equal(clips, frames) and np.array_equal(kp_back, kp)
    assert back.keypoint_names == ["a", "b"] and list(back.video_ids) == [0, 1, 0]
    assert np.array_equal(back.frame_video, np.repeat(np.arange(3), 5))
    with pytest.raises(KeyError, match="test"):
        store.open_split(tmp_path / "d", "test")


def test_store_rejects_inconsistent_arrays_and_unprepared_folders(tmp_path):
    videos, _, _ = _videos()
    with pytest.raises(ValueError, match="video_starts"):
        store.VideoSet(videos.frames, np.array([0, 4]), np.array([0]), videos.frame_numbers)
    with pytest.raises(FileNotFoundError, match="not a prepared lmvid dataset"):
        store.open_split(tmp_path, "train")
    assert not store.is_prepared(tmp_path)


def test_book_driver_names_failing_notebook_and_cell(tmp_path):
    """A failing notebook stops the build with a message naming the notebook and the cell."""
    (tmp_path / "nbs").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "params").mkdir()
    (tmp_path / "nbs" / "01_bad.py").write_text(
        '# %% tags=["parameters"]\nprofile = "x"\nrun_dir = ""\n\n# %%\nx = 1\n\n# %%\nraise ValueError("boom")\n'
    )
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_bad\n")
    (tmp_path / "book" / "intro.md").write_text("# intro\n")
    (tmp_path / "params" / "t.yaml").write_text("common: {}\n")
    code = (
        "import sys, lmvid_lib.publish.runner as r, lmvid_lib.paths as p; from pathlib import Path;"
        f"root=Path({str(tmp_path)!r}); p.PARAMS_DIR=root/'params';"
        "sys.exit(r.run('t', html=False, root=root))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0
    assert "nbs/01_bad.py failed in cell 3" in proc.stderr and "ValueError: boom" in proc.stderr


def test_book_passes_declared_common_keys_and_rejects_undeclared_section_keys(tmp_path):
    from lmvid_lib.config import check_profile
    from lmvid_lib.publish import notebooks

    data = {"common": {"seed": 3, "decoders": ["spade"]}, "02_x": {"steps": 5}}
    declared = {name: {"default": "0"} for name in ("seed", "steps", "profile", "run_dir")}
    params = notebooks.notebook_parameters(data, "02_x", declared, "p", "runs/p")
    assert params == {"seed": 3, "steps": 5, "profile": "p", "run_dir": "runs/p"}
    with pytest.raises(ValueError, match=r"'02_x' sets \['steps'\].*02_x.py does not declare"):
        check_profile(data, {"02_x": {"seed"}, "03_y": {"decoders"}}, "p.yaml")
