"""The embedded synthetic datasets: API contract, determinism, ground truth matching the pixels, preset behaviour."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lmvid_lib.data import render, synthetic
from lmvid_lib.data.store import open_split
from lmvid_lib.data.synthetic import pusher, signer, walker
from lmvid_lib.eval.keypoints import KeypointEvalConfig, evaluate_mean_pose

# Small sets: a few short videos per preset (the defaults are the cpu profile's, far too big for a unit test).
SMALL = {
    "signer": dict(n_videos=3, n_frames=8, size=64),
    "pusher": dict(n_videos=4, n_frames=8),
    "walker": dict(n_videos=6, n_frames=8),
}
CHANNELS = {"signer": 3, "pusher": 3, "walker": 1}
SPLITS = {
    "signer": ("train", "tune", "test", "val"),
    "pusher": ("train", "tune", "test"),
    "walker": ("train", "tune", "test"),
}
# Documented default sizes of the other splits: signer max(identities used, n_videos // 2), else max(1, n_videos // 2).
EVAL_VIDEOS = {"signer": 3, "pusher": 2, "walker": 3}


@pytest.fixture(scope="module")
def signer_sets() -> dict[str, synthetic.SyntheticVideos]:
    """Signer at the default 128x128 with enough motion for the mean-pose baseline to mean something."""
    frames = {"train": 120, "test": 30, "val": 120}  # 'test' only serves the attire comparison
    return {split: synthetic.generate("signer", split, 0, n_videos=6, n_frames=t) for split, t in frames.items()}


@pytest.fixture(scope="module")
def walker_sets() -> dict[str, synthetic.SyntheticVideos]:
    return {split: synthetic.generate("walker", split, 0, n_videos=12, n_frames=40) for split in ("train", "test")}


def _background(preset: str, split: str, video: int, videos: synthetic.SyntheticVideos, seed: int = 0) -> np.ndarray:
    """The static scene [H,W,C] in [0,1] that the generator painted video `video` over, rebuilt from its parts
    (for pusher: of a set made with SMALL["pusher"])."""
    size = videos.frames.shape[2]
    if preset == "signer":
        return signer._signer_identity(seed, int(videos.video_ids[video]), size).background
    if preset == "pusher":
        cfg = synthetic.preset_config("pusher", **SMALL["pusher"])
        return pusher.video_scene(cfg, seed, SPLITS[preset].index(split), video)["table"]
    person = walker._walker_person(seed, int(videos.video_ids[video]), size)
    return walker._walker_background(seed, SPLITS[preset].index(split), video, size, person)


@pytest.mark.parametrize("preset", sorted(SMALL))
def test_splits_have_the_documented_shapes_dtypes_and_fields(preset: str) -> None:
    overrides = SMALL[preset]
    assert synthetic.splits(preset) == SPLITS[preset]
    for split in SPLITS[preset]:
        videos = synthetic.generate(preset, split, 0, **overrides)
        n, t, h, w, c = videos.frames.shape
        assert videos.frames.dtype == np.uint8
        assert (t, c) == (overrides["n_frames"], CHANNELS[preset])
        assert h == w == overrides.get("size", 64)
        assert n == (overrides["n_videos"] if split == "train" else EVAL_VIDEOS[preset])
        assert videos.keypoints.dtype == np.float32
        assert videos.keypoints.shape == (n, t, len(videos.keypoint_names), 2)
        assert all(isinstance(name, str) for name in videos.keypoint_names)
        assert videos.video_ids.shape == (n,) and np.issubdtype(videos.video_ids.dtype, np.integer)
        assert (videos.preset, videos.split) == (preset, split)
        assert (videos.actions is not None) == (preset == "walker")
        assert videos.frames.std() > 5, "frames should not be blank"


def test_keypoint_names_and_counts() -> None:
    assert synthetic.generate("signer", "train", 0, **SMALL["signer"]).keypoint_names == [
        "head",
        "right_wrist",
        "left_wrist",
        "right_elbow",
        "left_elbow",
        "right_shoulder",
        "left_shoulder",
    ]
    pusher = synthetic.generate("pusher", "train", 0, **SMALL["pusher"])
    assert pusher.keypoint_names[:4] == ["shoulder", "elbow", "wrist", "gripper"]
    # Absent objects (1-3 per scene) are NaN for the whole video; the arm is always present.
    assert not np.isnan(pusher.keypoints[..., :4, :]).any()
    assert len(synthetic.generate("walker", "train", 0, **SMALL["walker"]).keypoint_names) == 14


@pytest.mark.parametrize("preset", sorted(SMALL))
def test_same_seed_same_arrays_other_seed_other_arrays(preset: str) -> None:
    a = synthetic.generate(preset, "train", 3, **SMALL[preset])
    b = synthetic.generate(preset, "train", 3, **SMALL[preset])
    c = synthetic.generate(preset, "train", 4, **SMALL[preset])
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.video_ids, b.video_ids)
    assert not np.array_equal(a.frames, c.frames)
    assert not np.allclose(a.keypoints, c.keypoints, equal_nan=True)


@pytest.mark.parametrize("preset", sorted(SMALL))
def test_a_video_does_not_depend_on_how_many_are_generated(preset: str) -> None:
    overrides = dict(SMALL[preset])
    few = synthetic.generate(preset, "train", 0, **overrides)
    overrides["n_videos"] += 2
    more = synthetic.generate(preset, "train", 0, **overrides)
    np.testing.assert_array_equal(few.frames, more.frames[: len(few.frames)])
    np.testing.assert_array_equal(few.keypoints, more.keypoints[: len(few.frames)])


@pytest.mark.parametrize("preset", sorted(SMALL))
def test_visible_keypoints_lie_on_drawn_pixels(preset: str) -> None:
    """At every in-frame keypoint the frame differs from the static background: the joint is on the drawn body."""
    for split in SPLITS[preset][:2]:
        videos = synthetic.generate(preset, split, 0, **SMALL[preset])
        size = videos.frames.shape[2]
        differences = []
        for v in range(len(videos.frames)):
            background = _background(preset, split, v, videos)
            frames = videos.frames[v].astype(np.float32) / 255
            pixel = np.round(videos.keypoints[v]).astype(np.float64)
            inside = np.all((pixel >= 0) & (pixel <= size - 1), axis=-1)  # NaN (absent) compares False
            t, j = np.nonzero(inside)
            x, y = pixel[t, j, 0].astype(int), pixel[t, j, 1].astype(int)
            differences.append(np.abs(frames[t, y, x] - background[y, x]).max(-1))
        differences = np.concatenate(differences)
        assert len(differences) > 0
        assert differences.min() > 0.02, f"{preset} {split}: a keypoint sits on undrawn background"


def test_keypoint_check_detects_misplaced_keypoints() -> None:
    """The comparison above is not vacuous: keypoints moved a quarter frame away often land on bare background."""
    videos = synthetic.generate("walker", "train", 0, **SMALL["walker"])
    frames = videos.frames[0].astype(np.float32) / 255
    background = _background("walker", "train", 0, videos)
    pixel = np.round(videos.keypoints[0] + [16.0, 0.0]).astype(int)
    inside = np.all((pixel >= 0) & (pixel <= 63), axis=-1)
    t, j = np.nonzero(inside)
    differences = np.abs(frames[t, pixel[t, j, 1], pixel[t, j, 0]] - background[pixel[t, j, 1], pixel[t, j, 0]]).max(-1)
    assert (differences <= 0.02).mean() > 0.5


# ------------------------------------------------------------------------------------------------------------ render


def test_rendered_disc_is_anti_aliased_with_the_exact_area_and_sub_pixel_position() -> None:
    centres = np.array([[20.3, 17.6], [20.55, 17.6]])  # a quarter-pixel step
    canvas = render.Canvas(np.zeros((40, 40, 1), np.float32), 2)
    canvas.paint(render.disc(centres, 5.3), np.ones(1))
    image = canvas.frames[..., 0]
    assert np.all(np.abs(image.sum((1, 2)) - np.pi * 5.3**2) < 0.01 * np.pi * 5.3**2)
    assert ((image > 0.05) & (image < 0.95)).sum() > 20  # soft edge pixels all round
    xs = np.arange(40)
    centroid_x = (image.sum(1) * xs).sum(-1) / image.sum((1, 2))
    np.testing.assert_allclose(centroid_x, centres[:, 0], atol=0.02)


def test_crops_paint_exactly_what_the_full_grid_would_even_across_the_frame_border() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(-15, 45, (6, 2))
    b = a + rng.uniform(-20, 20, (6, 2))
    shape = render.capsule(a, b, rng.uniform(1, 6, 6))
    canvas = render.Canvas(np.full((32, 32, 1), 0.2, np.float32), 6)
    canvas.paint(shape, np.full(1, 0.9))
    y, x = np.mgrid[0:32, 0:32].astype(np.float32)
    dist, _, _ = shape.field(np.broadcast_to(x[None, :1, :], (6, 1, 32)), np.broadcast_to(y[None, :, :1], (6, 32, 1)))
    alpha = render.coverage(dist)
    np.testing.assert_allclose(canvas.frames[..., 0], 0.2 * (1 - alpha) + 0.9 * alpha, atol=1e-6)
    assert 0 < (alpha > 0).mean() < 1  # some shapes are (partly) outside the frame, some inside


# ------------------------------------------------------------------------------------------------------------ signer


def test_signer_has_five_appearances_and_a_held_out_attire(signer_sets: dict) -> None:
    train, val = signer_sets["train"], signer_sets["val"]
    assert len(np.unique(train.video_ids)) >= 5
    assert set(val.video_ids) <= set(train.video_ids)

    def foreground_colour(videos: synthetic.SyntheticVideos, identity: int) -> np.ndarray:
        """Mean RGB [3] of the pixels that differ from the identity's background (skin, hair, shirt) in its first
        video, over every 3rd frame."""
        v = int(np.flatnonzero(videos.video_ids == identity)[0])
        frames = videos.frames[v, ::3].astype(np.float32) / 255
        drawn = np.abs(frames - _background("signer", videos.split, v, videos)).max(-1) > 0.05
        return frames[drawn].mean(0)

    identities = np.unique(val.video_ids)
    colours = {split: np.array([foreground_colour(signer_sets[split], i) for i in identities]) for split in signer_sets}
    same_attire = np.abs(colours["train"] - colours["test"]).max(-1)
    other_attire = np.abs(colours["train"] - colours["val"]).max(-1)
    # Same clothes: only the pose changes what is visible (arms over the shirt); other clothes: a clear colour change.
    assert np.all(same_attire < 0.06), f"train and test should wear the same clothes: {same_attire}"
    assert np.all(other_attire > np.maximum(0.08, 2 * same_attire)), (
        f"val attire should differ from train: {other_attire}"
    )
    # The identities look different from each other too (skin, hair, background, clothes).
    gaps = np.abs(colours["train"][:, None] - colours["train"][None]).max(-1) + np.eye(len(identities))
    assert gaps.min() > 0.02


def test_signer_mean_pose_baseline_is_weak_because_head_and_shoulders_move(signer_sets: dict) -> None:
    train, val = signer_sets["train"].to_videoset(), signer_sets["val"].to_videoset()
    accuracy = evaluate_mean_pose(train, {"val": val}, KeypointEvalConfig()).splits["val"].accuracy
    assert 0.0 < accuracy < 0.40
    names = signer_sets["val"].keypoint_names
    keypoints = signer_sets["val"].keypoints
    for joint in ("head", "right_shoulder", "left_shoulder"):
        spread = keypoints[:, :, names.index(joint)].std(axis=1).max(-1)  # per video, the larger of x/y std (px)
        assert spread.mean() > 2.5, f"{joint} barely moves: std {spread}"


# ------------------------------------------------------------------------------------------------------------ pusher


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance [T,O] from objects `points` [T,O,2] to the gripper's path segments a->b [T,2]."""
    ab = (b - a)[:, None]
    ap = points - a[:, None]
    along = np.clip(np.sum(ap * ab, -1) / np.maximum(np.sum(ab * ab, -1), 1e-12), 0, 1)
    return np.linalg.norm(ap - along[..., None] * ab, axis=-1)


