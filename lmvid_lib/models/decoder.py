"""Decoders from landmarks (mu, Sigma) and appearance vectors to an image; `spade` (paper) and `concat` (Table 1).

Both share one schedule: block i works at min(start * 2**i, max) with `widths[i]` channels, where `start` and `max`
are `ModelConfig.decoder_resolution` and `decoder_max_resolution`; if the last block is below the image size its
features are bilinearly upsampled before the output conv (cheap CPU profiles decode at low resolution). Heatmaps
(Eq. 5) are rendered directly at every block's resolution from (mu, Sigma) rather than resized.

- `spade`: every block is a SPADE residual block (appendix A: 256, 256, 128, 64 then 3 out). `spade_condition` says
  what modulates the normalisation at each scale and what the decoder's input is:
  `heatmaps` (paper Sec. 2.2 and the authors' SPADE generator): the heatmaps alone modulate; the appearance enters
  as the input, the projected appearance map at the start resolution (image / 8 at paper sizes).
  `heatmaps_appearance` (this project's first wiring): [heatmaps ; projected appearance] is both the input and the
  modulation at every scale.
- `concat`: [heatmaps ; projected appearance] at the start resolution are plain input channels; the same residual
  blocks use ordinary affine InstanceNorm, so only the conditioning mechanism differs from `spade`.
- `scene` (ours, beyond the paper, which names the missing background path as its limit in Sec. 3.2 and 5): the
  `spade` blocks (heatmaps_appearance wiring) also read features of a conditioning frame, the scene, at every scale,
  and the output is a per-pixel blend of the drawn foreground with that frame: what no landmark covers (background,
  static objects) comes from the scene, the landmarks place the subject. The conditional generator of Jakab et al.
  (2018) and the reference-frame decoder of Struct-VRNN (Minderer et al., 2019) read such a frame too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmvid_lib import landmarks
from lmvid_lib.models.appearance import project_appearance
from lmvid_lib.models.spade import SPADEResBlock, conv


def block_resolutions(start: int, max_resolution: int, n_blocks: int) -> list[int]:
    """Resolution of each decoder block: start, 2*start, ... capped at max_resolution."""
    return [min(start * 2**i, max_resolution) for i in range(n_blocks)]


def conditioning(mu: torch.Tensor, cov: torch.Tensor, appearance: torch.Tensor, size: int) -> torch.Tensor:
    """[heatmaps ; projected appearance] at size x size. mu: [B,K,2]; cov: [B,K,2,2]; appearance: [B,K,C].

    Returns [B,K+C,size,size] in the dtype of `appearance`.
    """
    heatmaps = landmarks.render_heatmaps(mu, cov, size, size).to(appearance.dtype)
    return torch.cat([heatmaps, project_appearance(heatmaps, appearance)], dim=1)


class _ToImage(nn.Module):
    """Features [B,C,h,w] -> image [B,channels,H,W] in [0,1]: LeakyReLU, bilinear upsample if h < H, conv, sigmoid."""

    def __init__(self, in_channels: int, channels: int, image_size: int, spectral_norm: bool) -> None:
        super().__init__()
        self.image_size = image_size
        self.conv = conv(in_channels, channels, 3, spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(x, 0.2)
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return torch.sigmoid(self.conv(x))


SPADE_CONDITIONS = ("heatmaps", "heatmaps_appearance")


def _spade_stack(
    input_channels: int, cond_channels: int, widths: tuple[int, ...], hidden: int, spectral_norm: bool
) -> tuple[nn.Module, nn.ModuleList]:
    """(stem conv input_channels -> widths[0], one SPADE residual block per width, conditioned on cond_channels)."""
    stem = conv(input_channels, widths[0], 3, spectral_norm)  # first: the seeded initialisation order of the runs
    blocks, previous = nn.ModuleList(), widths[0]
    for width in widths:
        blocks.append(SPADEResBlock(previous, width, cond_channels, hidden, spectral_norm))
        previous = width
    return stem, blocks


def _run_spade(
    x: torch.Tensor, blocks: nn.ModuleList, resolutions: list[int], conds: dict[int, torch.Tensor]
) -> torch.Tensor:
    """x through `blocks`, block i at resolutions[i] (nearest upsampling between), conditioned on conds[size]."""
    for block, size in zip(blocks, resolutions):
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="nearest")
        x = block(x, conds[size])
    return x


class SpadeDecoder(nn.Module):
    """(mu [B,K,2], cov [B,K,2,2], appearance [B,K,C]) -> image [B,channels,image_size,image_size] in [0,1].

    `condition`: 'heatmaps' (paper: SPADE sees the K heatmaps, the input is the C-channel projected appearance) or
    'heatmaps_appearance' (input and SPADE both see the K+C channels of `conditioning`).
    """

    def __init__(
        self,
        channels: int,
        n_landmarks: int,
        appearance_channels: int,
        image_size: int,
        widths: tuple[int, ...],
        start_resolution: int,
        max_resolution: int,
        hidden: int,
        spectral_norm: bool,
        condition: str,
    ) -> None:
        super().__init__()
        if condition not in SPADE_CONDITIONS:
            raise ValueError(f"SpadeDecoder: condition must be one of {SPADE_CONDITIONS}, got {condition!r}")
        self.condition = condition
        paper = condition == "heatmaps"
        cond_channels = n_landmarks if paper else n_landmarks + appearance_channels
        input_channels = appearance_channels if paper else n_landmarks + appearance_channels
        self.resolutions = block_resolutions(start_resolution, max_resolution, len(widths))
        self.stem, self.blocks = _spade_stack(input_channels, cond_channels, widths, hidden, spectral_norm)
        self.to_image = _ToImage(widths[-1], channels, image_size, spectral_norm)

    def forward(self, mu: torch.Tensor, cov: torch.Tensor, appearance: torch.Tensor) -> torch.Tensor:
        start = self.resolutions[0]
        if self.condition == "heatmaps":
            conds = {
                size: landmarks.render_heatmaps(mu, cov, size, size).to(appearance.dtype)
                for size in set(self.resolutions)
            }
            x = self.stem(project_appearance(conds[start], appearance))
        else:
            conds = {size: conditioning(mu, cov, appearance, size) for size in set(self.resolutions)}
            x = self.stem(conds[start])
        return self.to_image(_run_spade(x, self.blocks, self.resolutions, conds))


class _ResBlock(nn.Module):
    """Plain pre-activation residual block (affine InstanceNorm): [B,in,H,W] -> [B,out,H,W]."""

    def __init__(self, in_channels: int, out_channels: int, spectral_norm: bool) -> None:
        super().__init__()
        middle = min(in_channels, out_channels)
        self.norm0 = nn.InstanceNorm2d(in_channels, affine=True)
        self.conv0 = conv(in_channels, middle, 3, spectral_norm)
        self.norm1 = nn.InstanceNorm2d(middle, affine=True)
        self.conv1 = conv(middle, out_channels, 3, spectral_norm)
        self.shortcut = (
            conv(in_channels, out_channels, 1, spectral_norm, bias=False)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = self.conv0(F.leaky_relu(self.norm0(x), 0.2))
        dx = self.conv1(F.leaky_relu(self.norm1(dx), 0.2))
        return self.shortcut(x) + dx


class ConcatDecoder(nn.Module):
    """Same signature as SpadeDecoder; the conditioning enters only as input channels at the start resolution."""

    def __init__(
        self,
        channels: int,
        n_landmarks: int,
        appearance_channels: int,
        image_size: int,
        widths: tuple[int, ...],
        start_resolution: int,
        max_resolution: int,
        spectral_norm: bool,
    ) -> None:
        super().__init__()
        self.resolutions = block_resolutions(start_resolution, max_resolution, len(widths))
        self.stem = conv(n_landmarks + appearance_channels, widths[0], 3, spectral_norm)
        self.blocks = nn.ModuleList()
        previous = widths[0]
        for width in widths:
            self.blocks.append(_ResBlock(previous, width, spectral_norm))
            previous = width
        self.to_image = _ToImage(previous, channels, image_size, spectral_norm)

    def forward(self, mu: torch.Tensor, cov: torch.Tensor, appearance: torch.Tensor) -> torch.Tensor:
        x = self.stem(conditioning(mu, cov, appearance, self.resolutions[0]))
        for block, size in zip(self.blocks, self.resolutions):
            if x.shape[-1] != size:
                x = F.interpolate(x, size=(size, size), mode="nearest")
            x = block(x)
        return self.to_image(x)


class _SceneEncoder(nn.Module):
    """Scene frame [B,channels,S,S] -> {resolution: features [B,width,r,r]} for S and each of `resolutions`.

    A 3x3 conv at S, then one stride-2 conv per halving down to the smallest resolution."""

    def __init__(self, channels: int, width: int, image_size: int, resolutions: list[int], spectral_norm: bool) -> None:
        super().__init__()
        self.sizes = [image_size]
        while self.sizes[-1] > min(resolutions):
            self.sizes.append(self.sizes[-1] // 2)
        self.stem = conv(channels, width, 3, spectral_norm)
        self.down = nn.ModuleList(_strided(width, spectral_norm) for _ in self.sizes[1:])

    def forward(self, scene: torch.Tensor) -> dict[int, torch.Tensor]:
        x = F.leaky_relu(self.stem(scene), 0.2)
        features = {self.sizes[0]: x}
        for size, down in zip(self.sizes[1:], self.down):
            x = F.leaky_relu(down(x), 0.2)
            features[size] = x
        return features


def _strided(width: int, spectral_norm: bool) -> nn.Module:
    layer = nn.Conv2d(width, width, 3, stride=2, padding=1)
    return torch.nn.utils.parametrizations.spectral_norm(layer) if spectral_norm else layer


MASK_BIAS = -2.0  # initial logit of the scene decoder's drawn layer: experiments/log.yaml#scene-decoder
WARP_SHARPNESS = 4  # heatmap power of the warp's weights: each pixel follows mostly its nearest landmark
WARP_BACKGROUND = 0.01  # weight of "does not move" against the landmarks': far from every landmark nothing moves


def landmark_warp(scene: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor, scene_mu: torch.Tensor) -> torch.Tensor:
    """The scene [B,C,S,S] with each pixel moved as its landmarks moved, from the scene's means scene_mu [B,K,2] to
    the target's mu [B,K,2] (cov [B,K,2,2]: the target's): pixel x samples the scene at x + sum_k w_k(x) (scene_mu_k -
    mu_k), w_k the target's heatmaps ** WARP_SHARPNESS normalised against WARP_BACKGROUND (a piecewise translation,
    after the first-order motion model of Siarohin et al., 2019, with translations only)."""
    size = scene.shape[-1]
    heat = landmarks.render_heatmaps(mu, cov, size, size).to(scene.dtype).pow(WARP_SHARPNESS)  # [B,K,S,S]
    weights = heat / (heat.sum(1, keepdim=True) + WARP_BACKGROUND)
    shift = torch.einsum("bkhw,bkc->bhwc", weights, (scene_mu - mu).to(scene.dtype))
    axis = landmarks.pixel_centres(size, dtype=scene.dtype, device=scene.device)
    grid = torch.stack(torch.broadcast_tensors(axis[None, :], axis[:, None]), -1)  # [S,S,2] (x, y)
    return F.grid_sample(scene, grid + shift, mode="bilinear", padding_mode="border", align_corners=False)


class SceneDecoder(nn.Module):
    """(mu [B,K,2], cov [B,K,2,2], appearance [B,K,C], scene [B,channels,S,S] in [0,1]) -> image [B,channels,S,S].

    The SPADE blocks of `SpadeDecoder` (heatmaps_appearance wiring) with the scene encoder's features appended to the
    conditioning at every scale; at full resolution a conv over [upsampled features ; scene features] gives the
    foreground colour and a blend mask m, and the image is m * foreground + (1 - m) * scene. With `warp` (and the
    scene's own landmark means `scene_mu` [B,K,2]) the scene encoder also reads `landmark_warp` of the scene, and
    the image is a per-pixel softmax blend of the drawn foreground, the scene and the warped scene.
    """

    def __init__(
        self,
        channels: int,
        n_landmarks: int,
        appearance_channels: int,
        image_size: int,
        widths: tuple[int, ...],
        start_resolution: int,
        max_resolution: int,
        hidden: int,
        spectral_norm: bool,
        scene_width: int,
        warp: bool = False,
    ) -> None:
        super().__init__()
        self.image_size, self.warp = image_size, warp
        self.resolutions = block_resolutions(start_resolution, max_resolution, len(widths))
        layers = 2 * channels if warp else channels
        self.scene_encoder = _SceneEncoder(layers, scene_width, image_size, self.resolutions, spectral_norm)
        cond_channels = n_landmarks + appearance_channels + scene_width
        self.stem, self.blocks = _spade_stack(cond_channels, cond_channels, widths, hidden, spectral_norm)
        self.channels = channels
        self.head = conv(widths[-1] + scene_width, channels + (3 if warp else 1), 3, spectral_norm)
        with torch.no_grad():  # start close to the scene (drawn share ~ 0.12): early steps refine it, not a grey frame
            self.head.bias[channels] = MASK_BIAS

    def forward(
        self,
        mu: torch.Tensor,
        cov: torch.Tensor,
        appearance: torch.Tensor,
        scene: torch.Tensor | None,
        scene_mu: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if scene is None or scene.shape[0] != mu.shape[0] or scene.shape[-1] != self.image_size:
            raise ValueError(
                f"SceneDecoder: scene must be a [B={mu.shape[0]},channels,{self.image_size},{self.image_size}] frame, "
                f"got {None if scene is None else tuple(scene.shape)}"
            )
        scene = scene.to(appearance.dtype)
        layers = [scene]
        if self.warp:
            if scene_mu is None:
                raise ValueError("SceneDecoder(warp=True) needs scene_mu, the scene's landmark means [B,K,2]")
            layers.append(landmark_warp(scene, mu, cov, scene_mu))
        features = self.scene_encoder(torch.cat(layers, 1))
        conds = {
            size: torch.cat([conditioning(mu, cov, appearance, size), features[size]], dim=1)
            for size in set(self.resolutions)
        }
        x = _run_spade(self.stem(conds[self.resolutions[0]]), self.blocks, self.resolutions, conds)
        x = F.leaky_relu(x, 0.2)
        if x.shape[-1] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        out = self.head(torch.cat([x, features[self.image_size]], dim=1))
        foreground = torch.sigmoid(out[:, : self.channels])
        if not self.warp:
            mask = torch.sigmoid(out[:, self.channels :])
            return mask * foreground + (1 - mask) * scene
        share = torch.softmax(out[:, self.channels :], dim=1)  # [B,3,S,S]: drawn, scene, warped scene
        return share[:, :1] * foreground + share[:, 1:2] * scene + share[:, 2:] * layers[1]
