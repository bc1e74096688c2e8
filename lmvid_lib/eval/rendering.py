"""How well a decoder draws what it is given: reconstruction of held-out frames, scored beside references that need
no model, and the render-fidelity score (a keypoint detector trained on real frames, run on reconstructions).

Two settings, on pairs (target frame t, conditioning frame s) of one held-out video (`render_pairs`):
- **self**: frame t from its own landmarks and its own appearance (and scene): the best case;
- **cross**: frame t from its own landmarks with the appearance (and scene) of frame s = t - gap, gap 10-30 steps:
  what prediction and interpolation ask of the decoder.
References: the video's mean frame (a renderer that knows only the static scene) and frame s copied (a renderer that
ignores the landmarks). The render-fidelity score puts the detector's per-joint error on reconstructions beside its
error on the real frames at the same resolution: a copy of frame s puts the joints where they were, not where they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmvid_lib.config import check_int
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval import metrics
from lmvid_lib.eval.structure import detect, in_frame
from lmvid_lib.models.inference import decode_states, encode_frames

SELF, CROSS = "self", "cross"
MEAN_FRAME, COPY = "the video's mean frame", "conditioning frame copied"


@dataclass
class RenderPairs:
    """Global frame indices int64 [P] of target frames t and their conditioning frames s = t - gap, same video."""

    target: np.ndarray
    source: np.ndarray
    video: np.ndarray  # [P] video of each pair

    @property
    def gap(self) -> np.ndarray:
        return self.target - self.source


def render_pairs(videos: VideoSet, n: int, gap: tuple[int, int] = (10, 30), seed: int = 0) -> RenderPairs:
    """`n` (target, conditioning) pairs of `videos`, drawn with a seeded generator: a video uniformly among those
    longer than the smallest gap, a gap uniformly in [gap[0], min(gap[1], length - 1)], a target frame uniformly
    among those with a frame that far before it. ValueError when no video is long enough."""
    check_int(n, "n")
    low, high = gap
    check_int(low, "gap[0]")
    check_int(high, "gap[1]", low)
    lengths = np.asarray(videos.lengths)
    usable = np.flatnonzero(lengths > low)
    if not len(usable):
        raise ValueError(f"no video has more than {low} frames (longest {int(lengths.max(initial=0))}): gap {gap}")
    rng = np.random.default_rng(seed)
    video = rng.choice(usable, n)
    steps = np.array([rng.integers(low, min(high, lengths[v] - 1) + 1) for v in video])
    offset = np.array([rng.integers(g, lengths[v]) for g, v in zip(steps, video)])
    target = np.asarray(videos.video_starts)[video] + offset
    return RenderPairs(target.astype(np.int64), (target - steps).astype(np.int64), video.astype(np.int64))


def frames_at(videos: VideoSet, indices: np.ndarray, size: int) -> torch.Tensor:
    """Frames `indices` [P] of `videos` as model input: float32 [P,C,size,size] in [0,1] (CPU)."""
    return frames_to_input(np.asarray(videos.frames[np.asarray(indices)]), size, "cpu")


def reconstruct(
    model: nn.Module, videos: VideoSet, targets: np.ndarray, sources: np.ndarray, batch_size: int = 64
) -> torch.Tensor:
    """Frames `targets` [P] decoded from their own landmark states with the appearance vectors (and, for the scene
    decoder, the scene) of frames `sources` [P]: float32 [P,C,S,S] in [0,1], S the model's image size."""
    size = model.cfg.image_size
    states = encode_frames(model, videos.frames, batch_size, indices=targets).states
    appearance = encode_frames(model, videos.frames, batch_size, indices=sources, appearance=True).appearance
    return decode_states(model, states, appearance, batch_size, frames_at(videos, sources, size))


def mean_frames(videos: VideoSet, pairs: RenderPairs, size: int) -> torch.Tensor:
    """Each pair's video's mean frame (over all its frames), float32 [P,C,size,size] in [0,1]."""
    means = {}
    for v in np.unique(pairs.video):
        start, length = int(videos.video_starts[v]), int(videos.lengths[v])
        means[int(v)] = frames_at(videos, np.arange(start, start + length), size).mean(0)
    return torch.stack([means[int(v)] for v in pairs.video])


