"""Scoring sampled futures (chapter 4b): N predicted joint paths per window against the one true future.

Best-of-N error alone rewards spread (a sampler that ignores the context can win it) and kept speed alone rewards
noise, so a stochastic predictor is scored on several things at once, all on joints in crop-centred pixels:

- the **energy score** (Gneiting & Raftery 2007), a proper scoring rule: ES = E d(X, y) - 1/2 E d(X, X'), X, X'
  independent samples, y the truth; lower is better, and it is lowest for a forecaster as uncertain as the data.
  d is the mean Euclidean joint distance (the error of `eval.prediction`), a sum of Euclidean norms and so of negative
  type, which keeps the score proper; for one deterministic prediction (N = 1) ES is its joint error;
- **best-of-N** and **mean-of-N** joint error, as SVG-LP and SAVP report the best of N;
- **spread**, the mean pairwise distance of the samples, and the **kept joint speed** of the samples;
- **plausibility**: each pose's distance to its nearest training pose, for sampled and for real futures.

Samples are [S,N,T,J,2] (S samples of N windows over T predicted frames), truths [N,T,J,2]; NaN marks a missing
joint, left out of every distance as in `eval.regression`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from lmvid_lib.config import check_int
from lmvid_lib.eval.prediction import motion_kept
from lmvid_lib.eval.regression import known_mean
from lmvid_lib.models.dynamics import LatentSource
from lmvid_lib.models.rollout import rollout


def pose_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance over the joints known in both of poses a, b [...,J,2] (broadcast): [...]; NaN where
    no joint is known in both."""
    return known_mean(np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1), -1)


def _samples(samples: np.ndarray, true: np.ndarray | None = None) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 5 or samples.shape[-1] != 2:
        raise ValueError(f"samples must be [S,N,T,J,2], got shape {samples.shape}")
    if true is not None and np.shape(true) != samples.shape[1:]:
        raise ValueError(f"true must be [N,T,J,2] = {samples.shape[1:]}, got shape {np.shape(true)}")
    return samples


def sample_errors(samples: np.ndarray, true: np.ndarray) -> np.ndarray:
    """d(X_s, y) of every sample: samples [S,N,T,J,2], true [N,T,J,2] -> [S,N,T]."""
    return pose_distance(_samples(samples, true), np.asarray(true, dtype=np.float64)[None])


def pairwise_spread(samples: np.ndarray) -> np.ndarray:
    """Mean distance between two different samples of a window, per window and frame: [S,N,T,J,2] -> [N,T] (0 for
    S = 1)."""
    samples = _samples(samples)
    s = len(samples)
    if s < 2:
        return np.zeros(samples.shape[1:3])
    total = np.zeros(samples.shape[1:3])
    for i in range(s - 1):  # one sample against the later ones: S(S-1)/2 pairs, memory of one [S,N,T,J] at a time
        total += np.nansum(pose_distance(samples[i][None], samples[i + 1 :]), 0)
    return total / (s * (s - 1) / 2)


