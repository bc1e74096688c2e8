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

**Stochastic dynamics (ours; §4 names "a stochastic model with VAEs" as future work).** With `latent > 0` the LSTM
also reads a latent z_t: [latent] at every step, after SVG-LP (Denton & Fergus 2018) and Struct-VRNN (Minderer et
al. 2019). A learned prior p(z_t | s_0..s_t) (a one-layer LSTM over the same inputs, a linear layer to a diagonal
Gaussian's mean and log-variance) gives z_t in a rollout; in training a posterior q(z_t | s_0..s_t, s_{t+1}) (the
same, also reading the true next change) gives it, and the KL between the two is part of the loss
(`lmvid_lib.train.dynamics`). Where z_t comes from is a `LatentSource` carried in the predictor's state: prior
samples drawn from a generator (reproducible from a seed), or given posterior samples. `latent = 0` is the paper's
deterministic LSTM, with the same weights and files as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmvid_lib.config import check_int
from lmvid_lib.models.rollout import SequencePredictor, State
from lmvid_lib.paths import RunFiles, run_folder

STATE_DIM = 5
STD_FLOOR = 1e-3
"""Smallest normalising standard deviation (normalised units; 1/30 pixel at 64x64): a coordinate that never moves in
the training set (a residual std of 0) must not turn a small predicted change into a huge normalised input."""


@contextmanager
def _without_onednn() -> Iterator[None]:
    previous = torch.backends.mkldnn.set_flags(False, None, None, None)[0]  # the other flags untouched
    try:
        yield
    finally:
        torch.backends.mkldnn.set_flags(previous, None, None, None)


