"""Pixel scales of the keypoint protocol: crop, original and half-original pixels, on hand-made numbers and on the
real-format BBC Pose fixtures; "auto" per dataset; clear errors for data without original frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_config
from fixtures_real import write_bbc

from lmvid_lib import landmarks
from lmvid_lib.data import bbc, store
from lmvid_lib.data.prepare import prepare_bbc
from lmvid_lib.eval import keypoints as kp
from lmvid_lib.eval import scales

FRAMES = {1: [1, 4, 6, 9, 10, 12, 15, 17, 20], 2: [2, 3, 5, 8, 11, 13, 14], 11: [5]}  # 16 >= 2K fit frames
TEST = {16: [1, 7, 8], 19: [2, 5]}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A prepared BBC Pose set from fixtures in the original layout, and {(video, frame): joints [7,2]} written."""
    root = tmp_path_factory.mktemp("bbc") / "src"
    truth = write_bbc(root, FRAMES, TEST)
    return prepare_bbc(root, root.parent / "prepared", progress=False), truth


def _original_joints(videos: store.VideoSet, truth: dict) -> np.ndarray:
    """[M,7,2] the annotated joints (0-based original pixels) of every stored frame, from what the fixture wrote."""
    vids = np.repeat(videos.video_ids, videos.lengths)
    return np.stack([truth[(int(v), int(f))] for v, f in zip(vids, videos.frame_numbers)])


# ----------------------------------------------------------------------------------------------------- coordinates
def test_normalised_to_crop_pixels_agrees_with_the_landmarks_convention():
    mu = torch.tensor([[[-1.0, 1.0], [0.0, 0.0], [-1 + 1 / 64, -1 + 3 / 64]]])  # edge, centre, pixel (0, 1) centres
    cc = scales.landmarks_to_crop_centred(mu, 64)
    np.testing.assert_allclose(cc[0, 1], [0, 0])
    np.testing.assert_allclose(cc[0, 0], [-32, 32])  # image edges are at +-crop_size/2
    pix = scales.crop_centred_to_pixels(cc, 64)
    np.testing.assert_allclose(pix, landmarks.norm_to_pixel(mu, 64, 64).numpy(), atol=1e-6)
    np.testing.assert_allclose(pix[0, 2], [0, 1], atol=1e-6)
    # Keypoints in pixels of a 32x32 stored frame measured in a 128 crop: the frame centre maps to 0, scale x4.
    np.testing.assert_allclose(scales.pixels_to_crop_centred([[15.5, 15.5], [0, 31]], 32, 128), [[0, 0], [-62, 62]])


def test_round_trip_normalised_crop_original_and_back():
    rng = np.random.default_rng(2)
    joints = rng.uniform(100, 500, size=(4, 7, 2))
    crops = bbc.evaluation_crop(joints, margin=150, out_size=128)  # batched: one crop per frame
    mu = rng.uniform(-1, 1, size=(4, 10, 2))
    original = scales.crop_centred_to_original(scales.landmarks_to_crop_centred(mu, 64), crops, 64)
    # Normalised -1/+1 are the crop edges, +-150 px from the centre of the joints' box in the original frame.
    centre = (joints.min(axis=1) + joints.max(axis=1)) / 2
    np.testing.assert_allclose(original, centre[:, None] + 150 * mu)
    back = crops.to_crop(original) * (2 / 128)
    np.testing.assert_allclose(back, mu, atol=1e-12)
    # to_crop_pixels of the BBC crop and ours agree at the crop's own resolution.
    np.testing.assert_allclose(crops.to_crop_pixels(original), scales.crop_centred_to_pixels(mu * 64, 128), atol=1e-9)
    half = scales.to_eval_pixels(scales.landmarks_to_crop_centred(mu, 64), "half_original", 64, crops)
    np.testing.assert_allclose(half, 0.5 * ((original + 1) - 1) + 1)  # 1-based, halved: the BBC evaluation's convention
    with pytest.raises(ValueError, match="crops holds 4 crops for N=3 samples"):
        scales.crop_centred_to_original(mu[:3], crops, 64)
    with pytest.raises(ValueError, match="needs the per-frame crops"):
        scales.to_eval_pixels(mu, "original", 128)
    one = bbc.CropTransform(200.0, 100.0, 50.0, 128)
    np.testing.assert_allclose(scales.crop_centred_to_original(np.zeros((2, 1, 2)), one, 128), [[[200, 100]]] * 2)


