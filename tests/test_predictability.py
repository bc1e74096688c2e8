"""The neighbour averages of chapter 4: what motion an accurate deterministic prediction can keep."""

from __future__ import annotations

import numpy as np
import pytest

from lmvid_lib.eval.horizon import HorizonCurves
from lmvid_lib.eval.predictability import (
    best_neighbours,
    neighbour_curves,
    neighbour_forecasts,
    tradeoff_note,
    tradeoff_rows,
)


def random_walks(n: int, length: int, seed: int) -> np.ndarray:
    """[n,length,2,2] joint paths whose future steps are independent of the context: nothing is predictable."""
    steps = np.random.default_rng(seed).normal(size=(n, length, 2, 2))
    return np.cumsum(steps, 1)


def test_k1_copies_the_nearest_training_future_onto_the_last_context_pose():
    train = random_walks(30, 8, 0)
    held_out = train[[3, 17]].copy()
    held_out[:, 2:] += 5.0  # the same context, another future: the nearest training window is its own
    forecast = neighbour_forecasts(train, held_out, context=2, ks=[1])[1]
    expected = held_out[:, 1:2] + train[[3, 17], 2:] - train[[3, 17], 1:2]
    assert forecast.shape == (2, 6, 2, 2)
    np.testing.assert_allclose(forecast, expected)


def test_averaging_unpredictable_futures_trades_motion_for_accuracy():
    train, held_out = random_walks(2000, 12, 1), random_walks(100, 12, 2)
    curves = neighbour_curves(train, held_out, context=2, threshold=1.0, ks=[1, 50, 5000])
    assert set(curves) == {1, 50}  # k larger than the training windows is skipped
    speed = {k: c.speed_kept.mean() for k, c in curves.items()}
    assert speed[1] == pytest.approx(1.0, abs=0.15) and speed[50] < 0.3
    assert curves[50].errors[-1] < 0.8 * curves[1].errors[-1]


def test_tradeoff_table_and_note_are_computed_from_the_curves():
    def curves(errors: float, speed: float) -> HorizonCurves:
        return HorizonCurves(np.full(100, errors), np.zeros(100), np.full(99, speed))

    neighbours = {1: curves(23.0, 1.0), 20: curves(17.5, 0.36), 100: curves(17.0, 0.16)}
    header, rows = tradeoff_rows(neighbours, (10, 100), (50, 100))
    assert header[-1] == "speed kept t=50-100" and rows[1] == ["20", "17.5", "17.5", "0.36"]
    note = tradeoff_note(neighbours, curves(16.4, 0.11), "LSTM", curves(19.5, 0.0), (10, 100), (50, 100))
    assert (
        "t = 100 here (no validation split: chosen on these windows) with k = 100; on these windows it is 17.0 px "
        in note
    )
    assert "off and keeps 16%" in note
    assert "no more than k = 20 futures (36%), 0.5 px less accurate" in note and "still better" in note
    assert note.endswith("LSTM keeps 11% over frames 50-100 (16.4 / 16.4 px at t = 10 / 100).")
    chosen = tradeoff_note(neighbours, curves(16.4, 0.11), "LSTM", curves(19.5, 0.0), (10, 100), (50, 100), best=20)
    assert "on the validation windows with k = 20; on these windows it is 17.5 px off and keeps 36%" in chosen
    assert best_neighbours(neighbours, 100) == 100 and best_neighbours({**neighbours, 2: curves(1.0, 1.0)}, 10) == 2
    moving = {20: curves(17.0, 0.4)}
    assert "does not cost the motion" in tradeoff_note(
        moving, curves(16.4, 0.11), "LSTM", curves(19.5, 0.0), (10,), (50, 100)
    )


def test_bad_windows_are_named():
    train = random_walks(10, 8, 0)
    with pytest.raises(ValueError, match="eval_joints"):
        neighbour_forecasts(train, train[:, :6], context=2)
    broken = train.copy()
    broken[0, 3, 1, 0] = np.nan
    with pytest.raises(ValueError, match="train_joints has missing"):
        neighbour_forecasts(broken, train, context=2)
    with pytest.raises(ValueError, match="context must be >= 2"):
        neighbour_forecasts(train, train, context=1)
