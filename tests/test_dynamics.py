"""Landmark dynamics: the LSTM's wiring, rollout, baselines, the n-inputs/m-future schedule, training resume."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_train import assert_killed_sequence_run_resumes_bit_identically, schedule_calls

from lmvid_lib import landmarks
from lmvid_lib.io import load_checkpoint
from lmvid_lib.models.dynamics import (
    ConstantVelocity,
    CopyLast,
    DynamicsConfig,
    LandmarkLSTM,
)
from lmvid_lib.models.files import LANDMARK_LSTM, load_model, read_model_file
from lmvid_lib.models.rollout import rollout
from lmvid_lib.paths import code_digest
from lmvid_lib.seed import seed_everything
from lmvid_lib.train import dynamics as train_module
from lmvid_lib.train import read_metrics, train_dynamics
from lmvid_lib.train.dynamics import prediction_loss
from lmvid_lib.train.runs import REUSE_STALE_RUNS, trained_by

pytestmark = pytest.mark.usefixtures("one_thread")

K = 3


def lstm(seed: int = 0, **overrides) -> LandmarkLSTM:
    seed_everything(seed)
    return LandmarkLSTM(DynamicsConfig(n_landmarks=K, hidden=16, layers=2, **overrides))


def waves(n: int, t: int, seed: int = 0) -> torch.Tensor:
    """States [n,t,K,5]: landmarks circling with random phases, Cholesky factors breathing; float32."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(n, 1, K, 1, generator=g) * 2 * math.pi
    time = torch.arange(t, dtype=torch.float32).view(1, t, 1, 1) * 0.4 + phase
    mu = 0.5 * torch.cat([time.cos(), time.sin()], -1)
    chol = torch.cat([0.1 + 0.03 * time.sin(), 0.01 * time.cos(), 0.08 + 0.02 * time.cos()], -1)
    return torch.cat([mu, chol], -1)


def assert_positive_definite(states: torch.Tensor) -> None:
    mu, cov = landmarks.from_state(states)
    assert torch.isfinite(mu).all() and torch.isfinite(cov).all()
    assert torch.equal(cov, cov.transpose(-1, -2))
    assert (torch.linalg.eigvalsh(cov.double()) > 0).all()


@pytest.mark.parametrize(
    "make",
    [lstm, lambda: lstm(predict_residual=False), CopyLast, ConstantVelocity],
    ids=["residual", "direct", "copy_last", "constant_velocity"],
)
def test_rollout_of_1000_steps_has_the_shape_and_valid_covariances(make):
    predictor = make()
    context = torch.randn(4, 3, K, 5, generator=torch.Generator().manual_seed(1))
    future = rollout(predictor, context, 1000)
    assert future.shape == (4, 1000, K, 5)
    assert_positive_definite(future)
    assert not future.requires_grad


def test_residual_and_direct_wiring():
    states = waves(2, 6)
    for model in (residual := lstm(), direct := lstm(predict_residual=False)):
        model.fit_normalisation(waves(8, 20, seed=1))
        torch.nn.init.zeros_(model.head.weight)
        torch.nn.init.zeros_(model.head.bias)
    with torch.no_grad():
        # A zero output layer predicts the mean residual (residual wiring) or the mean state (direct wiring).
        assert torch.allclose(residual(states)[0], states + residual.residual_mean, atol=1e-6)
        assert torch.allclose(direct(states)[0], direct.state_mean.expand_as(states), atol=1e-6)
        residual.head.bias.fill_(1.0)
        assert torch.allclose(residual(states)[0], states + residual.residual_mean + residual.residual_std, atol=1e-6)


