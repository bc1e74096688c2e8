"""Landmark math: Gaussians fitted to part maps, their heatmaps, the Cholesky state, and interpolation.

A landmark is a 2D Gaussian (mean `mu`, covariance `cov`) in normalised coordinates: x to the right, y down, both in
[-1, 1]; pixel i of a size-n axis has its centre at -1 + (2i + 1) / n, so grids of any resolution share one frame
(part maps are fitted at 64x64 and rendered at 128x128).

- `fit_gaussians`: spatial softmax of the pose encoder's part logits, then its mean and covariance (+ COV_EPS * I).
- `render_heatmaps`: s(k, l) = 1 / (1 + (l - mu_k)' cov_k^-1 (l - mu_k)) (paper Eq. 5).
- `to_state` / `from_state`: the 5-vector (mu_x, mu_y, l11, l21, l22) in which landmarks are interpolated (paper Eq. 7)
  and predicted by the LSTM.

The state is the Cholesky factor of the part map's *raw* second moment, and COV_EPS is the regulariser added whenever
a covariance is made: `fit_gaussians` returns moments + COV_EPS * I, `from_state` returns L L' + COV_EPS * I and
`to_state` factors cov - COV_EPS * I. Hence, for every covariance `fit_gaussians` can return whose raw moment is
non-singular, `from_state(to_state(mu, cov)) == (mu, cov)` to float tolerance, and `to_state(from_state(s)) == s` for
states with l11, l22 > 0 and all factor entries within +-STATE_L_MAX. Any real state (an LSTM output with a negative
or zero diagonal, huge entries) still gives a finite, symmetric positive-definite covariance.

Everything is batched over leading dimensions with broadcasting (no Python loops over B or K), differentiable, and
follows the device and dtype of its inputs. Nothing bigger than [..., H, W] is materialised: the benchmark
(benchmarks/bench_landmarks.py) compares this with the textbook [..., H, W, 2] difference tensor + torch.linalg.inv.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lmvid_lib.config import check_int

COV_EPS = 1e-4
"""Added to every covariance (times I). Its standard deviation, 0.01, is a third of a pixel at 64x64: a part map with
all its mass on one pixel still gives an invertible covariance and a heatmap about a pixel wide."""

STATE_L_MAX = 4.0
"""`from_state` clamps the Cholesky entries (l11, l21, l22) to +-STATE_L_MAX. A distribution on [-1, 1]^2 has every
factor entry within +-1, so real landmarks never reach it; the bound keeps L L' finite and, in float32, far enough
from singular that COV_EPS still makes it positive-definite, whatever an LSTM outputs."""

_CHOLESKY_FLOOR = COV_EPS * 1e-4
"""Smallest squared diagonal entry the closed-form Cholesky takes, so a singular matrix (a part map on one pixel
column) gives finite factors; small against COV_EPS so the round trip error it causes stays below 1e-4 relative."""


def _check_size(value: int, name: str) -> None:
    check_int(value, name)


def _check_float_tensor(value: object, name: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")


def _check_points(points: object, name: str) -> None:
    _check_float_tensor(points, name)
    if points.ndim < 1 or points.shape[-1] != 2:
        raise ValueError(f"{name} must have shape [..., 2] (x, y), got {tuple(points.shape)}")


def _check_cov(cov: object, name: str) -> None:
    _check_float_tensor(cov, name)
    if cov.ndim < 2 or cov.shape[-2:] != (2, 2):
        raise ValueError(f"{name} must have shape [..., 2, 2], got {tuple(cov.shape)}")


def _check_state(state: object, name: str) -> None:
    _check_float_tensor(state, name)
    if state.ndim < 1 or state.shape[-1] != 5:
        raise ValueError(f"{name} must have shape [..., 5] (mu_x, mu_y, l11, l21, l22), got {tuple(state.shape)}")


def pixel_centres(
    size: int, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Normalised coordinates of the pixel centres of an axis with `size` pixels: [size], -1 + (2i + 1) / size."""
    _check_size(size, "size")
    dtype = dtype or torch.get_default_dtype()
    return (torch.arange(size, dtype=dtype, device=device) * 2 + 1) / size - 1


