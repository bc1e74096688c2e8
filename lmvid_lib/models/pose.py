"""Pose encoder: a U-Net to K part-map logits, summarised by 2D Gaussians (mu, Sigma) via `landmarks.fit_gaussians`."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lmvid_lib import landmarks
from lmvid_lib.models.unet import UNet


class PoseOutput(NamedTuple):
    """part_logits: [B,K,h,w] (h = H/2); mu: [B,K,2] in [-1,1], x right, y down; cov: [B,K,2,2]."""

    part_logits: torch.Tensor
    mu: torch.Tensor
    cov: torch.Tensor


class PoseEncoder(nn.Module):
    """x: [B,channels,H,W] in [0,1] -> PoseOutput. len(widths) down blocks, len(widths)-1 up blocks (appendix A)."""

    def __init__(self, channels: int, n_landmarks: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.unet = UNet(channels, tuple(widths), n_landmarks, n_up=len(widths) - 1)

    def forward(self, x: torch.Tensor) -> PoseOutput:
        logits = self.unet(x)
        # Moments are fitted in float32: second moments of a bf16 softmax lose the small covariances.
        mu, cov = landmarks.fit_gaussians(logits.float())
        return PoseOutput(logits, mu, cov)
