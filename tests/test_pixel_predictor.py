"""The pixel-space predictor: rollout shapes, skips from the last context frame, the n-inputs/m-future schedule,
training on a moving square, bit-identical resume, config and frame errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train import assert_killed_sequence_run_resumes_bit_identically, schedule_calls

from lmvid_lib.models.files import PIXEL_PREDICTOR, load_model, read_model_file
from lmvid_lib.models.pixel_predictor import PixelPredictor, PixelPredictorConfig
from lmvid_lib.models.rollout import rollout
from lmvid_lib.seed import seed_everything
from lmvid_lib.train import pixel_predictor as train_module
from lmvid_lib.train import read_metrics
from lmvid_lib.train.pixel_predictor import prediction_loss, train_pixel_predictor

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 16
TINY = {"image_size": SIZE, "widths": [4, 8], "embedding": 16, "hidden": 16, "layers": 2}


def predictor(channels: int = 3, seed: int = 0) -> PixelPredictor:
    seed_everything(seed)
    return PixelPredictor(PixelPredictorConfig(channels=channels, **TINY))


def moving_squares(n: int, t: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """uint8 [n,t,SIZE,SIZE,channels]: a bright 4x4 square on a dark background moving 1 px per frame in x and y
    (random start and direction), bouncing off the edges."""
    rng = np.random.default_rng(seed)
    frames = np.full((n, t, SIZE, SIZE, channels), 20, np.uint8)
    for i in range(n):
        pos, vel = rng.integers(0, SIZE - 4, 2), rng.choice([-1, 1], 2)
        for s in range(t):
            frames[i, s, pos[1] : pos[1] + 4, pos[0] : pos[0] + 4] = 230
            bounce = (pos + vel < 0) | (pos + vel > SIZE - 4)
            vel = np.where(bounce, -vel, vel)
            pos = pos + vel
    return frames


def as_input(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 255


@pytest.mark.parametrize("channels", [1, 3])
def test_rollout_has_the_shape_and_stays_in_0_1(channels):
    model = predictor(channels)
    context = as_input(moving_squares(3, 2, channels))
    future = rollout(model, context, 28)
    assert future.shape == (3, 28, channels, SIZE, SIZE)
    assert future.min() >= 0 and future.max() <= 1 and not future.requires_grad
    assert model.training  # rollout restores the mode


def test_skips_come_from_the_last_context_frame():
    model = predictor()
    context = as_input(moving_squares(2, 4, seed=1))
    earlier, last = context.clone(), context.clone()
    earlier[:, 0] = torch.rand_like(earlier[:, 0])
    last[:, -1] = torch.rand_like(last[:, -1])
    changed = lambda a, b: not torch.allclose(a, b, atol=1e-6)  # noqa: E731
    base = rollout(model, context, 3)
    assert changed(rollout(model, earlier, 3), base)  # through the LSTM path
    # With the LSTM's input fixed, an earlier context frame no longer matters; the last one still does (its skips).
    model.lstm.register_forward_pre_hook(lambda module, args: (torch.zeros_like(args[0]), *args[1:]))
    fixed = rollout(model, context, 3)
    assert torch.equal(rollout(model, earlier, 3), fixed)
    assert changed(rollout(model, last, 3), fixed)
    # In the context call step t decodes with frame t's own skips (never the frame it predicts, as SVG trains);
    # every fed-back prediction reuses the last context frame's.
    seen = []
    model.ups[0].register_forward_pre_hook(lambda module, args: seen.append(args[0][:, 8:]))
    rollout(model, context, 3)
    with torch.no_grad():
        own = model.encode(context.flatten(0, 1))[1][-1]
    assert len(seen) == 3 and torch.equal(seen[0], own)
    assert all(torch.equal(s, own.unflatten(0, (2, 4))[:, -1]) for s in seen[1:])


@pytest.mark.parametrize("n_inputs, n_future", [(10, 10), (10, 0), (3, 1), (1, 4)])
def test_schedule_feeds_ground_truth_exactly_n_times(n_inputs, n_future):
    model = predictor()
    clips = as_input(moving_squares(2, n_inputs + n_future, seed=2))
    outputs, loss = schedule_calls(model, prediction_loss, clips, n_inputs)
    assert torch.allclose(loss, (torch.stack(outputs, 1) - clips[:, 1:]).square().mean())


def config(**overrides) -> dict:
    cfg = {
        "model": {"channels": 1, **TINY},
        "dataset": "walker",
        "n_inputs": 3,
        "n_future": 2,
        "steps": 12,
        "batch_size": 4,
        "log_every": 3,
        "checkpoint_every": 4,
        "progress": False,
    }
    return {**cfg, **overrides}


def test_training_on_moving_squares_lowers_the_loss_and_loads_back(tmp_path):
    train, val = moving_squares(16, 12, 1), moving_squares(8, 12, 1, seed=9)
    cfg = config(steps=80, batch_size=8, log_every=20, checkpoint_every=80, lr=3e-3)
    summary = train_pixel_predictor(cfg, train, tmp_path, val_frames=val)
    assert summary["run"] == str(tmp_path / "pixel" / "walker-seed0") and summary["schedule"] == [3, 2]
    rows = read_metrics(summary["run"])
    assert [r["step"] for r in rows] == [20, 40, 60, 80]
    assert rows[-1]["val_loss"] < 0.7 * rows[0]["val_loss"]
    model = load_model(summary["run"], kind=PIXEL_PREDICTOR)
    assert read_model_file(summary["run"]).payload["kind"] == PIXEL_PREDICTOR
    context, future = as_input(val[:, :3]), as_input(val[:, 3:5])
    error = lambda predicted: (predicted - future).square().mean()  # noqa: E731
    assert error(rollout(model, context, 2)) < 0.8 * error(context[:, -1:])  # better than copying the last frame
    again = train_pixel_predictor(cfg, train, tmp_path)
    assert again["resumed_from"] == 80 and again["final"] == summary["final"]


def test_killed_training_resumes_bit_identically(tmp_path, monkeypatch):
    frames = moving_squares(6, 8, 1)
    assert_killed_sequence_run_resumes_bit_identically(
        lambda run_dir: train_pixel_predictor(config(), frames, run_dir), train_module, tmp_path, monkeypatch
    )


def test_resuming_with_another_config_or_other_frames_is_refused(tmp_path):
    frames = moving_squares(6, 8, 1)
    train_pixel_predictor(config(steps=4), frames, tmp_path)
    train_pixel_predictor(config(steps=8), frames, tmp_path)  # more steps: allowed
    with pytest.raises(ValueError, match="lr differ"):
        train_pixel_predictor(config(steps=8, lr=0.01), frames, tmp_path)
    with pytest.raises(ValueError, match="other frames"):
        train_pixel_predictor(config(steps=12), frames // 2, tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"n_inputs": 1, "n_future": 0}, "at least one prediction"),
        ({"dataset": "bouncing", "n_inputs": None}, "no default schedule"),
        ({"stepz": 3}, "stepz"),
        ({"model": {**TINY, "channels": 1, "hidden": 0}}, "PixelPredictorConfig.hidden"),
        ({"model": {**TINY, "channels": 1, "image_size": 18}}, r"PixelPredictorConfig.image_size .* 4, got 18"),
        ({"model": {**TINY, "channels": 1, "widths": []}}, "PixelPredictorConfig.widths"),
        ({"model": {**TINY, "channels": 3}}, r"frames must have shape \[N,T,16,16,3\]"),
        ({"n_inputs": 10}, "needs at least one video of 12"),
        ({"batch_size": 0}, "pixel.batch_size"),
    ],
)
def test_bad_config_or_frames_fail_before_training(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        train_pixel_predictor(config(**change), moving_squares(2, 8, 1), tmp_path)
    assert not (tmp_path / "pixel").exists()


def test_frames_of_the_wrong_kind_are_named():
    with pytest.raises(ValueError, match="val_frames must be a uint8"):
        train_pixel_predictor(config(), moving_squares(2, 8, 1), "unused", val_frames=moving_squares(2, 8, 1) / 255)
    model = predictor(1)
    with pytest.raises(ValueError, match=r"context must have shape \[N,T,1,16,16\]"):
        rollout(model, torch.rand(2, 3, 1, 32, 32), 4)
    with pytest.raises(ValueError, match="n_future"):
        rollout(model, torch.rand(2, 3, 1, SIZE, SIZE), 0)


def test_default_schedules_are_svgs_and_always_feed_frames_back():
    schedule = lambda dataset: train_module.load_pixel_config({"dataset": dataset}).schedule()  # noqa: E731
    assert [schedule(d) for d in ("pusher", "walker", "bair", "kth")] == [(2, 10), (10, 10), (2, 10), (10, 10)]
    assert all(schedule(d)[1] > 0 for d in ("signer", "pusher", "walker", "bbc", "bair", "kth"))
    # the landmark LSTM keeps the paper's (appendix A): BAIR without fed-back states
    from lmvid_lib.train.dynamics import load_dynamics_config

    assert load_dynamics_config({"dataset": "pusher"}).schedule() == (10, 0)