def test_input_is_the_state_and_its_residual():
    model = lstm()
    seen = []
    model.lstm.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    states, before = waves(2, 4), waves(2, 1, seed=3)[:, 0]
    with torch.no_grad():
        _, state = model(before[:, None])  # the state carries `before` into the next call
        model(states, state)
        model(states)
    x = seen[1].unflatten(-1, (K, 10))
    assert torch.allclose(x[..., :5], states)
    assert torch.allclose(x[:, 0, :, 5:], states[:, 0] - before)
    assert torch.allclose(x[:, 1:, :, 5:], states[:, 1:] - states[:, :-1])
    assert torch.equal(seen[2].unflatten(-1, (K, 10))[:, 0, :, 5:], torch.zeros(2, K, 5))  # start of a sequence


@pytest.mark.parametrize("n_inputs, n_future", [(10, 10), (10, 0), (3, 1), (1, 4)])
def test_schedule_feeds_ground_truth_exactly_n_times(n_inputs, n_future):
    model = lstm()
    model.fit_normalisation(waves(8, 30, seed=1))
    clips = waves(5, n_inputs + n_future, seed=2)
    outputs, loss = schedule_calls(model, prediction_loss, clips, n_inputs)
    expected = ((torch.stack(outputs, 1) - clips[:, 1:]) / model.state_std).square().mean()
    assert torch.allclose(loss, expected)


def test_baselines_are_exact_on_hand_cases():
    g = torch.Generator().manual_seed(0)
    start, velocity = (
        torch.randn(2, 1, K, 5, generator=g, dtype=torch.float64),
        torch.randn(2, 1, K, 5, generator=g, dtype=torch.float64),
    )
    line = start + velocity * torch.arange(12, dtype=torch.float64).view(1, 12, 1, 1)
    assert torch.allclose(rollout(ConstantVelocity(), line[:, :4], 8), line[:, 4:], rtol=0, atol=1e-12)
    assert torch.equal(rollout(CopyLast(), line[:, :4], 8), line[:, 3:4].expand(-1, 8, -1, -1))
    # One context frame has no velocity: constant velocity then copies it.
    assert torch.equal(rollout(ConstantVelocity(), line[:, :1], 3), line[:, :1].expand(-1, 3, -1, -1))


def test_interpolation_endpoints_equal_the_states():
    s0, s1 = waves(4, 2, seed=5).unbind(1)
    path = landmarks.interpolate(s0, s1, torch.linspace(0, 1, 30))
    assert path.shape == (30, 4, K, 5)
    assert torch.equal(path[0], s0) and torch.equal(path[-1], s1)
    assert_positive_definite(path)


def config(**overrides) -> dict:
    cfg = {
        "model": {"n_landmarks": K, "hidden": 16, "layers": 2},
        "dataset": "signer",
        "n_inputs": 4,
        "n_future": 3,
        "steps": 12,
        "batch_size": 8,
        "log_every": 3,
        "checkpoint_every": 4,
        "progress": False,
    }
    return {**cfg, **overrides}


def test_training_saves_a_model_that_beats_copy_last_and_loads_back(tmp_path):
    train, val = waves(32, 40), waves(8, 40, seed=9)
    summary = train_dynamics(config(steps=150, log_every=50, checkpoint_every=150), train, tmp_path, val_states=val)
    rows = read_metrics(summary["run"])
    assert [r["step"] for r in rows] == [50, 100, 150] and rows[-1]["val_loss"] < rows[0]["val_loss"]
    model = load_model(summary["run"], kind=LANDMARK_LSTM)
    assert read_model_file(summary["run"]).payload["kind"] == LANDMARK_LSTM  # written with its kind, not inferred
    assert torch.allclose(model.state_std, train.flatten(0, 1).std(0).clamp_min(1e-3))
    error = lambda p: (p - val[:, 4:14]).square().mean()  # noqa: E731
    assert error(rollout(model, val[:, :4], 10)) < error(rollout(CopyLast(), val[:, :4], 10))
    again = train_dynamics(config(steps=150, log_every=50, checkpoint_every=150), train, tmp_path)
    assert again["resumed_from"] == 150 and again["final"] == summary["final"]


