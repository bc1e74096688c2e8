"""Video metrics (ssim + psnr of lmvid_lib.eval.metrics) on BAIR's test size against a per-frame skimage loop.

256 sequences x 28 predicted frames of 64x64x3 in [0,1], float32, CPU. Ours filters the SSIM moments with the
separable 11-tap Gaussian window as two matmuls with banded matrices, in chunks of frames; the alternatives, side by
side in the same run: skimage.metrics (structural_similarity with Wang et al.'s settings and peak_signal_noise_ratio)
frame by frame, and the same batched computation with the window as two 'valid' conv2d passes. All are checked
against skimage in float64.
Measured: experiments/log.yaml#bench-metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from benchmarks.common import best_time, verdict
from lmvid_lib.eval import metrics

SEQUENCES, STEPS, CHANNELS, SIZE = 256, 28, 3, 64
SPEED_TARGET = 4.0  # skimage loop time / ours
DIFFERENCE_TARGET = 1e-4  # max |SSIM difference| to skimage
T = TypeVar("T")


def _frames() -> tuple[torch.Tensor, torch.Tensor]:
    """(pred, target) [N,T,C,H,W]: smooth random targets and noisy, slightly blurred predictions."""
    gen = torch.Generator().manual_seed(0)
    shape = (SEQUENCES * STEPS, CHANNELS, SIZE, SIZE)
    target = F.avg_pool2d(torch.rand(shape, generator=gen), 5, stride=1, padding=2, count_include_pad=False)
    pred = F.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    pred = (pred + 0.05 * torch.randn(shape, generator=gen)).clamp(0, 1)
    return pred.reshape(SEQUENCES, STEPS, *shape[1:]), target.reshape(SEQUENCES, STEPS, *shape[1:])


def skimage_loop(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ssim, psnr) [N,T] with skimage, one frame at a time; pred, target [N,T,C,H,W] numpy."""
    ssim, psnr = np.empty(pred.shape[:2]), np.empty(pred.shape[:2])
    for i in range(pred.shape[0]):
        for j in range(pred.shape[1]):
            a, b = pred[i, j], target[i, j]
            ssim[i, j] = structural_similarity(
                a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0
            )
            psnr[i, j] = peak_signal_noise_ratio(b, a, data_range=1)
    return ssim, psnr


def _conv2d_ssim_frames(x: torch.Tensor, y: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """metrics._ssim_frames with the window as two single-channel 'valid' conv2d passes: [B,C,H,W] x 2 -> [B]."""
    b, c, h, w = x.shape
    x, y = x.reshape(-1, 1, h, w) - 0.5, y.reshape(-1, 1, h, w) - 0.5
    moments = torch.cat((x, y, x * y, torch.addcmul(x * x, y, y)))
    filtered = F.conv2d(F.conv2d(moments, taps.view(1, 1, -1, 1)), taps.view(1, 1, 1, -1))
    mx, my, mxy, mxx_yy = filtered.chunk(4)
    covariance, variances = mxy - mx * my, mxx_yy - mx * mx - my * my
    mx, my = mx + 0.5, my + 0.5
    c1, c2 = metrics.SSIM_K1**2, metrics.SSIM_K2**2
    ssim_map = (2 * mx * my + c1) * (2 * covariance + c2) / ((mx * mx + my * my + c1) * (variances + c2))
    return ssim_map.double().mean((1, 2, 3)).reshape(b, c).mean(1)


def conv2d_ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSIM [N,T] as ours, in the same chunks of frames, with conv2d instead of banded matmuls."""
    n, t, c, h, w = pred.shape
    taps = metrics.gaussian_band(2 * metrics.SSIM_RADIUS + 1, torch.float32, pred.device)[0]
    x, y = pred.reshape(n * t, c, h, w), target.reshape(n * t, c, h, w)
    step = max(1, metrics.CHUNK_VALUES // (c * h * w))
    with torch.no_grad():
        values = [_conv2d_ssim_frames(x[i : i + step], y[i : i + step], taps) for i in range(0, n * t, step)]
    return torch.cat(values).reshape(n, t)


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    """(seconds, result) of one call: the slow alternatives run once, and their result is the one compared."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    pred, target = _frames()
    skimage_s, (reference_ssim, reference_psnr) = _timed(
        lambda: skimage_loop(pred.double().numpy(), target.double().numpy())
    )
    conv_s, conv = _timed(lambda: (conv2d_ssim(pred, target), metrics.psnr(pred, target)))
    ours = metrics.ssim(pred, target), metrics.psnr(pred, target)
    ours_s = best_time(lambda: (metrics.ssim(pred, target), metrics.psnr(pred, target)), repeat=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared machine, ops split over busy cores wait for the slower one
    ours_one_thread_s = best_time(lambda: (metrics.ssim(pred, target), metrics.psnr(pred, target)), repeat=3)
    torch.set_num_threads(threads)

    print(
        f"ssim + psnr of {SEQUENCES} x {STEPS} frames {SIZE}x{SIZE}x{CHANNELS}, CPU, "
        f"{torch.get_num_threads()} threads; ours and conv2d on float32, "
        f"skimage on float64 (as fast as on float32 here; the reference for differences)"
    )
    print(f"{'':24}{'time':>10}{'skimage/this':>14}{'max |dSSIM|':>13}{'max |dPSNR|':>13}")
    for name, seconds, (ssim, psnr) in (
        ("ours (banded matmuls)", ours_s, ours),
        ("ours, 1 thread", ours_one_thread_s, ours),
        ("conv2d window", conv_s, conv),
        ("skimage loop", skimage_s, (reference_ssim, reference_psnr)),
    ):
        ssim_difference = np.abs(np.asarray(ssim) - reference_ssim).max()
        psnr_difference = np.abs(np.asarray(psnr) - reference_psnr).max()
        print(f"{name:24}{seconds:>9.2f}s{skimage_s / seconds:>13.2f}x{ssim_difference:>13.1e}{psnr_difference:>13.1e}")
    ours_difference = np.abs(ours[0].numpy() - reference_ssim).max()
    print(
        f"ours: {skimage_s / ours_s:.2f}x the skimage loop (target >= {SPEED_TARGET}x) "
        f"{verdict(skimage_s / ours_s, SPEED_TARGET)}; max |SSIM difference| {ours_difference:.1e} "
        f"(target <= {DIFFERENCE_TARGET:.0e}) {verdict(ours_difference, DIFFERENCE_TARGET, higher_is_better=False)}"
    )
