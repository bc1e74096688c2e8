"""The supervised keypoint detector that measures structure in predicted frames (`lmvid_lib.eval.structure`), trained
by `lmvid_lib.train.structure`: a small conv net ending in one heatmap per keypoint and a soft-argmax (the mean of its
spatial softmax, `landmarks.fit_gaussians`). Its downsampling convs are 4x4 with stride 2 and padding 1, whose output
pixel centres sit exactly on the normalised grid of the smaller map, so the soft-argmax needs no offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lmvid_lib import landmarks
from lmvid_lib.config import check_int, check_number, is_int


@dataclass
class DetectorConfig:
    """The keypoint detector and its training. Frames must be a multiple of 2 ** len(widths) on each side."""

    widths: list[int] = field(default_factory=lambda: [32, 64])  # stages: a 3x3 conv, then a stride-2 4x4 conv
    context_layers: int = 2  # dilated 3x3 convs (dilation 2, 4, ...) at the smallest size: the receptive field
    steps: int = 1000
    batch_size: int = 32
    lr: float = 5e-4  # 2e-3 leaves the pusher arm unlearned: experiments/log.yaml#detector-tune
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50  # metrics.csv rows
    checkpoint_every: int = 200  # checkpoints/last.pt
    progress: bool = True  # tqdm bar

    def __post_init__(self) -> None:
        if not isinstance(self.widths, (list, tuple)) or not self.widths or not all(is_int(w, 1) for w in self.widths):
            raise ValueError(f"DetectorConfig.widths must be a non-empty list of positive ints, got {self.widths!r}")
        self.widths = list(self.widths)
        minimum = {"context_layers": 0, "steps": 1, "batch_size": 1, "seed": 0, "log_every": 1, "checkpoint_every": 1}
        for name, low in minimum.items():
            check_int(getattr(self, name), f"DetectorConfig.{name}", low)
        check_number(self.lr, "DetectorConfig.lr", 0, strict=True)

    @property
    def stride(self) -> int:
        return 2 ** len(self.widths)


def _act(conv: nn.Module, width: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.GroupNorm(1, width), nn.LeakyReLU(0.2))


class KeypointDetector(nn.Module):
    """Frames [B,C,H,W] in [0,1] -> keypoints [B,J,2], normalised (x, y in [-1,1]); built for one frame size."""

    def __init__(self, cfg: DetectorConfig, channels: int, n_keypoints: int, frame_size: tuple[int, int]) -> None:
        super().__init__()
        self.cfg, self.channels, self.n_keypoints, self.frame_size = cfg, channels, n_keypoints, tuple(frame_size)
        layers, c = [], channels
        for w in cfg.widths:
            layers += [_act(nn.Conv2d(c, w, 3, padding=1), w), _act(nn.Conv2d(w, w, 4, 2, 1), w)]
            c = w
        layers += [_act(nn.Conv2d(c, c, 3, padding=2**d, dilation=2**d), c) for d in range(1, cfg.context_layers + 1)]
        self.body = nn.Sequential(*layers, nn.Conv2d(c, n_keypoints, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return landmarks.fit_gaussians(self.body(frames))[0]