def test_killed_training_resumes_bit_identically(tmp_path, monkeypatch):
    states = waves(16, 20)
    assert_killed_sequence_run_resumes_bit_identically(
        lambda run_dir: train_dynamics(config(), states, run_dir), train_module, tmp_path, monkeypatch
    )


def test_resuming_with_another_config_or_other_states_is_refused(tmp_path):
    states = waves(16, 20)
    train_dynamics(config(steps=4), states, tmp_path)
    train_dynamics(config(steps=8), states, tmp_path)  # more steps: allowed
    with pytest.raises(ValueError, match="lr differ"):
        train_dynamics(config(steps=8, lr=0.01), states, tmp_path)
    with pytest.raises(ValueError, match="other states"):
        train_dynamics(config(steps=12), states + 0.01, tmp_path)


def test_a_run_trained_by_other_library_code_is_refused_unless_a_finished_one_is_reused(tmp_path, monkeypatch):
    states = waves(16, 20)
    summary = train_dynamics(config(steps=4), states, tmp_path)
    code = code_digest()
    assert summary["code_digest"] == code and trained_by(summary["run"]) == code
    assert load_checkpoint(summary["checkpoint"])["code_digest"] == load_checkpoint(summary["model"])["code_digest"]
    assert train_dynamics(config(steps=4), states, tmp_path)["resumed_from"] == 4  # the same code reuses it

    state = load_checkpoint(summary["checkpoint"])
    torch.save({**state, "code_digest": "0" * 64}, summary["checkpoint"])  # as if trained by other code
    monkeypatch.delenv(REUSE_STALE_RUNS, raising=False)
    stale = rf"last.pt was trained by other library code \(code digest 000000000000, now {code[:12]}\): delete .*signer"
    with pytest.raises(ValueError, match=stale + r".*--reuse-stale-runs"):
        train_dynamics(config(steps=4), states, tmp_path)
    monkeypatch.setenv(REUSE_STALE_RUNS, "1")
    reused = train_dynamics(config(steps=4), states, tmp_path)  # a finished run, as it is
    assert reused["resumed_from"] == 4 and reused["final"] == summary["final"] and reused["code_digest"] == "0" * 64
    assert trained_by(summary["run"]) == "0" * 64  # the run record can list it
    with pytest.raises(ValueError, match=r"other library code .*an unfinished run is never continued by other code"):
        train_dynamics(config(steps=8), states, tmp_path)

    del state["code_digest"]  # a run from before code digests were recorded
    torch.save(state, summary["checkpoint"])
    monkeypatch.delenv(REUSE_STALE_RUNS)
    with pytest.raises(ValueError, match=r"other library code \(no code digest recorded, now "):
        train_dynamics(config(steps=4), states, tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"n_inputs": 1, "n_future": 0}, "at least one prediction"),
        ({"dataset": "bouncing", "n_inputs": None}, "no default schedule"),
        ({"stepz": 3}, "stepz"),
        ({"model": {"n_landmarks": K, "hidden": 0}}, "DynamicsConfig.hidden"),
        ({"n_inputs": 30}, "needs at least 33"),
    ],
)
def test_bad_config_or_states_fail_before_training(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        train_dynamics(config(**change), waves(4, 20), tmp_path)
    assert not (tmp_path / "dynamics").exists()


def test_default_schedules_follow_appendix_a():
    schedule = lambda dataset: train_module.load_dynamics_config({"dataset": dataset}).schedule()  # noqa: E731
    assert [schedule(d) for d in ("signer", "pusher", "walker")] == [(10, 10), (10, 0), (10, 10)]


def test_normalisation_needs_two_frames():
    with pytest.raises(ValueError, match="T >= 2"):
        lstm().fit_normalisation(torch.zeros(3, 1, K, 5))
    assert np.isfinite(lstm()(waves(1, 2))[0].detach().numpy()).all()


def test_dataset_configs_merge_overrides_and_reject_unknown_datasets():
    from lmvid_lib.train.dynamics import dataset_configs

    configs = dataset_configs({"steps": 5, "n_future": 10}, {"signer": {"n_future": 60}}, ["signer", "walker"])
    assert configs == {"signer": {"steps": 5, "n_future": 60}, "walker": {"steps": 5, "n_future": 10}}
    with pytest.raises(ValueError, match=r"\['pusher'\].*datasets: \['signer'\]"):
        dataset_configs({}, {"pusher": {}}, ["signer"], "04_dynamics.dynamics_overrides")


def test_dynamics_run_is_where_training_puts_the_model_and_a_missing_one_is_named(tmp_path):
    from lmvid_lib.models.dynamics import dynamics_run

    states = waves(4, 21)
    config = {
        "dataset": "walker",
        "steps": 2,
        "batch_size": 2,
        "progress": False,
        "model": {"n_landmarks": K, "hidden": 8},
    }
    summary = train_dynamics(config, states, tmp_path)
    assert dynamics_run(tmp_path, "walker") == tmp_path / "dynamics" / "walker-residual-seed0"
    assert summary["run"] == str(dynamics_run(tmp_path, "walker"))
    with pytest.raises(FileNotFoundError, match="walker-direct-seed0 has no model.pt: run chapter 4"):
        dynamics_run(tmp_path, "walker", predict_residual=False)


def test_a_dataset_without_a_validation_split_trains_unvalidated_never_on_test(tmp_path, tiny_model):
    """A prepared set with train and test only (no `tune` yet): the LSTM trains with no held-out loss rather than
    one computed on the test split; an embedded stand-in validates on its `tune` split."""
    from test_sequences import clips

    from lmvid_lib.data.datasets import has_validation
    from lmvid_lib.data.store import VideoSet, write_dataset
    from lmvid_lib.io import atomic_write_json, save_checkpoint
    from lmvid_lib.models.run_config import TrainConfig, config_dict, load_config
    from lmvid_lib.train.dynamics import train_dataset_dynamics

    model = tiny_model(seed=0)
    splits = {s: VideoSet.from_clips(clips(3, 24, seed=i), np.arange(3)) for i, s in enumerate(("train", "test"))}
    data = write_dataset(tmp_path / "data", "bair", splits, {"test": True}, None)
    assert not has_validation("bair", data) and has_validation("pusher")
    model_cfg = config_dict(TrainConfig(model=model.cfg))["model"]
    cfg = load_config({"model": model_cfg, "dataset": "bair", "data_root": str(data)})
    run = tmp_path / "runs" / "factorization" / "bair-spade-seed0"
    atomic_write_json(run / "config.json", config_dict(cfg))
    save_checkpoint(run / "model.pt", {"config": config_dict(cfg), "model": model.state_dict()})
    settings = {"steps": 2, "log_every": 1, "progress": False, "model": {"hidden": 8, "layers": 1}}
    summary = train_dataset_dynamics(settings, "bair", tmp_path / "runs")
    assert summary["final"]["step"] == 2 and "val_loss" not in summary["final"]


def test_run_lstm_is_the_lstm_with_onednn_off_for_the_call_only():
    from lmvid_lib.models.dynamics import run_lstm

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 16, 2, batch_first=True)
    x = torch.randn(3, 4, 6)
    before = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    expected, (h, c) = lstm(x)
    got, (h2, c2) = run_lstm(lstm, x)
    assert torch.allclose(got, expected, atol=1e-6) and torch.allclose(c2, c, atol=1e-6)
    assert (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled) == before  # flag restored
    grads = [torch.autograd.grad(out.sum(), lstm.weight_hh_l0)[0] for out in (lstm(x)[0], run_lstm(lstm, x)[0])]
    assert torch.allclose(*grads, atol=1e-5)
    continued, _ = run_lstm(lstm, x, (h, c))
    assert torch.allclose(continued, lstm(x, (h, c))[0], atol=1e-6)
