"""The scene decoder (decoder 'scene': reads the conditioning frame), training on another run's frozen landmarks
(`landmarks_from`), and the rendering study (`eval.rendering`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from test_structure import FAST, squares, trained
from test_train import write_tiny_dataset

from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval import rendering
from lmvid_lib.io import file_digest, load_checkpoint
from lmvid_lib.models.checkpoint import load_trained
from lmvid_lib.models.inference import decode_states, encode_frames
from lmvid_lib.models.sequences import render_sequence
from lmvid_lib.train import train_factorization

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "bair")


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory) -> Path:
    """A run dir holding the paper-decoder run 'bair-spade-seed0' and a scene run on its landmarks."""
    run_dir = tmp_path_factory.mktemp("runs")
    train_factorization(tiny_config(data_root, steps=4), run_dir)
    train_factorization(scene_config(data_root), run_dir)
    return run_dir


def scene_config(data_root: Path, **overrides) -> dict:
    model = {"decoder": "scene", "scene_width": 4, **overrides.pop("model", {})}
    return tiny_config(data_root, **{"model": model, "landmarks_from": "bair-spade-seed0", **overrides})


def test_scene_decoder_reads_the_scene_and_blends_it_in(tiny_model):
    torch.manual_seed(0)
    model = tiny_model(decoder="scene", scene_width=4).eval()
    size, k = model.cfg.image_size, model.cfg.n_landmarks
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        out = model(x, x)
        pose = model.encode_pose(x)
        appearance = model.encode_appearance(x, pose.part_logits)
        other = model.decode(pose.mu, pose.cov, appearance, torch.rand(2, 3, size, size))
    assert out["recon"].shape == x.shape and 0 <= out["recon"].min() and out["recon"].max() <= 1
    assert out["mu"].shape == (2, k, 2)
    assert not torch.allclose(out["recon"], other)  # another scene, another image, same landmarks and appearance
    with pytest.raises(ValueError, match="scene must be"):
        model.decode(pose.mu, pose.cov, appearance)
    assert model.reads_scene and not tiny_model().reads_scene


def test_scene_run_trains_only_what_renders_on_the_frozen_landmarks(runs):
    paper, _ = load_trained(runs / "factorization" / "bair-spade-seed0")
    scene, cfg = load_trained(runs / "factorization" / "bair-scene-seed0")
    assert cfg.landmarks_from == "bair-spade-seed0" and cfg.model.decoder == "scene"
    for name, value in paper.pose_encoder.state_dict().items():
        assert torch.equal(value, scene.pose_encoder.state_dict()[name]), name
    moved = [
        name
        for name, value in paper.appearance_encoder.state_dict().items()
        if not torch.equal(value, scene.appearance_encoder.state_dict()[name])
    ]
    assert moved  # the appearance encoder starts from the paper model's and trains on
    state = load_checkpoint(runs / "factorization" / "bair-scene-seed0" / "checkpoints" / "last.pt")
    assert state["landmarks_digest"] == file_digest(runs / "factorization" / "bair-spade-seed0" / "model.pt")


def test_landmarks_from_errors_name_the_run_and_the_differing_sizes(data_root, tmp_path, runs):
    with pytest.raises(FileNotFoundError, match="nope"):
        train_factorization(scene_config(data_root, landmarks_from="nope"), tmp_path)
    with pytest.raises(ValueError, match="n_landmarks"):
        train_factorization(scene_config(data_root, model={"n_landmarks": 4}), runs)
    with pytest.raises(ValueError, match="names the run itself"):
        train_factorization(tiny_config(data_root, landmarks_from="bair-spade-seed0"), runs)


def test_scene_decoding_paths_need_the_conditioning_frame(runs, data_root):
    scene, _ = load_trained(runs / "factorization" / "bair-scene-seed0")
    frames = np.asarray(rendering_videos(data_root).frames[:3])
    codes = encode_frames(scene, frames, appearance=True)
    with pytest.raises(ValueError, match="reads the conditioning frame"):
        decode_states(scene, codes.states, codes.appearance)
    rendered = render_sequence(scene, codes.states[None], frames[:1])
    assert rendered.shape == (1, 3, 3, 16, 16)
    again = render_sequence(scene, codes.states[None], frames[2:3])
    assert not torch.allclose(rendered, again)  # the frame drawn from decides the scene


def rendering_videos(data_root: Path) -> VideoSet:
    from lmvid_lib.data.datasets import open_dataset

    return open_dataset("bair", "train", data_root.parent, str(data_root))


def test_render_pairs_are_same_video_gaps_in_range_and_seeded(data_root):
    videos = rendering_videos(data_root)
    pairs = rendering.render_pairs(videos, 50, gap=(3, 6), seed=1)
    video_of = np.asarray(videos.frame_video)
    assert (video_of[pairs.target] == pairs.video).all() and (video_of[pairs.source] == pairs.video).all()
    assert pairs.gap.min() >= 3 and pairs.gap.max() <= 6
    again = rendering.render_pairs(videos, 50, gap=(3, 6), seed=1)
    assert np.array_equal(pairs.target, again.target) and np.array_equal(pairs.source, again.source)
    with pytest.raises(ValueError, match="no video has more than 10 frames"):
        rendering.render_pairs(videos, 5, gap=(10, 30))


def test_render_study_scores_the_references_as_defined(runs, data_root):
    videos = rendering_videos(data_root)
    scene, _ = load_trained(runs / "factorization" / "bair-scene-seed0")
    pairs = rendering.render_pairs(videos, 12, gap=(2, 5), seed=0)
    study = rendering.render_study("scene", scene, videos, pairs)
    target = rendering.frames_at(videos, pairs.target, 16)
    copy = rendering.image_scores(rendering.frames_at(videos, pairs.source, 16), target)
    assert study.scores[rendering.COPY] == copy
    v = int(pairs.video[0])
    start = int(videos.video_starts[v])
    mean = rendering.frames_at(videos, np.arange(start, start + int(videos.lengths[v])), 16).mean(0)
    assert torch.allclose(rendering.mean_frames(videos, pairs, 16)[0], mean)
    assert rendering.image_scores(target, target)["SSIM"] == pytest.approx(1.0)
    assert set(study.scores) == {rendering.SELF, rendering.CROSS, rendering.MEAN_FRAME, rendering.COPY}
    assert study.fidelity is None


def test_joint_errors_find_the_true_joints_on_real_frames_and_miss_them_on_copies(tmp_path):
    detector = trained(FAST, *squares(512, seed=0), tmp_path)
    frames, keypoints = squares(64, seed=3)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    real = rendering.joint_errors(detector, x, keypoints)
    shuffled = rendering.joint_errors(detector, x.roll(1, 0), keypoints)  # frames of other positions
    assert real.shape == (1,) and real[0] < 1.0 and shuffled[0] > 5 * real[0]
    half = rendering.joint_errors(detector, rendering.resize(x, 16), keypoints)  # resized back to the detector's size
    assert half[0] < shuffled[0]


def test_scene_model_configs_build_one_scene_run_per_dataset_on_its_landmarks(data_root):
    from lmvid_lib.models.run_config import load_config, scene_model_configs

    paper = load_config(tiny_config(data_root))
    concat = load_config(tiny_config(data_root, model={"decoder": "concat"}))
    configs = scene_model_configs([paper, concat], {"steps": 7, "model": {"scene_width": 4}})
    assert list(configs) == ["bair"]  # one per dataset, on the first (paper-decoder) run
    cfg = configs["bair"]
    assert cfg.run_name == "bair-scene-seed0" and cfg.landmarks_from == "bair-spade-seed0"
    assert cfg.model.decoder == "scene" and cfg.model.scene_width == 4 and cfg.steps == 7
    assert cfg.model.n_landmarks == paper.model.n_landmarks and cfg.loss == paper.loss
    assert scene_model_configs([paper], {}) == {}
    with pytest.raises(ValueError, match="landmarks_from"):
        scene_model_configs([paper], {"landmarks_from": "x"})
    with pytest.raises(ValueError, match="scene_decoder"):
        scene_model_configs([paper], {"stepz": 3})


def test_chapters_find_the_paper_run_by_dataset_and_the_scene_run_beside_it(runs):
    from lmvid_lib.models.checkpoint import dataset_run, scene_run

    assert dataset_run(runs, "bair").name == "bair-spade-seed0"  # never the run on another run's landmarks
    assert scene_run(runs, "bair").name == "bair-scene-seed0"


def test_the_playground_draws_with_the_scene_decoder_from_the_selected_frame(runs, data_root):
    from lmvid_lib.playground.core import Playground, load_playground, move_landmark

    scene, _ = load_trained(runs / "factorization" / "bair-scene-seed0")
    frames = np.asarray(rendering_videos(data_root).frames[:6])
    pg = Playground(scene, frames)
    pg.select_frame(2)
    codes = encode_frames(scene, frames[2:3], appearance=True)
    scene_frame = torch.from_numpy(frames[2:3]).permute(0, 3, 1, 2).float() / 255
    expected = decode_states(scene, codes.states, codes.appearance, scene=scene_frame)[0]
    torch.testing.assert_close(pg.render(), expected)
    moved = pg.render_states(move_landmark(pg.state, 0, 0.9, 0.9)[None])[0]
    assert not torch.equal(moved, pg.render())
    assert load_playground(runs, "bair", split="train", scene=True).model.reads_scene
    assert not load_playground(runs, "bair", split="train").model.reads_scene


def test_landmark_warp_moves_the_scene_with_its_landmarks_and_leaves_the_rest():
    from lmvid_lib.models.decoder import landmark_warp

    size = 32
    scene = torch.zeros(1, 1, size, size)
    scene[..., 6:10, 6:10] = 1.0  # a square around pixel (8, 8): normalised (-0.47, -0.47)
    scene[..., 26:30, 26:30] = 0.5  # far from the landmark: it should stay
    cov = torch.eye(2)[None, None] * 0.01
    was = torch.tensor([[[-0.47, -0.47]]])
    now = was + torch.tensor([0.5, 0.25])  # 8 px right, 4 px down
    torch.testing.assert_close(landmark_warp(scene, was, cov, was), scene)
    moved = landmark_warp(scene, now, cov, was)
    assert moved[0, 0, 12, 16] > 0.9 and moved[0, 0, 12, 11] < 0.1  # the square followed its landmark ...
    assert moved[0, 0, 8, 8] == 1.0  # ... and where it was, nothing moves (the decoder's other layers fill it)
    torch.testing.assert_close(moved[..., 26:30, 26:30], scene[..., 26:30, 26:30], atol=0.02, rtol=0)


def test_the_warping_scene_decoder_finds_the_scenes_landmarks_itself(tiny_model):
    model = tiny_model(decoder="scene", scene_width=4, scene_warp=True).eval()
    x = torch.rand(2, 3, model.cfg.image_size, model.cfg.image_size)
    with torch.no_grad():
        pose, scene_pose = model.encode_pose(x), model.encode_pose(x.flip(0))
        appearance = model.encode_appearance(x.flip(0), scene_pose.part_logits)
        given = model.decode(pose.mu, pose.cov, appearance, x.flip(0), scene_pose.mu)
        found = model.decode(pose.mu, pose.cov, appearance, x.flip(0))
        torch.testing.assert_close(found, given)
        torch.testing.assert_close(model(x, x.flip(0))["recon"], given)
    with pytest.raises(ValueError, match="needs scene_mu"):
        model.decoder(pose.mu, pose.cov, appearance, x)
