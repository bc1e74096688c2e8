"""First->last frame interpolation (eval.interpolation): the three methods, joint errors, per-step summaries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmvid_lib import landmarks
from lmvid_lib.config import from_dict
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet, write_dataset
from lmvid_lib.eval import interpolation as interp
from lmvid_lib.eval.prediction import joint_error_by_horizon
from lmvid_lib.io import atomic_write_json, save_checkpoint
from lmvid_lib.models.run_config import TrainConfig, config_dict, load_config
from lmvid_lib.models.sequences import render_sequence

pytestmark = pytest.mark.usefixtures("one_thread")


def random_states(n: int = 3, t: int = 7, k: int = 4, seed: int = 0) -> torch.Tensor:
    """Valid states [N,T,K,5] of random Gaussians (l11, l22 > 0, as `to_state` makes them)."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.rand(n, t, k, 2, generator=g) * 2 - 1
    a = torch.randn(n, t, k, 2, 2, generator=g) * 0.2
    return landmarks.to_state(mu, a @ a.transpose(-1, -2) + 0.01 * torch.eye(2) + landmarks.COV_EPS * torch.eye(2))


def test_cholesky_path_is_linear_between_the_end_states_and_exact_at_both_ends():
    states = random_states()
    path = interp.cholesky_path(states)
    assert path.shape == states.shape
    assert torch.equal(path[:, 0], states[:, 0]) and torch.equal(path[:, -1], states[:, -1])
    # frame 3 of 7 is halfway; the real middle frames are not used
    torch.testing.assert_close(path[:, 3], (states[:, 0] + states[:, -1]) / 2)
    other = states.clone()
    other[:, 1:-1] = 0.0
    assert torch.equal(interp.cholesky_path(other), path)


