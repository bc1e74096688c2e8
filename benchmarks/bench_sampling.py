"""Stochastic landmark LSTM: sampling 100 futures of 256 windows x 100 frames (K = 30) beside the deterministic rollout.

Both are the paper's 3 x 256 LSTM (the stochastic one with the latent of params/paper.yaml 04b_stochastic and its
one-layer prior of 64 units) on float32 CPU, through the one rollout (`lmvid_lib.models.rollout.rollout`); the
samples go as one batch of 256 x 100 sequences (`lmvid_lib.eval.sampling.sample_rollouts`). The table gives the time
of each and the cost per sampled future against one deterministic future: above 1 is the prior's extra work, below 1
the gain of a larger batch.
"""

from __future__ import annotations

import torch

from benchmarks.common import best_time
from lmvid_lib.config import load_profile
from lmvid_lib.eval.sampling import sample_rollouts
from lmvid_lib.models.dynamics import DynamicsConfig, LandmarkLSTM
from lmvid_lib.models.rollout import rollout

WINDOWS, CONTEXT, FUTURE, LANDMARKS, SAMPLES = 256, 2, 100, 30, 100


def profile_latent(profile: str = "paper") -> int:
    """The stochastic LSTM's latent size of `profile` (its 04b_stochastic.stochastic.model.latent)."""
    return int(load_profile(profile)["04b_stochastic"]["stochastic"]["model"]["latent"])


def main() -> None:
    torch.manual_seed(0)
    latent = profile_latent()
    deterministic = LandmarkLSTM(DynamicsConfig(n_landmarks=LANDMARKS, layers=3, hidden=256)).eval()
    stochastic = LandmarkLSTM(DynamicsConfig(n_landmarks=LANDMARKS, layers=3, hidden=256, latent=latent)).eval()
    context = torch.randn(WINDOWS, CONTEXT, LANDMARKS, 5) * 0.3
    t_det = best_time(lambda: rollout(deterministic, context, FUTURE), repeat=3)
    samples = sample_rollouts(stochastic, context, FUTURE, SAMPLES, seed=0)
    assert samples.shape == (SAMPLES, WINDOWS, FUTURE, LANDMARKS, 5) and torch.isfinite(samples).all()
    del samples
    t_sto = best_time(lambda: sample_rollouts(stochastic, context, FUTURE, SAMPLES, seed=0), repeat=1, warmup=0)
    print(f"{WINDOWS} windows x {FUTURE} frames, K={LANDMARKS}, LSTM 3x256 (stochastic: latent {latent}, prior 1x64)")
    print(f"  deterministic rollout, 1 future per window     {t_det:8.2f} s")
    print(
        f"  stochastic, {SAMPLES} sampled futures per window   {t_sto:8.2f} s   per future: "
        f"{t_sto / SAMPLES / t_det:.2f}x a deterministic one"
    )
