"""Pose error of predicted landmark sequences (issue 14, "Measured"): where the stand-ins have ground-truth joints,
predicted landmark states are read out as joints with the chapter-3 regressor and scored against the true joints,
frame by frame after the context.

`states_to_joints` applies the linear read-out (`lmvid_lib.eval.regression.KeypointRegressor`) to the landmark means
of states [N,T,K,5], in crop-centred pixels (`lmvid_lib.eval.scales`). Per horizon t (the t-th predicted frame, or
frame number `first + i` of index i): the mean joint error (`joint_error_by_horizon`), the fraction of joints within a
threshold (`accuracy_by_horizon`), the mean joint speed (`joint_speed_by_horizon`) and the share of the real speed a
prediction keeps (`motion_kept`: 0 for a frozen pose, 1 for the truth), so that a model that freezes or collapses to
the mean pose shows it. Missing joints (NaN in the truth, or in a prediction of a joint the read-out could not fit)
are left out of every mean: the missing-joint rule of `lmvid_lib.eval.regression`. `horizon_table` and
`speed_kept_over` summarise these curves for the notebook's table and prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from lmvid_lib import landmarks
from lmvid_lib.config import check_number
from lmvid_lib.eval.regression import KeypointRegressor, keypoint_errors, known_mean, within
from lmvid_lib.eval.scales import landmarks_to_crop_centred
from lmvid_lib.models.dynamics import check_states


def states_to_joints(regressor: KeypointRegressor, states: torch.Tensor, crop_size: int) -> np.ndarray:
    """Landmark states [N,T,K,5] (normalised means in [-1,1]) -> joints [N,T,J,2] in crop-centred pixels (float64),
    through the regressor fitted on crop-centred landmarks at `crop_size` (all N*T frames in one matrix product)."""
    check_states(states, "states", regressor.n_landmarks)
    if not torch.isfinite(states).all():
        raise ValueError("states has NaN/inf values; a prediction that diverged cannot be read out as joints")
    mu, _ = landmarks.from_state(states.detach())
    n, t = mu.shape[:2]
    points = landmarks_to_crop_centred(mu.flatten(0, 1), crop_size)
    return regressor.predict(points).reshape(n, t, regressor.n_keypoints, 2)


def _joints(name: str, value: Any) -> np.ndarray:
    """`value` as float64 [N,T,J,2] (NaN = missing); a ValueError naming `name` for a wrong shape or inf."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[-1] != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be joints [N,T,J,2] (x, y per joint) with T >= 1, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} has {int(np.isinf(arr).sum())} non-finite values")
    return arr


