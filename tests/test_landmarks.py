"""Properties of lmvid_lib.landmarks: Gaussian fits, heatmaps, the Cholesky state and interpolation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmvid_lib import landmarks as lm
from lmvid_lib.landmarks import (
    COV_EPS,
    fit_gaussians,
    from_state,
    interpolate,
    interpolate_covariance,
    norm_to_pixel,
    part_probabilities,
    pixel_centres,
    pixel_to_norm,
    render_heatmaps,
    to_state,
)

FAST = settings(max_examples=25, deadline=None)
DTYPES = [torch.float32, torch.float64]


def gaussian_cov(std_x: float, std_y: float, rho: float) -> np.ndarray:
    return np.array([[std_x**2, rho * std_x * std_y], [rho * std_x * std_y, std_y**2]])


def numpy_moments(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force discrete mean [2] and covariance [2, 2] of softmax(logits) [H, W] over pixel centres (no eps)."""
    height, width = logits.shape
    p = np.exp(logits - logits.max())
    p /= p.sum()
    ys, xs = np.meshgrid(
        -1 + (2 * np.arange(height) + 1) / height, -1 + (2 * np.arange(width) + 1) / width, indexing="ij"
    )
    points = np.stack([xs.ravel(), ys.ravel()], 1)  # [H*W, 2]
    mu = p.ravel() @ points
    d = points - mu
    return mu, (p.ravel()[:, None] * d).T @ d


def assert_positive_definite(cov: torch.Tensor) -> None:
    """cov [..., 2, 2]: finite, symmetric, a > 0 and det > 0 (checked in float64 on the stored values)."""
    assert torch.isfinite(cov).all()
    assert torch.equal(cov[..., 0, 1], cov[..., 1, 0])
    c = cov.double()
    assert (c[..., 0, 0] > 0).all()
    assert (c[..., 0, 0] * c[..., 1, 1] - c[..., 0, 1] * c[..., 1, 0] > 0).all()


# --- coordinates -----------------------------------------------------------------------------------------------------