def energy_score(samples: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean over the windows of the energy score per predicted frame (module docstring): [S,N,T,J,2], [N,T,J,2] ->
    [T], px. The pairs term is the unbiased mean over pairs of different samples."""
    score = np.nanmean(sample_errors(samples, true), 0) - 0.5 * pairwise_spread(samples)
    return np.nanmean(score, 0)


def best_of_n(samples: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean over the windows of the smallest sample error per frame: -> [T], px."""
    return np.nanmean(np.nanmin(sample_errors(samples, true), 0), 0)


def mean_of_n(samples: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean over the windows and samples of the sample error per frame: -> [T], px."""
    return np.nanmean(sample_errors(samples, true), (0, 1))


def spread(samples: np.ndarray) -> np.ndarray:
    """Mean over the windows of the samples' pairwise spread per frame: [S,N,T,J,2] -> [T], px."""
    return np.nanmean(pairwise_spread(samples), 0)


def kept_speed(samples: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean sampled over real joint speed per step, every sample against its window's truth: -> [T-1]
    (`eval.prediction.motion_kept` over the S x N paths)."""
    samples = _samples(samples, true)
    tiled = np.broadcast_to(np.asarray(true, dtype=np.float64), samples.shape)
    return motion_kept(samples.reshape(-1, *samples.shape[2:]), tiled.reshape(-1, *samples.shape[2:]))


def nearest_pose_distance(poses: np.ndarray, reference: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Distance of each pose [M,J,2] to its nearest pose of `reference` [P,J,2] (no missing joints there): [M] px."""
    poses, reference = np.asarray(poses, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if poses.ndim != 3 or reference.ndim != 3 or poses.shape[1:] != reference.shape[1:]:
        raise ValueError(f"poses [M,J,2] and reference [P,J,2] must share J, got {poses.shape}, {reference.shape}")
    if np.isnan(reference).any():
        raise ValueError("reference poses must have every joint: drop the frames with missing joints first")
    ref = torch.from_numpy(reference).transpose(0, 1)  # [J,P,2]
    out = []
    for start in range(0, len(poses), chunk):
        part = torch.from_numpy(poses[start : start + chunk]).transpose(0, 1)  # [J,m,2]
        per_joint = torch.cdist(part, ref)  # [J,m,P]
        known = ~torch.isnan(per_joint)
        mean = torch.where(known, per_joint, 0).sum(0) / known.sum(0).clamp_min(1)
        out.append(mean.min(1).values.numpy())
    return np.concatenate(out) if out else np.zeros(0)


def plausibility(poses: np.ndarray, train_poses: np.ndarray, max_reference: int = 4000, seed: int = 0) -> float:
    """Mean distance (px) of poses [...,J,2] to their nearest training pose, against at most `max_reference` complete
    training poses [...,J,2] (drawn with `seed` when there are more, the same for every set it is compared on)."""
    train = np.asarray(train_poses, dtype=np.float64).reshape(-1, *np.shape(train_poses)[-2:])
    train = train[~np.isnan(train).any((1, 2))]
    if len(train) == 0:
        raise ValueError("train_poses has no complete pose")
    if len(train) > max_reference:
        train = train[np.random.default_rng(seed).choice(len(train), max_reference, replace=False)]
    flat = np.asarray(poses, dtype=np.float64).reshape(-1, *train.shape[1:])
    return float(np.nanmean(nearest_pose_distance(flat, train)))


def sample_rollouts(model: nn.Module, context: torch.Tensor, n_future: int, n_samples: int, seed: int) -> torch.Tensor:
    """n_samples futures of a stochastic landmark LSTM (`DynamicsConfig.latent > 0`) per window: context [N,Tc,K,5]
    -> [S,N,n_future,K,5], all samples in one batched rollout, z drawn from its prior with a generator seeded by
    `seed` (the same seed, the same samples)."""
    check_int(n_samples, "n_samples")
    n = context.shape[0]
    repeated = context.repeat(n_samples, *([1] * (context.ndim - 1)))
    state = model.start(LatentSource(torch.Generator().manual_seed(seed)))
    return rollout(model, repeated, n_future, state).unflatten(0, (n_samples, n))


def random_training_futures(train_paths: np.ndarray, n_windows: int, n_samples: int, seed: int) -> np.ndarray:
    """The sampler that ignores the context: for each of n_windows windows, n_samples joint paths [T,J,2] of random
    training windows train_paths [W,T,J,2] (so each frame's pose is a random training pose): [S,N,T,J,2]."""
    train_paths = np.asarray(train_paths, dtype=np.float64)
    if train_paths.ndim != 4:
        raise ValueError(f"train_paths must be [W,T,J,2], got shape {train_paths.shape}")
    picks = np.random.default_rng(seed).integers(len(train_paths), size=(n_samples, n_windows))
    return train_paths[picks]


ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
SCORES: dict[str, ScoreFn] = {
    "energy score": energy_score,
    "best of N": best_of_n,
    "mean of N": mean_of_n,
}
"""The per-frame scores of a predictor's samples against the truth (px, lower is better), in table order."""