def test_pusher_objects_move_only_when_the_gripper_is_near() -> None:
    videos = synthetic.generate("pusher", "train", 0, n_videos=12, n_frames=30)
    # Contact distance: gripper radius 3.5 + largest object radius 5.5 + the gripper keypoint's 0.9 px lift in the
    # slightly oblique view, plus half a pixel.
    near = 3.5 + 5.5 + 0.9 + 0.5
    moved_frames = far_frames = 0
    for kp in videos.keypoints:
        objects = kp[:, 4:][:, ~np.isnan(kp[0, 4:, 0])]  # [T,O,2] present objects
        gripper = kp[:, 3]
        moved = np.linalg.norm(np.diff(objects, axis=0), axis=-1).max(-1) > 0  # [T-1]: any object moved
        distance = _segment_distance(objects[:-1], gripper[:-1], gripper[1:]).min(-1)  # gripper path to nearest object
        far = distance > near
        assert not np.any(moved & far), "an object moved while the gripper was far from all objects"
        moved_frames += moved.sum()
        far_frames += far.sum()
    assert moved_frames > 10 and far_frames > 10  # both situations occur, so the check above is not vacuous


# ------------------------------------------------------------------------------------------------------------ walker


def test_walker_is_grayscale_with_disjoint_persons_and_all_actions(walker_sets: dict) -> None:
    train, test = walker_sets["train"], walker_sets["test"]
    assert train.frames.shape[-1] == test.frames.shape[-1] == 1
    assert not set(train.video_ids) & set(test.video_ids)
    assert set(train.actions) == set(synthetic.WALKER_ACTIONS)
    assert len(train.actions) == len(train.video_ids)
    assert len(train.to_videoset().meta["actions"]) == len(train.video_ids)
    cfg = synthetic.preset_config("walker")
    assert set(test.video_ids) <= set(range(cfg.n_persons - cfg.n_test_persons, cfg.n_persons))


