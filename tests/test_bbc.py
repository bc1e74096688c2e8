"""BBC Pose: crop transforms, .mat annotations, frames, and preparation on fixtures in the real layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_real import BBC_FRAME_HW, write_bbc

from lmvid_lib.data import bbc, store
from lmvid_lib.data.prepare import prepare_bbc

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------------------------------------- crops
def test_unit_scale_crop_is_an_exact_slice():
    image = RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    # half_size 2 at out_size 4 is scale 1; centre 10.5 puts crop pixel centres on original pixels 9..12.
    crop = bbc.CropTransform(10.5, 20.5, 2.0, 4)
    np.testing.assert_array_equal(crop.crop_image(image), image[19:23, 9:13])
    np.testing.assert_allclose(crop.to_crop_pixels(np.array([9.0, 19.0])), [0.0, 0.0])


def test_centre_maps_to_zero_and_corners_to_half_out_size():
    joints = RNG.uniform(100, 300, (7, 2))
    crop = bbc.evaluation_crop(joints, margin=150, out_size=128)
    centre = (joints.min(0) + joints.max(0)) / 2
    assert (crop.center_x, crop.center_y, crop.half_size) == pytest.approx((centre[0], centre[1], 150.0))
    np.testing.assert_allclose(crop.to_crop(centre), [0, 0], atol=1e-9)
    corners = centre + np.array([[-150, -150], [150, -150], [-150, 150], [150, 150]])
    np.testing.assert_allclose(crop.to_crop(corners), [[-64, -64], [64, -64], [-64, 64], [64, 64]])
    np.testing.assert_allclose(crop.to_crop_pixels(centre), [63.5, 63.5])


def test_round_trips_numpy_torch_and_batched():
    joints = RNG.uniform(0, 700, (5, 7, 2))
    crops = bbc.evaluation_crop(joints)
    assert len(crops) == 5
    inside = crops.to_crop(joints)
    np.testing.assert_allclose(crops.from_crop(inside), joints, atol=1e-9)
    np.testing.assert_allclose(crops.from_crop_pixels(crops.to_crop_pixels(joints)), joints, atol=1e-9)
    for i in range(5):  # batched == one crop at a time
        np.testing.assert_allclose(crops[i].to_crop(joints[i]), inside[i], atol=1e-9)
    as_torch = crops.to_crop(torch.tensor(joints, dtype=torch.float32))
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.float32
    np.testing.assert_allclose(as_torch.numpy(), inside, atol=1e-3)
    np.testing.assert_allclose(crops.from_crop(as_torch).numpy(), joints, atol=1e-3)
    np.testing.assert_allclose(bbc.CropTransform.from_array(crops.as_array(), 128).to_crop(joints), inside)


def test_video_crop_keeps_every_keypoint_of_the_video_inside_with_the_margin():
    video = RNG.uniform([50, 80], [400, 300], (30, 7, 2))
    crop = bbc.video_crop(video, margin=60, out_size=128)
    inside = crop.to_crop(video)
    scale = 128 / (2 * crop.half_size)
    assert np.abs(inside).max() == pytest.approx(64 - 60 * scale)
    assert crop.half_size == pytest.approx(max(np.ptp(video[..., 0]), np.ptp(video[..., 1])) / 2 + 60)


def test_downscaled_crop_puts_a_bright_spot_where_its_keypoint_maps():
    image = np.zeros((400, 600, 3), np.uint8)
    spot = np.array([337.0, 211.0])
    image[206:217, 332:343] = 255  # 11x11 block centred on the spot
    crop = bbc.CropTransform(300.0, 200.0, 150.0, 128)
    out = crop.crop_image(image)[..., 0].astype(float)
    ys, xs = np.mgrid[0:128, 0:128]
    centroid = np.array([(xs * out).sum(), (ys * out).sum()]) / out.sum()
    np.testing.assert_allclose(centroid, crop.to_crop_pixels(spot), atol=0.05)


def test_padding_outside_the_frame_zeros_or_edge():
    image = np.full((20, 30, 3), 200, np.uint8)
    crop = bbc.CropTransform(-0.5, 9.5, 10.0, 20)  # scale 1; crop columns 0-9 lie left of the frame
    zeros = crop.crop_image(image, pad="zeros")
    assert zeros.shape == (20, 20, 3)
    assert (zeros[:, :10] == 0).all() and (zeros[:, 10:] == 200).all()
    assert (crop.crop_image(image, pad="edge") == 200).all()
    far = bbc.CropTransform(-500.0, -500.0, 10.0, 8)
    assert (far.crop_image(image) == 0).all() and (far.crop_image(image, pad="edge") == 200).all()
    with pytest.raises(ValueError, match="pad"):
        crop.crop_image(image, pad="reflect")


def test_crop_argument_errors():
    with pytest.raises(ValueError, match="half_size"):
        bbc.CropTransform(0, 0, 0, 128)
    with pytest.raises(ValueError, match="joints"):
        bbc.evaluation_crop(np.zeros((7, 3)))
    with pytest.raises(ValueError, match="all NaN"):
        bbc.evaluation_crop(np.full((7, 2), np.nan))
    with pytest.raises(ValueError, match="2 crops"):
        bbc.evaluation_crop(np.zeros((2, 7, 2))).to_crop(np.zeros((3, 7, 2)))


# ----------------------------------------------------------------------------------------------------- annotations
FRAMES = {1: [5, 2, 9], 3: [4], 12: [1, 3]}
TEST = {16: [8, 2], 20: [1]}


@pytest.fixture
def bbc_root(tmp_path):
    root = tmp_path / "bbcpose"
    truth = write_bbc(root, FRAMES, TEST)
    return root, truth


@pytest.mark.parametrize("split,videos", [("train", [1, 3]), ("val", [12]), ("test", [16, 20])])
def test_load_annotations_matches_what_was_written(bbc_root, split, videos):
    root, truth = bbc_root
    ann = bbc.load_annotations(root, split)
    assert sorted(set(ann.video_ids.tolist())) == videos
    assert len(ann) == sum(len((FRAMES | TEST)[v]) for v in videos)
    for v, f, j in zip(ann.video_ids, ann.frame_ids, ann.joints):
        np.testing.assert_allclose(j, truth[(v, f)], atol=1e-12)


def _expected_split(root, truth, videos, crop_of):
    """Check a prepared split against the source: frames, keypoints and crops.npy built with `crop_of(joints [n,7,2])`
    (batched crops) from each video's annotated frames, in frame order."""
    for v in range(videos.n_videos):
        vid = int(videos.video_ids[v])
        sl = slice(videos.video_starts[v], videos.video_starts[v + 1])
        numbers = videos.frame_numbers[sl]
        assert numbers.tolist() == sorted((FRAMES | TEST)[vid])  # annotated frames, in frame order
        joints = np.stack([truth[(vid, f)] for f in numbers])
        expected = crop_of(joints)
        np.testing.assert_allclose(videos.crops[sl], expected.as_array(), atol=1e-12)
        np.testing.assert_allclose(videos.keypoints[sl], expected.to_crop_pixels(joints), atol=1e-3)
        images = np.stack([bbc.read_frame(bbc.frame_path(root, vid, f)) for f in numbers])
        np.testing.assert_array_equal(videos.frames[sl], expected.crop_image(images))