# ------------------------------------------------------------------------------------------------ hand-made values
def test_half_original_pck_on_a_hand_made_example():
    # Two frames cut with different crops: 300 px (half side 150) and 150 px (half side 75) squares, both to 128 px.
    crops = bbc.CropTransform(np.array([200.0, 400.0]), np.array([100.0, 300.0]), np.array([150.0, 75.0]), 128)
    gt_cc = np.zeros((2, 2, 2))  # two joints per frame, at the crop centres (crop-centred pixels at 128)
    pred_cc = np.array([[[6.4, 0.0], [0.0, 2.56]], [[6.4, 0.0], [0.0, -12.8]]])
    # By hand: original px = crop px * (2 * half side / 128): frame 0 x 300/128, frame 1 x 150/128, so the errors are
    # 15, 6 | 7.5, 15 original px; half-original 0.5 * (p - 1) + 1 halves distances: 7.5, 3 | 3.75, 7.5.
    cfg = kp.KeypointEvalConfig(threshold=5.0, eval_scale="half_original")
    result = kp.score_split(pred_cc, gt_cc, np.arange(2), cfg, crops)
    assert result.accuracy == pytest.approx(2 / 4)  # 3 and 3.75 are within 5
    np.testing.assert_allclose(result.per_joint, [1 / 2, 1 / 2])
    gt_1based = np.array([[201.0, 101.0], [401.0, 301.0]])  # the crop centres, 1-based
    np.testing.assert_allclose(result.gt[:, 0], 0.5 * (gt_1based - 1) + 1)
    # The same predictions in crop pixels (errors 6.4, 2.56 | 6.4, 12.8) and in original pixels (15, 6 | 7.5, 15).
    assert kp.score_split(pred_cc, gt_cc, np.arange(2), kp.KeypointEvalConfig(threshold=5.0)).accuracy == 1 / 4
    original = kp.KeypointEvalConfig(threshold=7.0, eval_scale="original")
    assert kp.score_split(pred_cc, gt_cc, np.arange(2), original, crops).accuracy == 1 / 4


# ------------------------------------------------------------------------------------- real-format BBC fixtures
def test_mean_pose_pck_at_half_original_scale_equals_the_hand_computed_value(prepared):
    dst, truth = prepared
    train, test = store.open_split(dst, "train"), store.open_split(dst, "test")
    train_joints, test_joints = _original_joints(train, truth), _original_joints(test, truth)

    def centre(joints):  # [N,7,2] -> [N,1,2], the centre of each frame's keypoint box
        return (joints.min(axis=1, keepdims=True) + joints.max(axis=1, keepdims=True)) / 2

    # By hand, from the annotations alone: each frame's crop is a 300 px square around the centre of its keypoint box,
    # resized to 128 px; the mean training pose in crop pixels, put into each test frame's crop, back to the original.
    mean_cc = ((train_joints - centre(train_joints)) * 128 / 300).mean(axis=0)
    pred = centre(test_joints) + mean_cc * 300 / 128

    def half(p):  # the BBC evaluation's 0.5 * (p - 1) + 1, on the 1-based pixels p + 1
        return 0.5 * ((p + 1) - 1) + 1

    errors = np.linalg.norm(half(pred) - half(test_joints), axis=-1)
    threshold = 3.0
    expected = np.mean(errors <= threshold)
    assert 0 < expected < 1  # the fixture puts joints on both sides of the threshold

    cfg = kp.KeypointEvalConfig(threshold=threshold, eval_scale="half_original")
    result = kp.evaluate_mean_pose(train, {"test": test}, cfg).splits["test"]
    assert result.accuracy == pytest.approx(expected)
    np.testing.assert_allclose(result.gt, half(test_joints), atol=1e-3)
    np.testing.assert_allclose(result.pred, half(pred), atol=1e-3)
    # At crop scale the same frames are scored in 128 px crop pixels: distances x 128/300 of the original ones.
    crop = kp.evaluate_mean_pose(train, {"test": test}, kp.KeypointEvalConfig(threshold=threshold)).splits["test"]
    assert crop.accuracy == pytest.approx(np.mean(2 * errors * 128 / 300 <= threshold))


def test_regression_scores_at_half_original_through_each_frames_own_crop(prepared):
    dst, truth = prepared
    sets = {name: store.open_split(dst, name) for name in ("train", "test")}
    # Landmarks that are the keypoints themselves (normalised over the crop): the linear map is exact.
    landmarks = {name: (v.keypoints - 63.5) / 64 for name, v in sets.items()}
    cfg = kp.KeypointEvalConfig(threshold=0.5, eval_scale="half_original", per_identity=False)
    result = kp.evaluate_landmarks(landmarks, sets["train"], {"test": sets["test"]}, cfg).splits["test"]
    np.testing.assert_allclose(result.gt, 0.5 * _original_joints(sets["test"], truth) + 1, atol=1e-3)
    np.testing.assert_allclose(result.pred, result.gt, atol=1e-3)
    assert result.accuracy == 1.0


# ------------------------------------------------------------------------------------------------ auto and errors
def test_auto_resolves_per_dataset_and_original_scales_need_original_frames():
    assert scales.resolve_eval_scale("auto", "bbc") == "half_original"
    assert scales.resolve_eval_scale("auto", "signer") == "crop"
    assert scales.resolve_eval_scale("crop", "bbc") == "crop"
    assert kp.KeypointEvalConfig(eval_scale="auto").for_dataset("bbc").unit == "px at half the original resolution"
    for scale in ("original", "half_original"):
        with pytest.raises(ValueError, match=f"eval_scale='{scale}': dataset 'signer' has no original frames"):
            kp.KeypointEvalConfig(eval_scale=scale).for_dataset("signer")


