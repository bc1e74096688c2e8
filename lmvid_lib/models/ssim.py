"""SSIM's window and a differentiable SSIM: the one home of the constants that `eval.metrics.ssim` (the book's
metric) and the SSIM loss term (`models.losses.ssim_loss`) share, so that the two cannot drift apart."""

from __future__ import annotations

import torch

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # skimage's int(3.5 * sigma + 0.5): an 11x11 window
SSIM_K1, SSIM_K2 = 0.01, 0.03


def gaussian_band(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The 11-tap Gaussian window as a banded matrix [size - 10, size]: row i holds the window centred on pixel
    i + 5, so `band @ x` is the 'valid' filtering of x along that axis (exactly the pixels skimage averages)."""
    offsets = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    taps = taps / taps.sum()
    rows = size - 2 * SSIM_RADIUS
    band = torch.zeros(rows, size, dtype=torch.float64)
    for offset in range(2 * SSIM_RADIUS + 1):  # 11 diagonals
        band.diagonal(offset).copy_(taps[offset].expand(rows))
    return band.to(dtype=dtype, device=device)


def ssim_differentiable(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x, y [B,C,H,W] in [0,1], H and W at least 11 -> SSIM [B] in x's dtype, which autograd can follow:
    `eval.metrics.ssim`'s window, constants and averaging, written out of place (the loss term
    `LossConfig.lambda_ssim`); `eval.metrics.ssim` computes the same numbers in place, faster, for evaluation
    (tests/test_losses.py holds the two equal)."""
    band_h = gaussian_band(x.shape[-2], x.dtype, x.device)
    band_w = gaussian_band(x.shape[-1], x.dtype, x.device)
    xc, yc = x - 0.5, y.to(x.dtype) - 0.5  # centred, as in eval.metrics._ssim_frames: the (co)variances are unchanged
    moments = torch.stack([xc, yc, xc * yc, xc * xc + yc * yc])
    mx, my, mxy, mxx_yy = band_h @ (moments @ band_w.mT)
    contrast_structure = 2 * (mxy - mx * my) + SSIM_K2**2
    variances = mxx_yy - mx * mx - my * my + SSIM_K2**2
    mx, my = mx + 0.5, my + 0.5
    luminance = (2 * mx * my + SSIM_K1**2) / (mx * mx + my * my + SSIM_K1**2)
    return (luminance * contrast_structure / variances).mean((2, 3)).mean(1)