def _pair(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    """pred and true [N,T,J,2] (NaN = missing), checked to have one shape."""
    pred, true = _joints("pred", pred), _joints("true", true)
    if pred.shape != true.shape:
        raise ValueError(f"pred {pred.shape} and true {true.shape} must have the same shape [N,T,J,2]")
    return pred, true


def _distances(pred: Any, true: Any) -> np.ndarray:
    """Euclidean error [N,T,J] of pred against true [N,T,J,2], NaN where either is missing (`keypoint_errors`)."""
    pred, true = _pair(pred, true)
    n, t = pred.shape[:2]
    return keypoint_errors(pred.reshape(n * t, -1, 2), true.reshape(n * t, -1, 2)).reshape(n, t, -1)


def joint_error_by_horizon(pred: Any, true: Any) -> np.ndarray:
    """Mean Euclidean joint error per frame: pred, true [N,T,J,2] (same pixels) -> [T], over the sequences and joints
    known in both (NaN = missing); NaN at a frame where none is."""
    return known_mean(_distances(pred, true), (0, 2))


def accuracy_by_horizon(pred: Any, true: Any, threshold: float) -> np.ndarray:
    """Fraction of the joints known in both within `threshold` pixels (<=, as `regression.pck`) per frame:
    [N,T,J,2] -> [T]."""
    check_number(threshold, "threshold", 0, strict=True)
    return known_mean(within(_distances(pred, true), threshold), (0, 2))


def _steps(joints: np.ndarray) -> np.ndarray:
    """|joints[:, t+1] - joints[:, t]| [N,T-1,J], NaN where an end is missing."""
    return np.linalg.norm(joints[:, 1:] - joints[:, :-1], axis=-1)


def joint_speed_by_horizon(joints: Any) -> np.ndarray:
    """Mean joint speed in pixels per frame: joints [N,T,J,2] -> [T-1], entry t the mean over sequences and joints of
    |joints[:, t+1] - joints[:, t]| (steps with a NaN end left out)."""
    return known_mean(_steps(_joints("joints", joints)), (0, 2))


def motion_kept(pred: Any, true: Any) -> np.ndarray:
    """Predicted over real mean joint speed per step: pred, true [N,T,J,2] -> [T-1] (0: a frozen prediction, 1: the
    real speed), both speeds over the steps whose ends are known in both; NaN where the real speed is 0 (undefined)."""
    pred_step, true_step = (_steps(j) for j in _pair(pred, true))
    both = ~np.isnan(pred_step) & ~np.isnan(true_step)
    real = known_mean(np.where(both, true_step, np.nan), (0, 2))
    kept = known_mean(np.where(both, pred_step, np.nan), (0, 2))
    return np.divide(kept, real, out=np.full(real.shape, np.nan), where=real > 0)


def speed_kept_over(ratios: Any, start: int, stop: int, first: int = 1) -> float:
    """Mean of the speed ratios [T-1] (`motion_kept`) over the steps between frames `start` and `stop` (frame numbers,
    start < stop; frame `first + i` is index i of the predicted frames, so ratio i is the step first+i -> first+i+1).
    The span must lie inside the predicted frames first .. first + T - 1."""
    ratios = np.asarray(ratios, dtype=np.float64)
    if ratios.ndim != 1 or len(ratios) < 1:
        raise ValueError(f"ratios must be a 1-D array [T-1] with T >= 2, got shape {ratios.shape}")
    last = first + len(ratios)
    if not first <= start < stop <= last:
        raise ValueError(
            f"start={start}, stop={stop}: the span must satisfy {first} <= start < stop <= {last} (the predicted "
            f"frames {first}..{last})"
        )
    return float(np.mean(ratios[start - first : stop - first]))


def horizon_table(
    results: Mapping[str, tuple[Any, Any, Any]], horizons: Sequence[int] = (10, 30, 98), first: int = 1
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for `lmvid_lib.report.tables.markdown_table`: one row per model of `results` (name -> (errors [T],
    accuracies [T], speed ratios [T-1]), all models with the same T), columns per horizon t: error in px, accuracy in
    %, and the speed kept on the step into frame t ("-" at t = first). errors[i] is frame `first + i`; horizons
    outside first .. first + T - 1 are skipped."""
    if not results:
        raise ValueError("results is empty: no model to tabulate")
    lengths = {}
    for name, curves in results.items():
        if len(curves) != 3:
            raise ValueError(f"results[{name!r}] must be (errors [T], accuracies [T], speed ratios [T-1])")
        errors, accuracies, ratios = (np.asarray(c, dtype=np.float64) for c in curves)
        if errors.ndim != 1 or accuracies.shape != errors.shape or ratios.shape != (len(errors) - 1,):
            raise ValueError(
                f"results[{name!r}]: errors {errors.shape}, accuracies {accuracies.shape} and speed ratios "
                f"{ratios.shape} must be [T], [T] and [T-1]"
            )
        lengths[name] = len(errors)
    if len(set(lengths.values())) > 1:
        raise ValueError(f"results must all cover the same number of frames T, got {lengths}")
    n_frames = next(iter(lengths.values()))
    shown = [t for t in horizons if first <= t < first + n_frames]
    header = ["model"]
    for t in shown:
        header += [f"error t={t} (px)", f"accuracy t={t}", f"speed kept t={t}"]
    rows = []
    for name, (errors, accuracies, ratios) in results.items():
        row = [name]
        for t in shown:
            i = t - first
            speed = "-" if i == 0 else f"{float(ratios[i - 1]):.2f}"
            row += [f"{float(errors[i]):.1f}", f"{100 * float(accuracies[i]):.1f}%", speed]
        rows.append(row)
    return header, rows