def test_frames_without_crops_at_an_original_scale_say_why(prepared):
    dst, _ = prepared
    with_crops = store.open_split(dst, "test")
    rendered = store.VideoSet(
        np.asarray(with_crops.frames),
        with_crops.video_starts,
        with_crops.video_ids,
        with_crops.frame_numbers,
        with_crops.keypoints,
    )  # no crops: like the embedded signer
    cfg = kp.KeypointEvalConfig(eval_scale="half_original")
    with pytest.raises(ValueError, match="no original frames, its pixels are crop pixels"):
        kp.evaluate_mean_pose(rendered, {"test": rendered}, cfg)
    assert kp.evaluate_mean_pose(rendered, {"test": rendered}).splits["test"].accuracy >= 0  # crop scale needs none


def test_bad_eval_scale_values_name_the_parameter():
    with pytest.raises(ValueError, match="KeypointEvalConfig.eval_scale must be one of"):
        kp.KeypointEvalConfig(eval_scale="full")
    with pytest.raises(ValueError, match="eval_scale must be one of.*'full'"):
        scales.resolve_eval_scale("full", "bbc")
    with pytest.raises(ValueError, match="resolve 'auto' first"):
        scales.to_eval_pixels(np.zeros((1, 7, 2)), "auto", 128)


def test_protocol_crops_demand_the_same_per_frame_crop_on_every_split(prepared, tmp_path):
    dst, _ = prepared
    train, test = store.open_split(dst, "train"), store.open_split(dst, "test")
    index = {"train": np.array([0, 2]), "test": np.arange(len(test.frames))}
    crops = scales.protocol_crops({"train": train, "test": test}, index)
    np.testing.assert_array_equal(crops["train"].as_array(), train.crops[[0, 2]])
    assert crops["test"].out_size == 128 and len(crops["test"]) == len(test.frames)

    def variant(videos, crops=None, **meta):
        return store.VideoSet(
            np.asarray(videos.frames),
            videos.video_starts,
            videos.video_ids,
            videos.frame_numbers,
            videos.keypoints,
            crops,
            meta={**videos.meta, **meta},
        )

    video_copy = variant(train, train.crops, crop_mode="video")
    with pytest.raises(ValueError, match="split 'train' holds crop_mode 'video', not 'frame'.*per-frame split"):
        scales.protocol_crops({"train": video_copy, "test": test}, index)
    with pytest.raises(ValueError, match="cropped the same way.*'train': \\(100"):
        scales.protocol_crops({"train": variant(train, train.crops, crop_margin=100), "test": test}, index)
    with pytest.raises(ValueError, match="cropped the same way.*'test': 'no crops'"):
        scales.protocol_crops({"train": train, "test": variant(test)}, index)
    assert scales.protocol_crops({"train": variant(train), "test": variant(test)}, index) == {
        "train": None,
        "test": None,
    }


def test_store_keeps_the_crops_of_every_frame(prepared, tmp_path):
    dst, _ = prepared
    videos = store.open_split(dst, "val")
    store.write_dataset(tmp_path / "copy", "bbc", {"val": videos}, {"source": "test"}, bbc.JOINT_NAMES)
    back = store.open_split(tmp_path / "copy", "val")
    np.testing.assert_array_equal(back.crops, videos.crops)
    assert back.crops.dtype == np.float64 and back.meta["crop_mode"] == "frame"
    with pytest.raises(ValueError, match=r"crops must be \[M=1,3\]"):
        store.VideoSet(
            np.asarray(videos.frames),
            videos.video_starts,
            videos.video_ids,
            videos.frame_numbers,
            crops=np.zeros((1, 2)),
        )


def test_evaluate_run_scores_a_run_trained_on_video_crops_at_half_original_on_per_frame_crops(tmp_path, one_thread):
    from lmvid_lib.train import train_factorization

    root = tmp_path / "src"
    truth = write_bbc(root, FRAMES, TEST)
    data = prepare_bbc(
        root, tmp_path / "prepared", progress=False, out_size=32, splits=("train", "test"), video_crop_splits=("train",)
    )
    train_cfg = tiny_config(data, dataset="bbc", split="train_video", steps=1)
    run_dir = tmp_path / "runs"
    run = train_factorization(train_cfg, run_dir)["run"]
    cfg = kp.KeypointEvalConfig(eval_scale="auto", threshold=6.0)
    result = kp.evaluate_run(run, run_dir, ["test"], cfg, baseline="mean_pose")
    assert result.config["eval_scale"] == "half_original"  # "auto" on BBC Pose
    test = store.open_split(data, "test")
    np.testing.assert_allclose(result.splits["test"].gt, 0.5 * _original_joints(test, truth) + 1, atol=1e-2)
    # Fitted on the per-frame "train" split, not on the video crops the model trained on.
    expected = kp.evaluate_mean_pose(store.open_split(data, "train"), {"test": test}, cfg.for_dataset("bbc"))
    np.testing.assert_allclose(result.splits["test"].pred, expected.splits["test"].pred)
    learned = kp.evaluate_run(run, run_dir, ["test"], kp.KeypointEvalConfig(eval_scale="half_original"), progress=False)
    assert learned.splits["test"].pred.shape == (5, 7, 2)
