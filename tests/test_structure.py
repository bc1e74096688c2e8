"""Structure measured with ground truth: the supervised keypoint detector, its NaN handling, the per-step curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train import assert_killed_sequence_run_resumes_bit_identically

from lmvid_lib.eval.horizon import HorizonCurves
from lmvid_lib.eval.structure import (
    detect,
    detector_accuracy,
    in_frame,
    keypoint_loss,
    load_detector,
    structure_error,
)
from lmvid_lib.io import load_checkpoint
from lmvid_lib.models.detector import KeypointDetector
from lmvid_lib.train import structure as train_module
from lmvid_lib.train.structure import train_detector

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE, SIDE = 32, 6
FAST = {"widths": [8, 16], "steps": 80, "batch_size": 16, "lr": 3e-3, "progress": False}


def squares(m: int, seed: int, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 [m,SIZE,SIZE,channels], keypoints float32 [m,1,2]): a bright SIDE x SIDE square at a random place
    on a noisy dark background; the keypoint is its centre in 0-based pixels."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 40, (m, SIZE, SIZE, channels)).astype(np.uint8)
    x0, y0 = rng.integers(0, SIZE - SIDE + 1, (2, m))
    for i in range(m):
        frames[i, y0[i] : y0[i] + SIDE, x0[i] : x0[i] + SIDE] = 220
    return frames, np.stack([x0, y0], -1)[:, None].astype(np.float32) + (SIDE - 1) / 2


def as_video(frames: np.ndarray, n: int) -> torch.Tensor:
    """uint8 [n*T,H,W,C] -> float [n,T,C,H,W] in [0,1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255).unflatten(0, (n, -1))


def trained(config: dict, frames: np.ndarray, keypoints: np.ndarray, out) -> KeypointDetector:
    """The detector `train_detector` trains in the run folder `out`, read back."""
    train_detector(config, frames, keypoints, out)
    return load_detector(out)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return trained(FAST, *squares(512, seed=0), tmp_path_factory.mktemp("detector"))


def test_a_short_training_finds_held_out_squares_to_a_pixel(detector, tmp_path):
    frames, keypoints = squares(64, seed=1)
    score = detector_accuracy(detector, frames, keypoints, threshold=1.0)
    assert score["error_px"] < 0.5 and score["accuracy"] > 0.95
    untrained = trained({**FAST, "steps": 1}, *squares(16, seed=0), tmp_path)
    assert detector_accuracy(untrained, frames, keypoints, 1.0)["error_px"] > 4 * score["error_px"]


def test_detect_gives_pixels_of_the_given_frames_and_structure_curves_per_step(detector):
    frames, keypoints = squares(24, seed=2)
    found = detect(detector, as_video(frames, 4), batch_size=5)
    assert found.shape == (4, 6, 1, 2) and found.dtype == np.float64
    assert np.abs(found - keypoints.reshape(4, 6, 1, 2)).max() < 1.5
    # A blank prediction has lost the structure: its per-step error is far above the real frames'.
    true = keypoints.reshape(4, 6, 1, 2)
    real = structure_error(detector, as_video(frames, 4), true, 2.0)
    blank = structure_error(detector, torch.zeros(4, 6, 1, SIZE, SIZE), true, 2.0)
    assert isinstance(real, HorizonCurves) and real.errors.shape == (6,) and real.speed_kept.shape == (5,)
    assert (real.errors < 1).all() and (real.accuracy == 1).all() and (blank.errors > 3).all()
    true[:, 2] = np.nan  # an absent keypoint is left out of every mean
    assert np.isnan(structure_error(detector, as_video(frames, 4), true, 2.0).errors[2])


def test_nan_keypoints_are_left_out_of_the_loss():
    pred = torch.tensor([[[0.0, 0.0], [0.5, 0.5]], [[0.1, 0.2], [0.3, 0.4]]], requires_grad=True)
    target = torch.tensor([[[0.0, 1.0], [np.nan, np.nan]], [[0.1, 0.0], [1.0, np.nan]]])
    loss = keypoint_loss(pred, target)
    assert torch.isclose(loss, torch.tensor((1.0 + 0.04) / 2))  # the known (1st, 3rd) keypoints only
    loss.backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad[0, 1] == 0).all() and (pred.grad[1, 1] == 0).all()


def test_training_with_absent_keypoints_learns_the_present_ones(tmp_path):
    frames, keypoints = squares(512, seed=3)
    twice = np.concatenate([keypoints, keypoints], 1)  # J = 2: the centre twice, the second absent in half the frames
    twice[::2, 1] = np.nan
    twice[1::4, 0] = np.nan
    detector = trained(FAST, frames, twice, tmp_path)
    assert all(torch.isfinite(p).all() for p in detector.parameters())
    test_frames, test_keypoints = squares(64, seed=4)
    score = detector_accuracy(detector, test_frames, np.concatenate([test_keypoints, test_keypoints], 1), 1.0)
    assert score["error_px"] < 0.7


