"""A learned pixel-space video predictor (issue 15's baseline): a deterministic encoder-LSTM-decoder on frames.

In the style of the deterministic variants of SVG (Denton & Fergus 2018, "SVG-Det") and SAVP: a conv encoder maps a
frame [C,H,W] in [0,1] to a vector (stride-2 4x4 convs, one per entry of `widths`, then a linear layer and tanh), an
LSTM (`layers` x `hidden`, then a linear layer and tanh) reads the vector of frame t and outputs the vector of frame
t + 1, and a conv decoder (the encoder mirrored, sigmoid output) renders it. As in SVG, the decoder's skip connections
are the encoder features of the LAST CONTEXT frame, taken once and reused for every predicted frame: the background
and appearance come through the skips, the motion through the LSTM.

`PixelPredictor` is a `lmvid_lib.models.rollout.SequencePredictor`, called as `model(frames [N,T,C,H,W], state) ->
(next frames [N,T,C,H,W], state)`, where `state` carries the LSTM's (h, c) and the skip features from one call to the
next (None: ground truth from the start of a sequence; while SVG reads ground truth, each step decodes with the skips
of its own input frame, never of the frame it predicts). `lmvid_lib.models.rollout.unroll` and `rollout` run it like
the landmark LSTM: the context in one call, then each prediction fed back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lmvid_lib.config import check_int, is_int
from lmvid_lib.models.rollout import SequencePredictor, State


@dataclass
class PixelPredictorConfig:
    """Sizes of the pixel predictor. Frames are image_size x image_size, a multiple of 2 ** len(widths)."""

    channels: int = 3  # C: 3 for RGB (BAIR), 1 for grayscale (KTH)
    image_size: int = 64
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # encoder stages, each halving the size
    embedding: int = 128  # the frame vector (SVG's g_dim)
    hidden: int = 256
    layers: int = 2

    def __post_init__(self) -> None:
        for name in ("channels", "image_size", "embedding", "hidden", "layers"):
            check_int(getattr(self, name), f"PixelPredictorConfig.{name}")
        if not isinstance(self.widths, (list, tuple)) or not self.widths or not all(is_int(w, 1) for w in self.widths):
            raise ValueError(
                f"PixelPredictorConfig.widths must be a non-empty list of positive ints, got {self.widths!r}"
            )
        self.widths = list(self.widths)
        if self.image_size % self.stride:
            raise ValueError(
                f"PixelPredictorConfig.image_size must be a multiple of 2 ** len(widths) = {self.stride}, "
                f"got {self.image_size}"
            )

    @property
    def stride(self) -> int:
        """The encoder's stride product: each stage halves the frame."""
        return 2 ** len(self.widths)


def check_frames(frames: object, name: str, cfg: PixelPredictorConfig) -> None:
    """Raise naming `name` unless it is a float tensor [N,T,C,S,S] with T >= 1, C = cfg.channels, S = cfg.image_size."""
    if not isinstance(frames, torch.Tensor) or not frames.is_floating_point():
        raise TypeError(f"{name} must be a floating-point torch.Tensor [N,T,C,H,W], got {type(frames).__name__}")
    expected = (cfg.channels, cfg.image_size, cfg.image_size)
    if frames.ndim != 5 or frames.shape[1] < 1 or tuple(frames.shape[2:]) != expected:
        raise ValueError(
            f"{name} must have shape [N,T,{cfg.channels},{cfg.image_size},{cfg.image_size}] with T >= 1 (the model's "
            f"channels and image_size), got {tuple(frames.shape)}"
        )


def _down(c_in: int, c_out: int) -> nn.Module:
    # 4x4 stride-2 padding-1 (DCGAN/SVG): output pixel j is centred between input pixels 2j and 2j + 1.
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.GroupNorm(1, c_out), nn.LeakyReLU(0.2))


def _up(c_in: int, c_out: int, last: bool) -> nn.Module:
    conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
    return conv if last else nn.Sequential(conv, nn.GroupNorm(1, c_out), nn.LeakyReLU(0.2))


class PixelPredictor(SequencePredictor):
    """Encoder (frames -> vectors and skip features), LSTM over the vectors, decoder with the last context skips."""

    def __init__(self, cfg: PixelPredictorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = cfg.widths
        self.bottom = cfg.image_size // cfg.stride
        flat = widths[-1] * self.bottom**2
        self.stages = nn.ModuleList(_down(a, b) for a, b in zip([cfg.channels, *widths[:-1]], widths))
        self.to_vector = nn.Sequential(nn.Flatten(), nn.Linear(flat, cfg.embedding), nn.Tanh())
        self.lstm = nn.LSTM(cfg.embedding, cfg.hidden, cfg.layers, batch_first=True)
        self.head = nn.Sequential(nn.Linear(cfg.hidden, cfg.embedding), nn.Tanh())
        self.from_vector = nn.Sequential(nn.Linear(cfg.embedding, flat), nn.LeakyReLU(0.2))
        outs = [*widths[-2::-1], cfg.channels]  # each up stage reads [decoded, skip] at its resolution
        self.ups = nn.ModuleList(
            _up(2 * w, o, i == len(widths) - 1) for i, (w, o) in enumerate(zip(widths[::-1], outs))
        )

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """frames [B,C,S,S] -> (vectors [B,embedding], features [B,widths[i],S/2^(i+1),S/2^(i+1)] per stage)."""
        features, x = [], frames
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return self.to_vector(x), features

    def decode(self, vectors: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """vectors [B,embedding] and one skip feature map per stage (as `encode` returns them, batch B) -> frames
        [B,C,S,S] in (0, 1)."""
        x = self.from_vector(vectors).unflatten(1, (self.cfg.widths[-1], self.bottom, self.bottom))
        for up, skip in zip(self.ups, skips[::-1]):
            x = up(torch.cat([x, skip], 1))
        return torch.sigmoid(x)

    def check_inputs(self, inputs: object, name: str) -> None:
        check_frames(inputs, name, self.cfg)

    def forward(self, frames: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """One LSTM call over T steps. frames: [N,T,C,S,S], frame t for t = 0..T-1; state: what the previous call
        returned. Returns (frames t + 1 [N,T,C,S,S] for each t, state), the state ((h, c) of the LSTM, the skip
        features of the last context frame).

        state None: `frames` is ground truth from the start of a sequence, and step t decodes with the skips of
        frames[:, t] (as SVG trains: never the frame it predicts); the state then carries the skips of frames[:, -1],
        the last context frame. Otherwise `frames` are predictions fed back, decoded with the carried skips.
        """
        self.check_inputs(frames, "frames")
        n, t = frames.shape[:2]
        vectors, features = self.encode(frames.flatten(0, 1))
        if state is None:
            hidden, skips = None, [f.unflatten(0, (n, t))[:, -1] for f in features]
            step_skips = features
        else:
            (hidden, skips), step_skips = state, [s.repeat_interleave(t, 0) for s in state[1]]
        y, hidden = self.lstm(vectors.unflatten(0, (n, t)), hidden)
        decoded = self.decode(self.head(y).flatten(0, 1), step_skips)
        return decoded.unflatten(0, (n, t)), (hidden, skips)