def norm_to_pixel(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Normalised points [..., 2] (x, y in [-1, 1]) -> 0-based pixel coordinates [..., 2]: x_pix = ((x + 1) W - 1) / 2.

    y uses `height`. Pixel centres map to integers, so x = -0.75 with W = 4 is pixel 0.
    """
    _check_points(points, "points")
    _check_size(height, "height")
    _check_size(width, "width")
    size = torch.tensor([width, height], dtype=points.dtype, device=points.device)
    return ((points + 1) * size - 1) / 2


def gaussians_to_pixels(mu: Any, cov: Any, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks in normalised coordinates -> pixels of an H x W frame, as float64 arrays (for figures and read-outs).

    mu [...,K,2] in [-1,1] (x right, y down), cov [...,K,2,2] (tensors on any device or array-likes) -> (mu_pixels,
    cov_pixels) of the same shapes. A pixel is 2/W normalised units wide and 2/H high, so cov scales by
    diag(W/2, H/2) on both sides.
    """
    mu_t, cov_t = (torch.as_tensor(np.asarray(_host(v)), dtype=torch.float64) for v in (mu, cov))
    if mu_t.shape[-1:] != (2,) or cov_t.shape != mu_t.shape + (2,):
        raise ValueError(
            f"mu must be [...,K,2] and cov [...,K,2,2] with the same K, got {tuple(mu_t.shape)} and "
            f"{tuple(cov_t.shape)}"
        )
    scale = np.array([width / 2.0, height / 2.0])
    return norm_to_pixel(mu_t, height, width).numpy(), cov_t.numpy() * scale[:, None] * scale[None, :]


def _host(value: Any) -> Any:
    return value.detach().cpu() if isinstance(value, torch.Tensor) else value


def pixel_to_norm(points: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """0-based pixel coordinates [..., 2] (x, y) -> normalised [..., 2]: x = (2 x_pix + 1) / W - 1 (y uses `height`)."""
    _check_points(points, "points")
    _check_size(height, "height")
    _check_size(width, "width")
    size = torch.tensor([width, height], dtype=points.dtype, device=points.device)
    return (points * 2 + 1) / size - 1


def part_probabilities(part_logits: torch.Tensor) -> torch.Tensor:
    """Spatial softmax: part logits [..., H, W] -> probabilities [..., H, W] summing to 1 over each H x W map.

    torch.softmax subtracts the maximum first, so huge logits (1e4) and -inf everywhere but one pixel are fine; a map
    that is -inf everywhere has no distribution and gives NaN.
    """
    _check_float_tensor(part_logits, "part_logits")
    if part_logits.ndim < 2:
        raise ValueError(f"part_logits must have shape [..., H, W], got {tuple(part_logits.shape)}")
    return part_logits.flatten(-2).softmax(-1).view_as(part_logits)


def fit_gaussians(part_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of each part map's spatial softmax.

    part_logits: [..., H, W] (typically [B, K, H, W]); any H, W.
    Returns mu: [..., 2] (x, y in [-1, 1]) and cov: [..., 2, 2] = E[(p - mu)(p - mu)'] + COV_EPS * I, the exact moments
    of the discrete distribution over pixel centres. The moments are taken about the mean (no E[x^2] - mu^2
    cancellation), so cov - COV_EPS * I is positive semi-definite up to rounding, and cov is positive-definite.
    """
    probs = part_probabilities(part_logits)
    height, width = probs.shape[-2:]
    xs = pixel_centres(width, dtype=probs.dtype, device=probs.device)
    ys = pixel_centres(height, dtype=probs.dtype, device=probs.device)
    marginal_x = probs.sum(-2)  # [..., W]
    marginal_y = probs.sum(-1)  # [..., H]
    mu_x = marginal_x @ xs
    mu_y = marginal_y @ ys
    dx = xs - mu_x.unsqueeze(-1)  # [..., W]
    dy = ys - mu_y.unsqueeze(-1)  # [..., H]
    var_x = (marginal_x * dx.square()).sum(-1)
    var_y = (marginal_y * dy.square()).sum(-1)
    # A matrix-vector product keeps the cross moment free of any [..., H, W] temporary.
    cov_xy = ((probs @ dx.unsqueeze(-1)).squeeze(-1) * dy).sum(-1)
    mu = torch.stack([mu_x, mu_y], -1)
    cov = torch.stack([var_x + COV_EPS, cov_xy, cov_xy, var_y + COV_EPS], -1).unflatten(-1, (2, 2))
    return mu, cov


def _cholesky_2x2(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Closed-form Cholesky of [[a, b], [b, c]] -> (l11, l21, l22), l11, l22 >= sqrt(_CHOLESKY_FLOOR).

    Squared diagonal entries are floored so singular or slightly indefinite (rounding) input stays finite.
    """
    l11 = a.clamp_min(_CHOLESKY_FLOOR).sqrt()
    l21 = b / l11
    l22 = (c - l21.square()).clamp_min(_CHOLESKY_FLOOR).sqrt()
    return l11, l21, l22


def _off_diagonal(cov: torch.Tensor) -> torch.Tensor:
    """cov [..., 2, 2] -> [...]: the mean of both off-diagonal entries, so a symmetric cov gets a symmetric gradient."""
    return (cov[..., 0, 1] + cov[..., 1, 0]) / 2


def render_heatmaps(mu: torch.Tensor, cov: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Heatmaps s(k, l) = 1 / (1 + (l - mu_k)' cov_k^-1 (l - mu_k)) at the pixel centres l of a height x width grid.

    mu: [..., 2] (x, y in [-1, 1]); cov: [..., 2, 2] symmetric positive-definite, same leading shape (the two
    off-diagonal entries are averaged). Returns [..., height, width] in (0, 1], exactly 1 where a pixel centre is mu.
    The Mahalanobis term is |L^-1 d|^2 with L the closed-form Cholesky factor of cov: a sum of two squares, so it is
    never negative from rounding, and only the second whitened coordinate needs a [..., H, W] tensor.
    """
    _check_points(mu, "mu")
    _check_cov(cov, "cov")
    if cov.shape[:-2] != mu.shape[:-1]:
        raise ValueError(f"mu {tuple(mu.shape)} and cov {tuple(cov.shape)} must share their leading shape")
    _check_size(height, "height")
    _check_size(width, "width")
    l11, l21, l22 = _cholesky_2x2(cov[..., 0, 0], _off_diagonal(cov), cov[..., 1, 1])
    xs = pixel_centres(width, dtype=mu.dtype, device=mu.device)
    ys = pixel_centres(height, dtype=mu.dtype, device=mu.device)
    dx = xs - mu[..., :1]  # [..., W]
    dy = ys - mu[..., 1:]  # [..., H]
    # Whitened coordinates: u = dx / l11, v = (dy - l21 u) / l22.
    u = dx / l11.unsqueeze(-1)  # [..., W]
    v = torch.addcmul((dy / l22.unsqueeze(-1)).unsqueeze(-1), (-l21 / l22)[..., None, None], u.unsqueeze(-2))
    return v.square().add_((u.square() + 1).unsqueeze(-2)).reciprocal_()


def to_state(mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Landmark state [..., 5] = (mu_x, mu_y, l11, l21, l22) with L L' = cov - COV_EPS * I, L lower-triangular.

    mu: [..., 2]; cov: [..., 2, 2] (e.g. from `fit_gaussians`, which adds COV_EPS * I; the two off-diagonal entries
    are averaged). Closed-form 2x2 Cholesky with l11, l22 > 0. Where cov - COV_EPS * I is singular (a part map on one
    pixel) or not positive semi-definite, its squared diagonal entries are floored at COV_EPS * 1e-4, so `from_state`
    gives back cov to within that floor.
    """
    _check_points(mu, "mu")
    _check_cov(cov, "cov")
    if cov.shape[:-2] != mu.shape[:-1]:
        raise ValueError(f"mu {tuple(mu.shape)} and cov {tuple(cov.shape)} must share their leading shape")
    l11, l21, l22 = _cholesky_2x2(cov[..., 0, 0] - COV_EPS, _off_diagonal(cov), cov[..., 1, 1] - COV_EPS)
    return torch.cat([mu, torch.stack([l11, l21, l22], -1)], -1)


def from_state(state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Landmark state [..., 5] -> mu [..., 2], cov [..., 2, 2] = L L' + COV_EPS * I.

    Any real state is accepted: the sign of l11, l22 does not matter (L L' is the same), a zero diagonal is made
    positive-definite by COV_EPS, and factor entries are clamped to +-STATE_L_MAX so cov stays finite; NaN stays NaN.
    """
    _check_state(state, "state")
    mu = state[..., :2]
    l11, l21, l22 = state[..., 2:].clamp(-STATE_L_MAX, STATE_L_MAX).unbind(-1)
    cov_xy = l11 * l21
    cov = torch.stack([l11.square() + COV_EPS, cov_xy, cov_xy, l21.square() + l22.square() + COV_EPS], -1)
    return mu, cov.unflatten(-1, (2, 2))


def _alpha_weights(alphas: torch.Tensor | Sequence[float], like: torch.Tensor, extra_dims: int) -> torch.Tensor:
    """`alphas` (1-D, T values) as a [T, 1, ..., 1] tensor with `extra_dims` ones, on like's device and dtype."""
    alphas = torch.as_tensor(alphas, dtype=like.dtype, device=like.device)
    if alphas.ndim != 1:
        raise ValueError(f"alphas must be 1-D (T interpolation weights), got shape {tuple(alphas.shape)}")
    return alphas.reshape(-1, *([1] * extra_dims))


def interpolate(state0: torch.Tensor, state1: torch.Tensor, alphas: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Linear interpolation in state space (paper Eq. 7): (1 - alpha) state0 + alpha state1 for each alpha.

    state0, state1: [..., 5] of one shape; alphas: T floats (1-D), any real value (outside [0, 1] extrapolates, and
    `from_state` keeps the result a valid Gaussian). Returns [T, ..., 5], exactly state0 at alpha 0 and state1 at 1.
    """
    _check_state(state0, "state0")
    _check_state(state1, "state1")
    if state0.shape != state1.shape:
        raise ValueError(f"state0 {tuple(state0.shape)} and state1 {tuple(state1.shape)} must have the same shape")
    weights = _alpha_weights(alphas, state0, state0.ndim)
    # torch.lerp switches formula at 0.5 so both ends are exact in floating point.
    return torch.lerp(state0, state1, weights)


def interpolate_covariance(
    mu0: torch.Tensor, cov0: torch.Tensor, mu1: torch.Tensor, cov1: torch.Tensor, alphas: torch.Tensor | Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Baseline: interpolate mean and covariance directly, (1 - alpha) x0 + alpha x1 for each alpha.

    mu0, mu1: [..., 2]; cov0, cov1: [..., 2, 2]; alphas: T floats. Returns mu [T, ..., 2], cov [T, ..., 2, 2], exact
    at alpha 0 and 1. For alpha in [0, 1] cov is a convex combination, hence positive-definite; extrapolating
    (alpha outside [0, 1]) can make it indefinite, one reason the paper interpolates Cholesky factors instead.
    """
    _check_points(mu0, "mu0")
    _check_points(mu1, "mu1")
    _check_cov(cov0, "cov0")
    _check_cov(cov1, "cov1")
    if mu0.shape != mu1.shape or cov0.shape != cov1.shape or cov0.shape[:-2] != mu0.shape[:-1]:
        raise ValueError(
            f"mu0 {tuple(mu0.shape)}, mu1 {tuple(mu1.shape)}, cov0 {tuple(cov0.shape)}, "
            f"cov1 {tuple(cov1.shape)}: expected mu [..., 2] and cov [..., 2, 2] of one leading shape"
        )
    mu = torch.lerp(mu0, mu1, _alpha_weights(alphas, mu0, mu0.ndim))
    cov = torch.lerp(cov0, cov1, _alpha_weights(alphas, cov0, cov0.ndim))
    return mu, cov