def run_lstm(lstm: nn.LSTM, x: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
    """`lstm(x, hidden)`, on CPU with torch's native LSTM instead of oneDNN's fused kernel (mkldnn_rnn_layer), which
    is slower for the one-step calls of a rollout, in training most of all (experiments/log.yaml#lstm-native-cpu).
    The backward follows the kernels of this forward."""
    if x.device.type != "cpu":
        return lstm(x, hidden)
    with _without_onednn():
        return lstm(x, hidden)


@dataclass
class DynamicsConfig:
    """Sizes and wiring of the landmark LSTM (appendix A: 3 layers x 256 units, then a linear layer)."""

    n_landmarks: int = 10  # K
    layers: int = 3
    hidden: int = 256
    predict_residual: bool = True  # False: the LSTM outputs the next state directly (ablation)
    dropout: float = 0.0  # between LSTM layers, in training only (ours; the paper states none)
    latent: int = 0  # ours: size of the latent z_t of the stochastic model; 0: the paper's deterministic LSTM
    latent_hidden: int = 64  # ours: width of the one-layer prior and posterior LSTMs (latent > 0)

    def __post_init__(self) -> None:
        for name in ("n_landmarks", "layers", "hidden", "latent_hidden"):
            check_int(getattr(self, name), f"DynamicsConfig.{name}")
        check_int(self.latent, "DynamicsConfig.latent", 0)
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


def gaussian_kl(q_mu: torch.Tensor, q_logvar: torch.Tensor, p_mu: torch.Tensor, p_logvar: torch.Tensor) -> torch.Tensor:
    """KL(q || p) of diagonal Gaussians, summed over the last dimension: [...,D] each -> [...]."""
    ratio = (q_logvar - p_logvar).exp()
    return 0.5 * (ratio + (q_mu - p_mu).square() / p_logvar.exp() - 1 - (q_logvar - p_logvar)).sum(-1)


@dataclass
class LatentSource:
    """Where the stochastic LSTM's z_t come from, carried (by reference) in its state through a rollout.

    given None: z_t ~ the prior, drawn with `generator` (None: torch's global generator) on the CPU, so a seed gives
    the same samples on any device. given [N,T,latent]: z_t = given[:, t] in order (training: posterior samples).
    Every call appends the prior's (mean, log-variance) [N,T',latent] to `priors`, which the training loss reads."""

    generator: torch.Generator | None = None
    given: torch.Tensor | None = None
    used: int = 0
    priors: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    def draw(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z for the prior (mu, logvar) [N,T,latent] of one call: the next T given ones, or prior samples."""
        self.priors.append((mu, logvar))
        steps = mu.shape[1]
        if self.given is not None:
            if self.used + steps > self.given.shape[1]:
                raise ValueError(f"LatentSource: {self.given.shape[1]} given latents, step {self.used + steps} asked")
            z = self.given[:, self.used : self.used + steps]
            self.used += steps
            return z
        noise = torch.randn(mu.shape, generator=self.generator, dtype=mu.dtype).to(mu.device)
        return mu + noise * (0.5 * logvar).exp()

    def prior_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The prior's (mean, log-variance) of every step drawn so far, [N,T,latent] each."""
        return torch.cat([m for m, _ in self.priors], 1), torch.cat([v for _, v in self.priors], 1)


class LandmarkLSTM(SequencePredictor):
    """LSTM over flattened landmark states (input 2 * K * 5, plus z_t with `latent`; `layers` x `hidden`) and a linear
    output layer; with `latent > 0`, the prior and posterior of z_t (module docstring)."""

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        features = cfg.n_landmarks * STATE_DIM
        inputs = 2 * features + cfg.latent
        self.lstm = nn.LSTM(inputs, cfg.hidden, cfg.layers, batch_first=True, dropout=float(cfg.dropout))
        self.head = nn.Linear(cfg.hidden, features)
        if cfg.latent:
            self.prior = nn.LSTM(2 * features, cfg.latent_hidden, batch_first=True)
            self.prior_head = nn.Linear(cfg.latent_hidden, 2 * cfg.latent)
            self.posterior = nn.LSTM(3 * features, cfg.latent_hidden, batch_first=True)
            self.posterior_head = nn.Linear(cfg.latent_hidden, 2 * cfg.latent)
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

    def start(self, source: LatentSource) -> State:
        """The state that starts a sequence whose latents come from `source` (the stochastic model; None, the state
        every predictor starts from, draws prior samples from torch's global generator)."""
        if not self.cfg.latent:
            raise ValueError("DynamicsConfig.latent is 0: the deterministic LSTM draws no latents")
        return None, None, None, source

    def _features(self, states: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        """Normalised (s_t, s_t - s_{t-1}) of states [N,T,K,5], flattened: [N,T,2*K*5]."""
        change = (residuals(states, previous) - self.residual_mean) / self.residual_std
        return torch.cat([(states - self.state_mean) / self.state_std, change], -1).flatten(2)

    def posterior_statistics(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_t | s_0..s_t, s_{t+1}) of true clips [N,L,K,5] for t = 0..L-2: (mean, log-variance) [N,L-1,latent]."""
        self.check_inputs(clips, "clips")
        now, after = clips[:, :-1], clips[:, 1:]
        change = ((after - now - self.residual_mean) / self.residual_std).flatten(2)
        y, _ = run_lstm(self.posterior, torch.cat([self._features(now, None), change], -1))
        return self.posterior_head(y).chunk(2, -1)

    def forward(self, states: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """One LSTM call over T steps. states: [N,T,K,5], s_t for t = 0..T-1; state: what the previous call returned
        (None: start of a sequence, a zero first residual; `start` for chosen latents). Returns (s_{t+1} [N,T,K,5]
        for each t, state): the state is (states[:, -1], (h, c)), the last input giving the next call's first
        residual, and with latents the prior's (h, c) and the `LatentSource`."""
        self.check_inputs(states, "states")
        previous, hidden, prior_hidden, source = self._unpack(state)
        x = self._features(states, previous)
        if self.cfg.latent:
            p, prior_hidden = run_lstm(self.prior, x, prior_hidden)
            x = torch.cat([x, source.draw(*self.prior_head(p).chunk(2, -1))], -1)
        y, hidden = run_lstm(self.lstm, x, hidden)
        out = self.head(y).unflatten(-1, (self.cfg.n_landmarks, STATE_DIM))
        if self.cfg.predict_residual:
            out = states + out * self.residual_std + self.residual_mean
        else:
            out = out * self.state_std + self.state_mean
        if self.cfg.latent:
            return out, (states[:, -1], hidden, prior_hidden, source)
        return out, (states[:, -1], hidden)

    def _unpack(self, state: State) -> tuple[torch.Tensor | None, object, object, LatentSource | None]:
        if state is None:
            return None, None, None, LatentSource() if self.cfg.latent else None
        if self.cfg.latent:
            return state
        return (*state, None, None)


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


def dynamics_run(
    run_dir: str | Path, dataset: str, predict_residual: bool = True, seed: int = 0, stochastic: bool = False
) -> Path:
    """The folder of `dataset`'s landmark LSTM in `<run_dir>/dynamics/` (as chapter 4 names it:
    `<dataset>-<residual|direct>-seed<seed>`; the stochastic one of its chapter 4b, `<dataset>-stochastic-seed<seed>`);
    FileNotFoundError naming it when it has no model.pt."""
    wiring = "stochastic" if stochastic else "residual" if predict_residual else "direct"
    path = run_folder(run_dir, "dynamics", f"{dataset}-{wiring}-seed{seed}")
    if not RunFiles(path).model.is_file():
        chapter = "4b (04b_stochastic)" if stochastic else "4 (04_dynamics)"
        raise FileNotFoundError(f"{path} has no model.pt: run chapter {chapter} of this profile first")
    return path
