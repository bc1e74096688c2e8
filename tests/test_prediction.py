"""Pose error of predicted landmark sequences: read-out to joints, error, accuracy and speed per horizon, the table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmvid_lib import landmarks
from lmvid_lib.eval.prediction import (
    accuracy_by_horizon,
    horizon_table,
    joint_error_by_horizon,
    joint_speed_by_horizon,
    motion_kept,
    speed_kept_over,
    states_to_joints,
)
from lmvid_lib.eval.regression import KeypointRegressor, fit_regressor
from lmvid_lib.eval.scales import crop_centred_to_pixels
from lmvid_lib.models.dynamics import CopyLast, DynamicsConfig, LandmarkLSTM
from lmvid_lib.models.rollout import rollout
from lmvid_lib.report.tables import markdown_table
from lmvid_lib.seed import seed_everything


def random_states(n: int, t: int, k: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mu = torch.rand(n, t, k, 2, generator=g) * 1.6 - 0.8
    chol = torch.rand(n, t, k, 3, generator=g) * 0.1 + 0.05
    return torch.cat([mu, chol], -1)


# ------------------------------------------------------------------------------------------------ states_to_joints
def test_identity_regressor_gives_the_landmark_pixels():
    states = random_states(2, 3, 2)
    joints = states_to_joints(KeypointRegressor(np.eye(4)), states, crop_size=64)
    assert joints.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(joints, states[..., :2].double().numpy() * 32)
    # The crop-centred joints are the landmarks' 0-based pixel centres in the 64 x 64 crop.
    np.testing.assert_allclose(
        crop_centred_to_pixels(joints, 64), landmarks.norm_to_pixel(states[..., :2].double(), 64, 64).numpy()
    )


def test_read_out_maps_each_frame_through_the_regressor():
    states = random_states(3, 4, 3, seed=1)
    regressor = KeypointRegressor(np.random.default_rng(0).normal(size=(6, 8)))
    joints = states_to_joints(regressor, states, crop_size=100)
    for n in range(3):
        for t in range(4):
            np.testing.assert_allclose(
                joints[n, t], regressor.predict(states[n, t : t + 1, :, :2].double().numpy() * 50)[0]
            )


def test_read_out_errors_name_the_states():
    regressor = KeypointRegressor(np.eye(4))
    with pytest.raises(ValueError, match="states has K=3 landmarks"):
        states_to_joints(regressor, random_states(1, 2, 3), 64)
    with pytest.raises(ValueError, match=r"states must have shape \[N,T,K,5\]"):
        states_to_joints(regressor, torch.zeros(2, 2, 5), 64)
    diverged = random_states(1, 2, 2)
    diverged[0, 1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="states has NaN/inf"):
        states_to_joints(regressor, diverged, 64)


# ------------------------------------------------------------------------------------------------- error, accuracy
def hand_case() -> tuple[np.ndarray, np.ndarray]:
    """One sequence, 2 frames, 2 joints: the prediction at the origin, errors 5, 0 at t=0 and 10, 1 at t=1."""
    pred = np.zeros((1, 2, 2, 2))
    true = np.array([[[[3.0, 4.0], [0.0, 0.0]], [[6.0, 8.0], [0.0, 1.0]]]])
    return pred, true


def test_error_and_accuracy_by_horizon_on_a_hand_case():
    pred, true = hand_case()
    np.testing.assert_allclose(joint_error_by_horizon(pred, true), [2.5, 5.5])
    np.testing.assert_allclose(accuracy_by_horizon(pred, true, 5.0), [1.0, 0.5])  # 5 px is within 5 px
    np.testing.assert_allclose(accuracy_by_horizon(torch.tensor(pred), torch.tensor(true), 0.5), [0.5, 0.0])


def test_missing_ground_truth_is_left_out():
    pred, true = hand_case()
    true[0, 1, 0] = np.nan  # the 10 px joint at t=1 is unknown
    np.testing.assert_allclose(joint_error_by_horizon(pred, true), [2.5, 1.0])
    np.testing.assert_allclose(accuracy_by_horizon(pred, true, 5.0), [1.0, 1.0])
    true[0, 1] = np.nan  # nothing known at t=1
    errors = joint_error_by_horizon(pred, true)
    assert errors[0] == 2.5 and np.isnan(errors[1])


def test_a_joint_the_read_out_could_not_fit_is_left_out():
    pred, true = hand_case()
    pred[0, :, 0, 1] = np.nan  # joint 0 (errors 5 and 10) unpredicted: one coordinate NaN is enough
    np.testing.assert_allclose(joint_error_by_horizon(pred, true), [0.0, 1.0])
    np.testing.assert_allclose(accuracy_by_horizon(pred, true, 0.5), [1.0, 0.0])
    true = moving(j=2)
    pred = true.copy()
    pred[:, :, 1] = np.nan
    pred[:, :, 0] *= 0.5  # half the speed on the one predicted joint: the real speed is that joint's too
    np.testing.assert_allclose(motion_kept(pred, true), motion_kept(0.5 * true[:, :, :1], true[:, :, :1]))
    np.testing.assert_allclose(motion_kept(pred, true), np.full(5, 0.5))


def test_error_inputs_are_checked_by_name():
    pred, true = hand_case()
    with pytest.raises(ValueError, match=r"pred must be joints \[N,T,J,2\]"):
        joint_error_by_horizon(pred[0], true)
    with pytest.raises(ValueError, match=r"true must be joints \[N,T,J,2\]"):
        joint_error_by_horizon(pred, true[..., :1])
    with pytest.raises(ValueError, match="must have the same shape"):
        joint_error_by_horizon(pred[:, :1], true)
    pred[0, 0, 0, 0] = np.inf  # NaN is a missing joint, inf an error
    with pytest.raises(ValueError, match="pred has 1 non-finite"):
        joint_error_by_horizon(pred, true)
    for threshold in (0, -1.0, True, "6"):
        with pytest.raises(ValueError, match="threshold must be a positive number"):
            accuracy_by_horizon(true, true, threshold)


# ------------------------------------------------------------------------------------------------------ speed
def test_joint_speed_on_a_hand_case():
    joints = np.zeros((1, 3, 1, 2))
    joints[0, 1, 0] = [3.0, 0.0]
    joints[0, 2, 0] = [6.0, 4.0]
    np.testing.assert_allclose(joint_speed_by_horizon(joints), [3.0, 5.0])
    with pytest.raises(ValueError, match="joints must be joints"):
        joint_speed_by_horizon(joints[0])


def moving(n: int = 2, t: int = 6, j: int = 3, seed: int = 0) -> np.ndarray:
    steps = np.random.default_rng(seed).normal(size=(n, t, j, 2))
    return np.cumsum(steps, axis=1)


def test_frozen_prediction_keeps_no_motion_and_perfect_prediction_all():
    true = moving()
    frozen = np.repeat(true[:, :1], true.shape[1], axis=1)
    np.testing.assert_array_equal(motion_kept(frozen, true), np.zeros(5))
    np.testing.assert_allclose(motion_kept(true, true), np.ones(5))
    np.testing.assert_allclose(motion_kept(0.5 * true, true), np.full(5, 0.5))


def test_speed_leaves_out_steps_with_unknown_ends():
    true = np.zeros((2, 3, 1, 2))
    true[0, :, 0, 0] = [0.0, 2.0, 4.0]  # 2 px per frame
    true[1, :, 0, 0] = [0.0, 4.0, 8.0]  # 4 px per frame
    np.testing.assert_allclose(joint_speed_by_horizon(true), [3.0, 3.0])
    pred = true.copy()
    pred[1, 1] = 100.0  # scored nowhere once its ground truth is missing
    true[1, 1] = np.nan
    np.testing.assert_allclose(joint_speed_by_horizon(true), [2.0, 2.0])
    np.testing.assert_allclose(motion_kept(pred, true), [1.0, 1.0])


def test_motion_kept_is_undefined_where_the_truth_stands_still():
    true = np.zeros((1, 3, 1, 2))
    true[0, 2, 0] = [1.0, 0.0]
    ratios = motion_kept(true + np.array([0.0, 1.0]) * np.arange(3)[None, :, None, None], true)
    assert np.isnan(ratios[0]) and ratios[1] == pytest.approx(np.sqrt(2))


def test_speed_kept_over_averages_the_steps_inside_the_span():
    ratios = np.arange(99, dtype=np.float64)  # T = 100 predicted frames 1..100: ratio i is the step i+1 -> i+2
    assert speed_kept_over(ratios, 50, 100) == pytest.approx(np.mean(np.arange(49, 99)))
    assert speed_kept_over(ratios, 1, 2) == 0.0
    assert speed_kept_over(ratios, 50, 100, first=3) == pytest.approx(np.mean(np.arange(47, 97)))
    with pytest.raises(ValueError, match="start=50, stop=101"):
        speed_kept_over(ratios, 50, 101)
    with pytest.raises(ValueError, match="start=60, stop=50"):
        speed_kept_over(ratios, 60, 50)
    with pytest.raises(ValueError, match="ratios must be a 1-D array"):
        speed_kept_over(np.zeros((2, 3)), 1, 2)


# ------------------------------------------------------------------------------------------------------ table
def curves(t: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return scale * np.arange(t), np.linspace(0, 1, t), scale * np.arange(t - 1)


def test_horizon_table_skips_horizons_beyond_the_prediction():
    header, rows = horizon_table({"LSTM": curves(50, 1.0), "copy-last": curves(50, 2.0)})
    assert header == [
        "model",
        "error t=10 (px)",
        "accuracy t=10",
        "speed kept t=10",
        "error t=30 (px)",
        "accuracy t=30",
        "speed kept t=30",
    ]
    # t=10 is index 9, its speed the step 9 -> 10 (ratio index 8).
    assert rows[0] == ["LSTM", "9.0", f"{100 * 9 / 49:.1f}%", "8.00", "29.0", f"{100 * 29 / 49:.1f}%", "28.00"]
    assert rows[1][:4] == ["copy-last", "18.0", f"{100 * 9 / 49:.1f}%", "16.00"]
    assert markdown_table(header, rows).count("\n") == 3


def test_horizon_table_counts_frames_from_first():
    header, rows = horizon_table({"LSTM": curves(98, 1.0)}, horizons=(3, 10, 100), first=3)
    assert header[1::3] == ["error t=3 (px)", "error t=10 (px)", "error t=100 (px)"]
    assert rows[0][1:4] == ["0.0", "0.0%", "-"]  # no step into the first predicted frame
    assert rows[0][4] == "7.0" and rows[0][7] == "97.0"


def test_horizon_table_checks_its_results():
    with pytest.raises(ValueError, match="results is empty"):
        horizon_table({})
    with pytest.raises(ValueError, match="same number of frames"):
        horizon_table({"a": curves(20, 1.0), "b": curves(30, 1.0)})
    errors, accuracies, ratios = curves(20, 1.0)
    with pytest.raises(ValueError, match=r"results\['a'\]: errors \(20,\), accuracies \(20,\) and speed ratios"):
        horizon_table({"a": (errors, accuracies, ratios[:-1])})


# ------------------------------------------------------------------------------------------------- integration
def test_rollouts_read_out_as_joints_give_finite_errors():
    k, context, future = 3, 2, 12
    states = random_states(4, context + future, k, seed=3)
    rng = np.random.default_rng(1)
    fit_landmarks = rng.uniform(-30, 30, size=(40, k, 2))
    regressor = fit_regressor(fit_landmarks, fit_landmarks[:, :2] @ rng.normal(size=(2, 2)))
    true = states_to_joints(regressor, states[:, context:], 64)
    seed_everything(0)
    lstm = LandmarkLSTM(DynamicsConfig(n_landmarks=k, hidden=8, layers=1))
    for model in (lstm, CopyLast()):
        pred = states_to_joints(regressor, rollout(model, states[:, :context], future), 64)
        assert pred.shape == true.shape == (4, future, 2, 2)
        errors, accuracies = joint_error_by_horizon(pred, true), accuracy_by_horizon(pred, true, 6.0)
        assert errors.shape == accuracies.shape == (future,)
        assert np.isfinite(errors).all() and (errors > 0).all()
        assert ((accuracies >= 0) & (accuracies <= 1)).all()
    frozen = states_to_joints(regressor, rollout(CopyLast(), states[:, :context], future), 64)
    np.testing.assert_array_equal(motion_kept(frozen, true), np.zeros(future - 1))
    np.testing.assert_array_equal(joint_error_by_horizon(true, true), np.zeros(future))