def test_covariance_path_interpolates_sigma_and_shares_the_means_of_ours():
    states = random_states()
    path = interp.covariance_path(states)
    torch.testing.assert_close(path[:, 0], states[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(path[:, -1], states[:, -1], atol=1e-5, rtol=0)
    _, cov = landmarks.from_state(path)
    _, cov0 = landmarks.from_state(states[:, :1])
    _, cov1 = landmarks.from_state(states[:, -1:])
    torch.testing.assert_close(cov[:, 3], ((cov0 + cov1) / 2)[:, 0], atol=1e-5, rtol=0)
    # Same means as the Cholesky path, different shapes in between.
    torch.testing.assert_close(path[..., :2], interp.cholesky_path(states)[..., :2])
    _, cov_ours = landmarks.from_state(interp.cholesky_path(states))
    assert not torch.allclose(cov[:, 1:-1], cov_ours[:, 1:-1], atol=1e-4)


@pytest.mark.parametrize("method", [interp.cholesky_path, interp.covariance_path])
def test_interpolated_covariances_are_positive_definite_on_the_whole_path(method):
    states = random_states(n=4, t=50, k=6, seed=1)
    states[:, -1, :, 3] *= -5  # a far-off end: strong rotation and elongation between the two ends
    _, cov = landmarks.from_state(method(states))
    assert torch.linalg.eigvalsh(cov).min() > 0


def test_cross_fade_blends_pixels_and_returns_the_real_end_frames():
    first, last = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    fade = interp.cross_fade(first, last, 5)
    assert fade.shape == (2, 5, 3, 8, 8)
    assert torch.equal(fade[:, 0], first) and torch.equal(fade[:, -1], last)
    torch.testing.assert_close(fade[:, 2], (first + last) / 2)
    with pytest.raises(ValueError, match="first and last"):
        interp.cross_fade(first, last[:1], 5)
    with pytest.raises(ValueError, match="length"):
        interp.cross_fade(first, last, 1)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="states"):
        interp.cholesky_path(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="T >= 2"):
        interp.covariance_path(torch.zeros(2, 1, 3, 5))
    with pytest.raises(ValueError, match="interpolation.length"):
        from_dict(interp.InterpolationConfig, {"length": 2}, "06_interpolation.interpolation")
    with pytest.raises(ValueError, match="interpolation.max_sequences"):
        from_dict(interp.InterpolationConfig, {"max_sequences": 0}, "06_interpolation.interpolation")
    with pytest.raises(ValueError, match="unknown"):
        from_dict(interp.InterpolationConfig, {"lenght": 30}, "06_interpolation.interpolation")


def test_lerp_joints_and_masked_error():
    joints = np.zeros((1, 5, 2, 2))
    joints[0, :, 0, 0] = [0, 5, 9, 1, 4]  # joint 0 moves along x; joint 1 is absent at the end
    joints[0, -1, 1] = np.nan
    lerp = interp.lerp_joints(joints)
    np.testing.assert_allclose(lerp[0, :, 0, 0], [0, 1, 2, 3, 4])
    assert np.isnan(lerp[0, :, 1]).all()
    error = joint_error_by_horizon(lerp, joints)
    np.testing.assert_allclose(error, [0, 4, 7, 2, 0])


def clips(n: int, t: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [N,T,size,size,3] squares moving over grey, and their centres [N,T,1,2] as keypoints (pixels)."""
    rng = np.random.default_rng(seed)
    frames = np.full((n, t, size, size, 3), 90, dtype=np.uint8)
    keypoints = np.zeros((n, t, 1, 2), dtype=np.float32)
    for v in range(n):
        x0, y0 = rng.integers(0, size // 2, 2)
        for i in range(t):
            x, y = x0 + i // 2, y0 + i // 3
            frames[v, i, y : y + 5, x : x + 5] = rng.integers(120, 255, 3)
            keypoints[v, i, 0] = (x + 2, y + 2)
    return frames, keypoints


def test_interpolate_frames_decodes_the_paths_with_the_first_frames_appearance(tiny_model):
    model = tiny_model(seed=0)
    videos, _ = clips(2, 6)
    states = random_states(n=2, t=6, k=model.cfg.n_landmarks)
    frames = interp.interpolate_frames(model, states, videos, batch_size=5)
    assert set(frames) == {interp.GROUND_TRUTH, *interp.METHODS} - {"cholesky_scene"}  # no scene decoder given
    scene = tiny_model(seed=1, decoder="scene", scene_width=4)
    with_scene = interp.interpolate_frames(model, states, videos, batch_size=5, scene_model=scene)
    expected = render_sequence(scene, interp.cholesky_path(states), videos[:, 0])
    torch.testing.assert_close(with_scene["cholesky_scene"], expected)
    truth = frames_to_input(videos.reshape(12, 16, 16, 3), 16, "cpu").unflatten(0, (2, 6))
    assert torch.equal(frames[interp.GROUND_TRUTH], truth)
    assert torch.equal(frames["cross_fade"][:, 0], truth[:, 0]) and torch.equal(
        frames["cross_fade"][:, -1], truth[:, -1]
    )
    ours = render_sequence(model, interp.cholesky_path(states), videos[:, 0])
    torch.testing.assert_close(frames["cholesky"], ours)
    from_last = render_sequence(model, interp.cholesky_path(states), videos[:, -1])
    assert not torch.allclose(frames["cholesky"], from_last)
    with pytest.raises(ValueError, match="videos"):
        interp.interpolate_frames(model, states, videos[:, :5])


def test_interpolate_split_runs_on_a_prepared_dataset_with_keypoints(tmp_path, tiny_model):
    model = tiny_model(seed=0)
    train_frames, train_kp = clips(4, 10, seed=1)
    test_frames, test_kp = clips(3, 10, seed=2)
    splits = {
        "train": VideoSet.from_clips(train_frames, np.arange(4), train_kp, ["centre"]),
        "test": VideoSet.from_clips(test_frames, np.arange(3), test_kp, ["centre"]),
    }
    data = write_dataset(tmp_path / "data", "pusher", splits, {"test": True}, ["centre"])
    cfg = load_config({"model": config_dict(TrainConfig(model=model.cfg))["model"], "dataset": "pusher"})
    cfg.data_root = str(data)
    run = tmp_path / "runs" / "factorization" / "pusher-spade-seed0"
    atomic_write_json(run / "config.json", config_dict(cfg))
    save_checkpoint(run / "model.pt", {"config": config_dict(cfg), "model": model.state_dict()})

    settings = interp.InterpolationConfig(datasets=("pusher",), length=5, max_sequences=4, batch_size=8)
    result = interp.interpolate_split(tmp_path / "runs", "pusher", settings)
    assert result.run == run and result.frame_size == 16
    assert result.frame_indices.shape == (4, 5) and result.states.shape == (4, 5, model.cfg.n_landmarks, 5)
    # 6 sequences of 5 frames in 3 videos of 10, 4 of them evenly spaced
    assert result.frame_indices[:, 0].tolist() == [0, 10, 15, 25]
    assert all(f.shape == (4, 5, 3, 16, 16) for f in result.frames.values())
    errors = result.joint_errors
    assert set(errors) == {interp.METHODS["cholesky"], interp.REAL_LANDMARKS, interp.JOINT_LERP, interp.MEAN_POSE}
    assert all(e.shape == (5,) and np.isfinite(e).all() for e in errors.values())
    # Ours and the real landmarks agree at the ends (the same states there); the joint lerp is exact at the ends.
    ours, real = errors[interp.METHODS["cholesky"]], errors[interp.REAL_LANDMARKS]
    np.testing.assert_allclose(ours[[0, -1]], real[[0, -1]])
    assert errors[interp.JOINT_LERP][[0, -1]].tolist() == [0.0, 0.0]
    scores = result.scores(lambda pred, true: -((pred - true) ** 2).mean((2, 3, 4)))
    held = set(interp.METHODS.values()) - {interp.METHODS["cholesky_scene"]}  # the profile trained no scene decoder
    assert set(scores) == held and scores["pixel cross-fade"][:, [0, -1]].eq(0).all()


def test_step_table_lists_chosen_steps_and_the_mean_between_the_ends():
    header, rows = interp.step_table({"a": np.array([0.0, 1.0, 3.0, 0.0])}, [0, 2])
    assert header == ["", "t = 0", "t = 2", "mean, t = 1..T-2"]
    assert rows == [["a", "0.0", "3.0", "2.0"]]


def test_interpolate_split_names_a_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="'pusher'"):
        interp.interpolate_split(tmp_path, "pusher", interp.InterpolationConfig())


def test_config_datasets_from_a_profile_list():
    cfg = from_dict(interp.InterpolationConfig, {"datasets": ["signer"], "max_sequences": None}, "x")
    assert cfg.datasets == ("signer",) and cfg.max_sequences is None


def test_score_table_gives_mean_and_standard_error_per_step_and_between_the_ends():
    scores = {"ours": torch.tensor([[1.0, 0.5, 0.7, 1.0], [1.0, 0.3, 0.5, 1.0]])}
    header, rows = interp.score_table(scores, [1], digits=2)
    assert header == ["", "t = 1", "mean, t = 1..T-2"]
    # t = 1: mean 0.4, std 0.1414 / sqrt(2) = 0.1; between the ends: per sequence 0.6 and 0.4 -> 0.5 ± 0.1
    assert rows == [["ours", "0.40 ± 0.10", "0.50 ± 0.10"]]


def test_covariance_gap_is_zero_for_a_kept_shape_and_measures_a_turning_gaussian():
    mu = torch.tensor([[[[-0.5, 0.0]], [[0.0, 0.0]], [[0.5, 0.2]]]])  # [1,3,1,2], moving
    same = torch.diag(torch.tensor([4.0, 1.0])) * 1e-2 + landmarks.COV_EPS * torch.eye(2)
    assert interp.covariance_gap(landmarks.to_state(mu, same.expand(1, 3, 1, 2, 2))) < 1e-6
    # diag(4, 1) -> diag(1, 4): halfway, covariance space gives diag(2.5, 2.5), Cholesky space diag(1.5, 1.5)^2.
    turned = torch.stack([same, same, same.flip(0, 1)]).reshape(1, 3, 1, 2, 2)
    assert interp.covariance_gap(landmarks.to_state(mu, turned)) == pytest.approx(0.1, abs=2e-3)


def test_strip_draws_one_panel_per_row_and_frame_and_the_landmark_paths():
    from lmvid_lib.report import interpolation_figures as plots

    states = random_states(n=1, t=5, k=3)[0]
    rows = {"real": torch.rand(5, 3, 16, 16), "ours": torch.rand(5, 3, 16, 16)}
    fig = plots.plot_interpolation_strip(rows, [0, 2, 4], {"ours": states})
    axes = fig.get_axes()
    assert len(axes) == 6 and [ax.get_title() for ax in axes[:3]] == ["t = 0", "t = 2", "t = 4"]
    assert [t.get_text() for t in axes[0].texts] == ["real"] and [t.get_text() for t in axes[3].texts] == ["ours"]
    assert all(len(ax.lines) == 0 for ax in axes[:3]) and all(len(ax.lines) == 3 for ax in axes[3:])
    mu, _ = plots.state_pixels(states, 16)
    np.testing.assert_allclose(axes[3].lines[1].get_xydata(), mu[:, 1])  # landmark 1's whole path, in pixels
    with pytest.raises(ValueError, match="trajectories"):
        plots.plot_interpolation_strip(rows, [0], {"other": states})
    with pytest.raises(ValueError, match="columns"):
        plots.plot_interpolation_strip(rows, [5])


def test_step_curves_draw_a_band_only_where_a_standard_error_is_given():
    from lmvid_lib.report import interpolation_figures as plots
    from lmvid_lib.report.figures import new_figure

    ax = new_figure(4, 3).subplots()
    a, b = interp.METHODS["cholesky"], interp.METHODS["cross_fade"]
    plots.plot_step_curves(ax, {a: (np.ones(5), np.full(5, 0.1)), b: (np.zeros(5), None)}, "SSIM", "x")
    assert [line.get_label() for line in ax.lines] == [a, b] and len(ax.collections) == 1
    with pytest.raises(KeyError, match="no plot style for predictor 'c'"):  # every curve has its one style
        plots.plot_step_curves(ax, {"c": (np.zeros(5), None)}, "SSIM", "x")
    np.testing.assert_allclose(ax.collections[0].get_paths()[0].vertices[:, 1].max(), 1.1)


def test_end_to_middle_drop():
    scores = torch.tensor([[1.0, 0.6, 0.8], [0.8, 0.7, 0.6]])
    assert interp.end_to_middle_drop(scores, 1) == pytest.approx(((0.9 - 0.6) + (0.7 - 0.7)) / 2)
    with pytest.raises(ValueError, match="middle"):
        interp.end_to_middle_drop(scores, 2)


@pytest.mark.parametrize(
    ("ours", "verdict"),
    [
        ([[0.8, 0.9, 0.8]], "ours is ahead"),
        ([[0.8, 0.7, 0.8]], "not enough to make up"),
        ([[0.8, 0.4, 0.8]], "Ours loses more"),
    ],
)
def test_middle_sentence_says_which_explains_the_gap(ours, verdict):
    fade = np.array([[1.0, 0.75, 1.0]])  # falls by 0.25
    sentence = interp.middle_sentence(np.array(ours), fade, 1)
    assert verdict in sentence and "cross-fade 0.750" in sentence
