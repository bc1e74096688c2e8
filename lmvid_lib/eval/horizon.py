"""Chapter 4's protocol: pose error of landmark predictions against the prediction horizon, on held-out videos.

Our stand-ins have ground-truth joints, so a prediction in landmark space can be scored as a pose: every held-out
video is cut into windows of `context + horizon` frames (`windows`), each predictor rolls the first `context` landmark
states forward `horizon` frames (`lmvid_lib.models.dynamics.rollout`), the chapter-3 linear read-out
(`fit_state_regressor`, fitted on the training videos' landmarks and joints) maps the predicted landmarks to joints,
and `score_joints` compares them with the true joints of the same frames (`lmvid_lib.eval.prediction`: error and
accuracy per horizon, and the share of the real joint speed a prediction keeps). The training mean pose is scored on
the same frames (`mean_pose_joints`). All joints are crop-centred pixels at `crop_size` (`lmvid_lib.eval.scales`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch import nn

from lmvid_lib import landmarks
from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval.prediction import (
    accuracy_by_horizon,
    joint_error_by_horizon,
    motion_kept,
    speed_kept_over,
    states_to_joints,
)
from lmvid_lib.eval.regression import KeypointRegressor, fit_regressor, mean_pose_baseline
from lmvid_lib.eval.scales import landmarks_to_crop_centred, pixels_to_crop_centred
from lmvid_lib.models.dynamics import check_states, rollout
from lmvid_lib.models.sequences import sequence_indices


@dataclass
class HorizonConfig:
    context: int = 2  # conditioning frames (the paper's BBC predictions start from 2)
    horizon: int = 100  # predicted frames per window, so that t = 100 is scored
    stride: int = 25  # frames between the starts of a held-out video's windows
    threshold: float = 6.0  # pixels within which a joint counts as correct
    crop_size: int = 128  # joints in crop-centred pixels of this crop (the signer's native frame)

    def __post_init__(self) -> None:
        for name in ("context", "horizon", "stride", "crop_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"HorizonConfig.{name} must be a positive int, got {value!r}")
        if self.horizon < 2:
            raise ValueError(f"HorizonConfig.horizon must be >= 2 (speed needs two frames), got {self.horizon}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, Real) or not self.threshold > 0:
            raise ValueError(f"HorizonConfig.threshold must be a positive number of pixels, got {self.threshold!r}")

    @property
    def length(self) -> int:
        return self.context + self.horizon


@dataclass
class HorizonCurves:
    """One predictor's scores per predicted frame t = 1..T: errors [T] (px), accuracy [T] (fraction within the
    threshold), speed_kept [T-1] (predicted over real mean joint speed, on the step into frame t + 1)."""

    errors: np.ndarray
    accuracy: np.ndarray
    speed_kept: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(v, dtype=np.float64).tolist() for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HorizonCurves:
        return cls(**{k: np.asarray(d[k], dtype=np.float64) for k in ("errors", "accuracy", "speed_kept")})

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(errors, accuracy, speed_kept), the form `lmvid_lib.eval.prediction.horizon_table` reads."""
        return self.errors, self.accuracy, self.speed_kept


def windows(values: np.ndarray, length: int, stride: int) -> np.ndarray:
    """Every window of `length` frames starting each `stride` frames: values [V,T,...] -> [N,length,...], video-major
    (the windows of video 0 first). A video shorter than `length` is an error."""
    values = np.asarray(values)
    if values.ndim < 2:
        raise ValueError(f"values must be [V,T,...], got shape {values.shape}")
    if values.shape[1] < length:
        raise ValueError(f"videos have {values.shape[1]} frames, fewer than the window length {length}")
    starts = range(0, values.shape[1] - length + 1, stride)
    return np.stack([values[:, s : s + length] for s in starts], 1).reshape(-1, length, *values.shape[2:])


def video_joints(videos: VideoSet, crop_size: int) -> np.ndarray:
    """Ground-truth joints of every video (all the same length) in crop-centred pixels: float64 [V,T,J,2], NaN where
    a joint is not annotated. The stored frame is taken as the crop (the stand-ins are rendered at their crop)."""
    if videos.keypoints is None:
        raise ValueError("videos have no keypoints: pose error needs a dataset with ground-truth joints")
    indices = sequence_indices(videos)
    height, width = videos.frames.shape[1:3]
    if height != width:
        raise ValueError(f"frames are {height}x{width}: crop-centred joints need square frames")
    return pixels_to_crop_centred(videos.keypoints[indices], height, crop_size)


def fit_state_regressor(states: Any, joints: Any, crop_size: int) -> KeypointRegressor:
    """The chapter-3 read-out fitted on training videos: states [N,T,K,5] and joints [N,T,J,2] (crop-centred px)
    of the same frames; frames with any missing joint are left out of the fit."""
    states = torch.as_tensor(states)
    check_states(states)
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape[:2] != tuple(states.shape[:2]):
        raise ValueError(f"joints {joints.shape} and states {tuple(states.shape)} must cover the same [N,T] frames")
    mu, _ = landmarks.from_state(states.flatten(0, 1))
    points, targets = landmarks_to_crop_centred(mu, crop_size), joints.reshape(-1, *joints.shape[2:])
    known = ~np.isnan(targets).any((1, 2))
    return fit_regressor(points[known], targets[known])