def test_keypoints_outside_the_frame_count_as_absent(detector):
    points = np.array([[[-0.5, 0.0], [-0.6, 3.0], [31.5, 31.5], [10.0, 31.6], [np.nan, 2.0]]])
    assert np.isnan(in_frame(points, SIZE, SIZE)).any(-1).tolist() == [[False, True, False, True, True]]
    frames, keypoints = squares(24, seed=7)
    true = keypoints.reshape(4, 6, 1, 2).copy()
    true[:, 1] += SIZE  # the square's keypoint put outside the frame: no frame shows it, so it is not scored
    curves = structure_error(detector, as_video(frames, 4), true, 2.0)
    assert np.isnan(curves.errors[1]) and (curves.errors[[0, 2, 3, 4, 5]] < 1).all()


def test_training_is_deterministic_for_a_seed(tmp_path):
    frames, keypoints = squares(64, seed=5)
    a, b = (trained({**FAST, "steps": 5}, frames, keypoints, tmp_path / run) for run in "ab")
    c = trained({**FAST, "steps": 5, "seed": 1}, frames, keypoints, tmp_path / "c")
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.body[0][0].weight, c.body[0][0].weight)


@pytest.mark.parametrize(
    "change, make, message",
    [
        ({"widths": []}, None, "DetectorConfig.widths"),
        ({"stepz": 1}, None, "stepz"),
        ({"lr": 0}, None, "DetectorConfig.lr"),
        ({"widths": [4, 4, 4, 4, 4, 4]}, None, r"multiple of 2 \*\* len\(DetectorConfig.widths\) = 64"),
        ({}, lambda f, k: (f.astype(np.float32), k), "frames must be a uint8"),
        ({}, lambda f, k: (f, k[:-1]), r"keypoints must be \[M=16,J,2\]"),
        ({}, lambda f, k: (f, np.full_like(k, np.nan)), r"keypoints \[0\] are absent \(NaN or outside\)"),
    ],
)
def test_bad_config_or_data_errors_name_the_parameter(change, make, message, tmp_path):
    frames, keypoints = squares(16, seed=6)
    if make is not None:
        frames, keypoints = make(frames, keypoints)
    with pytest.raises(ValueError, match=message):
        train_detector({**FAST, **change}, frames, keypoints, tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_detect_refuses_frames_of_another_size_or_channels(detector):
    with pytest.raises(ValueError, match=r"frames must have shape \[N,T,1,32,32\]"):
        detect(detector, torch.rand(2, 3, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match=r"\[N,T,1,32,32\]"):
        detect(detector, torch.rand(2, 3, 1, 16, 16))
    with pytest.raises(TypeError, match="floating-point"):
        detect(detector, torch.zeros(2, 3, 1, SIZE, SIZE, dtype=torch.uint8))


def test_killed_training_resumes_bit_identically(tmp_path, monkeypatch):
    frames, keypoints = squares(64, seed=8)
    config = {**FAST, "steps": 10, "log_every": 3, "checkpoint_every": 4}
    assert_killed_sequence_run_resumes_bit_identically(
        lambda run: train_detector(config, frames, keypoints, run), train_module, tmp_path, monkeypatch, "keypoint_loss"
    )


def test_a_finished_run_is_reused_and_a_changed_one_refused(tmp_path, monkeypatch):
    frames, keypoints = squares(64, seed=9)
    config = {**FAST, "steps": 6, "log_every": 3, "checkpoint_every": 3}
    first = train_detector(config, frames, keypoints, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "config.json",
        "metrics.csv",
        "checkpoints",
        "model.pt",
        "summary.json",
    }
    weights = load_detector(tmp_path).state_dict()

    def no_training(*args):
        raise AssertionError("a finished run trained again")

    monkeypatch.setattr(train_module, "keypoint_loss", no_training)
    again = train_detector(config, frames, keypoints, tmp_path)
    assert again["resumed_from"] == 6 and again["final"] == first["final"]
    assert all(torch.equal(v, load_detector(tmp_path).state_dict()[k]) for k, v in weights.items())
    assert load_checkpoint(tmp_path / "model.pt")["step"] == 6
    with pytest.raises(ValueError, match="lr differ"):
        train_detector({**config, "lr": 1e-3}, frames, keypoints, tmp_path)
    with pytest.raises(ValueError, match="other data"):
        train_detector(config, frames, keypoints + 1, tmp_path)
    monkeypatch.undo()
    assert train_detector({**config, "steps": 8}, frames, keypoints, tmp_path)["resumed_from"] == 6  # more steps


def test_load_detector_names_a_run_without_model_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}/model.pt does not exist"):
        load_detector(tmp_path)