def test_walker_pairs_every_person_with_every_action() -> None:
    cfg = synthetic.preset_config("walker")
    n_train_persons = cfg.n_persons - cfg.n_test_persons
    videos = synthetic.generate("walker", "train", 0, n_videos=6 * n_train_persons, n_frames=1)
    pairs = set(zip(videos.video_ids.tolist(), videos.actions))
    assert pairs == {(p, a) for p in range(n_train_persons) for a in synthetic.WALKER_ACTIONS}


def test_walker_crossing_actions_move_horizontally_in_place_ones_do_not(walker_sets: dict) -> None:
    videos = walker_sets["train"]
    names = videos.keypoint_names
    hips = (videos.keypoints[:, :, names.index("right_hip")] + videos.keypoints[:, :, names.index("left_hip")]) / 2
    travel = np.abs(hips[:, -1, 0] - hips[:, 0, 0])  # px over the 40 frames
    speed = {}
    for action, distance in zip(videos.actions, travel):
        speed.setdefault(action, []).append(distance)
        if action in ("walking", "jogging", "running"):
            assert distance > 25, f"{action} travelled only {distance:.1f} px"
        else:
            assert distance < 8, f"{action} drifted {distance:.1f} px"
    assert np.mean(speed["walking"]) < np.mean(speed["jogging"]) < np.mean(speed["running"])


