"""The landmark playground without a browser (lmvid_lib.playground.core, lmvid_lib.playground.picture): state in, frame
out."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lmvid_lib import landmarks
from lmvid_lib.data.store import VideoSet, write_dataset
from lmvid_lib.io import atomic_write_json, save_checkpoint
from lmvid_lib.models.dynamics import ConstantVelocity, CopyLast, DynamicsConfig, LandmarkLSTM
from lmvid_lib.models.files import LANDMARK_LSTM, save_model_file
from lmvid_lib.models.run_config import TrainConfig, config_dict, load_config
from lmvid_lib.models.sequences import render_sequence
from lmvid_lib.playground.core import (
    Playground,
    edited_context,
    landmark_influence,
    load_playground,
    local_change,
    move_landmark,
    nearest_landmark,
    rotate_landmark,
    scale_landmark,
    sweep,
)
from lmvid_lib.playground.picture import GAP, ellipse_outlines, picture_to_norm, playground_picture, png_bytes

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 32


@pytest.fixture
def model(tiny_model):
    return tiny_model(seed=0, image_size=SIZE, decoder_max_resolution=SIZE)


def clip(n: int = 5, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """uint8 [n,size,size,3]: random frames (their content does not matter to an untrained model)."""
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def gaussian_state(*rows: tuple[float, float, float, float, float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_render_of_an_untouched_pose_is_render_sequence_of_the_frames_states(model):
    frames = clip()
    pg = Playground(model, frames)
    assert pg.states.shape == (5, model.cfg.n_landmarks, 5)
    pg.select_frame(3)
    expected = render_sequence(model, pg.states[3][None, None], frames[3:4])[0, 0]
    torch.testing.assert_close(pg.render(), expected, atol=1e-5, rtol=0)
    # Frame 3 drawn with frame 0's pose: the appearance is the selected frame's, the pose the one shown.
    pg.pose = pg.states[0]
    torch.testing.assert_close(pg.render(), render_sequence(model, pg.states[0][None, None], frames[3:4])[0, 0])


def test_moving_a_landmark_changes_the_frame_near_it_more_than_far_from_it(model):
    pg = Playground(model, clip())
    k = 0
    pg.scale(k, 0.3)  # a compact Gaussian, so its heatmap is local
    before = pg.render()
    x0, y0 = pg.state[k, :2].tolist()
    x1, y1 = -0.75 if x0 > 0 else 0.75, -0.75 if y0 > 0 else 0.75
    pg.move(k, x1, y1)
    assert pg.state[k, :2].tolist() == [x1, y1]
    change = (pg.render() - before).abs().mean(0)  # [H,W]
    centres = landmarks.pixel_centres(SIZE)
    ys, xs = torch.meshgrid(centres, centres, indexing="ij")
    distance = torch.minimum(torch.hypot(xs - x0, ys - y0), torch.hypot(xs - x1, ys - y1))
    near, far = change[distance < 0.25].mean(), change[distance > 0.6].mean()
    assert near > 1.5 * far > 0


def test_scale_and_rotate_keep_a_valid_gaussian_and_a_full_turn_is_the_identity():
    wide = gaussian_state((0.1, -0.2, 0.3, 0.0, 0.1), (0.5, 0.5, 0.2, 0.05, 0.15))
    scaled = scale_landmark(wide, 0, 2.0)
    eps = landmarks.COV_EPS * torch.eye(2)
    cov, scaled_cov = landmarks.from_state(wide)[1], landmarks.from_state(scaled)[1]
    torch.testing.assert_close(scaled_cov[0] - eps, 4 * (cov[0] - eps))  # L -> 2 L: Sigma -> 4 Sigma
    assert torch.equal(scaled[1], wide[1]) and torch.equal(scaled[0, :2], wide[0, :2])

    # Turning an x-elongated Gaussian counter-clockwise on the y-down image by 45 degrees points it up-right:
    # x and y become anti-correlated. By 90 degrees it is elongated along y.
    turned = landmarks.from_state(rotate_landmark(wide, 0, math.pi / 4))[1][0]
    assert turned[0, 1] < 0 and torch.isclose(turned[0, 0], turned[1, 1])
    upright = landmarks.from_state(rotate_landmark(wide, 0, math.pi / 2))[1][0]
    torch.testing.assert_close(upright.diagonal(), cov[0].diagonal().flip(0), atol=1e-6, rtol=0)
    torch.testing.assert_close(rotate_landmark(wide, 1, 2 * math.pi), wide, atol=1e-6, rtol=0)

    generator = torch.Generator().manual_seed(0)
    state = wide
    for _ in range(50):
        k = int(torch.randint(0, 2, (1,), generator=generator))
        state = scale_landmark(state, k, float(torch.empty(1).uniform_(0.5, 2.0, generator=generator)))
        state = rotate_landmark(state, k, float(torch.empty(1).uniform_(-4, 4, generator=generator)))
        cov = landmarks.from_state(state)[1]
        assert torch.isfinite(state).all() and (state[:, 2] > 0).all() and (state[:, 4] > 0).all()
        assert (torch.linalg.eigvalsh(cov) > 0).all()


def test_reset_restores_and_interpolation_reaches_both_ends(model):
    pg = Playground(model, clip())
    pg.select_frame(1)
    own = pg.states[1]
    pg.move(2, 0.4, -0.4)
    pg.rotate(1, 0.7)
    pg.scale(0, 1.5)
    edited = pg.pose.clone()
    assert not torch.equal(edited, own)
    assert torch.equal(pg.interpolate_to(4, 0.0), edited)
    assert torch.equal(pg.interpolate_to(4, 1.0), pg.states[4])
    halfway = pg.interpolate_to(4, 0.5)
    torch.testing.assert_close(halfway, (edited + pg.states[4]) / 2)  # Cholesky-state space, Eq. 7
    pg.move(0, 0.0, 0.0)  # an edit starts from the interpolated pose shown
    assert torch.equal(pg.state[1:], halfway[1:]) and pg.state[0, :2].tolist() == [0.0, 0.0]
    pg.reset()
    assert torch.equal(pg.state, own)
    pg.select_frame(2)
    assert torch.equal(pg.state, pg.states[2])


def test_nearest_landmark_picks_the_landmark_under_a_click(model):
    state = gaussian_state((-0.5, -0.5, 0.1, 0, 0.1), (0.5, -0.5, 0.1, 0, 0.1), (0.0, 0.6, 0.1, 0, 0.1))
    assert [nearest_landmark(state, x, y) for x, y in [(-0.4, -0.6), (0.9, -0.1), (0.1, 0.3)]] == [0, 1, 2]
    pg = Playground(model, clip())
    pg.pose = state
    assert pg.nearest_landmark(0.6, -0.4) == 1 and pg.landmark == 1
    # A click on either panel of the picture maps to the same frame coordinates.
    assert picture_to_norm(48, 16, 64) == picture_to_norm(64 + GAP + 48, 16, 64) == (0.5, -0.5)
    assert picture_to_norm(64 + GAP // 2, 16, 64) is None


def test_rollout_starts_from_the_edited_pose_with_the_videos_recent_motion(model):
    frames = clip(6)
    pg = Playground(model, frames, CopyLast(), context=2)
    pg.select_frame(3)
    pg.move(1, 0.3, 0.2)
    frozen = pg.rollout_states(4)
    assert frozen.shape == (4, model.cfg.n_landmarks, 5)
    assert torch.equal(frozen, pg.state.expand(4, -1, -1))
    pg.rollout_model = ConstantVelocity()
    moving = pg.rollout_states(2)
    velocity = pg.states[3] - pg.states[2]
    torch.testing.assert_close(moving[0], pg.state + velocity)
    torch.testing.assert_close(edited_context(pg.states[2:4], pg.state)[-1], pg.state)

    lstm = LandmarkLSTM(DynamicsConfig(n_landmarks=model.cfg.n_landmarks, layers=1, hidden=8))
    pg = Playground(model, frames, lstm)
    predicted = pg.rollout(5)
    assert predicted.shape == (5, 3, SIZE, SIZE) and predicted.min() >= 0 and predicted.max() <= 1
    torch.testing.assert_close(predicted, pg.render_states(pg.rollout_states(5)))


def test_influence_sweep_and_local_change_of_the_scripted_moves(model):
    pg = Playground(model, clip())
    influence = landmark_influence(pg)
    assert influence.shape == (model.cfg.n_landmarks,) and (influence > 0).all()
    x, y = pg.state[1, :2].tolist()
    shifted = move_landmark(pg.state, 1, x - 0.3 if x > 0 else x + 0.3, y)
    expected = (pg.render_states(shifted[None])[0] - pg.render()).abs().mean()
    torch.testing.assert_close(influence[1], expected)

    path = sweep(pg.state, 2, 8, reach=2.0)
    assert path.shape == (8, model.cfg.n_landmarks, 5) and torch.equal(path[0], pg.state)
    others = torch.ones(model.cfg.n_landmarks, 5, dtype=torch.bool)
    others[2, 0] = False
    assert (path == pg.state).all(0)[others].all()  # only landmark 2's x moves
    assert path[:, 2, 0].max() == 0.9 and path[:, 2, 0].min() == -0.9  # kept inside the frame

    before = torch.zeros(3, 16, 16)
    after = before.clone()
    after[:, 2:4, 2:4] = 1.0  # pixel centres near (-0.69, -0.69)
    near, far = local_change(before, after, torch.tensor([[-0.7, -0.7]]), radius=0.2)
    assert near > 0 and far == 0
    assert local_change(before, before, torch.tensor([[0.0, 0.0]]), radius=0.2) == (0.0, 0.0)


def test_bad_inputs_name_the_parameter(model):
    pg = Playground(model, clip())
    k = model.cfg.n_landmarks
    with pytest.raises(ValueError, match=rf"landmark must be an int in \[0, {k}\).*got {k}"):
        pg.move(k, 0.0, 0.0)
    with pytest.raises(ValueError, match="landmark"):
        pg.select_landmark(-1)
    with pytest.raises(ValueError, match="factor must be > 0"):
        pg.scale(0, 0.0)
    with pytest.raises(ValueError, match="angle must be a finite number"):
        pg.rotate(0, float("nan"))
    with pytest.raises(ValueError, match=r"frame must be an int in \[0, 5\)"):
        pg.select_frame(5)
    with pytest.raises(ValueError, match="target frame"):
        pg.interpolate_to(7, 0.5)
    with pytest.raises(RuntimeError, match="no rollout model.*chapter 4"):
        pg.rollout(3)
    with pytest.raises(ValueError, match="frames must be a non-empty uint8"):
        Playground(model, clip().astype(np.float32))
    with pytest.raises(ValueError, match="channels"):
        Playground(model, clip()[..., :1])
    with pytest.raises(ValueError, match="rollout_model predicts K=2"):
        Playground(model, clip(), LandmarkLSTM(DynamicsConfig(n_landmarks=2, layers=1, hidden=4)))


def test_picture_shows_both_panels_with_every_landmark(model):
    pg = Playground(model, clip())
    picture = playground_picture(pg.frames[0], pg.render(), pg.state, selected=1, size=64)
    assert picture.shape == (64, 2 * 64 + GAP, 3) and picture.dtype == np.uint8
    means, outlines = ellipse_outlines(pg.state, 64)
    assert means.shape == (3, 2) and outlines.shape[0] == 3
    # Each outline is the one-sigma ellipse: its Mahalanobis radius is 1 everywhere.
    mu, cov = landmarks.from_state(pg.state.double())
    offsets = torch.from_numpy(outlines / 32.0 - 1) - mu[:, None]
    radius = torch.einsum("kpi,kij,kpj->kp", offsets, torch.linalg.inv(cov), offsets)
    torch.testing.assert_close(radius, torch.ones_like(radius))
    blank = playground_picture(pg.frames[0], pg.render(), pg.state[:0], size=64)
    assert (picture != blank).any(axis=-1).sum() > 50  # the landmarks are drawn
    assert png_bytes(picture)[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="size must be an int >= 16"):
        playground_picture(pg.frames[0], pg.render(), pg.state, size=8)


def test_load_playground_reads_a_run_and_its_landmark_lstm(tmp_path, tiny_model):
    model = tiny_model(seed=0)
    frames = np.random.default_rng(1).integers(0, 256, (2, 7, 16, 16, 3), dtype=np.uint8)
    splits = {"train": VideoSet.from_clips(frames, np.arange(2)), "test": VideoSet.from_clips(frames, np.arange(2))}
    data = write_dataset(tmp_path / "data", "pusher", splits, {"test": True}, [])
    cfg = load_config({"model": config_dict(TrainConfig(model=model.cfg))["model"], "dataset": "pusher"})
    cfg.data_root = str(data)
    run = tmp_path / "runs" / "factorization" / "pusher-spade-seed0"
    atomic_write_json(run / "config.json", config_dict(cfg))
    save_checkpoint(run / "model.pt", {"config": config_dict(cfg), "model": model.state_dict()})

    pg = load_playground(tmp_path / "runs", "pusher", video=1, max_frames=5)
    assert np.array_equal(pg.frames, frames[1, :5]) and pg.rollout_model is None
    lstm = LandmarkLSTM(DynamicsConfig(n_landmarks=model.cfg.n_landmarks, layers=1, hidden=4))
    save_model_file(tmp_path / "runs" / "dynamics" / "pusher-residual-seed0" / "model.pt", LANDMARK_LSTM, lstm)
    pg = load_playground(tmp_path / "runs", "pusher")
    assert pg.n_frames == 7 and isinstance(pg.rollout_model, LandmarkLSTM)
    with pytest.raises(ValueError, match=r"video must be an int in \[0, 2\)"):
        load_playground(tmp_path / "runs", "pusher", video=2)
    with pytest.raises(FileNotFoundError, match=r"no finished factorization run on 'walker'.*pusher"):
        load_playground(tmp_path / "runs", "walker")


def test_control_tour_applies_each_control_from_the_encoded_pose(model):
    from lmvid_lib.playground.core import control_tour, update_seconds

    pg = Playground(model, clip(6), CopyLast(), context=2)
    pg.select_frame(1)
    encoded = pg.state.clone()
    states, titles = control_tour(pg, 0, 4, moved_to=(0.1, -0.2))
    assert titles[:4] == ["as encoded", "landmark 0 2x wider", "... and turned 90°", "halfway to frame 4"]
    assert len(states) == len(titles) == 7 and torch.equal(states[0], encoded)
    torch.testing.assert_close(states[1][0, 2:], 2 * encoded[0, 2:])
    torch.testing.assert_close(states[3], landmarks.interpolate(encoded, pg.states[4], [0.5])[0])
    assert states[4][0, :2].tolist() == pytest.approx([0.1, -0.2])
    assert torch.equal(states[5], states[4]) and torch.equal(pg.state, encoded)  # CopyLast; the playground reset
    assert len(control_tour(Playground(model, clip(6)), 0, 4, (0.1, -0.2))[1]) == 4  # no rollout model
    seconds = update_seconds(pg, states, 0, pg.render, n=2)
    assert len(seconds) == 2 and all(s > 0 for s in seconds) and torch.equal(pg.state, encoded)