def mean_pose_joints(train_joints: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The training mean pose (chapter 3's baseline, over the annotated training frames) at every frame of `shape`
    [N,T,J,2]."""
    train = np.asarray(train_joints, dtype=np.float64).reshape(-1, *shape[2:])
    train = train[~np.isnan(train).any((1, 2))]
    return np.broadcast_to(mean_pose_baseline(train, 1)[0], shape).copy()


def score_joints(pred: Any, true: Any, threshold: float) -> HorizonCurves:
    """Curves of predicted joints against true joints, both [N,T,J,2] over the predicted frames."""
    return HorizonCurves(
        joint_error_by_horizon(pred, true), accuracy_by_horizon(pred, true, threshold), motion_kept(pred, true)
    )


def predict_joints(
    model: nn.Module, regressor: KeypointRegressor, states: Any, cfg: HorizonConfig
) -> tuple[torch.Tensor, np.ndarray]:
    """Roll `model` from the first cfg.context states of windows [N,L,K,5] over cfg.horizon frames: (predicted states
    [N,horizon,K,5], their joints [N,horizon,J,2] in crop-centred px)."""
    states = torch.as_tensor(states)
    if states.ndim != 4 or states.shape[1] < cfg.length:
        raise ValueError(f"states must be windows [N,>={cfg.length},K,5], got {tuple(states.shape)}")
    predicted = rollout(model, states[:, : cfg.context].float(), cfg.horizon)
    return predicted, states_to_joints(regressor, predicted, cfg.crop_size)


def evaluate_predictors(
    predictors: Mapping[str, nn.Module],
    regressor: KeypointRegressor,
    states: Any,
    true_joints: Any,
    train_joints: Any,
    cfg: HorizonConfig,
) -> dict[str, HorizonCurves]:
    """Curves of every predictor (name -> model with the rollout interface) and of the training mean pose (key
    "mean pose"), on windows states [N,L,K,5] with true joints [N,L,J,2] (crop-centred px), L >= cfg.length."""
    true = np.asarray(true_joints, dtype=np.float64)[:, cfg.context : cfg.length]
    results = {
        name: score_joints(predict_joints(m, regressor, states, cfg)[1], true, cfg.threshold)
        for name, m in predictors.items()
    }
    results["mean pose"] = score_joints(mean_pose_joints(train_joints, true.shape), true, cfg.threshold)
    return results


def decorrelation_frame(results: Mapping[str, HorizonCurves], first: int = 1) -> int | None:
    """The first predicted frame at which a frozen pose (`copy-last`) is no closer to the truth than the training
    mean pose: from there on the present pose says nothing about the future one. None if that never happens."""
    later = np.flatnonzero(results["copy-last"].errors >= results["mean pose"].errors)
    return None if len(later) == 0 else first + int(later[0])


def horizon_summary(
    results: Mapping[str, HorizonCurves],
    model: str,
    horizons: Sequence[int] = (10, 30, 100),
    speed_span: tuple[int, int] = (50, 100),
    first: int = 1,
) -> str:
    """Sentences comparing `model` with copy-last, constant velocity and the mean pose at `horizons` (predicted frame
    numbers), and the share of the real joint speed it keeps over `speed_span`; every number from `results`."""
    curves = results[model]
    shown = [t for t in horizons if first <= t < first + len(curves.errors)]

    def at(name: str) -> str:
        return " / ".join(f"{results[name].errors[t - first]:.1f}" for t in shown)

    def beaten(name: str) -> list[int]:
        return [t for t in shown if curves.errors[t - first] < results[name].errors[t - first]]

    ts = " / ".join(str(t) for t in shown)
    text = [f"At t = {ts} the {model}'s mean joint error is {at(model)} px"]
    text.append(
        f"(copy-last {at('copy-last')}, constant velocity {at('constant velocity')}, mean pose {at('mean pose')})."
    )
    for name in ("copy-last", "constant velocity"):
        wins = beaten(name)
        verdict = (
            "at every one of these horizons"
            if wins == shown
            else f"only at t = {', '.join(map(str, wins))}"
            if wins
            else "at none"
        )
        text.append(f"It is better than {name} {verdict}.")
    kept = speed_kept_over(curves.speed_kept, *speed_span, first=first)
    text.append(f"Over frames {speed_span[0]}-{speed_span[1]} it keeps {100 * kept:.0f}% of the real joint speed.")
    wins = beaten("mean pose")
    frame = decorrelation_frame(results, first)
    where = (
        "at every one of these horizons"
        if wins == shown
        else f"only at t = {', '.join(map(str, wins))}"
        if wins
        else "at none of these horizons"
    )
    text.append(f"Against the training mean pose it is better {where}.")
    if frame is not None:
        text.append(
            f"A frozen pose is no closer to the truth than the mean pose from frame {frame} on: the motion "
            "decorrelates within that many frames, after which the mean pose is the lowest-error deterministic guess, "
            "and any prediction that keeps moving pays for its motion in error."
        )
    return " ".join(text)