def test_fit_and_test_frames_are_cropped_the_same_way_each_around_its_own_keypoints(bbc_root, tmp_path):
    root, truth = bbc_root
    dst = prepare_bbc(root, tmp_path / "prepared", progress=False)
    index = store.read_index(dst)
    for split in ("train", "val", "test"):
        videos = store.open_split(dst, split)
        assert videos.keypoint_names == bbc.JOINT_NAMES and videos.frames.shape[1:] == (128, 128, 3)
        meta = videos.meta
        assert (meta["crop_mode"], meta["crop_margin"], meta["crop_out_size"]) == ("frame", 150, 128)
        assert index["splits"][split]["crop_mode"] == "frame"
        # The same function and margin for every split: a 300x300 px square centred on each frame's keypoint box.
        _expected_split(root, truth, videos, lambda joints: bbc.evaluation_crop(joints, margin=150, out_size=128))
        assert (videos.crops[:, 2] == 150).all()
    assert sorted(index["splits"]) == ["test", "train", "val"]
    assert index["provenance"]["counts"]["train"] == {"videos": 2, "frames": 4}


def test_video_crops_are_extra_training_splits_beside_the_per_frame_ones(bbc_root, tmp_path):
    root, truth = bbc_root
    plain = prepare_bbc(root, tmp_path / "plain", progress=False, splits=("train", "test"))
    dst = prepare_bbc(
        root, tmp_path / "both", progress=False, splits=("train", "test"), video_crop_splits=("train",), video_margin=40
    )
    index = store.read_index(dst)
    assert sorted(index["splits"]) == ["test", "train", "train_video"]
    assert {s: v["crop_mode"] for s, v in index["splits"].items()} == {
        "train": "frame",
        "train_video": "video",
        "test": "frame",
    }
    per_frame, video = store.open_split(dst, "train"), store.open_split(dst, "train_video")
    np.testing.assert_array_equal(per_frame.frames, store.open_split(plain, "train").frames)  # untouched by the option
    assert (video.meta["crop_mode"], video.meta["crop_margin"]) == ("video", 40)
    np.testing.assert_array_equal(video.frame_numbers, per_frame.frame_numbers)
    for v in range(video.n_videos):  # one crop for all frames of a video, around all of the video's keypoints
        sl = slice(video.video_starts[v], video.video_starts[v + 1])
        assert len(np.unique(video.crops[sl], axis=0)) == 1
    _expected_split(
        root,
        truth,
        video,
        lambda joints: bbc.CropTransform.from_array(
            np.tile(bbc.video_crop(joints, margin=40).as_array(), (len(joints), 1)), 128
        ),
    )
    assert bbc.frame_crop_split("train_video") == "train" and bbc.frame_crop_split("test") == "test"


