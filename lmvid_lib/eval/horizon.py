"""Chapter 4's protocol: pose error of landmark predictions against the prediction horizon, on held-out videos.

Our stand-ins have ground-truth joints, so a prediction in landmark space can be scored as a pose: every held-out
video is cut into windows of `context + horizon` frames (`windows`), each predictor rolls the first `context` landmark
states forward `horizon` frames (`lmvid_lib.models.rollout.rollout`), the chapter-3 linear read-out
(`fit_state_regressor`, fitted on the training videos' landmarks and joints) maps the predicted landmarks to joints,
and `score_joints` compares them with the true joints of the same frames (`lmvid_lib.eval.prediction`: error and
accuracy per horizon, and the share of the real joint speed a prediction keeps). The training mean pose is scored on
the same frames (`mean_pose_joints`). All joints are crop-centred pixels at `crop_size` (`lmvid_lib.eval.scales`);
missing joints (NaN) follow the one rule of `lmvid_lib.eval.regression` in the fit, the mean pose and every score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lmvid_lib import landmarks
from lmvid_lib.config import check_int, check_number
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval.prediction import (
    accuracy_by_horizon,
    joint_error_by_horizon,
    motion_kept,
    speed_kept_over,
    states_to_joints,
)
from lmvid_lib.eval.predictors import CONSTANT_VELOCITY, COPY_LAST, MEAN_POSE
from lmvid_lib.eval.regression import KeypointRegressor, fit_regressor, mean_pose_baseline
from lmvid_lib.eval.scales import landmarks_to_crop_centred, pixels_to_crop_centred
from lmvid_lib.models.dynamics import check_states
from lmvid_lib.models.rollout import rollout
from lmvid_lib.models.sequences import extract_sequences, open_run_videos, render_sequence, sequence_indices


@dataclass
class HorizonConfig:
    context: int = 2  # conditioning frames (the paper's BBC predictions start from 2, Fig. 3)
    horizon: int = 98  # predicted frames per window: the paper's Fig. 3 predicts 98 frames from 2
    stride: int = 25  # frames between the starts of a held-out video's windows
    threshold: float = 6.0  # pixels within which a joint counts as correct
    crop_size: int = 128  # joints in crop-centred pixels of this crop (the signer's native frame)

    def __post_init__(self) -> None:
        for name in ("context", "stride", "crop_size"):
            check_int(getattr(self, name), f"HorizonConfig.{name}")
        check_int(self.horizon, "HorizonConfig.horizon", 2, what=" (speed needs two frames)")
        check_number(self.threshold, "HorizonConfig.threshold", 0, strict=True)

    @property
    def length(self) -> int:
        return self.context + self.horizon

    @property
    def horizons(self) -> tuple[int, ...]:
        """The horizons shown: t = 10 and 30 where shorter than the horizon, and the last predicted frame (t = 10,
        30, 98 with the paper's 2 -> 98 of Fig. 3)."""
        return (*(t for t in (10, 30) if t < self.horizon), self.horizon)

    @property
    def speed_span(self) -> tuple[int, int]:
        """Where the kept motion is measured: from frame 50 to the last predicted frame, or the second half of a
        horizon of 60 frames or fewer."""
        return (50 if self.horizon > 60 else self.horizon // 2), self.horizon


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


@dataclass
class VideoStates:
    """The landmark states and true joints of every frame of a split's videos (all of one length T)."""

    videos: VideoSet
    states: np.ndarray  # float32 [V,T,K,5]
    joints: np.ndarray  # float64 [V,T,J,2], crop-centred px

    def windows(self, cfg: HorizonConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(states [N,L,K,5], joints [N,L,J,2], frame indices [N,L] into videos.frames) of every window of
        L = cfg.length frames starting each cfg.stride frames."""
        frames = np.arange(len(self.videos.frames)).reshape(self.states.shape[:2])
        return tuple(windows(a, cfg.length, cfg.stride) for a in (self.states, self.joints, frames))


def video_states(
    run: str | Path, split: str, run_dir: str | Path, cfg: HorizonConfig, device: str = "cpu", **overrides: Any
) -> VideoStates:
    """States (by the factorization run folder `run`, cached) and true joints of split `split` of its dataset, with
    synthetic `overrides` of that split (e.g. more training videos)."""
    videos = open_run_videos(run, split, run_dir, **overrides)
    states = extract_sequences(run, videos, device=device, progress=False)
    return VideoStates(videos, states, video_joints(videos, cfg.crop_size))


def fit_state_regressor(states: Any, joints: Any, crop_size: int) -> KeypointRegressor:
    """The chapter-3 read-out (`regression.fit_regressor`) fitted on training videos: states [N,T,K,5] and joints
    [N,T,J,2] (crop-centred px, NaN = missing) of the same frames, each joint on the frames where it is known."""
    states = torch.as_tensor(states)
    check_states(states)
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape[:2] != tuple(states.shape[:2]):
        raise ValueError(f"joints {joints.shape} and states {tuple(states.shape)} must cover the same [N,T] frames")
    mu, _ = landmarks.from_state(states.flatten(0, 1))
    return fit_regressor(landmarks_to_crop_centred(mu, crop_size), joints.reshape(-1, *joints.shape[2:]))


def mean_pose_joints(train_joints: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The training mean pose (chapter 3's baseline `regression.mean_pose_baseline`: each joint's mean over the
    training frames where it is known) of train_joints [...,J,2] at every frame of `shape` [N,T,J,2]."""
    train = np.asarray(train_joints, dtype=np.float64).reshape(-1, *shape[2:])
    return np.broadcast_to(mean_pose_baseline(train, 1)[0], shape).copy()


def score_joints(pred: Any, true: Any, threshold: float) -> HorizonCurves:
    """Curves of predicted joints against true joints, both [N,T,J,2] over the predicted frames (NaN = missing,
    left out)."""
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


@dataclass
class LinearForecast:
    """A diagnostic predictor, not the paper's: for every horizon t its own ridge regression from the last context
    state and its last change, s_t - s_last = [s_last, s_last - s_prev, 1] @ weights[:, t], fitted on training
    windows. What it reaches measures how much of the future is linearly predictable from two frames at all."""

    weights: np.ndarray  # [2 * K * 5 + 1, horizon * K * 5]
    n_landmarks: int

    @staticmethod
    def features(context: np.ndarray) -> np.ndarray:
        last, previous = context[:, -1].reshape(len(context), -1), context[:, -2].reshape(len(context), -1)
        return np.concatenate([last, last - previous, np.ones((len(context), 1))], 1)

    def predict(self, context_states: Any) -> torch.Tensor:
        """context_states [N,Tc>=2,K,5] -> predicted states float32 [N,horizon,K,5]."""
        context = np.asarray(context_states, dtype=np.float64)
        if context.ndim != 4 or context.shape[1] < 2 or context.shape[2] != self.n_landmarks:
            raise ValueError(f"context_states must be [N,>=2,{self.n_landmarks},5], got {context.shape}")
        change = (self.features(context) @ self.weights).reshape(len(context), -1, self.n_landmarks, 5)
        return torch.from_numpy((context[:, -1:] + change).astype(np.float32))


def fit_linear_forecast(windows_: Any, cfg: HorizonConfig, ridge: float = 1.0) -> LinearForecast:
    """Fit `LinearForecast` on training windows [N,L,K,5] (L >= cfg.length): context frames cfg.context - 2 and
    cfg.context - 1 predict frames cfg.context .. cfg.length - 1, by ridge least squares (penalty `ridge`)."""
    w = np.asarray(windows_, dtype=np.float64)
    if w.ndim != 4 or w.shape[1] < cfg.length or cfg.context < 2:
        raise ValueError(f"need windows [N,>={cfg.length},K,5] and context >= 2, got {w.shape}, {cfg.context}")
    x = LinearForecast.features(w[:, : cfg.context])
    y = (w[:, cfg.context : cfg.length] - w[:, cfg.context - 1 : cfg.context]).reshape(len(w), -1)
    weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    return LinearForecast(weights, w.shape[2])


def evaluate_predictors(
    predictors: Mapping[str, nn.Module],
    regressor: KeypointRegressor,
    states: Any,
    true_joints: Any,
    train_joints: Any,
    cfg: HorizonConfig,
    forecasts: Mapping[str, LinearForecast] | None = None,
) -> dict[str, HorizonCurves]:
    """Curves of every predictor (name -> model with the rollout interface), of every direct forecast (name ->
    LinearForecast) and of the training mean pose (key `predictors.MEAN_POSE`), on windows states [N,L,K,5] with true
    joints [N,L,J,2] (crop-centred px), L >= cfg.length."""
    true = np.asarray(true_joints, dtype=np.float64)[:, cfg.context : cfg.length]
    results = {
        name: score_joints(predict_joints(m, regressor, states, cfg)[1], true, cfg.threshold)
        for name, m in predictors.items()
    }
    context = np.asarray(states)[:, : cfg.context]
    for name, forecast in (forecasts or {}).items():
        joints = states_to_joints(regressor, forecast.predict(context), cfg.crop_size)
        results[name] = score_joints(joints, true, cfg.threshold)
    results[MEAN_POSE] = score_joints(mean_pose_joints(train_joints, true.shape), true, cfg.threshold)
    return results


def decorrelation_frame(results: Mapping[str, HorizonCurves], first: int = 1) -> int | None:
    """The first predicted frame at which a frozen pose (`predictors.COPY_LAST`) is no closer to the truth than the
    training mean pose: from there on the present pose says nothing about the future one. None if that never happens."""
    later = np.flatnonzero(results[COPY_LAST].errors >= results[MEAN_POSE].errors)
    return None if len(later) == 0 else first + int(later[0])


def horizon_summary(
    results: Mapping[str, HorizonCurves],
    model: str,
    horizons: Sequence[int] = (10, 30, 98),
    speed_span: tuple[int, int] = (50, 98),
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
    text = [f"At t = {ts} the mean joint error of {model} is {at(model)} px"]
    text.append(
        f"({COPY_LAST} {at(COPY_LAST)}, {CONSTANT_VELOCITY} {at(CONSTANT_VELOCITY)}, {MEAN_POSE} {at(MEAN_POSE)})."
    )

    def where(name: str) -> str:
        wins = beaten(name)
        if wins == shown:
            return "at every one of these horizons"
        return f"only at t = {', '.join(map(str, wins))}" if wins else "at none of these horizons"

    for name in (COPY_LAST, CONSTANT_VELOCITY):
        text.append(f"It is better than {name} {where(name)}.")
    kept = speed_kept_over(curves.speed_kept, *speed_span, first=first)
    text.append(f"Over frames {speed_span[0]}-{speed_span[1]} it keeps {100 * kept:.0f}% of the real joint speed.")
    frame = decorrelation_frame(results, first)
    text.append(f"Against the training mean pose it is better {where(MEAN_POSE)}.")
    if frame is not None:
        text.append(
            f"A frozen pose is no closer to the truth than the mean pose from frame {frame} on: the motion "
            "decorrelates within that many frames, so at longer horizons a deterministic predictor lowers its error by "
            "drifting toward the mean pose, and the motion it keeps can only come from what the context still predicts."
        )
    return " ".join(text)


def predictability_note(
    results: Mapping[str, HorizonCurves],
    model: str,
    linear: str,
    horizons: Sequence[int],
    speed_span: tuple[int, int],
    first: int = 1,
) -> str:
    """Why a model does or does not beat a frozen pose: what the direct linear forecast `linear` reaches at `horizons`
    (how much of the future two frames predict at all) and how much motion it keeps over `speed_span` against the
    model, and how far the model's error curve stays from copy-last's over the first 20 predicted frames. Every number
    from `results`."""
    shown = [t for t in horizons if first <= t < first + len(results[model].errors)]
    lin, copy = results[linear].errors, results[COPY_LAST].errors
    gains = " / ".join(f"{copy[t - first] - lin[t - first]:+.1f}" for t in shown)
    early = slice(0, min(20, len(copy)))
    gap = float(np.max(np.abs(results[model].errors[early] - copy[early])))

    def kept(name: str) -> float:
        return speed_kept_over(results[name].speed_kept, *speed_span, first=first)

    return (
        f"How much of the future do the context frames predict at all? A {linear}, one ridge regression per horizon "
        f"from the last context state and its last change fitted on the training videos, improves on copy-last by "
        f"{gains} px at t = {' / '.join(map(str, shown))} and keeps {100 * kept(linear):.0f}% of the real joint "
        f"speed over frames {speed_span[0]}-{speed_span[1]} ({model}: {100 * kept(model):.0f}%). Over the first "
        f"{early.stop} predicted frames the error curve of {model} stays within {gap:.1f} px of copy-last's."
    )


def decoded_prediction(
    factorization: nn.Module, predictor: nn.Module, states: Any, frames: np.ndarray, cfg: HorizonConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One window as video: states [L,K,5] and its real frames uint8 [L,H,W,C] (L >= cfg.length) -> (real frames
    at the model's input size, frames decoded from the context states followed by the predictor's rollout, that state
    path), each [cfg.length, ...] (frames float [T,C,h,w] in [0,1]). The appearance is the last context frame's."""
    context = torch.as_tensor(np.asarray(states)[None, : cfg.context], dtype=torch.float32)
    path = torch.cat([context, rollout(predictor, context, cfg.horizon)], 1)
    frames = np.asarray(frames)[: cfg.length]
    decoded = render_sequence(factorization, path, frames[cfg.context - 1][None])[0]
    real = frames_to_input(frames, factorization.cfg.image_size, "cpu")
    return real, decoded, path[0]


def most_moving_landmarks(states: Any, n: int) -> list[int]:
    """Indices of the `n` landmarks whose means travel furthest over states [T,K,5], furthest first."""
    mu = np.asarray(states)[..., :2]
    travelled = np.linalg.norm(np.diff(mu, axis=0), axis=-1).sum(0)
    return np.argsort(-travelled, kind="stable")[:n].tolist()
