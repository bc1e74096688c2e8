"""Landmark dynamics (paper Sec. 2.4, appendix A): an LSTM over Cholesky states and its baselines.

A sequence of landmark states s_t: [K,5] (`lmvid_lib.landmarks.to_state`: mu_x, mu_y, l11, l21, l22) is predicted one
step at a time. At step t the LSTM (3 layers x 256, then a linear layer) reads concat(s_t, s_t - s_{t-1}) (the residual
is zero at the first step of a sequence) and outputs the next residual: s_{t+1} = s_t + r_t. With
`predict_residual=False` it outputs s_{t+1} itself, the direct-state ablation the paper argues against.

Inputs and outputs are normalised per coordinate (k, i) with the mean and standard deviation of the training states and
of their residuals (`LandmarkLSTM.fit_normalisation`); the four [K,5] statistics are buffers, saved with the weights.

Every predictor here is a `lmvid_lib.models.rollout.SequencePredictor`, called as `predictor(states [N,T,K,5], state)
-> (next states [N,T,K,5], state)`, so `rollout.rollout` runs the LSTM and the baselines (`CopyLast`,
`ConstantVelocity`) alike: one call over the whole context, then one call per future step, vectorised over the N
sequences (benchmarked against a per-step loop over nn.LSTMCell layers in benchmarks/bench_dynamics.py). The LSTM's
state is its (h, c) and its last input state, the s_{t-1} of the next call's first residual. Predicted states are not
constrained: `landmarks.from_state` turns any real state into a valid (symmetric positive-definite) covariance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lmvid_lib.config import check_int
from lmvid_lib.models.rollout import SequencePredictor, State
from lmvid_lib.paths import RunFiles, run_folder

STATE_DIM = 5
STD_FLOOR = 1e-3
"""Smallest normalising standard deviation (normalised units; 1/30 pixel at 64x64): a coordinate that never moves in
the training set (a residual std of 0) must not turn a small predicted change into a huge normalised input."""


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
            check_int(getattr(self, name), f"DynamicsConfig.{name}")
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


class LandmarkLSTM(SequencePredictor):
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

    def check_inputs(self, inputs: object, name: str) -> None:
        check_states(inputs, name, self.cfg.n_landmarks)

    def forward(self, states: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """One LSTM call over T steps. states: [N,T,K,5], s_t for t = 0..T-1; state: what the previous call returned
        (None: start of a sequence, a zero first residual). Returns (s_{t+1} [N,T,K,5] for each t, state): the state
        is (states[:, -1], (h, c)), the last input giving the next call's first residual."""
        self.check_inputs(states, "states")
        previous, hidden = (None, None) if state is None else state
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
            return states + out * self.residual_std + self.residual_mean, (states[:, -1], hidden)
        return out * self.state_std + self.state_mean, (states[:, -1], hidden)


class CopyLast(SequencePredictor):
    """Baseline: the next state is the current one (a frozen pose). It carries no state."""

    def check_inputs(self, inputs: object, name: str) -> None:
        check_states(inputs, name)

    def forward(self, states: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        self.check_inputs(states, "states")
        return states, None


class ConstantVelocity(SequencePredictor):
    """Baseline: constant velocity in state space, s_{t+1} = s_t + (s_t - s_{t-1}) (exact on linear trajectories).
    Its state is the last input state [N,K,5] (None: start of a sequence, a zero first velocity)."""

    def check_inputs(self, inputs: object, name: str) -> None:
        check_states(inputs, name)

    def forward(self, states: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        self.check_inputs(states, "states")
        return states + residuals(states, state), states[:, -1]


def dynamics_run(run_dir: str | Path, dataset: str, predict_residual: bool = True, seed: int = 0) -> Path:
    """The folder of `dataset`'s landmark LSTM in `<run_dir>/dynamics/` (as chapter 4 names it:
    `<dataset>-<residual|direct>-seed<seed>`); FileNotFoundError naming it when it has no model.pt."""
    path = run_folder(run_dir, "dynamics", f"{dataset}-{'residual' if predict_residual else 'direct'}-seed{seed}")
    if not RunFiles(path).model.is_file():
        raise FileNotFoundError(f"{path} has no model.pt: run chapter 4 (04_dynamics) of this profile first")
    return path
