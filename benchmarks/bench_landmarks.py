"""Landmark bottleneck (fit_gaussians + render_heatmaps): ours vs a materialised [B,K,H,W,2] + torch.linalg.inv version.

The paper's setting: K = 30 part maps of 64x64 fitted, heatmaps rendered at 128x128, batch 16, float32 on CPU.
Ours keeps every temporary at most [B,K,H,W] (marginals, matrix-vector moments, a closed-form 2x2 Cholesky); the
naive version is the textbook one: a pixel-coordinate grid, a [B,K,H,W,2] difference tensor, einsum moments and
torch.linalg.inv. Both are checked to agree before timing.
Measured: experiments/log.yaml#bench-landmarks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from benchmarks.common import best_time, peak_cpu_bytes, verdict
from lmvid_lib.landmarks import COV_EPS, fit_gaussians, pixel_centres, render_heatmaps

BATCH, PARTS, FIT_SIZE, RENDER_SIZE = 16, 30, 64, 128
SPEED_TARGET = 1.5  # naive time / ours
MEMORY_TARGET = 2.0  # naive peak bytes / ours


def _grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel-centre coordinates [H, W, 2] (x, y)."""
    ys = pixel_centres(height, dtype=like.dtype, device=like.device)
    xs = pixel_centres(width, dtype=like.dtype, device=like.device)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)


def naive_fit_gaussians(part_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[B,K,H,W] -> mu [B,K,2], cov [B,K,2,2] through a [B,K,H,W,2] difference tensor."""
    height, width = part_logits.shape[-2:]
    probs = part_logits.flatten(-2).softmax(-1).view_as(part_logits)
    grid = _grid(height, width, part_logits)
    mu = torch.einsum("bkhw,hwc->bkc", probs, grid)
    diff = grid - mu[:, :, None, None, :]
    cov = torch.einsum("bkhw,bkhwi,bkhwj->bkij", probs, diff, diff)
    return mu, cov + COV_EPS * torch.eye(2, dtype=cov.dtype, device=cov.device)


def naive_render_heatmaps(mu: torch.Tensor, cov: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """mu [B,K,2], cov [B,K,2,2] -> [B,K,H,W] with torch.linalg.inv and a [B,K,H,W,2] difference tensor."""
    diff = _grid(height, width, mu) - mu[:, :, None, None, :]
    mahalanobis = torch.einsum("bkhwi,bkij,bkhwj->bkhw", diff, torch.linalg.inv(cov), diff)
    return 1 / (1 + mahalanobis)


def _pipelines(
    fit: Callable, render: Callable, logits: torch.Tensor, weights: torch.Tensor
) -> tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]:
    """(forward without autograd -> heatmaps, forward + backward -> gradient of a weighted heatmap sum wrt logits)."""

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return render(*fit(logits), RENDER_SIZE, RENDER_SIZE)

    def forward_backward() -> torch.Tensor:
        source = logits.detach().requires_grad_()
        (render(*fit(source), RENDER_SIZE, RENDER_SIZE) * weights).sum().backward()
        return source.grad

    return forward, forward_backward


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(BATCH, PARTS, FIT_SIZE, FIT_SIZE, generator=gen) * 3
    weights = torch.rand(RENDER_SIZE, RENDER_SIZE, generator=gen)
    ours = _pipelines(fit_gaussians, render_heatmaps, logits, weights)
    naive = _pipelines(naive_fit_gaussians, naive_render_heatmaps, logits, weights)

    heat_difference = (ours[0]() - naive[0]()).abs().max().item()
    naive_grad = naive[1]()
    grad_difference = ((ours[1]() - naive_grad).abs().max() / naive_grad.abs().max()).item()
    print(
        f"B={BATCH} K={PARTS} fit {FIT_SIZE}x{FIT_SIZE} -> render {RENDER_SIZE}x{RENDER_SIZE}, float32, CPU; "
        f"max |heatmap difference| {heat_difference:.1e}, max logit-gradient difference {grad_difference:.1e} "
        f"(relative to the largest)"
    )

    rows = []
    for label, index in (("forward", 0), ("forward+backward", 1)):
        ours_s, naive_s = best_time(ours[index], repeat=7), best_time(naive[index], repeat=7)
        ours_b, naive_b = peak_cpu_bytes(ours[index]), peak_cpu_bytes(naive[index])
        rows.append(
            (f"{label} time", f"{ours_s * 1e3:.1f} ms", f"{naive_s * 1e3:.1f} ms", naive_s / ours_s, SPEED_TARGET)
        )
        rows.append(
            (
                f"{label} peak memory",
                f"{ours_b / 2**20:.0f} MiB",
                f"{naive_b / 2**20:.0f} MiB",
                naive_b / ours_b,
                MEMORY_TARGET,
            )
        )
    print(f"{'':26}{'ours':>12}{'naive':>12}{'naive/ours':>12}{'target':>9}")
    for name, ours_text, naive_text, ratio, target in rows:
        print(
            f"{name:26}{ours_text:>12}{naive_text:>12}{ratio:>11.2f}x{'>=' + str(target):>9} {verdict(ratio, target)}"
        )
