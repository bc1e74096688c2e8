"""Augmentation: batched torch TPS warp + colour jitter vs OpenCV's per-sample TPS (16x3x128x128, 25 control points).

Measured side by side in one process on the same CPU and the same control points:
  * ours: `tps_warp_points` (one solve per sample, TPS evaluated every `coarse_step` pixels, upsampled, grid_sample)
    + `color_jitter`;
  * OpenCV: `cv2.createThinPlateSplineShapeTransformer` per sample (the reference implementation's choice), with
    estimateTransformation(dst, src) so that warpImage's inverse map sends output pixel dst_i to input pixel src_i;
    colour jitter by kornia's `ColorJitter` (global RNG reseeded around the call, the price of determinism there);
  * the warp's deviation from OpenCV's, in pixels, away from the borders: both warp an image whose channels hold
    each pixel's own (x, y) coordinates; bilinear sampling reproduces a linear image exactly, so the warped image *is*
    the sampling map (this checks OpenCV's direction and pixel-centre conventions, not only its spline).
Target: ours >= 10x faster than OpenCV. The share of a training step that augmentation takes (target < 5%) is measured
by `benchmarks/bench_models.py` with each profile's model.
Measured: experiments/log.yaml#tps-speed-inplace.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.common import best_time, verdict
from lmvid_lib.data.augment import AugmentConfig, color_jitter, random_tps_points, tps_warp_points
from lmvid_lib.landmarks import norm_to_pixel

BATCH, CHANNELS, SIZE = 16, 3, 128
BORDER = 16  # pixels left out of the deviation: border handling differs (OpenCV: constant, ours: replicate)
DEVIATION_TARGET = 0.5  # pixels
SPEEDUP_TARGET = 10.0


def _to_pixels(points: torch.Tensor, size: int) -> np.ndarray:
    """Normalised [N,2] -> float32 [1,N,2] 0-based pixel coordinates (OpenCV shape-transformer layout)."""
    return norm_to_pixel(points, size, size).numpy().astype(np.float32)[None]


def opencv_tps_warp(images: list[np.ndarray], src: torch.Tensor, dst: torch.Tensor, size: int) -> list[np.ndarray]:
    """Warp HxWxC images one by one with OpenCV's TPS so content at src[b] moves to dst[b] (normalised [B,N,2])."""
    import cv2

    out = []
    matches = [cv2.DMatch(i, i, 0) for i in range(src.shape[1])]
    for b, image in enumerate(images):
        tps = cv2.createThinPlateSplineShapeTransformer()
        # warpImage samples the input at T(p) for each output pixel p, with T estimated from (first -> second) shape.
        tps.estimateTransformation(_to_pixels(dst[b], size), _to_pixels(src[b], size), matches)
        out.append(tps.warpImage(image, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return out


def warp_deviation(src: torch.Tensor, dst: torch.Tensor, coarse_step: int) -> float:
    """Max |our sampling map - OpenCV's| in pixels over the interior, measured through warped coordinate images."""
    b = src.shape[0]
    xs, ys = np.meshgrid(np.arange(SIZE, dtype=np.float32), np.arange(SIZE, dtype=np.float32), indexing="xy")
    coords = np.stack([xs, ys, np.zeros_like(xs)], -1)  # [H,W,3]: each pixel's own x, y (and a pad channel)
    theirs = np.stack(opencv_tps_warp([coords] * b, src, dst, SIZE))[..., :2]
    x = torch.from_numpy(coords).permute(2, 0, 1).expand(b, -1, -1, -1).contiguous()
    ours = tps_warp_points(x, src, dst, coarse_step).permute(0, 2, 3, 1)[..., :2].numpy()
    inner = (slice(None), slice(BORDER, SIZE - BORDER), slice(BORDER, SIZE - BORDER))
    return float(np.abs(ours[inner] - theirs[inner]).max())


def kornia_jitter(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    import kornia.augmentation as K

    jitter = K.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue, p=1.0)
    seed = int(torch.randint(2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return jitter(x)


def main() -> None:
    cfg = AugmentConfig()
    g = torch.Generator().manual_seed(0)
    low = torch.rand(BATCH, CHANNELS, 8, 8, generator=g)
    x = torch.nn.functional.interpolate(low, size=(SIZE, SIZE), mode="bicubic", align_corners=True).clamp(0, 1)
    src, dst = random_tps_points(BATCH, cfg, g)
    images = [np.ascontiguousarray(img.permute(1, 2, 0).numpy()) for img in x]

    t_ours_tps = best_time(lambda: tps_warp_points(x, src, dst, cfg.coarse_step, cfg.padding))
    t_ours_jit = best_time(lambda: color_jitter(x, cfg, g))
    t_cv_tps = best_time(lambda: opencv_tps_warp(images, src, dst, SIZE), repeat=3)
    t_kornia_jit = best_time(lambda: kornia_jitter(x, cfg, g), repeat=3)
    t_ours = t_ours_tps + t_ours_jit
    t_ref = t_cv_tps + t_kornia_jit
    print(
        f"{BATCH}x{CHANNELS}x{SIZE}x{SIZE}, {src.shape[1]} control points, coarse_step={cfg.coarse_step}, "
        f"{torch.get_num_threads()} torch threads"
    )
    print(f"{'':28s}{'ours ms':>10s}{'reference ms':>14s}{'speed-up':>10s}")
    print(f"{'TPS warp (vs OpenCV)':28s}{t_ours_tps * 1e3:10.1f}{t_cv_tps * 1e3:14.1f}{t_cv_tps / t_ours_tps:9.1f}x")
    print(
        f"{'colour jitter (vs kornia)':28s}{t_ours_jit * 1e3:10.1f}{t_kornia_jit * 1e3:14.1f}"
        f"{t_kornia_jit / t_ours_jit:9.1f}x"
    )
    ratio = t_ref / t_ours
    print(
        f"{'TPS + jitter':28s}{t_ours * 1e3:10.1f}{t_ref * 1e3:14.1f}{ratio:9.1f}x   "
        f"target >= {SPEEDUP_TARGET:.0f}x: {verdict(ratio, SPEEDUP_TARGET)}"
    )

    for step, label in ((1, "dense (coarse_step=1)"), (cfg.coarse_step, f"coarse_step={cfg.coarse_step}")):
        dev = warp_deviation(src, dst, step)
        print(
            f"max deviation from OpenCV's warp, {label}, {BORDER}px border excluded: {dev:.3f} px   "
            f"target < {DEVIATION_TARGET} px: {verdict(dev, DEVIATION_TARGET, higher_is_better=False)}"
        )
