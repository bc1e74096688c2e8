"""Pose error of predicted landmark sequences (issue 14, "Measured"): where the stand-ins have ground-truth joints,
predicted landmark states are read out as joints with the chapter-3 regressor and scored against the true joints,
frame by frame after the context.

`states_to_joints` applies the linear read-out (`lmvid_lib.eval.regression.KeypointRegressor`) to the landmark means
of states [N,T,K,5], in crop-centred pixels (`lmvid_lib.eval.scales`). Per horizon t (the t-th predicted frame, or
frame number `first + i` of index i): the mean joint error (`joint_error_by_horizon`), the fraction of joints within a
threshold (`accuracy_by_horizon`), the mean joint speed (`joint_speed_by_horizon`) and the share of the real speed a
prediction keeps (`motion_kept`: 0 for a frozen pose, 1 for the truth), so that a model that freezes or collapses to
the mean pose shows it. Missing ground truth (NaN joints) is left out of every mean. `horizon_table` and
`speed_kept_over` summarise these curves for the notebook's table and prose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch

from lmvid_lib import landmarks
from lmvid_lib.eval.regression import KeypointRegressor
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


def _joints(name: str, value: Any, allow_nan: bool) -> np.ndarray:
    """`value` as float64 [N,T,J,2]; a ValueError naming `name` for a wrong shape or (unless allow_nan) NaN."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 4 or arr.shape[-1] != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be joints [N,T,J,2] (x, y per joint) with T >= 1, got shape {arr.shape}")
    if np.isinf(arr).any() or (not allow_nan and np.isnan(arr).any()):
        raise ValueError(f"{name} has {int((~np.isfinite(arr)).sum())} non-finite values")
    return arr


def _pair(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pred (finite) and true (NaN = missing) [N,T,J,2], same shape -> (pred, true, valid [N,T,J] where true is)."""
    pred, true = _joints("pred", pred, allow_nan=False), _joints("true", true, allow_nan=True)
    if pred.shape != true.shape:
        raise ValueError(f"pred {pred.shape} and true {true.shape} must have the same shape [N,T,J,2]")
    return pred, true, ~np.isnan(true).any(-1)


def _masked_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean of values [N,T,J] over N and J where valid [N,T,J] -> [T]; NaN at a t with nothing valid."""
    count = valid.sum((0, 2))
    total = np.where(valid, values, 0.0).sum((0, 2))
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def _distances(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    pred, true, valid = _pair(pred, true)
    return np.linalg.norm(pred - np.where(valid[..., None], true, 0.0), axis=-1), valid


def joint_error_by_horizon(pred: Any, true: Any) -> np.ndarray:
    """Mean Euclidean joint error per frame: pred, true [N,T,J,2] (same pixels) -> [T], over sequences and joints
    whose ground truth is known (NaN in `true` = missing)."""
    return _masked_mean(*_distances(pred, true))


def accuracy_by_horizon(pred: Any, true: Any, threshold: float) -> np.ndarray:
    """Fraction of known joints within `threshold` pixels (<=, as `regression.pck`) per frame: [N,T,J,2] -> [T]."""
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not threshold > 0:
        raise ValueError(f"threshold must be a positive number of pixels, got {threshold!r}")
    distances, valid = _distances(pred, true)
    return _masked_mean((distances <= threshold).astype(np.float64), valid)


def _steps(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|joints[:, t+1] - joints[:, t]| [N,T-1,J] and where both ends are known [N,T-1,J]."""
    known = ~np.isnan(joints).any(-1)
    valid = known[:, 1:] & known[:, :-1]
    step = np.linalg.norm(np.nan_to_num(joints[:, 1:] - joints[:, :-1]), axis=-1)
    return step, valid


def joint_speed_by_horizon(joints: Any) -> np.ndarray:
    """Mean joint speed in pixels per frame: joints [N,T,J,2] -> [T-1], entry t the mean over sequences and joints of
    |joints[:, t+1] - joints[:, t]| (steps with a NaN end left out)."""
    return _masked_mean(*_steps(_joints("joints", joints, allow_nan=True)))


def motion_kept(pred: Any, true: Any) -> np.ndarray:
    """Predicted over real mean joint speed per step: pred, true [N,T,J,2] -> [T-1] (0: a frozen prediction, 1: the
    real speed), both speeds over the steps whose true ends are known; NaN where the real speed is 0 (undefined)."""
    pred, true, _ = _pair(pred, true)
    true_step, valid = _steps(true)
    real = _masked_mean(true_step, valid)
    kept = _masked_mean(_steps(pred)[0], valid)
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
    results: Mapping[str, tuple[Any, Any, Any]], horizons: Sequence[int] = (10, 30, 100), first: int = 1
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for `lmvid_lib.tables.markdown_table`: one row per model of `results` (name -> (errors [T],
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
