"""Landmark dynamics (paper Sec. 2.4, appendix A): an LSTM over Cholesky states, its baselines, and `rollout`.

A sequence of landmark states s_t: [K,5] (`lmvid_lib.landmarks.to_state`: mu_x, mu_y, l11, l21, l22) is predicted one
step at a time. At step t the LSTM (3 layers x 256, then a linear layer) reads concat(s_t, s_t - s_{t-1}) (the residual
is zero at the first step of a sequence) and outputs the next residual: s_{t+1} = s_t + r_t. With
`predict_residual=False` it outputs s_{t+1} itself, the direct-state ablation the paper argues against.

Inputs and outputs are normalised per coordinate (k, i) with the mean and standard deviation of the training states and
of their residuals (`LandmarkLSTM.fit_normalisation`); the four [K,5] statistics are buffers, saved with the weights.

Every predictor here is a module called as `predictor(states [N,T,K,5], previous [N,K,5] | None, hidden) -> (next
states [N,T,K,5], hidden)`, so `rollout` runs the LSTM and the baselines (`CopyLast`, `ConstantVelocity`, `MeanState`)
alike: one call over the whole context, then one call per future step, vectorised over the N sequences (benchmarked
against a per-step loop over nn.LSTMCell layers in benchmarks/bench_dynamics.py). Predicted states are not constrained:
`landmarks.from_state` turns any real state into a valid (symmetric positive-definite) covariance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmvid_lib.config import from_dict
from lmvid_lib.io import load_checkpoint
from lmvid_lib.models.inference import inference
from lmvid_lib.paths import run_folder

STATE_DIM = 5
STD_FLOOR = 1e-3
"""Smallest normalising standard deviation (normalised units; 1/30 pixel at 64x64): a coordinate that never moves in
the training set (a residual std of 0) must not turn a small predicted change into a huge normalised input."""

Hidden = Any  # what a predictor carries from one call to the next: (h, c) for the LSTM, None for the baselines


@dataclass
class DynamicsConfig:
    """Sizes and wiring of the landmark LSTM (appendix A: 3 layers x 256 units, then a linear layer)."""

    n_landmarks: int = 10  # K
    layers: int = 3
    hidden: int = 256
    predict_residual: bool = True  # False: the LSTM outputs the next state directly (ablation)
    dropout: float = 0.0  # between LSTM layers, in training only (ours; the paper states none)

    def __post_init__(self) -> None:
        for name in ("n_landmarks", "layers", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"DynamicsConfig.{name} must be a positive int, got {value!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"DynamicsConfig.dropout must be a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.predict_residual, bool):
            raise ValueError(f"DynamicsConfig.predict_residual must be true or false, got {self.predict_residual!r}")


def check_states(states: object, name: str = "states", n_landmarks: int | None = None) -> None:
    """Raise naming `name` unless it is a float tensor [N,T,K,5] (with K = n_landmarks when given) and T >= 1."""
    if not isinstance(states, torch.Tensor) or not states.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor [N,T,K,5], got {type(states).__name__}")
    if states.ndim != 4 or states.shape[-1] != STATE_DIM or states.shape[1] < 1:
        raise ValueError(f"{name} must have shape [N,T,K,5] with T >= 1, got {tuple(states.shape)}")
    if n_landmarks is not None and states.shape[2] != n_landmarks:
        raise ValueError(f"{name} has K={states.shape[2]} landmarks, the model was built for {n_landmarks}")


def residuals(states: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """s_t - s_{t-1} for states [N,T,K,5], s_{-1} = previous [N,K,5] (None: s_0, a zero first residual)."""
    before = states[:, :1] if previous is None else previous.unsqueeze(1)
    return states - torch.cat([before, states[:, :-1]], 1)


class LandmarkLSTM(nn.Module):
    """LSTM over flattened landmark states (input 2 * K * 5, `layers` x `hidden`) and a linear output layer."""

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        features = cfg.n_landmarks * STATE_DIM
        self.lstm = nn.LSTM(2 * features, cfg.hidden, cfg.layers, batch_first=True, dropout=float(cfg.dropout))
        self.head = nn.Linear(cfg.hidden, features)
        shape = (cfg.n_landmarks, STATE_DIM)
        self.register_buffer("state_mean", torch.zeros(shape))
        self.register_buffer("state_std", torch.ones(shape))
        self.register_buffer("residual_mean", torch.zeros(shape))
        self.register_buffer("residual_std", torch.ones(shape))

    @torch.no_grad()
    def fit_normalisation(self, states: torch.Tensor) -> None:
        """Set the normalisation buffers from training sequences [N,T,K,5] (T >= 2 for residual statistics)."""
        check_states(states, "training states", self.cfg.n_landmarks)
        if states.shape[1] < 2:
            raise ValueError(f"training states need T >= 2 frames for residual statistics, got {states.shape[1]}")
        flat = states.flatten(0, 1).to(self.state_mean)
        deltas = (states[:, 1:] - states[:, :-1]).flatten(0, 1).to(self.state_mean)
        self.state_mean.copy_(flat.mean(0))
        self.state_std.copy_(flat.std(0).clamp_min(STD_FLOOR))
        self.residual_mean.copy_(deltas.mean(0))
        self.residual_std.copy_(deltas.std(0).clamp_min(STD_FLOOR))

    def forward(
        self, states: torch.Tensor, previous: torch.Tensor | None = None, hidden: Hidden = None
    ) -> tuple[torch.Tensor, Hidden]:
        """One LSTM call over T steps. states: [N,T,K,5], s_t for t = 0..T-1; previous: [N,K,5], the state before
        states[:, 0] (None: start of a sequence); hidden: (h, c) carried from the previous call or None.
        Returns (s_{t+1} [N,T,K,5] for each t, (h, c))."""
        check_states(states, n_landmarks=self.cfg.n_landmarks)
        x = torch.cat(
            [
                (states - self.state_mean) / self.state_std,
                (residuals(states, previous) - self.residual_mean) / self.residual_std,
            ],
            -1,
        )
        y, hidden = self.lstm(x.flatten(2), hidden)
        out = self.head(y).unflatten(-1, (self.cfg.n_landmarks, STATE_DIM))
        if self.cfg.predict_residual:
            return states + out * self.residual_std + self.residual_mean, hidden
        return out * self.state_std + self.state_mean, hidden


class CopyLast(nn.Module):
    """Baseline: the next state is the current one (a frozen pose)."""

    def forward(
        self, states: torch.Tensor, previous: torch.Tensor | None = None, hidden: Hidden = None
    ) -> tuple[torch.Tensor, Hidden]:
        check_states(states)
        return states, None


class ConstantVelocity(nn.Module):
    """Baseline: constant velocity in state space, s_{t+1} = s_t + (s_t - s_{t-1}) (exact on linear trajectories)."""

    def forward(
        self, states: torch.Tensor, previous: torch.Tensor | None = None, hidden: Hidden = None
    ) -> tuple[torch.Tensor, Hidden]:
        check_states(states)
        return states + residuals(states, previous), None


class MeanState(nn.Module):
    """Baseline: every prediction is one fixed state, e.g. the mean of the training states (the mean pose)."""

    def __init__(self, mean: torch.Tensor) -> None:
        super().__init__()
        if not isinstance(mean, torch.Tensor) or mean.ndim != 2 or mean.shape[-1] != STATE_DIM:
            raise ValueError(f"mean must be a [K,5] state tensor, got {getattr(mean, 'shape', type(mean).__name__)}")
        self.register_buffer("mean", mean.detach().clone())

    def forward(
        self, states: torch.Tensor, previous: torch.Tensor | None = None, hidden: Hidden = None
    ) -> tuple[torch.Tensor, Hidden]:
        check_states(states, n_landmarks=self.mean.shape[0])
        return self.mean.to(states).expand_as(states), None


def unroll(model: nn.Module, context_states: torch.Tensor, n_future: int) -> torch.Tensor:
    """Predictions of s_1 .. s_{Tc-1+n_future} from context_states [N,Tc,K,5] (Tc >= 1): [N,Tc-1+n_future,K,5].

    The context is fed as given (one call); then each prediction is fed back (one call per further step). Autograd
    stays on: training unrolls its "n inputs, m future" sequences through here (`lmvid_lib.train.dynamics`).
    """
    check_states(context_states, "context_states")
    if isinstance(n_future, bool) or not isinstance(n_future, int) or n_future < 1:
        raise ValueError(f"n_future must be a positive int, got {n_future!r}")
    predicted, hidden = model(context_states)
    current, previous = predicted[:, -1:], context_states[:, -1]
    outputs = [predicted]
    for _ in range(n_future - 1):
        following, hidden = model(current, previous, hidden)
        previous, current = current[:, 0], following
        outputs.append(current)
    return torch.cat(outputs, 1)


def rollout(model: nn.Module, context_states: torch.Tensor, n_future: int) -> torch.Tensor:
    """Predict n_future states after the context: context_states [N,Tc,K,5] (Tc >= 1) -> [N,n_future,K,5].

    Under `inference(model)` (eval mode, no autograd), on the context's device and dtype.
    """
    with inference(model):
        return unroll(model, context_states, n_future)[:, context_states.shape[1] - 1 :]


def save_payload(model: LandmarkLSTM) -> dict[str, Any]:
    """What `load_dynamics` reads: the model's config as data and its state dict (weights + normalisation)."""
    return {"model_config": dict(vars(model.cfg)), "model": model.state_dict()}


def load_dynamics(path: str | Path, device: str | torch.device = "cpu") -> LandmarkLSTM:
    """A trained LandmarkLSTM (eval mode) from a model file written by `train_dynamics` (`<run>/model.pt`) or a run
    folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    state = load_checkpoint(path, map_location=device)
    if "model_config" not in state:
        raise ValueError(f"{path} is not a landmark-dynamics model file (no model_config)")
    model = LandmarkLSTM(from_dict(DynamicsConfig, state["model_config"], f"{path}:model_config")).to(device)
    model.load_state_dict(state["model"])
    return model.eval()


def dynamics_run(run_dir: str | Path, dataset: str, predict_residual: bool = True, seed: int = 0) -> Path:
    """The folder of `dataset`'s landmark LSTM in `<run_dir>/dynamics/` (as chapter 4 names it:
    `<dataset>-<residual|direct>-seed<seed>`); FileNotFoundError naming it when it has no model.pt."""
    path = run_folder(run_dir, "dynamics", f"{dataset}-{'residual' if predict_residual else 'direct'}-seed{seed}")
    if not (path / "model.pt").is_file():
        raise FileNotFoundError(f"{path} has no model.pt: run chapter 4 (04_dynamics) of this profile first")
    return path