def image_scores(pred: torch.Tensor, target: torch.Tensor, lpips_nets: Sequence[str] = ()) -> dict[str, float]:
    """Mean SSIM, PSNR (dB) and, per backbone of `lpips_nets` whose weights are cached, LPIPS of pred against target
    frames [P,C,S,S] in [0,1]."""
    pred, target = pred.clamp(0, 1)[:, None], target.clamp(0, 1)[:, None]  # [P,1,C,S,S]: one step per frame
    scores = {"SSIM": float(metrics.ssim(pred, target).mean()), "PSNR": float(metrics.psnr(pred, target).mean())}
    for net in lpips_nets:
        try:
            scores[f"LPIPS ({net})"] = float(metrics.lpips(pred, target, net=net).mean())
        except metrics.LPIPSWeightsUnavailable:
            continue
    return scores


def resize(frames: torch.Tensor, size: int) -> torch.Tensor:
    """float [P,C,H,W] -> [P,C,size,size], bilinear (antialiased when shrinking), clamped to [0,1]."""
    if frames.shape[-1] == size:
        return frames
    return F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def joint_errors(detector: nn.Module, frames: torch.Tensor, true: np.ndarray) -> np.ndarray:
    """The detector's per-joint mean error (px of its frames) on frames [P,C,S,S] (resized to its frame size) against
    true keypoints [P,J,2] (NaN or outside the frame = absent): float64 [J] (NaN for a joint never known)."""
    size = detector.frame_size[0]
    found = detect(detector, resize(frames, size)[None])[0]  # [P,J,2]
    known = in_frame(true, size, size)
    distance = np.linalg.norm(found - known, axis=-1)  # NaN where unknown
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a joint never known: its mean is NaN
        return np.nanmean(distance, axis=0)


@dataclass
class RenderStudy:
    """One model's rendering on one held-out split: `scores` {setting or reference: {metric: mean}} and, with a
    detector, `fidelity` {real frames at the model's resolution, each setting, COPY: per-joint error [J] (px)}."""

    run: str
    n_pairs: int
    scores: dict[str, dict[str, float]]
    fidelity: dict[str, np.ndarray] | None = None


REAL_AT_MODEL = "real frames at the model's resolution"


def render_study(
    run: str,
    model: nn.Module,
    videos: VideoSet,
    pairs: RenderPairs,
    detector: tuple[nn.Module, list[int]] | None = None,
    lpips_nets: Sequence[str] = (),
) -> RenderStudy:
    """Score `model`'s self and cross reconstructions of `pairs` of `videos` beside the mean-frame and copy references;
    with `detector` = (detector, the keypoint indices it finds), its per-joint error on each (`joint_errors`)."""
    size = model.cfg.image_size
    target = frames_at(videos, pairs.target, size)
    copy = frames_at(videos, pairs.source, size)
    shown = {
        SELF: reconstruct(model, videos, pairs.target, pairs.target),
        CROSS: reconstruct(model, videos, pairs.target, pairs.source),
        MEAN_FRAME: mean_frames(videos, pairs, size),
        COPY: copy,
    }
    scores = {name: image_scores(frames, target, lpips_nets) for name, frames in shown.items()}
    fidelity = None
    if detector is not None:
        net, joints = detector
        if videos.keypoints is None:
            raise ValueError(f"{run}: the held-out videos have no keypoints, so render fidelity cannot be measured")
        true = np.asarray(videos.keypoints)[pairs.target][:, joints]
        frames = {REAL_AT_MODEL: target, SELF: shown[SELF], CROSS: shown[CROSS], COPY: copy}
        fidelity = {name: joint_errors(net, f, true) for name, f in frames.items()}
    return RenderStudy(run, len(pairs.target), scores, fidelity)


def fidelity_ratio(study: RenderStudy, setting: str = CROSS) -> float:
    """Mean per-joint detector error on `setting`'s reconstructions over that on the real frames (1 = as good as
    real)."""
    if study.fidelity is None:
        raise ValueError(f"{study.run}: no render fidelity measured (no detector)")
    return float(np.nanmean(study.fidelity[setting]) / np.nanmean(study.fidelity[REAL_AT_MODEL]))


def score_rows(studies: Mapping[str, RenderStudy], metric: str = "SSIM") -> list[list[str]]:
    """Table rows: model | self | cross | mean frame | copy, each `metric` to 3 decimals (PSNR to 1)."""
    fmt = "{:.1f}" if metric == "PSNR" else "{:.3f}"
    return [
        [name, *(fmt.format(s.scores[k][metric]) for k in (SELF, CROSS, MEAN_FRAME, COPY))]
        for name, s in studies.items()
    ]