def test_bad_crop_options_are_named(bbc_root, tmp_path):
    root, _ = bbc_root
    with pytest.raises(ValueError, match="video_crop_splits.*not test"):
        prepare_bbc(root, tmp_path / "d", progress=False, video_crop_splits=("test",))
    with pytest.raises(ValueError, match="video_crop_splits"):
        prepare_bbc(root, tmp_path / "d", progress=False, splits=("train",), video_crop_splits=("val",))
    with pytest.raises(ValueError, match="prepare bbc: unknown parameter.*'train_crop'"):
        prepare_bbc(root, tmp_path / "d", progress=False, train_crop="video")
    assert not (tmp_path / "d").exists()


# ------------------------------------------------------------------------------------------------------- bad input
def test_missing_root_and_missing_mat(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bbc.load_annotations(tmp_path / "nope", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="bbcpose.mat"):
        bbc.load_annotations(tmp_path / "empty", "train")
    with pytest.raises(ValueError, match="split"):
        bbc.load_annotations(tmp_path / "empty", "training")


def test_mat_missing_a_field_is_named(tmp_path):
    write_bbc(tmp_path, {1: [1]}, drop_field="train_joints")
    with pytest.raises(KeyError, match="bbcpose.mat.*train_joints"):
        bbc.load_annotations(tmp_path, "train")


def test_results_mat_with_an_unexpected_layout_is_named(tmp_path):
    import scipy.io

    write_bbc(tmp_path, {1: [1]}, {16: [1]})
    results = np.zeros((1, 1), dtype=[("gt", "O"), ("videos", "O")])
    results[0, 0] = (np.ones((2, 7, 1)), np.ones((1, 1)))
    scipy.io.savemat(tmp_path / "code" / "results.mat", {"results": results})
    with pytest.raises(KeyError, match=r"results.mat.*'frame'.*\['gt', 'videos'\]"):
        bbc.load_annotations(tmp_path, "test")
    (tmp_path / "code" / "results.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="results.mat"):
        bbc.load_annotations(tmp_path, "test")


def test_joints_of_the_wrong_shape_are_named(tmp_path):
    import scipy.io

    write_bbc(tmp_path, {1: [1, 2]})
    mat = scipy.io.loadmat(tmp_path / "code" / "bbcpose.mat")
    mat["bbcpose"][0, 0]["train_joints"] = np.ones((2, 5, 2))
    scipy.io.savemat(tmp_path / "code" / "bbcpose.mat", {"bbcpose": mat["bbcpose"]})
    with pytest.raises(ValueError, match=r"bbcpose\(1\).train_joints must be \[2,7,2\]"):
        bbc.load_annotations(tmp_path, "train")


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "missing", "wrong_size"])
def test_bad_frames_are_named(tmp_path, damage):
    from PIL import Image

    root = tmp_path / "src"
    write_bbc(root, {1: [1, 2], 11: [1]}, {16: [1]})
    path = bbc.frame_path(root, 1, 2)
    if damage == "corrupt":
        path.write_bytes(b"\xff\xd8garbage" * 10)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "missing":
        path.unlink()
    else:
        Image.fromarray(np.zeros((BBC_FRAME_HW[0] + 1, BBC_FRAME_HW[1], 3), np.uint8)).save(path)
    expected = {"missing": FileNotFoundError}.get(damage, ValueError)
    with pytest.raises(expected, match=str(path)):
        prepare_bbc(root, tmp_path / "dst", progress=False)
    assert not (tmp_path / "dst").exists()
