"""Appearance: per-landmark vectors pooled with the part maps (paper Eq. 1), and their projection back onto heatmaps.

Both directions are single einsums (batched matmuls over space), so the B x K x C x H x W broadcast product is never
materialised; `benchmarks/bench_models.py` measures the time and peak memory against that naive broadcast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmvid_lib.models.unet import UNet


def pool_appearance(part_probs: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Eq. 1: a_k = sum_{h,w} p_k(h,w) F(h,w). part_probs: [B,K,h,w] (each map sums to 1); features: [B,C,h,w].

    Returns [B,K,C].
    """
    if part_probs.shape[-2:] != features.shape[-2:] or part_probs.shape[0] != features.shape[0]:
        raise ValueError(
            f"pool_appearance: part maps {tuple(part_probs.shape)} and features "
            f"{tuple(features.shape)} differ in batch or spatial size"
        )
    return torch.einsum("bkhw,bchw->bkc", part_probs, features)


def project_appearance(heatmaps: torch.Tensor, appearance: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Paint appearance vectors onto the image plane: sum_k H_k a_k / sum_k H_k. heatmaps: [B,K,h,w] >= 0;
    appearance: [B,K,C]. Returns [B,C,h,w].

    Normalising by the heatmap sum makes every pixel a convex combination of the vectors of nearby landmarks (so far
    away background still gets the appearance of its closest parts); the heatmaps themselves say how close.
    """
    painted = torch.einsum("bkhw,bkc->bchw", heatmaps, appearance)
    return painted / (heatmaps.sum(dim=1, keepdim=True) + eps)


class AppearanceEncoder(nn.Module):
    """Small U-Net (1 down, 1 up, skips): x: [B,channels,H,W] -> feature map [B,C,H,W]."""

    def __init__(self, channels: int, appearance_channels: int, width: int) -> None:
        super().__init__()
        self.unet = UNet(channels, (width,), appearance_channels, n_up=1)

    def forward(self, x: torch.Tensor, part_probs: torch.Tensor) -> torch.Tensor:
        """x: [B,channels,H,W]; part_probs: [B,K,h,w] spatial softmax. Returns appearance vectors [B,K,C]."""
        features = self.unet(x)
        if features.shape[-2:] != part_probs.shape[-2:]:
            # Averaging features over each part-map cell equals pooling with the part map upsampled by repetition.
            features = F.adaptive_avg_pool2d(features, part_probs.shape[-2:])
        return pool_appearance(part_probs.to(features.dtype), features)
