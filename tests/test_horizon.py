"""Chapter 4's horizon protocol: windows of held-out videos, the state read-out, every predictor scored per horizon."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval.horizon import (
    HorizonConfig,
    HorizonCurves,
    decorrelation_frame,
    evaluate_predictors,
    fit_linear_forecast,
    fit_state_regressor,
    horizon_summary,
    mean_pose_joints,
    predictability_note,
    video_joints,
    windows,
)
from lmvid_lib.eval.predictors import CONSTANT_VELOCITY, COPY_LAST, MEAN_POSE
from lmvid_lib.models.dynamics import ConstantVelocity, CopyLast


def test_windows_start_every_stride_frames_video_major():
    values = np.arange(2 * 10).reshape(2, 10)
    out = windows(values, 4, 3)
    assert out.tolist() == [
        [0, 1, 2, 3],
        [3, 4, 5, 6],
        [6, 7, 8, 9],
        [10, 11, 12, 13],
        [13, 14, 15, 16],
        [16, 17, 18, 19],
    ]
    with pytest.raises(ValueError, match="fewer than the window length 11"):
        windows(values, 11, 1)


def test_video_joints_are_crop_centred_and_keep_missing_joints():
    keypoints = np.full((2, 3, 1, 2), 3.5, np.float32)
    keypoints[1, 1] = np.nan
    videos = VideoSet.from_clips(np.zeros((2, 3, 8, 8, 3), np.uint8), np.arange(2), keypoints)
    joints = video_joints(videos, crop_size=16)
    assert joints.shape == (2, 3, 1, 2)
    np.testing.assert_allclose(joints[0], 0.0)  # pixel 3.5 is the centre of an 8-px frame
    assert np.isnan(joints[1, 1]).all() and not np.isnan(joints[1, 0]).any()


def linear_world(n: int, t: int, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """States [n,t,k,5] moving at constant velocity, and joints [n,t,2,2] = a fixed linear map of the means (px)."""
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(n, 1, k, 2, generator=g) - 0.5
    velocity = (torch.rand(n, 1, k, 2, generator=g) - 0.5) * 0.02
    mu = start + velocity * torch.arange(t).view(1, t, 1, 1)
    states = torch.cat([mu, torch.full((n, t, k, 1), 0.1), torch.zeros(n, t, k, 1), torch.full((n, t, k, 1), 0.1)], -1)
    weights = torch.randn(2 * k, 4, generator=g).double()
    joints = (mu.double().flatten(2) * 32) @ weights  # crop-centred landmarks at crop 64, times the map
    return states, joints.unflatten(-1, (2, 2)).numpy()


def test_every_predictor_is_scored_and_constant_velocity_is_exact_on_linear_motion():
    states, joints = linear_world(6, 14)
    regressor = fit_state_regressor(states, joints, crop_size=64)
    cfg = HorizonConfig(context=2, horizon=12, stride=1, threshold=1.0, crop_size=64)
    results = evaluate_predictors(
        {COPY_LAST: CopyLast(), CONSTANT_VELOCITY: ConstantVelocity()}, regressor, states, joints, joints, cfg
    )
    assert set(results) == {COPY_LAST, CONSTANT_VELOCITY, MEAN_POSE}
    for curves in results.values():
        assert curves.errors.shape == curves.accuracy.shape == (12,) and curves.speed_kept.shape == (11,)
    np.testing.assert_allclose(results[CONSTANT_VELOCITY].errors, 0.0, atol=1e-4)  # float32 states
    np.testing.assert_allclose(results[CONSTANT_VELOCITY].speed_kept, 1.0, atol=1e-4)
    assert (results[CONSTANT_VELOCITY].accuracy == 1.0).all()
    # Copy-last freezes the pose: its error grows linearly with the horizon and it keeps no motion.
    np.testing.assert_allclose(results[COPY_LAST].speed_kept, 0.0)
    errors = results[COPY_LAST].errors
    np.testing.assert_allclose(errors / errors[0], np.arange(1, 13), rtol=1e-6)
    assert (results[MEAN_POSE].speed_kept == 0.0).all()


def test_mean_pose_is_the_mean_over_annotated_training_frames():
    train = np.array([[[[0.0, 0.0]], [[2.0, 4.0]], [[np.nan, np.nan]]]])  # [1,3,1,2], one frame unannotated
    out = mean_pose_joints(train, (2, 5, 1, 2))
    assert out.shape == (2, 5, 1, 2)
    np.testing.assert_allclose(out, np.broadcast_to([1.0, 2.0], (2, 5, 1, 2)))


def test_regressor_fit_skips_frames_with_missing_joints_and_config_errors_name_the_field():
    states, joints = linear_world(2, 8)
    joints[0, 3] = np.nan
    clean = fit_state_regressor(states, joints, crop_size=64)
    assert np.isfinite(clean.weights).all()
    with pytest.raises(ValueError, match="same \\[N,T\\] frames"):
        fit_state_regressor(states, joints[:, :4], crop_size=64)
    with pytest.raises(ValueError, match="HorizonConfig.stride"):
        HorizonConfig(stride=0)
    with pytest.raises(ValueError, match="HorizonConfig.threshold"):
        HorizonConfig(threshold=-1)


def test_a_joint_known_in_too_few_training_frames_is_not_predicted_and_not_scored():
    states, joints = linear_world(6, 14)
    train = joints.copy()
    train[:, :, 1] = np.nan
    train[0, :2, 1] = joints[0, :2, 1]  # joint 1 known in 2 training frames, fewer than 2K = 6: not fitted
    train[0, 5, 0] = np.nan  # joint 0 missing in one frame: fitted on the others
    regressor = fit_state_regressor(states, train, crop_size=64)
    assert np.isnan(regressor.weights[:, 2:]).all() and np.isfinite(regressor.weights[:, :2]).all()
    cfg = HorizonConfig(context=2, horizon=12, stride=1, threshold=1.0, crop_size=64)
    predictors = {COPY_LAST: CopyLast()}
    both = evaluate_predictors(predictors, regressor, states, joints, train, cfg)[COPY_LAST]
    one = fit_state_regressor(states, train[:, :, :1], crop_size=64)
    alone = evaluate_predictors(predictors, one, states, joints[:, :, :1], train[:, :, :1], cfg)[COPY_LAST]
    assert np.isfinite(both.errors).all() and (both.errors > 0).all()
    for got, expected in zip(both.as_tuple(), alone.as_tuple()):  # scored on joint 0 alone
        np.testing.assert_array_equal(got, expected)


def curves(errors, speed) -> HorizonCurves:
    errors = np.asarray(errors, dtype=np.float64)
    return HorizonCurves(errors, np.zeros_like(errors), np.full(len(errors) - 1, speed, dtype=np.float64))


def test_summary_numbers_and_verdicts_come_from_the_curves():
    t = np.arange(1, 99)  # the paper's 98 predicted frames (Fig. 3), the defaults' horizons t = 10, 30, 98
    results = {
        "LSTM": curves(10 + 0.05 * t, 0.4),
        COPY_LAST: curves(8 + 0.1 * t, 0.0),  # better than the LSTM until t = 40, worse after
        CONSTANT_VELOCITY: curves(5 + t, 1.0),
        MEAN_POSE: curves(np.full(98, 14.0), 0.0),
    }
    assert decorrelation_frame(results) == 60  # 8 + 0.1 t >= 14 from t = 60
    text = horizon_summary(results, "LSTM")
    assert "At t = 10 / 30 / 98" in text and "Over frames 50-98" in text
    assert "10.5 / 11.5 / 14.9 px" in text and f"{COPY_LAST} 9.0 / 11.0 / 17.8" in text
    assert f"better than {COPY_LAST} only at t = 98" in text
    assert f"better than {CONSTANT_VELOCITY} at every one" in text
    assert "keeps 40% of the real joint speed" in text
    assert "better only at t = 10, 30" in text and "from frame 60 on" in text


def test_linear_forecast_learns_constant_velocity_from_training_windows():
    states, _ = linear_world(40, 12, seed=1)
    cfg = HorizonConfig(context=2, horizon=10, stride=1, crop_size=64)
    forecast = fit_linear_forecast(states.numpy(), cfg, ridge=1e-6)
    test, _ = linear_world(5, 12, seed=2)
    predicted = forecast.predict(test[:, :2].numpy())
    assert predicted.shape == (5, 10, 3, 5)
    joints = np.zeros((5, 12, 1, 2))
    scored = evaluate_predictors(
        {}, fit_state_regressor(test, joints, 64), test, joints, joints, cfg, {"lin": forecast}
    )
    assert set(scored) == {"lin", MEAN_POSE} and scored["lin"].errors.shape == (10,)
    torch.testing.assert_close(predicted, test[:, 2:12], atol=1e-3, rtol=0)  # float32 states
    with pytest.raises(ValueError, match="context_states"):
        forecast.predict(test[:, :2, :2].numpy())


def test_predictability_note_reports_the_forecast_gain_and_the_gap_to_copy_last():
    t = np.arange(1, 31)
    results = {
        "LSTM": curves(5 + 0.3 * t, 0.2),
        COPY_LAST: curves(5 + 0.3 * t + 0.01 * t, 0.0),
        "lin": curves(4 + 0.2 * t, 0.0),
    }
    text = predictability_note(results, "LSTM", "lin", (10, 30, 100), (10, 30))
    assert "+2.1 / +4.3 px at t = 10 / 30" in text  # copy-last minus forecast at t = 10 and 30
    assert "keeps 0% of the real joint speed over frames 10-30 (LSTM: 20%)" in text
    assert "within 0.2 px of copy-last's" in text  # 0.01 t at t = 20
