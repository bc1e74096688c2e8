"""What the synthetic stand-ins share: the split container `SyntheticVideos`, one seeded RNG per video, and the
motion, colour and texture helpers their generators build on (shapes are drawn by `lmvid_lib.data.render`).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmvid_lib.data import render
from lmvid_lib.data.store import VideoSet

CHUNK = 100  # frames rendered at once: bounds the crop buffers' memory
PATTERN_KINDS = ["stripes", "checks", "waves", "plain"]


@dataclass
class SyntheticVideos:
    """One split of a preset. N videos of T frames, J keypoints."""

    frames: np.ndarray  # uint8 [N,T,H,W,C]
    keypoints: (
        np.ndarray
    )  # float32 [N,T,J,2]: x, y in 0-based pixels of the rendered frame (walker: may lie outside it); NaN = absent
    keypoint_names: list[str]
    video_ids: np.ndarray  # int64 [N]: identity (signer), scene (pusher) or person (walker)
    preset: str = ""
    split: str = ""
    actions: list[str] | None = None  # walker: the action of each video
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def video_names(self) -> list[str]:
        if self.actions is not None:
            return [
                f"{self.preset}_{self.split}_{i:04d}_person{p:02d}_{a}"
                for i, (p, a) in enumerate(zip(self.video_ids, self.actions))
            ]
        return [f"{self.preset}_{self.split}_{i:04d}_id{p:03d}" for i, p in enumerate(self.video_ids)]

    def to_videoset(self) -> VideoSet:
        meta = {"preset": self.preset, "split": self.split, **self.meta}
        if self.actions is not None:
            meta["actions"] = list(self.actions)
        return VideoSet.from_clips(
            self.frames, self.video_ids, self.keypoints, self.keypoint_names, self.video_names, meta
        )


def seeded_rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def filtered_noise(rng: np.random.Generator, n: int, dims: int, smooth: float) -> np.ndarray:
    """[n,dims] smooth random signal, unit std per dim: white noise low-passed with a Gaussian of `smooth` frames."""
    from scipy.ndimage import gaussian_filter1d

    pad = int(4 * smooth) + 1
    x = gaussian_filter1d(rng.standard_normal((n + 2 * pad, dims)), smooth, axis=0)[pad : pad + n]
    return x / (x.std(axis=0, keepdims=True) + 1e-8) if n > 1 else x


def min_jerk(keys: np.ndarray, times: np.ndarray, n: int) -> np.ndarray:
    """Piecewise minimum-jerk path through `keys` [K,D] reached at frames `times` [K] (rising), sampled at 0..n-1."""
    t = np.arange(n, dtype=np.float64)
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    t0, t1 = times[seg], times[seg + 1]
    tau = np.clip((t - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)[:, None]
    s = tau**3 * (10 - 15 * tau + 6 * tau**2)
    return keys[seg] + (keys[seg + 1] - keys[seg]) * s


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def rotate(angle: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Rotate 2D vectors `vec` [...,2] by `angle` [...] (radians; y down, so positive turns clockwise on screen)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * vec[..., 0] - s * vec[..., 1], s * vec[..., 0] + c * vec[..., 1]], axis=-1)


def textured_shader(
    c1: np.ndarray, c2: np.ndarray, kind: str, period: float, angle: float, phase: float = 0.0
) -> render.Shader:
    """A shader blending colours c1 -> c2 [C] with a procedural pattern in the shape's own coordinates."""
    c1 = c1.astype(np.float32)
    dc = (c2 - c1).astype(np.float32)

    def shader(u: np.ndarray, v: np.ndarray, dist: np.ndarray) -> np.ndarray:
        return c1 + dc * render.pattern(u, v, kind, period, phase, angle)[..., None]

    return shader


def two_bone_ik(
    shoulder: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """3D two-bone IK. shoulder, target [T,3]; pole [3] (direction the elbow bends to). -> elbow, wrist [T,3].

    An unreachable target is pulled onto the reachable shell along the shoulder->target line.
    """
    d = target - shoulder
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    reach = np.clip(dist, abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3)
    axis = d / np.maximum(dist, 1e-6)
    wrist = shoulder + axis * reach
    along = (l1**2 - l2**2 + reach**2) / (2 * reach)
    radius = np.sqrt(np.maximum(l1**2 - along**2, 0.0))
    perp = pole - axis * np.sum(axis * pole, axis=-1, keepdims=True)
    perp /= np.maximum(np.linalg.norm(perp, axis=-1, keepdims=True), 1e-6)
    return shoulder + axis * along + perp * radius, wrist
