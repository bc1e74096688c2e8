"""The U-Net shared by the pose and appearance encoders (paper appendix A).

Each down block is conv3x3-InstanceNorm-ReLU followed by a 2x average-pool; each up block is conv3x3-InstanceNorm-ReLU
followed by a 2x bilinear upsample and a skip concatenation with the down block of that resolution; a 3x3 conv head
maps to the output channels. With `n` down and `n_up` up blocks the output has resolution H / 2**(n - n_up).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvNormReLU(nn.Sequential):
    """conv3x3 -> InstanceNorm(affine) -> ReLU. x: [B,in,H,W] -> [B,out,H,W]."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            # No conv bias: the InstanceNorm right after removes any per-channel constant.
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """x: [B,in_channels,H,W] -> [B,out_channels,H/2**(len(widths)-n_up),W/2**(len(widths)-n_up)].

    Down block i has `widths[i]` filters and works at H/2**i; up block j works one level above the bottleneck it
    reads and has `widths[max(n-2-j, 0)]` filters (paper: 64,128,256,512 down, then 256,128,64 up).
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], out_channels: int, n_up: int) -> None:
        super().__init__()
        n = len(widths)
        if not 1 <= n_up <= n:
            raise ValueError(f"UNet: n_up must be in [1, {n}] for {n} down blocks, got {n_up}")
        self.down = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.down.append(ConvNormReLU(previous, width))
            previous = width
        self.up = nn.ModuleList()
        for j in range(n_up):
            width = widths[max(n - 2 - j, 0)]
            self.up.append(ConvNormReLU(previous, width))
            previous = width + widths[n - 1 - j]  # after the skip concatenation
        self.head = nn.Conv2d(previous, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)
        for block in self.up:
            x = block(x)
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = torch.cat([x, skip], dim=1)
        return self.head(x)
