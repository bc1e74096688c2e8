"""Preparation: idempotence, --force, failure safety, the CLI and describe."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures_real import write_bair, write_kth

from lmvid_lib import cli
from lmvid_lib.data import kth, prepare, store
from lmvid_lib.data.datasets import HELD_OUT_FRAMES, VALIDATION
from lmvid_lib.models.run_config import TrainConfig
from lmvid_lib.report.runs import data_source

pytestmark = pytest.mark.filterwarnings(r"ignore:.*skipping 1 video\(s\) marked \*missing\*")

KTH_VIDEOS = {"person01_boxing_d1": [(1, 12)], "person20_walking_d2": [(2, 10), (5, 12)]}
BAIR_FILES = {
    "train/traj_0_to_255.tfrecords": 1,
    "train/traj_256_to_511.tfrecords": 1,
    "test/traj_0_to_255.tfrecords": 1,
}


@pytest.fixture
def kth_src(tmp_path):
    write_kth(tmp_path / "kth", KTH_VIDEOS, n_frames=12, missing=("person02_boxing_d1",), codec="rawvideo")
    return tmp_path / "kth"


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_rerun_is_skipped_force_rebuilds_and_other_options_need_force(kth_src, tmp_path, capsys):
    dst = tmp_path / "prepared"
    prepare.prepare("kth", kth_src, dst, progress=False)
    stamp = (dst / "index.json").stat().st_mtime_ns
    capsys.readouterr()
    prepare.prepare("kth", kth_src, dst, progress=False)
    assert "already prepared" in capsys.readouterr().out
    assert (dst / "index.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="already holds a prepared 'kth' set.*--force"):
        prepare.prepare("kth", kth_src, dst, progress=False, convention="svg")
    assert store.read_index(dst)["provenance"]["options"]["convention"] == "savp"
    prepare.prepare("kth", kth_src, dst, progress=False, force=True, convention="svg")
    index = store.read_index(dst)
    assert index["provenance"]["options"]["convention"] == "svg"
    assert index["provenance"]["source"] == str(kth_src.resolve())
    assert index["provenance"]["counts"] == {"train": {"videos": 3, "frames": 29}, "test": {"videos": 0, "frames": 0}}
    assert _leftovers(tmp_path) == []


def test_failed_forced_reprepare_leaves_the_old_set_intact(kth_src, tmp_path):
    dst = tmp_path / "prepared"
    prepare.prepare("kth", kth_src, dst, progress=False)
    before = {p.relative_to(dst): p.read_bytes() for p in dst.rglob("*") if p.is_file()}
    avi = kth_src / "person20_walking_d2_uncomp.avi"
    avi.write_bytes(avi.read_bytes()[:3000])  # truncated source
    with pytest.raises(ValueError, match="person20_walking_d2_uncomp.avi"):
        prepare.prepare("kth", kth_src, dst, progress=False, force=True)
    after = {p.relative_to(dst): p.read_bytes() for p in dst.rglob("*") if p.is_file()}
    assert after == before
    videos = store.open_split(dst, "train")
    assert videos.n_videos == 1 and videos.frames.shape == (12, 64, 64, 1)
    assert _leftovers(tmp_path) == []  # no scratch or partial folders left behind


def test_interrupted_preparation_leaves_nothing_that_looks_complete(kth_src, tmp_path, monkeypatch):
    real, calls = kth.read_video, []

    def interrupted(path, size):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(kth, "read_video", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare("kth", kth_src, tmp_path / "new", progress=False)
    assert len(calls) == 2
    assert not (tmp_path / "new").exists() and not store.is_prepared(tmp_path / "new")
    assert _leftovers(tmp_path) == []


def test_destination_that_is_not_a_prepared_set_is_never_replaced(kth_src, tmp_path):
    dst = tmp_path / "mine"
    dst.mkdir()
    (dst / "notes.txt").write_text("keep me")
    for force in (False, True):
        with pytest.raises(FileExistsError, match="not a prepared lmvid dataset"):
            prepare.prepare("kth", kth_src, dst, progress=False, force=force)
    assert (dst / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    prepare.prepare("kth", kth_src, tmp_path / "empty", progress=False)  # an empty folder is fine
    assert store.is_prepared(tmp_path / "empty")


def test_bad_arguments_are_named(kth_src, tmp_path):
    with pytest.raises(ValueError, match="prepare kth: unknown parameter.*'colour'"):
        prepare.prepare("kth", kth_src, tmp_path / "d", colour=True)
    with pytest.raises(ValueError, match="dataset must be one of"):
        prepare.prepare("ucf", kth_src, tmp_path / "d")
    with pytest.raises(FileNotFoundError, match="source .*nowhere does not exist"):
        prepare.prepare("kth", tmp_path / "nowhere", tmp_path / "d")
    with pytest.raises(FileNotFoundError, match="00sequences.txt"):
        prepare.prepare("kth", tmp_path, tmp_path / "d", progress=False)


def test_describe_summarises_counts_shapes_and_provenance(kth_src, tmp_path):
    dst = prepare.prepare("kth", kth_src, tmp_path / "p", progress=False)
    text = prepare.describe("kth", dst)
    assert "| train | 1 | 12 | 64x64x1 | no | - |" in text
    assert "| test | 2 | 17 | 64x64x1 | no | - |" in text
    assert str(kth_src.resolve()) in text and "SAVP" in text
    with pytest.raises(ValueError, match="holds a prepared 'kth' set, not 'bair'"):
        prepare.describe("bair", dst)


def test_cli_prepare_and_describe(tmp_path, capsys):
    src = tmp_path / "bair"
    write_bair(src, BAIR_FILES, n_steps=3)
    dst = tmp_path / "out"
    assert cli.main(["prepare", "bair", "--src", str(src), "--dst", str(dst), "--no-progress", "--camera", "main"]) == 0
    out = capsys.readouterr().out
    assert "| tune | 1 | 3 | 64x64x3 | no |" in out
    index = json.loads((dst / "index.json").read_text())
    assert index["dataset"] == "bair" and index["provenance"]["options"]["camera"] == "main"
    assert cli.main(["prepare", "bair", "--src", str(src), "--dst", str(dst), "--no-progress", "--camera", "main"]) == 0
    assert "already prepared" in capsys.readouterr().out
    assert cli.main(["prepare", "bair", "--src", str(src), "--dst", str(dst), "--no-progress"]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli.main(["describe", "bair", str(dst)]) == 0
    assert "**bair**" in capsys.readouterr().out
    assert cli.main(["prepare", "bair", "--src", str(tmp_path / "none"), "--dst", str(tmp_path / "x")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_tuple_and_optional_options(tmp_path):
    args = vars(
        cli.build_parser().parse_args(
            [
                "prepare",
                "bbc",
                "--src",
                "s",
                "--dst",
                "d",
                "--splits",
                "train",
                "val",
                "--out-size",
                "64",
                "--video-crop-splits",
                "train",
                "--margin",
                "120",
            ]
        )
    )
    assert args["splits"] == ["train", "val"] and args["out_size"] == 64
    assert args["video_crop_splits"] == ["train"] and args["margin"] == 120.0
    args = vars(cli.build_parser().parse_args(["prepare", "bair", "--src", "s", "--dst", "d", "--max-files", "2"]))
    assert args["max_files"] == 2 and "camera" not in args


def test_bbc_subset_of_splits(tmp_path):
    from fixtures_real import write_bbc

    write_bbc(tmp_path / "bbc", {1: [1, 2]})
    dst = prepare.prepare_bbc(tmp_path / "bbc", tmp_path / "p", progress=False, splits=("train",), out_size=32)
    videos = store.open_split(dst, "train")
    assert videos.frames.shape == (2, 32, 32, 3) and videos.meta["crop_mode"] == "frame"
    assert videos.crops.shape == (2, 3) and videos.meta["crop_out_size"] == 32
    assert "| train | 1 | 2 | 32x32x3 | yes | frame |" in prepare.describe("bbc", dst)
    assert list(store.read_index(dst)["splits"]) == ["train"]
    assert np.isfinite(videos.keypoints).all()


def test_bbc_training_videos_give_the_held_out_frames_and_the_validation_split_as_disjoint_blocks(tmp_path):
    from fixtures_real import write_bbc

    rows = np.arange(100, 123)  # 23 annotated frames of one training video, in frame order
    parts = prepare.bbc_video_parts("train", rows)
    assert list(parts) == ["train", HELD_OUT_FRAMES, VALIDATION]
    assert np.array_equal(np.concatenate(list(parts.values())), rows)  # disjoint, nothing lost, in time order
    assert [len(p) for p in parts.values()] == [19, 2, 2]
    assert list(prepare.bbc_video_parts("val", rows)) == ["val"]  # other videos stay whole
    write_bbc(tmp_path / "bbc", {1: list(range(1, 21)), 2: list(range(1, 11))})
    dst = prepare.prepare_bbc(tmp_path / "bbc", tmp_path / "p", progress=False, splits=("train",), out_size=32)
    sets = {s: store.open_split(dst, s) for s in ("train", HELD_OUT_FRAMES, VALIDATION)}
    assert {s: v.frame_numbers.tolist() for s, v in sets.items()} == {
        "train": [*range(1, 17), *range(1, 9)],
        HELD_OUT_FRAMES: [17, 18, 9],
        VALIDATION: [19, 20, 10],
    }
    assert all(v.video_ids.tolist() == [1, 2] for v in sets.values())
    assert "held_out_frames = the first of those" in store.read_index(dst)["provenance"]["split_rule"]


def test_kth_validation_is_every_nth_training_video_file(tmp_path, monkeypatch):
    videos = {f"person0{p}_{a}_d1": [(1, 12)] for p, a in ((1, "boxing"), (1, "walking"), (3, "running"))}
    write_kth(tmp_path / "kth", {**videos, "person20_walking_d2": [(2, 10)]}, n_frames=12, codec="rawvideo")
    monkeypatch.setattr(prepare, "KTH_VALIDATION_EVERY", 2)
    dst = prepare.prepare("kth", tmp_path / "kth", tmp_path / "prepared", progress=False)
    train, tune = (store.open_split(dst, s) for s in ("train", VALIDATION))
    files = {s: {name.split("#")[0] for name in v.video_names} for s, v in (("train", train), (VALIDATION, tune))}
    assert files["train"] and files[VALIDATION] and not files["train"] & files[VALIDATION]
    assert set(tune.video_ids) <= set(kth.person_split("savp")["train"])  # the training persons, other recordings
    assert "tune = one in every 2 training video files" in store.read_index(dst)["provenance"]["split_rule"]


@pytest.mark.parametrize("convention, persons", [("savp", "test 17-25"), ("svg", "test 21-25")])
def test_captions_name_the_kth_person_split_of_a_prepared_set(kth_src, tmp_path, convention, persons):
    dst = prepare.prepare("kth", kth_src, tmp_path / convention, progress=False, convention=convention)
    source = data_source(TrainConfig(dataset="kth", data_root=str(dst)))
    assert source.startswith("prepared real KTH data, split persons train")
    assert persons in source and f"({convention.upper()} convention)" in source
    assert data_source(TrainConfig(dataset="kth", data_root=str(tmp_path / "moved"))) == "prepared real KTH data"
