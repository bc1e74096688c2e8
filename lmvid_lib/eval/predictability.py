"""How much motion can an accurate deterministic prediction keep? A model-free answer from the training videos.

For every held-out window, average the real future joint paths (relative to their last context pose) of the k
training windows whose context joints are closest, and add that average to the window's own last context pose
(`neighbour_forecasts`). k = 1 copies one real future: all of its motion, a large error. Growing k averages over more
of the futures that the context leaves open: the error falls towards what the context predicts at all, and the motion
falls with it, because averaged futures cancel. The k with the lowest error estimates the conditional mean, which is
what a deterministic predictor trained on mean squared error is pulled toward (our LSTM's loss; the paper does not
name the LSTM's loss); `tradeoff_note`
says, from the run, how much motion that average keeps and what keeping more would cost. The neighbours are found on
true joints (no landmarks, no read-out), so the estimate is optimistic: no landmark predictor has that context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lmvid_lib.eval.horizon import HorizonCurves, score_joints
from lmvid_lib.eval.prediction import speed_kept_over

NEIGHBOURS = (1, 5, 20, 100, 400)  # k of the averages shown; larger ones than the training windows are skipped


def context_features(joints: np.ndarray, context: int) -> np.ndarray:
    """joints [N,L,J,2] -> [N,4J]: each window's last context pose and its last change (px), the two frames a
    2-frame context gives."""
    last, previous = joints[:, context - 1], joints[:, context - 2]
    return np.concatenate([last.reshape(len(joints), -1), (last - previous).reshape(len(joints), -1)], 1)


def neighbour_forecasts(
    train_joints: Any, eval_joints: Any, context: int, ks: Sequence[int] = NEIGHBOURS
) -> dict[int, np.ndarray]:
    """k -> forecast joints [N,L-context,J,2] of every eval window: its last context pose plus the mean future
    displacement of the k training windows nearest in `context_features` (Euclidean). train_joints [M,L,J,2] and
    eval_joints [N,L,J,2] are windows of the same length L, in px, every joint known; k > M is skipped."""
    train = np.asarray(train_joints, dtype=np.float64)
    held_out = np.asarray(eval_joints, dtype=np.float64)
    for name, value in (("train_joints", train), ("eval_joints", held_out)):
        if value.ndim != 4 or value.shape[-1] != 2 or value.shape[1] <= context:
            raise ValueError(f"{name} must be windows [N,L,J,2] with L > context = {context}, got {value.shape}")
        if not np.isfinite(value).all():
            raise ValueError(f"{name} has missing (NaN) joints: neighbours need every joint of every frame")
    if train.shape[1:] != held_out.shape[1:]:
        raise ValueError(f"train_joints {train.shape} and eval_joints {held_out.shape} must be windows of one shape")
    if context < 2:
        raise ValueError(f"context must be >= 2 (a pose and its change), got {context}")
    a, b = context_features(held_out, context), context_features(train, context)
    distances = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T
    order = np.argsort(distances, axis=1, kind="stable")
    futures = train[:, context:] - train[:, context - 1 : context]
    last = held_out[:, context - 1 : context]
    return {k: last + np.stack([futures[row[:k]].mean(0) for row in order]) for k in ks if k <= len(train)}


def neighbour_curves(
    train_joints: Any, eval_joints: Any, context: int, threshold: float, ks: Sequence[int] = NEIGHBOURS
) -> dict[int, HorizonCurves]:
    """k -> the curves (error, accuracy, speed kept) of `neighbour_forecasts` against the eval windows' real future."""
    true = np.asarray(eval_joints, dtype=np.float64)[:, context:]
    forecasts = neighbour_forecasts(train_joints, eval_joints, context, ks)
    return {k: score_joints(joints, true, threshold) for k, joints in forecasts.items()}


def tradeoff_rows(
    curves: Mapping[int, HorizonCurves], horizons: Sequence[int], speed_span: tuple[int, int]
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a table: per k, the error at `horizons` (predicted frame t, from 1) and the speed kept over
    `speed_span`."""
    header = ["neighbours averaged (k)"] + [f"error t={t} (px)" for t in horizons]
    header.append(f"speed kept t={speed_span[0]}-{speed_span[1]}")
    rows = [
        [str(k)] + [f"{c.errors[t - 1]:.1f}" for t in horizons] + [f"{speed_kept_over(c.speed_kept, *speed_span):.2f}"]
        for k, c in curves.items()
    ]
    return header, rows


def best_neighbours(curves: Mapping[int, HorizonCurves], t: int) -> int:
    """The k whose average has the lowest error at predicted frame t (from 1): chosen on validation windows."""
    return min(curves, key=lambda k: curves[k].errors[t - 1])


def tradeoff_note(
    curves: Mapping[int, HorizonCurves],
    model_curves: HorizonCurves,
    model: str,
    copy_curves: HorizonCurves,
    horizons: Sequence[int],
    speed_span: tuple[int, int],
    bar: float = 1 / 3,
    best: int | None = None,
) -> str:
    """Markdown: the k whose average is most accurate at the last of `horizons` (`best`, chosen on the validation
    windows by `best_neighbours`; None: the most accurate on these curves), the motion it keeps over `speed_span`, the
    largest k that keeps `bar` of the real speed and whether that average still beats copy-last at every horizon, and
    the motion `model` keeps. Every number from the curves."""
    last = horizons[-1]

    def kept(c: HorizonCurves) -> float:
        return speed_kept_over(c.speed_kept, *speed_span)

    def at(c: HorizonCurves) -> str:
        return " / ".join(f"{c.errors[t - 1]:.1f}" for t in horizons)

    span, ts = f"frames {speed_span[0]}-{speed_span[1]}", " / ".join(map(str, horizons))
    chosen = "on the validation windows" if best is not None else "here (no validation split: chosen on these windows)"
    best = best_neighbours(curves, last) if best is None else best
    text = (
        f"What motion can an accurate deterministic prediction keep? Averaging the real future joint paths of the k "
        f"training windows whose context joints are nearest (true joints: an optimistic estimate that needs no model) "
        f"is most accurate at t = {last} {chosen} with k = {best}; on these windows it is "
        f"{curves[best].errors[last - 1]:.1f} px off and keeps {100 * kept(curves[best]):.0f}% of the real joint speed "
        f"over {span}."
    )
    keeping = [k for k in curves if kept(curves[k]) >= bar]
    if kept(curves[best]) >= bar:
        text += f" That is more than {100 * bar:.0f}%: here accuracy does not cost the motion."
    elif keeping:
        k = max(keeping)
        cost = curves[k].errors[last - 1] - curves[best].errors[last - 1]
        beats = all(curves[k].errors[t - 1] < copy_curves.errors[t - 1] for t in horizons)
        text += (
            f" Keeping at least {100 * bar:.0f}% takes averaging no more than k = {k} futures "
            f"({100 * kept(curves[k]):.0f}%), {cost:.1f} px less accurate at t = {last} ({at(curves[k])} px at "
            f"t = {ts}; copy-last {at(copy_curves)}), {'still better' if beats else 'no longer better'} than copy-last "
            f"at every one of these horizons."
        )
    else:
        text += f" No average of k >= {min(curves)} futures keeps {100 * bar:.0f}% of it."
    if kept(curves[best]) < bar:
        text += (
            " Mean squared error, the loss we train the LSTM with (ours: the paper does not name its loss), prefers "
            "the most accurate average, so its training pulls the prediction toward that little motion."
        )
    text += f" {model} keeps {100 * kept(model_curves):.0f}% over {span} ({at(model_curves)} px at t = {ts})."
    return text
