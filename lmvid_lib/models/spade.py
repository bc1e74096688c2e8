"""SPADE (Park et al., 2019) normalisation and residual blocks, conditioned on rendered landmark heatmaps.

The conditioning map at each scale is the K heatmaps of Eq. 5 (paper), or [heatmaps ; projected appearance (C
channels)] (`ModelConfig.spade_condition`, see `models/decoder.py`); the blocks take any channel count. One shared
conv embedding of it per residual block feeds the gamma/beta convs of every SPADE layer in that block (GauGAN computes
the embedding once per SPADE layer; sharing it per block gives the same conditioning at a third of that cost).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


def conv(in_channels: int, out_channels: int, kernel_size: int, spectral_norm: bool, bias: bool = True) -> nn.Module:
    """A same-padding conv, spectrally normalised when `spectral_norm` (appendix A: every decoder conv)."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
    return _spectral_norm(layer) if spectral_norm else layer


class SPADE(nn.Module):
    """x: [B,C,H,W], embedding: [B,hidden,H,W] -> InstanceNorm(x) * (1 + gamma) + beta, gamma/beta from embedding."""

    def __init__(self, channels: int, hidden: int, spectral_norm: bool) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.gamma_beta = conv(hidden, 2 * channels, 3, spectral_norm)

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.gamma_beta(embedding).chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """x: [B,in,H,W], cond: [B,cond_channels,H,W] -> [B,out,H,W]; learned 1x1 shortcut when in != out."""

    def __init__(
        self, in_channels: int, out_channels: int, cond_channels: int, hidden: int, spectral_norm: bool
    ) -> None:
        super().__init__()
        middle = min(in_channels, out_channels)
        self.embed = conv(cond_channels, hidden, 3, spectral_norm)
        self.norm0 = SPADE(in_channels, hidden, spectral_norm)
        self.conv0 = conv(in_channels, middle, 3, spectral_norm)
        self.norm1 = SPADE(middle, hidden, spectral_norm)
        self.conv1 = conv(middle, out_channels, 3, spectral_norm)
        self.learned_shortcut = in_channels != out_channels
        if self.learned_shortcut:
            self.norm_s = SPADE(in_channels, hidden, spectral_norm)
            self.conv_s = conv(in_channels, out_channels, 1, spectral_norm, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        embedding = F.relu(self.embed(cond))
        shortcut = self.conv_s(self.norm_s(x, embedding)) if self.learned_shortcut else x
        dx = self.conv0(F.leaky_relu(self.norm0(x, embedding), 0.2))
        dx = self.conv1(F.leaky_relu(self.norm1(dx, embedding), 0.2))
        return shortcut + dx
