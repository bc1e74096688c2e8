"""The pose/appearance factorization model (paper Sec. 3.1): pose encoder, appearance encoder (Eq. 1), decoder.

Paper sizes (appendix A) and wiring (Sec. 2.2) are `ModelConfig(image_size=128, pose_widths=(64, 128, 256, 512),
decoder_widths=(256, 256, 128, 64), decoder_resolution=16, decoder_max_resolution=None, spade_hidden=128,
spade_condition="heatmaps")`; the defaults below are CPU-sized (64x64 images, a decoder working at 8 -> 16 -> 32 and
upsampling to 64), so a training step at batch 16 takes about a second on 2 cores (see `benchmarks/bench_models.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmvid_lib import landmarks
from lmvid_lib.config import check_int, is_int
from lmvid_lib.models.appearance import AppearanceEncoder
from lmvid_lib.models.decoder import SPADE_CONDITIONS, ConcatDecoder, SceneDecoder, SpadeDecoder
from lmvid_lib.models.pose import PoseEncoder, PoseOutput

DECODERS = ("spade", "concat", "scene")


@dataclass
class ModelConfig:
    """Sizes of the factorization model. Lists (from yaml) are accepted for the width tuples."""

    image_size: int = 64
    channels: int = 3  # 3 (RGB) or 1 (grayscale)
    n_landmarks: int = 10  # K
    appearance_channels: int = 32  # C of Eq. 1: length of each landmark's appearance vector
    pose_widths: tuple[int, ...] = (32, 64, 128, 256)  # U-Net down-block filters (paper: 64, 128, 256, 512)
    appearance_width: int = 32  # filters of the 1-down/1-up appearance U-Net
    decoder: str = "spade"  # 'spade' (paper), 'concat' (Table 1 baseline) or 'scene' (ours: also reads a frame)
    decoder_widths: tuple[int, ...] = (128, 128, 64)  # paper: 256, 256, 128, 64 (then 3 out)
    decoder_resolution: int = 8  # resolution of the first decoder block; each next block doubles it ...
    decoder_max_resolution: int | None = 32  # ... up to this (None = image_size), then bilinear upsampling to the image
    spade_hidden: int = 32  # channels of the SPADE conditioning embedding (GauGAN: 128)
    # What modulates SPADE: 'heatmaps' (paper Sec. 2.2; appearance is the decoder input) or 'heatmaps_appearance'.
    # The default is the wiring of runs saved before this field existed, so their configs rebuild their model.
    spade_condition: str = "heatmaps_appearance"
    spectral_norm: bool = True  # on every decoder conv (appendix A)
    scene_width: int = 16  # decoder 'scene': channels of its scene-frame features at every scale
    scene_warp: bool = False  # decoder 'scene': also read the scene warped as its landmarks moved (landmark_warp)

    def __post_init__(self) -> None:
        self.pose_widths = tuple(self.pose_widths)
        self.decoder_widths = tuple(self.decoder_widths)
        validate_model_config(self)


def validate_model_config(cfg: ModelConfig) -> None:
    """Raise ValueError naming the offending ModelConfig parameter."""
    for name in (
        "image_size",
        "n_landmarks",
        "appearance_channels",
        "appearance_width",
        "decoder_resolution",
        "spade_hidden",
        "scene_width",
    ):
        check_int(getattr(cfg, name), f"ModelConfig.{name}")
    if cfg.channels not in (1, 3) or isinstance(cfg.channels, bool):
        raise ValueError(f"ModelConfig.channels must be 1 (grayscale) or 3 (RGB), got {cfg.channels!r}")
    if cfg.decoder not in DECODERS:
        raise ValueError(f"ModelConfig.decoder must be one of {DECODERS}, got {cfg.decoder!r}")
    if cfg.spade_condition not in SPADE_CONDITIONS:
        raise ValueError(f"ModelConfig.spade_condition must be one of {SPADE_CONDITIONS}, got {cfg.spade_condition!r}")
    for name in ("pose_widths", "decoder_widths"):
        widths = getattr(cfg, name)
        if not widths or not all(is_int(w, 1) for w in widths):
            raise ValueError(f"ModelConfig.{name} must be a non-empty sequence of positive ints, got {widths!r}")
    if len(cfg.pose_widths) < 2:
        raise ValueError(f"ModelConfig.pose_widths needs at least 2 entries (down blocks), got {cfg.pose_widths!r}")
    factor = 2 ** len(cfg.pose_widths)
    # The U-Net's first up block runs at image_size / factor, and InstanceNorm needs more than one pixel there.
    if cfg.image_size % factor or cfg.image_size < 2 * factor:
        raise ValueError(
            f"ModelConfig.image_size must be divisible by {factor} (2 ** len(pose_widths)) and at "
            f"least {2 * factor}, got {cfg.image_size}"
        )
    for name in ("decoder_resolution", "decoder_max_resolution"):
        value = getattr(cfg, name)
        if value is None and name == "decoder_max_resolution":
            continue
        ratio = cfg.image_size // value if is_int(value, 1) else 0
        # >= 2: the decoder blocks' InstanceNorm needs more than one pixel.
        if not ratio or cfg.image_size % value or ratio & (ratio - 1) or value < 2:
            raise ValueError(
                f"ModelConfig.{name} must be image_size / 2**n and at least 2, got {value!r} for "
                f"image_size {cfg.image_size}"
            )
    if cfg.decoder_max_resolution is not None and cfg.decoder_max_resolution < cfg.decoder_resolution:
        raise ValueError(
            f"ModelConfig.decoder_max_resolution ({cfg.decoder_max_resolution}) must be >= "
            f"decoder_resolution ({cfg.decoder_resolution})"
        )
    if not isinstance(cfg.scene_warp, bool):
        raise ValueError(f"ModelConfig.scene_warp must be true or false, got {cfg.scene_warp!r}")
    if not isinstance(cfg.spectral_norm, bool):
        raise ValueError(f"ModelConfig.spectral_norm must be true or false, got {cfg.spectral_norm!r}")


class FactorizationModel(nn.Module):
    """Pose encoder + appearance encoder + decoder. Images: [B,channels,H,W] float in [0,1], H = W = image_size."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        validate_model_config(cfg)
        self.cfg = cfg
        self.pose_encoder = PoseEncoder(cfg.channels, cfg.n_landmarks, cfg.pose_widths)
        self.appearance_encoder = AppearanceEncoder(cfg.channels, cfg.appearance_channels, cfg.appearance_width)
        common = dict(
            channels=cfg.channels,
            n_landmarks=cfg.n_landmarks,
            appearance_channels=cfg.appearance_channels,
            image_size=cfg.image_size,
            widths=cfg.decoder_widths,
            start_resolution=cfg.decoder_resolution,
            max_resolution=cfg.decoder_max_resolution or cfg.image_size,
            spectral_norm=cfg.spectral_norm,
        )
        if cfg.decoder == "spade":
            self.decoder = SpadeDecoder(hidden=cfg.spade_hidden, condition=cfg.spade_condition, **common)
        elif cfg.decoder == "scene":
            self.decoder = SceneDecoder(
                hidden=cfg.spade_hidden, scene_width=cfg.scene_width, warp=cfg.scene_warp, **common
            )
        else:
            self.decoder = ConcatDecoder(**common)

    def _check_images(self, x: torch.Tensor, name: str) -> None:
        expected = (self.cfg.channels, self.cfg.image_size, self.cfg.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"FactorizationModel: {name} must be [B,{expected[0]},{expected[1]},{expected[2]}] "
                f"(ModelConfig channels/image_size), got {tuple(x.shape)}"
            )

    def encode_pose(self, x: torch.Tensor) -> PoseOutput:
        """x: [B,channels,H,W] -> PoseOutput(part_logits [B,K,H/2,W/2], mu [B,K,2] in [-1,1], cov [B,K,2,2])."""
        self._check_images(x, "pose input")
        return self.pose_encoder(x)

    def encode_appearance(self, x: torch.Tensor, part_logits: torch.Tensor) -> torch.Tensor:
        """Eq. 1. x: [B,channels,H,W]; part_logits: [B,K,h,w] of x itself. Returns appearance vectors [B,K,C]."""
        self._check_images(x, "appearance input")
        return self.appearance_encoder(x, landmarks.part_probabilities(part_logits))

    @property
    def reads_scene(self) -> bool:
        """Whether the decoder reads the conditioning frame (decoder 'scene'); the others ignore `scene`."""
        return self.cfg.decoder == "scene"

    def decode(
        self,
        mu: torch.Tensor,
        cov: torch.Tensor,
        appearance: torch.Tensor,
        scene: torch.Tensor | None = None,
        scene_mu: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """mu: [B,K,2]; cov: [B,K,2,2]; appearance: [B,K,C]; scene: the conditioning frame [B,channels,H,W] in [0,1]
        (needed by decoder 'scene', ignored by the others); scene_mu [B,K,2]: the scene's landmark means, which the
        warping scene decoder reads (None: found by the pose encoder here) -> image [B,channels,H,W] in [0,1]."""
        if not self.reads_scene:
            return self.decoder(mu, cov, appearance)
        if self.cfg.scene_warp and scene_mu is None and scene is not None:
            scene_mu = self.pose_encoder(scene.to(appearance.dtype)).mu
        return self.decoder(mu, cov, appearance, scene, scene_mu)

    def forward(self, pose_input: torch.Tensor, appearance_input: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruct with the pose of `pose_input` and the appearance of `appearance_input` (both [B,ch,H,W]).

        Returns recon [B,ch,H,W], mu [B,K,2], cov [B,K,2,2], part_logits [B,K,h,w] (of pose_input) and appearance
        [B,K,C] (pooled with the part maps of appearance_input from the same pose encoder).
        """
        self._check_images(pose_input, "pose_input")
        self._check_images(appearance_input, "appearance_input")
        if pose_input.shape[0] != appearance_input.shape[0]:
            raise ValueError(
                f"FactorizationModel: pose_input batch {pose_input.shape[0]} != appearance_input batch "
                f"{appearance_input.shape[0]}"
            )
        batch = pose_input.shape[0]
        # One pose-encoder pass over both inputs: InstanceNorm is per sample, so this equals two passes, but faster.
        pose = self.pose_encoder(torch.cat([pose_input, appearance_input]))
        logits, appearance_logits = pose.part_logits[:batch], pose.part_logits[batch:]
        mu, cov = pose.mu[:batch], pose.cov[:batch]
        appearance = self.encode_appearance(appearance_input, appearance_logits)
        # the scene decoder reads the appearance input as its scene: the frame the prediction setting conditions on
        recon = self.decode(mu, cov, appearance, appearance_input, pose.mu[batch:])
        return {"recon": recon, "mu": mu, "cov": cov, "part_logits": logits, "appearance": appearance}
