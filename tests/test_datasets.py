"""Real-format fixtures through prepare -> open_dataset give the same kind of data as their embedded stand-ins.

Each real dataset and its stand-in (bbc/signer, bair/pusher, kth/walker) must reach training and evaluation through
the same `open_dataset` call, as `VideoSet`s with the same layout: uint8 frames with the stand-in's channel count,
keypoints in the same order where the dataset has them, and batches that `make_training_batch` can build.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_real import write_bair, write_bbc, write_kth

from lmvid_lib.data.augment import AugmentConfig
from lmvid_lib.data.datasets import check_dataset, open_dataset
from lmvid_lib.data.pairs import FrameSampler, make_training_batch
from lmvid_lib.data.prepare import prepare_bair, prepare_bbc, prepare_kth
from lmvid_lib.data.store import VideoSet

SMALL = {
    "signer": {"n_videos": 6, "n_frames": 8},
    "pusher": {"n_videos": 2, "n_frames": 30},
    "walker": {"n_videos": 2, "n_frames": 40},
}


def _prepare_bbc(tmp_path):
    write_bbc(tmp_path / "src", {1: [1, 2, 3, 4], 12: [1, 2]}, {16: [1, 2]})
    return prepare_bbc(tmp_path / "src", tmp_path / "bbc", progress=False)


def _prepare_bair(tmp_path):
    write_bair(
        tmp_path / "src",
        {"train/traj_0_to_255.tfrecords": 2, "train/traj_256_to_511.tfrecords": 1, "test/traj_0_to_255.tfrecords": 1},
    )
    return prepare_bair(tmp_path / "src", tmp_path / "bair", progress=False)


def _prepare_kth(tmp_path):
    write_kth(tmp_path / "src", {"person01_walking_d1": [(1, 40)], "person17_boxing_d2": [(1, 40)]}, n_frames=40)
    return prepare_kth(tmp_path / "src", tmp_path / "kth", progress=False)


CASES = [
    ("bbc", "signer", _prepare_bbc, ("train", "val", "test")),
    ("bair", "pusher", _prepare_bair, ("train", "tune", "test")),  # both validate on tune
    ("kth", "walker", _prepare_kth, ("train", "test")),
]


def _assert_trainable(videos: VideoSet, image_size: int) -> None:
    sampler = FrameSampler(videos, AugmentConfig(), seed=0)
    batch = make_training_batch(
        videos, sampler, 2, AugmentConfig(), image_size, torch.Generator().manual_seed(0), "cpu"
    )
    channels = videos.frames.shape[-1]
    for key in ("target", "pose_input", "appearance_input"):
        assert batch[key].shape == (2, channels, image_size, image_size)
        assert torch.isfinite(batch[key]).all() and 0 <= batch[key].min() and batch[key].max() <= 1


@pytest.mark.parametrize("real,stand_in,prepare,splits", CASES, ids=[c[0] for c in CASES])
def test_real_and_stand_in_open_the_same_way(tmp_path, real, stand_in, prepare, splits):
    data_root = prepare(tmp_path)
    check_dataset(real, data_root)
    for split in splits:
        got = open_dataset(real, split, tmp_path / "run", data_root)
        ref = open_dataset(stand_in, "train", tmp_path / "run", seed=0, **SMALL[stand_in])
        assert isinstance(got, VideoSet) and len(got.frames) > 0
        assert got.frames.dtype == ref.frames.dtype == np.uint8
        assert got.frames.shape[-1] == ref.frames.shape[-1], "channel count differs from the stand-in"
        assert got.frames.shape[1] == got.frames.shape[2], "frames are square like the stand-in's"
        assert got.video_starts[-1] == len(got.frames) and len(got.video_ids) == len(got.video_starts) - 1
        if got.keypoints is not None:
            assert got.keypoints.dtype == ref.keypoints.dtype == np.float32
            assert got.keypoint_names == ref.keypoint_names  # BBC joints in the signer's (BBC Pose) order
            inside = got.keypoints[np.isfinite(got.keypoints)]
            assert inside.min() >= -0.5 and inside.max() <= got.frames.shape[1] - 0.5
        _assert_trainable(got, 32)


def test_real_dataset_without_data_root_says_how_to_prepare(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_root"):
        open_dataset("bbc", "train", tmp_path)


def test_data_root_of_another_dataset_is_named(tmp_path):
    data_root = _prepare_kth(tmp_path)
    with pytest.raises(ValueError, match="holds dataset 'kth'"):
        open_dataset("bair", "train", tmp_path / "run", data_root)