def test_walker_in_place_actions_move_the_arms(walker_sets: dict) -> None:
    videos = walker_sets["train"]
    wrist = videos.keypoints[:, :, videos.keypoint_names.index("right_wrist")]
    for action, path in zip(videos.actions, wrist):
        if action in ("boxing", "handwaving", "handclapping"):
            assert path.std(0).max() > 1.5, f"{action}: the wrist hardly moves"


def test_walker_may_leave_the_frame_and_keeps_reporting_coordinates() -> None:
    videos = synthetic.generate("walker", "train", 0, n_videos=3, n_frames=60)
    running = videos.keypoints[videos.actions.index("running")]
    assert not np.isnan(running).any()
    outside = np.any((running < 0) | (running > 63), axis=(1, 2))
    assert outside.any() and not outside.all()


def test_walker_rejects_impossible_person_split() -> None:
    with pytest.raises(ValueError, match="n_test_persons"):
        synthetic.generate("walker", "train", 0, n_persons=3, n_test_persons=3, n_frames=2, n_videos=1)


# ------------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("preset", "split", "overrides", "named"),
    [
        ("signer", "train", {"n_vidoes": 3}, "n_vidoes"),
        ("pusher", "train", {"n_frames": 0}, "n_frames"),
        ("walker", "train", {"size": 8}, "size"),
        ("walker", "train", {"n_persons": 0}, "n_persons"),
        ("pusher", "train", {"max_objects": 0}, "max_objects"),
        ("nonesuch", "train", {}, "preset"),
        ("pusher", "val", {}, "split"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_parameter(
    preset: str, split: str, overrides: dict, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        synthetic.generate(preset, split, 0, **overrides)


def test_negative_seed_is_rejected() -> None:
    with pytest.raises(ValueError, match="seed"):
        synthetic.generate("pusher", "train", -1, **SMALL["pusher"])


# ---------------------------------------------------------------------------------------------------------- caching


def test_cached_is_idempotent_and_keyed_by_overrides(tmp_path) -> None:
    first = synthetic.cached("walker", tmp_path, 0, n_videos=2, n_frames=4)
    frames_file = first / "train" / "frames.npy"
    stamp = frames_file.stat().st_mtime_ns
    os.utime(frames_file, ns=(stamp - 10**9, stamp - 10**9))  # make a rewrite visible even on coarse clocks
    again = synthetic.cached("walker", tmp_path, 0, n_videos=2, n_frames=4)
    assert again == first
    assert frames_file.stat().st_mtime_ns == stamp - 10**9, "the second call regenerated the set"
    other = synthetic.cached("walker", tmp_path, 0, n_videos=2, n_frames=5)
    assert other != first and other.parent == first.parent
    stored = open_split(first, "train")
    fresh = synthetic.generate("walker", "train", 0, n_videos=2, n_frames=4)
    np.testing.assert_array_equal(np.asarray(stored.frames), fresh.frames.reshape(-1, 64, 64, 1))
    np.testing.assert_array_equal(stored.keypoints, fresh.keypoints.reshape(-1, 14, 2))
    assert stored.meta["actions"] == fresh.actions


@pytest.mark.parametrize("preset", ["signer", "pusher", "walker"])
def test_tune_split_is_new_videos_of_the_training_distribution(preset: str) -> None:
    """The validation split: videos never trained on or reported, of the identities / persons / scenes that train."""
    sets = {split: synthetic.generate(preset, split, 0, **SMALL[preset]) for split in ("train", "tune", "test")}
    train, tune, test = sets["train"], sets["tune"], sets["test"]
    for other in (train, test):  # no frame of another split is a tune frame
        assert not any(np.array_equal(tune.frames[0, 0], f) for f in other.frames[:, 0])
    if preset == "pusher":  # a scene per video: tune scenes are new
        assert not set(tune.video_ids) & (set(train.video_ids) | set(test.video_ids))
    else:  # the training identities (signer, in their training attire) or persons (walker, whose test persons differ)
        assert set(tune.video_ids) <= set(train.video_ids)
    if preset == "walker":
        assert not set(test.video_ids) & set(tune.video_ids)


def test_pusher_videos_share_one_bin_table_and_robot_as_in_bair():
    cfg = synthetic.preset_config("pusher", **SMALL["pusher"])
    scenes = [pusher.video_scene(cfg, 0, split, v) for split in (0, 1, 2) for v in range(3)]
    for scene in scenes[1:]:
        assert np.array_equal(scene["table"], scenes[0]["table"])
        assert np.array_equal(scene["arm_colour"], scenes[0]["arm_colour"])
    assert len({len(s["radii"]) for s in scenes}) > 1  # the objects differ per video
    own = synthetic.preset_config("pusher", **SMALL["pusher"], shared_scene=False)
    tables = [pusher.video_scene(own, 0, 0, v)["table"] for v in range(2)]
    assert not np.array_equal(tables[0], tables[1])
    with pytest.raises(ValueError, match="min_objects <= max_objects"):
        synthetic.preset_config("pusher", min_objects=4, max_objects=3)


def test_walker_films_kths_four_scenarios_in_turn():
    """d2 zooms about the frame centre (keypoints with it), d3 changes only the clothes, d4 is a room."""
    kw = dict(n_videos=24, n_frames=12)
    four, one = (synthetic.generate("walker", "train", 0, **kw, scenarios=s) for s in (4, 1))
    assert np.array_equal(four.frames[:6], one.frames[:6])  # d1 is the outdoor stand-in as it was
    centre = (64 - 1) / 2
    for v in range(6, 12):  # d2: the same motion, zoomed by one factor z_t >= 1 per frame
        ratio = (four.keypoints[v] - centre) / (one.keypoints[v] - centre)
        z = np.nanmedian(ratio.reshape(len(ratio), -1), 1)
        np.testing.assert_allclose(ratio, np.broadcast_to(z[:, None, None], ratio.shape), rtol=1e-3, atol=1e-3)
        assert z.min() >= 1 - 1e-6 and z.max() > 1.1
    np.testing.assert_array_equal(four.keypoints[12:18], one.keypoints[12:18])  # d3: same motion ...
    assert not np.array_equal(four.frames[12:18], one.frames[12:18])  # ... in other clothes
    for v in range(18, 24):  # d4: keypoints on the drawn body over the room
        person = walker._walker_person(0, int(four.video_ids[v]), 64)
        room = walker._indoor_background(0, 0, v, 64, person)
        assert not np.allclose(room, walker._walker_background(0, 0, v, 64, person))
        pixel = np.round(four.keypoints[v]).astype(int)
        inside = np.all((pixel >= 0) & (pixel <= 63), axis=-1)
        t, j = np.nonzero(inside)
        drawn = np.abs(
            four.frames[v][t, pixel[t, j, 1], pixel[t, j, 0], 0] / 255 - room[pixel[t, j, 1], pixel[t, j, 0], 0]
        )
        assert drawn.min() > 0.02
    with pytest.raises(ValueError, match="scenarios must be in"):
        synthetic.generate("walker", "train", 0, n_videos=6, n_frames=4, scenarios=5)


def test_every_stand_in_has_a_row_per_axis_of_variation():
    from lmvid_lib.data.variation import AXES, variation_rows

    for preset in SMALL:
        rows = variation_rows(preset)
        assert [r[0] for r in rows] == list(AXES) and all(len(r) == 3 and r[1] and r[2] for r in rows)
    with pytest.raises(ValueError, match="no variation table"):
        variation_rows("bbc")
