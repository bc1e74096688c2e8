"""Keypoint regression from landmarks, the mean-pose baseline and their accuracy metrics (paper Table 1, Fig. 9;
appendix B), the one read-out chapters 3, 4 and 6 use.

A linear map WITHOUT intercept is fitted by ordinary least squares from the 2K landmark coordinates to the 2J keypoint
coordinates of the fit frames (`fit_regressor`); accuracy is the fraction of (frame, joint) pairs within a threshold
of the ground truth (`pck`; `pck_curve` against the threshold, `per_joint_pck` per joint). Baseline (a) predicts the
mean fit pose for every frame (`mean_pose_baseline`). `per_identity_predictions` is a diagnostic outside the protocol.
All points are [N,P,2] (x, y), in the pixel unit the caller scores in; `lmvid_lib.eval.keypoints` runs the protocol.

Missing joints (the book's one rule; a joint is missing in a frame where either of its coordinates is NaN, e.g. an
object a pusher scene does not have):
- fit: each joint is fitted on the frames where it is known (least squares per joint; joints known in the same
  frames are solved together, so with nothing missing it is the one joint fit of all frames). A joint known in fewer
  than 2K frames cannot be fitted: its weights, hence its predictions, are NaN.
- mean pose: each joint's mean over the fit frames where it is known (NaN for a joint known in none).
- scoring: a (frame, joint) pair whose prediction or ground truth is missing is left out of every mean
  (`keypoint_errors` is NaN there, `known_mean` leaves it out), here and in `lmvid_lib.eval.prediction`.
Landmarks are never missing: NaN landmarks are an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def as_points(name: str, value: Any, allow_nan: bool = False) -> np.ndarray:
    """`value` as float64 [N,P,2]; a ValueError naming `name` for a wrong shape, inf, or (unless `allow_nan`: a
    missing point) NaN."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 2:
        raise ValueError(f"{name} must be [N,P,2] (x, y per point), got shape {arr.shape}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} has NaN/inf values in {int(bad.any(axis=(1, 2)).sum())} of {len(arr)} samples")
    return arr


def _pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = as_points("pred", pred, allow_nan=True), as_points("gt", gt, allow_nan=True)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must have the same shape [N,J,2]")
    return pred, gt


def known_joints(points: np.ndarray) -> np.ndarray:
    """points [...,J,2] -> bool [...,J]: the joint is known (neither coordinate NaN)."""
    return ~np.isnan(points).any(-1)