def test_pixel_centre_convention() -> None:
    assert torch.allclose(pixel_centres(4), torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    points = torch.tensor([[-0.75, -0.5], [0.75, 0.5]])  # W = 4, H = 2: first and last pixel centres
    assert torch.allclose(norm_to_pixel(points, height=2, width=4), torch.tensor([[0.0, 0.0], [3.0, 1.0]]))
    assert torch.allclose(pixel_to_norm(torch.tensor([[0.0, 0.0], [3.0, 1.0]]), height=2, width=4), points)
    # The image edges are half a pixel outside the first and last centres.
    assert torch.allclose(norm_to_pixel(torch.tensor([-1.0, 1.0]), height=8, width=4), torch.tensor([-0.5, 7.5]))


@FAST
@given(st.lists(st.floats(-50, 50), min_size=2, max_size=8), st.integers(1, 300), st.integers(1, 300))
def test_norm_pixel_round_trip(values: list[float], height: int, width: int) -> None:
    points = torch.tensor(values[: len(values) // 2 * 2], dtype=torch.float64).view(-1, 2)
    assert torch.allclose(pixel_to_norm(norm_to_pixel(points, height, width), height, width), points, atol=1e-12)
    assert torch.allclose(norm_to_pixel(pixel_to_norm(points, height, width), height, width), points, atol=1e-12)


# --- fitting ---------------------------------------------------------------------------------------------------------


@FAST
@given(
    mx=st.floats(-0.35, 0.35),
    my=st.floats(-0.35, 0.35),
    sx=st.floats(0.08, 0.15),
    sy=st.floats(0.08, 0.15),
    rho=st.floats(-0.8, 0.8),
    height=st.integers(32, 48),
    width=st.integers(32, 48),
)
def test_fit_recovers_gaussian_blob(
    mx: float, my: float, sx: float, sy: float, rho: float, height: int, width: int
) -> None:
    mu_true = np.array([mx, my])
    cov_true = gaussian_cov(sx, sy, rho)
    ys, xs = np.meshgrid(
        pixel_centres(height, dtype=torch.float64).numpy(),
        pixel_centres(width, dtype=torch.float64).numpy(),
        indexing="ij",
    )
    d = np.stack([xs - mx, ys - my], -1)
    logits = -0.5 * np.einsum("hwi,ij,hwj->hw", d, np.linalg.inv(cov_true), d)  # log-density up to a constant
    mu, cov = fit_gaussians(torch.from_numpy(logits)[None, None])
    mu, cov = mu[0, 0].numpy(), cov[0, 0].numpy()
    mu_discrete, cov_discrete = numpy_moments(logits)
    np.testing.assert_allclose(mu, mu_discrete, atol=1e-12)
    np.testing.assert_allclose(cov, cov_discrete + COV_EPS * np.eye(2), atol=1e-12)
    pixel = 2 / max(height, width)
    assert np.abs(mu - mu_true).max() < 0.01 * pixel  # sub-pixel (a sampled Gaussian's mean is nearly exact)
    assert np.abs(cov - COV_EPS * np.eye(2) - cov_true).max() < 0.01 * cov_true.diagonal().min()


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_matches_brute_force_on_random_maps(dtype: torch.dtype) -> None:
    logits = torch.randn(2, 3, 5, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    mu, cov = fit_gaussians(logits.to(dtype))
    assert mu.shape == (2, 3, 2) and cov.shape == (2, 3, 2, 2) and mu.dtype == cov.dtype == dtype
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for b in range(2):
        for k in range(3):
            mu_ref, cov_ref = numpy_moments(logits[b, k].numpy())
            np.testing.assert_allclose(mu[b, k].double().numpy(), mu_ref, atol=tol)
            np.testing.assert_allclose(cov[b, k].double().numpy(), cov_ref + COV_EPS * np.eye(2), atol=tol)
    probs = part_probabilities(logits)
    assert torch.allclose(probs.sum((-2, -1)), torch.ones(2, 3, dtype=torch.float64))


def one_pixel_maps(kind: str, dtype: torch.dtype) -> torch.Tensor:
    """[1, 2, 6, 9] maps with all mass on pixel (row 4, col 2) and (row 0, col 8)."""
    fill = {"huge": -1e4, "neg_inf": -math.inf}[kind]
    logits = torch.full((1, 2, 6, 9), fill, dtype=dtype)
    peak = {"huge": 1e4, "neg_inf": 0.0}[kind]
    logits[0, 0, 4, 2] = peak
    logits[0, 1, 0, 8] = peak
    return logits


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["huge", "neg_inf"])
def test_degenerate_one_pixel_maps(kind: str, dtype: torch.dtype) -> None:
    mu, cov = fit_gaussians(one_pixel_maps(kind, dtype))
    expected_mu = torch.tensor([[-1 + 5 / 9, -1 + 9 / 6], [-1 + 17 / 9, -1 + 1 / 6]], dtype=dtype)
    assert torch.allclose(mu[0], expected_mu, atol=1e-6)
    assert torch.allclose(cov[0], COV_EPS * torch.eye(2, dtype=dtype).expand(2, 2, 2), atol=1e-9)
    assert_positive_definite(cov)
    state = to_state(mu, cov)
    assert torch.isfinite(state).all() and (state[..., 2] > 0).all() and (state[..., 4] > 0).all()
    mu2, cov2 = from_state(state)
    assert torch.allclose(mu2, mu) and torch.allclose(cov2, cov, rtol=1e-3, atol=0)
    heat = render_heatmaps(mu, cov, 12, 18)
    assert torch.isfinite(heat).all() and heat.max() <= 1 and heat.min() > 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [0.0, 1e4, -1e4])
def test_uniform_maps(value: float, dtype: torch.dtype) -> None:
    height, width = 6, 10
    mu, cov = fit_gaussians(torch.full((2, 1, height, width), value, dtype=dtype))
    assert torch.allclose(mu, torch.zeros_like(mu), atol=1e-6)
    # Pixel centres 2/n apart: variance (2/n)^2 (n^2 - 1) / 12.
    var = [(2 / n) ** 2 * (n * n - 1) / 12 + COV_EPS for n in (width, height)]
    assert torch.allclose(cov[0, 0], torch.diag(torch.tensor(var, dtype=dtype)), atol=1e-6)
    assert_positive_definite(cov)
    assert torch.allclose(from_state(to_state(mu, cov))[1], cov, atol=1e-6)


def test_all_neg_inf_map_has_no_distribution() -> None:
    mu, cov = fit_gaussians(torch.full((1, 1, 3, 3), -math.inf))
    assert torch.isnan(mu).all() and torch.isnan(cov).all()


# --- Cholesky state --------------------------------------------------------------------------------------------------

valid_states = st.tuples(
    st.floats(-1.5, 1.5), st.floats(-1.5, 1.5), st.floats(0.01, 1.0), st.floats(-1.0, 1.0), st.floats(0.01, 1.0)
)


@FAST
@given(st.lists(valid_states, min_size=1, max_size=6))
def test_state_round_trips(states: list[tuple[float, ...]]) -> None:
    state = torch.tensor(states, dtype=torch.float64)
    mu, cov = from_state(state)
    assert torch.allclose(mu, state[:, :2])
    assert_positive_definite(cov)
    assert torch.allclose(to_state(mu, cov), state, atol=1e-10)
    assert torch.allclose(from_state(to_state(mu, cov))[1], cov, atol=1e-12)
    # The state's L is the Cholesky factor of cov - COV_EPS * I.
    l11, l21, l22 = state[:, 2:].unbind(-1)
    factor = torch.stack([l11, torch.zeros_like(l11), l21, l22], -1).view(-1, 2, 2)
    assert torch.allclose(factor @ factor.mT + COV_EPS * torch.eye(2, dtype=torch.float64), cov, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fitted_gaussians_round_trip_through_state(dtype: torch.dtype) -> None:
    logits = torch.randn(4, 6, 16, 12, generator=torch.Generator().manual_seed(1)).to(dtype) * 4
    mu, cov = fit_gaussians(logits)
    state = to_state(mu, cov)
    assert state.shape == (4, 6, 5) and (state[..., 2] > 0).all() and (state[..., 4] > 0).all()
    mu2, cov2 = from_state(state)
    assert torch.equal(mu2, mu)
    atol = 1e-12 if dtype == torch.float64 else 1e-6
    assert torch.allclose(cov2, cov, atol=atol, rtol=0)


@FAST
@given(st.lists(st.floats(-1e30, 1e30), min_size=5, max_size=5), st.sampled_from(DTYPES))
def test_from_state_positive_definite_for_any_state(values: list[float], dtype: torch.dtype) -> None:
    special = [[0.0] * 5, [0.3, -0.2, -0.5, 0.1, -0.4], [0.0, 0.0, 1e6, -1e6, 0.0], [1.0, 1.0, 4.0, 4.0, 0.0]]
    state = torch.tensor([values] + special, dtype=dtype)
    mu, cov = from_state(state)
    assert torch.equal(mu, state[:, :2])
    assert_positive_definite(cov)
    # The state of a covariance is canonical: flipping the sign of a column of L ((l11, l21) or l22) is the same
    # Gaussian, and to_state returns the factor with a positive diagonal.
    flipped = state[2:3].double()
    canonical = torch.cat(
        [flipped[:, :2], flipped[:, 2:3].abs(), flipped[:, 3:4] * flipped[:, 2:3].sign(), flipped[:, 4:].abs()], -1
    )
    assert torch.allclose(to_state(*from_state(flipped)), canonical, atol=1e-12)
    # Entries beyond STATE_L_MAX are clamped.
    assert torch.equal(
        cov[3], from_state(torch.tensor([0.0, 0.0, lm.STATE_L_MAX, -lm.STATE_L_MAX, 0.0], dtype=dtype))[1]
    )


# --- heatmaps --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_heatmap_matches_brute_force(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(2)
    mu = torch.rand(2, 3, 2, generator=gen, dtype=torch.float64) * 1.6 - 0.8
    state = torch.cat([mu, torch.rand(2, 3, 3, generator=gen, dtype=torch.float64) * 0.4 + 0.02], -1)
    cov = from_state(state)[1]
    height, width = 7, 11
    heat = render_heatmaps(mu.to(dtype), cov.to(dtype), height, width)
    assert heat.shape == (2, 3, height, width) and heat.dtype == dtype
    xs, ys = pixel_centres(width, dtype=torch.float64), pixel_centres(height, dtype=torch.float64)
    expected = np.empty((2, 3, height, width))
    for b in range(2):
        for k in range(3):
            inv = np.linalg.inv(cov[b, k].numpy())
            for i in range(height):
                for j in range(width):
                    d = np.array([xs[j], ys[i]]) - mu[b, k].numpy()
                    expected[b, k, i, j] = 1 / (1 + d @ inv @ d)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(heat.double().numpy(), expected, atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_heatmap_is_one_at_mu_and_peaks_in_the_right_pixel(dtype: torch.dtype) -> None:
    height, width = 4, 7
    mu = pixel_to_norm(torch.tensor([[5.0, 2.0], [0.0, 3.0]], dtype=dtype), height, width)  # (col, row)
    cov = torch.tensor([[[0.05, 0.02], [0.02, 0.03]], [[0.01, 0.0], [0.0, 0.2]]], dtype=dtype)
    heat = render_heatmaps(mu, cov, height, width)
    assert heat[0, 2, 5] == 1 and heat[1, 3, 0] == 1
    assert (heat < 1).sum() == heat.numel() - 2 and (heat > 0).all()


def test_heatmap_resolution_independent() -> None:
    """Coarse pixel i of 8 and fine pixel 3i + 1 of 24 share a centre, so the two renderings agree there."""
    mu = torch.tensor([[0.1, -0.2]], dtype=torch.float64)
    cov = torch.tensor([[[0.04, 0.01], [0.01, 0.02]]], dtype=torch.float64)
    coarse = render_heatmaps(mu, cov, 8, 16)
    fine = render_heatmaps(mu, cov, 24, 48)
    assert torch.allclose(fine[:, 1::3, 1::3], coarse, atol=1e-14)


# --- interpolation ---------------------------------------------------------------------------------------------------


@FAST
@given(st.lists(valid_states, min_size=2, max_size=2), st.lists(valid_states, min_size=2, max_size=2))
def test_interpolate_linear_exact_and_extrapolates(a: list[tuple[float, ...]], b: list[tuple[float, ...]]) -> None:
    s0, s1 = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    alphas = [0.0, 0.25, 0.5, 0.75, 1.0, -0.5, 1.5]
    out = interpolate(s0, s1, alphas)
    assert out.shape == (7, 2, 5)
    assert torch.equal(out[0], s0) and torch.equal(out[4], s1)
    assert torch.allclose(out[2], (s0 + s1) / 2, atol=1e-15)
    for t, alpha in enumerate(alphas):
        assert torch.allclose(out[t], s0 + alpha * (s1 - s0), atol=1e-14)
    assert_positive_definite(from_state(out)[1])  # extrapolated states are still valid Gaussians
    assert torch.equal(interpolate(s0, s1, torch.tensor(alphas)), out)


def test_interpolate_covariance_baseline() -> None:
    mu0, mu1 = torch.tensor([[0.0, 0.5]]), torch.tensor([[0.4, -0.5]])
    cov0 = torch.tensor([[[0.04, 0.0], [0.0, 0.0004]]])  # thin, horizontal
    cov1 = torch.tensor([[[0.0004, 0.0], [0.0, 0.04]]])  # thin, vertical
    mu, cov = interpolate_covariance(mu0, cov0, mu1, cov1, [0.0, 0.5, 1.0, 2.0])
    assert mu.shape == (4, 1, 2) and cov.shape == (4, 1, 2, 2)
    assert (
        torch.equal(mu[0], mu0) and torch.equal(cov[0], cov0) and torch.equal(mu[2], mu1) and torch.equal(cov[2], cov1)
    )
    assert torch.allclose(mu[1], (mu0 + mu1) / 2) and torch.allclose(cov[1], (cov0 + cov1) / 2)
    assert_positive_definite(cov[:3])
    assert cov[3, 0, 0, 0] < 0  # extrapolating covariances leaves the PD cone ...
    states = interpolate(to_state(mu0, cov0), to_state(mu1, cov1), [0.0, 0.5, 1.0, 2.0])
    mu_s, cov_s = from_state(states)
    assert torch.allclose(mu_s, mu, atol=1e-6)  # ... the Cholesky state does not, and moves mu identically
    assert_positive_definite(cov_s)
    assert torch.allclose(cov_s[[0, 2]], cov[[0, 2]], atol=1e-6)


# --- gradients, dtypes, errors ---------------------------------------------------------------------------------------


def test_gradcheck_fit_gaussians() -> None:
    logits = torch.randn(1, 2, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.autograd.gradcheck(fit_gaussians, (logits.requires_grad_(),))


def test_gradcheck_render_heatmaps_and_state() -> None:
    gen = torch.Generator().manual_seed(4)
    mu = (torch.rand(1, 2, 2, dtype=torch.float64, generator=gen) - 0.5).requires_grad_()
    base = torch.tensor([[0.05, 0.01], [0.01, 0.03]], dtype=torch.float64)
    cov = (base + 0.01 * torch.rand(1, 2, 2, 2, dtype=torch.float64, generator=gen)).requires_grad_()
    assert torch.autograd.gradcheck(lambda m, c: render_heatmaps(m, c, 5, 6), (mu, cov))
    state = torch.tensor([[0.1, -0.2, 0.3, 0.05, -0.2]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: render_heatmaps(*from_state(s), 4, 3), (state,))
    assert torch.autograd.gradcheck(lambda m, c: to_state(m, c), (mu, cov))


def test_gradients_flow_from_heatmaps_to_logits_float32() -> None:
    logits = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(5), requires_grad=True)
    mu, cov = fit_gaussians(logits)
    heat = render_heatmaps(*from_state(to_state(mu, cov)), 16, 16)
    (heat * torch.linspace(0, 1, 16)).sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_float32_agrees_with_float64() -> None:
    logits = torch.randn(2, 4, 10, 14, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * 2
    mu64, cov64 = fit_gaussians(logits)
    mu32, cov32 = fit_gaussians(logits.float())
    assert mu32.dtype == torch.float32
    assert torch.allclose(mu32.double(), mu64, atol=1e-6) and torch.allclose(cov32.double(), cov64, atol=1e-6)
    heat64 = render_heatmaps(mu64, cov64, 20, 28)
    heat32 = render_heatmaps(mu32, cov32, 20, 28)
    assert heat32.dtype == torch.float32 and torch.allclose(heat32.double(), heat64, atol=1e-5)


def test_leading_dims_are_batched() -> None:
    logits = torch.randn(3, 2, 4, 6, 5, generator=torch.Generator().manual_seed(7))
    mu, cov = fit_gaussians(logits)
    assert mu.shape == (3, 2, 4, 2) and cov.shape == (3, 2, 4, 2, 2)
    mu_flat, cov_flat = fit_gaussians(logits.view(6, 4, 6, 5))
    assert torch.equal(mu.view(6, 4, 2), mu_flat) and torch.equal(cov.view(6, 4, 2, 2), cov_flat)
    assert render_heatmaps(mu, cov, 3, 2).shape == (3, 2, 4, 3, 2)
    assert interpolate(to_state(mu, cov), to_state(mu, cov), [0.5]).shape == (1, 3, 2, 4, 5)


def test_bad_input_errors_name_the_parameter() -> None:
    mu, cov = torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2)
    with pytest.raises(ValueError, match="part_logits"):
        fit_gaussians(torch.zeros(5))
    with pytest.raises(TypeError, match="part_logits"):
        fit_gaussians(torch.zeros(1, 1, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="cov"):
        render_heatmaps(mu, torch.zeros(2, 3, 3), 4, 4)
    with pytest.raises(ValueError, match="mu"):
        render_heatmaps(torch.zeros(3, 2), cov, 4, 4)
    with pytest.raises(ValueError, match="height"):
        render_heatmaps(mu, cov, 0, 4)
    with pytest.raises(ValueError, match="width"):
        norm_to_pixel(mu, 4, 2.5)
    with pytest.raises(ValueError, match="state"):
        from_state(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="alphas"):
        interpolate(torch.zeros(2, 5), torch.zeros(2, 5), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="state0"):
        interpolate(torch.zeros(2, 5), torch.zeros(3, 5), [0.5])
    with pytest.raises(TypeError, match="points"):
        pixel_to_norm(np.zeros((2, 2)), 4, 4)
