"""Fully convolutional (PatchGAN-style) discriminator: 3 stride-2 conv layers (64, 128, 256), InstanceNorm, LeakyReLU.

x: [B,channels,H,W] in [0,1] -> logits [B,1,H/8-1,W/8-1] (one real/fake logit per overlapping patch). Spectral norm on
every conv by default, as in the decoder. Losses are in `lmvid_lib.models.losses` (`discriminator_loss`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


class Discriminator(nn.Module):
    def __init__(self, channels: int, widths: tuple[int, ...] = (64, 128, 256), spectral_norm: bool = True) -> None:
        super().__init__()
        if channels < 1 or not widths:
            raise ValueError(f"Discriminator: channels must be >= 1 and widths non-empty, got {channels}, {widths}")

        def conv(cin: int, cout: int, stride: int) -> nn.Module:
            layer = nn.Conv2d(cin, cout, 4, stride=stride, padding=1)
            return _spectral_norm(layer) if spectral_norm else layer

        layers: list[nn.Module] = []
        previous = channels
        for i, width in enumerate(widths):
            layers.append(conv(previous, width, 2))
            if i > 0:  # no norm on the first layer: it would erase the input's absolute colour statistics
                layers.append(nn.InstanceNorm2d(width, affine=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            previous = width
        layers.append(conv(previous, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B,channels,H,W] -> patch logits [B,1,H/8-1,W/8-1]."""
        return self.net(x)