def known_mean(values: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Mean of `values` over `axis` leaving NaN entries (missing joints) out; NaN, without a warning, where none is
    known. Returns an array (0-d for axis=None)."""
    values = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(values)
    count = known.sum(axis)
    total = np.where(known, values, 0.0).sum(axis)
    return np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0)


@dataclass
class KeypointRegressor:
    """Linear map without intercept from landmarks [N,K,2] to keypoints [N,J,2] (crop-centred pixels).

    `weights` is [2K, 2J]. Both sides are flattened row-major from [K,2] / [J,2], i.e. the order is
    (x_1, y_1, x_2, y_2, ...): row 2k + c holds landmark k's coordinate c (0 = x, 1 = y), column 2j + c keypoint j's.
    Columns of a joint that could not be fitted are NaN (the missing-joint rule, module docstring).
    """

    weights: np.ndarray

    @property
    def n_landmarks(self) -> int:
        return self.weights.shape[0] // 2

    @property
    def n_keypoints(self) -> int:
        return self.weights.shape[1] // 2

    def predict(self, landmarks: Any) -> np.ndarray:
        """landmarks [N,K,2] -> keypoints [N,J,2] (float64; NaN for a joint that could not be fitted)."""
        x = as_points("landmarks", landmarks)
        if x.shape[1] != self.n_landmarks:
            raise ValueError(
                f"landmarks have K={x.shape[1]} points but the regressor was fitted with K={self.n_landmarks}"
            )
        return (x.reshape(len(x), -1) @ self.weights).reshape(len(x), self.n_keypoints, 2)


def fit_regressor(landmarks: Any, keypoints: Any) -> KeypointRegressor:
    """Ordinary least squares without intercept: landmarks [N,K,2] -> keypoints [N,J,2] (NaN = missing), crop-centred
    pixels, under the missing-joint rule (module docstring): each joint on the frames where it is known, NaN weights
    for a joint known in fewer than 2K frames.

    Solved with `np.linalg.lstsq` (SVD; minimum-norm solution if the landmarks are rank deficient, e.g. a collapsed
    landmark), once per set of joints known in the same frames.
    """
    x, y = as_points("landmarks", landmarks), as_points("keypoints", keypoints, allow_nan=True)
    if len(x) != len(y):
        raise ValueError(f"landmarks has N={len(x)} samples but keypoints has N={len(y)}")
    if len(x) == 0:
        raise ValueError("landmarks and keypoints are empty (N=0); nothing to fit")
    flat, known = x.reshape(len(x), -1), known_joints(y)
    weights = np.full((flat.shape[1], 2 * y.shape[1]), np.nan)
    patterns, group = np.unique(known.T, axis=0, return_inverse=True)  # joints known in the same frames: one solve
    for g, frames in enumerate(patterns):
        if frames.sum() < flat.shape[1]:
            continue  # underdetermined: the joints stay NaN
        joints = np.flatnonzero(group.reshape(-1) == g)
        columns = np.stack([2 * joints, 2 * joints + 1], 1).reshape(-1)
        target = y[frames][:, joints].reshape(int(frames.sum()), -1)
        weights[:, columns], *_ = np.linalg.lstsq(flat[frames], target, rcond=None)
    return KeypointRegressor(weights)


def per_identity_predictions(
    train_landmarks: Any, train_keypoints: Any, train_ids: Any, landmarks: Any, ids: Any
) -> np.ndarray | None:
    """A diagnostic, not the protocol: one regressor per identity, fitted on that identity's training frames only.

    train_landmarks [N,K,2], train_keypoints [N,J,2], train_ids [N]; landmarks [M,K,2], ids [M] -> predictions
    [M,J,2] (crop-centred), or None when an identity in `ids` has fewer than 2K training frames (e.g. none: BBC Pose
    tests on new signers). Its gain over the single regressor measures how much is lost because a landmark does not
    mark the same body part in every identity; joints it still misses are ones no landmark follows.
    """
    x, y = as_points("train_landmarks", train_landmarks), as_points("train_keypoints", train_keypoints)
    lm = as_points("landmarks", landmarks)
    train_ids, ids = np.asarray(train_ids), np.asarray(ids)
    if train_ids.shape != (len(x),) or len(y) != len(x):
        raise ValueError(
            f"train_landmarks (N={len(x)}), train_keypoints (N={len(y)}) and train_ids "
            f"{train_ids.shape} must describe the same N frames"
        )
    if ids.shape != (len(lm),):
        raise ValueError(f"ids {ids.shape} must hold one identity per landmarks sample (M={len(lm)})")
    pred = np.empty((len(lm), y.shape[1], 2))
    for identity in np.unique(ids):
        fit = train_ids == identity
        if fit.sum() < 2 * x.shape[1]:
            return None
        pred[ids == identity] = fit_regressor(x[fit], y[fit]).predict(lm[ids == identity])
    return pred


def mean_pose_baseline(train_keypoints: Any, n: int) -> np.ndarray:
    """Baseline (a), the book's one mean-pose baseline: every one of `n` samples gets each joint's mean position
    over the fit frames where it is known (the missing-joint rule, module docstring). train_keypoints [N_train,J,2]
    (NaN = missing) -> [n,J,2]."""
    kp = as_points("train_keypoints", train_keypoints, allow_nan=True)
    if len(kp) == 0:
        raise ValueError("train_keypoints is empty (N=0)")
    known = np.repeat(known_joints(kp)[..., None], 2, axis=-1)
    return np.repeat(known_mean(np.where(known, kp, np.nan), axis=0)[None], n, axis=0)


def keypoint_errors(pred: Any, gt: Any) -> np.ndarray:
    """Euclidean error per (sample, joint): pred, gt [N,J,2] (NaN = missing) -> [N,J], NaN where either is missing
    (the missing-joint rule: every score leaves those pairs out)."""
    pred, gt = _pair(pred, gt)
    errors = np.linalg.norm(pred - gt, axis=-1)
    return np.where(known_joints(pred) & known_joints(gt), errors, np.nan)


def within(errors: np.ndarray, threshold: float) -> np.ndarray:
    """errors [...] (NaN = missing) -> 1.0 where <= `threshold`, 0.0 where above it, NaN where missing."""
    return np.where(np.isnan(errors), np.nan, errors <= threshold)


def pck(pred: Any, gt: Any, threshold: float) -> float:
    """Fraction of known (sample, joint) pairs whose Euclidean error is <= `threshold` pixels."""
    return float(known_mean(within(keypoint_errors(pred, gt), threshold)))


def pck_curve(pred: Any, gt: Any, thresholds: Sequence[float]) -> np.ndarray:
    """Accuracy against distance (Fig. 9): [T] fractions of the known pairs, one per threshold."""
    errors = keypoint_errors(pred, gt).reshape(-1)
    return np.array([known_mean(within(errors, t)) for t in np.asarray(thresholds, dtype=np.float64)])


def per_joint_pck(pred: Any, gt: Any, threshold: float) -> np.ndarray:
    """[J] fraction of the samples where joint j is known whose joint j is within `threshold` pixels."""
    return known_mean(within(keypoint_errors(pred, gt), threshold), axis=0)
