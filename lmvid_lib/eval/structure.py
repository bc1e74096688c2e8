"""Structure measured with ground truth (issue 15): a supervised keypoint detector, run on predicted frames.

PSNR and SSIM favour blur, and LPIPS needs weights this machine may not have; our stand-ins have ground-truth
keypoints, so whether a predicted frame keeps the structure of the scene can be measured directly. A small conv net is
trained on a split's real frames and their true keypoints (`lmvid_lib.train.structure.train_detector`, a resumable
run read back by `load_detector`), its own accuracy is measured on held-out real frames (`detector_accuracy`), and
then it reads keypoints off every model's predicted frames (`detect`), which
are scored against the true future keypoints per prediction step (`structure_error`, with
`lmvid_lib.eval.horizon.score_joints`: error, accuracy within a threshold, share of the real motion kept). Keypoints
outside the frame (a walker leaving it) are treated as absent everywhere (`in_frame`).

The detector ends in one heatmap per keypoint and a soft-argmax (the mean of its spatial softmax,
`lmvid_lib.landmarks.fit_gaussians`): differentiable, sub-pixel and translation-equivariant, so a few hundred steps
of a small net locate keypoints well (integral regression, Sun et al. 2018). Its downsampling convs are 4x4 with
stride 2 and padding 1, whose output pixel centres sit exactly on the normalised grid of the smaller map, so the
soft-argmax needs no offset. Missing keypoints (NaN) are left out of the loss and of every score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmvid_lib import landmarks
from lmvid_lib.config import check_int
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.eval.horizon import HorizonCurves, score_joints
from lmvid_lib.eval.prediction import accuracy_by_horizon, joint_error_by_horizon
from lmvid_lib.models.detector import DetectorConfig, KeypointDetector
from lmvid_lib.models.files import STRUCTURE_DETECTOR, load_model
from lmvid_lib.models.inference import inference


def check_frames_keypoints(frames: object, keypoints: object, cfg: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(
            f"frames must be a uint8 numpy array [M,H,W,C] (as VideoSet.frames), got {type(frames).__name__} "
            f"{getattr(frames, 'dtype', '')} {getattr(frames, 'shape', '')}"
        )
    height, width = frames.shape[1:3]
    if height % cfg.stride or width % cfg.stride:
        raise ValueError(
            f"frames are {height}x{width}: each side must be a multiple of 2 ** len(DetectorConfig.widths) = "
            f"{cfg.stride}"
        )
    points = np.asarray(keypoints, dtype=np.float32)
    if points.ndim != 3 or points.shape[0] != len(frames) or points.shape[2] != 2 or points.shape[1] < 1:
        raise ValueError(f"keypoints must be [M={len(frames)},J,2] pixels (NaN = absent), got shape {points.shape}")
    if np.isinf(points).any():
        raise ValueError("keypoints has inf values (use NaN for an absent keypoint)")
    return frames, points


def in_frame(keypoints: Any, height: int, width: int) -> np.ndarray:
    """keypoints [..., 2] (0-based pixels) as float64 with NaN where a keypoint lies outside the frame (beyond the
    outer pixel edges, -0.5 .. size - 0.5): no frame shows it, so no detector can find it and no score counts it."""
    points = np.array(keypoints, dtype=np.float64)
    size = np.array([width, height], dtype=np.float64)
    points[((points < -0.5) | (points > size - 0.5)).any(-1)] = np.nan
    return points


def keypoint_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared distance (normalised units) between pred [B,J,2] and target [B,J,2] over the keypoints whose
    target is known (NaN = absent, left out); 0 when none is known."""
    known = ~torch.isnan(target).any(-1)
    squared = (pred - torch.nan_to_num(target)).square().sum(-1)
    return torch.where(known, squared, 0.0).sum() / known.sum().clamp_min(1)


def load_detector(run: str | Path, device: str | None = None) -> KeypointDetector:
    """The trained detector of the run folder `run` (its model.pt), in eval mode on `device` (None: its config's)."""
    detector = load_model(run, "cpu", STRUCTURE_DETECTOR)
    return detector.to(device or detector.cfg.device).eval()


def detect(detector: KeypointDetector, frames: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Keypoints of frames [N,T,C,H,W] float in [0,1] (H, W the detector's training size) -> float64 [N,T,J,2] in
    0-based pixels of those frames. Batched under `inference`, on the detector's device."""
    if not isinstance(frames, torch.Tensor) or not frames.is_floating_point():
        raise TypeError(f"frames must be a floating-point torch.Tensor [N,T,C,H,W], got {type(frames).__name__}")
    expected = (detector.channels, *detector.frame_size)
    if frames.ndim != 5 or tuple(frames.shape[2:]) != expected:
        raise ValueError(
            f"frames must have shape [N,T,{','.join(map(str, expected))}] (the detector's channels and training frame "
            f"size), got {tuple(frames.shape)}"
        )
    check_int(batch_size, "batch_size")
    device = next(detector.parameters()).device
    flat, found = frames.flatten(0, 1), []
    with inference(detector):
        for start in range(0, len(flat), batch_size):
            found.append(detector(flat[start : start + batch_size].to(device)).double().cpu())
    pixels = landmarks.norm_to_pixel(torch.cat(found), *detector.frame_size)
    return pixels.unflatten(0, frames.shape[:2]).numpy()


def structure_error(
    detector: KeypointDetector, pred_frames: torch.Tensor, true_keypoints: Any, threshold: float = 6.0
) -> HorizonCurves:
    """Per-step structure curves of predicted frames [N,T,C,H,W] (T prediction steps): the detector's keypoints on
    them against the true keypoints of the same future frames [N,T,J,2] (pixels, NaN = absent): mean error (px),
    accuracy within `threshold` px, and the share of the real keypoint motion kept; true keypoints outside the frame
    count as absent."""
    return score_joints(detect(detector, pred_frames), in_frame(true_keypoints, *detector.frame_size), threshold)


def detector_accuracy(
    detector: KeypointDetector, frames: np.ndarray, keypoints: np.ndarray, threshold: float = 6.0, batch_size: int = 256
) -> dict[str, float]:
    """The detector on held-out real frames uint8 [M,H,W,C] with true keypoints [M,J,2] (NaN = absent): mean error
    in pixels and the fraction of known keypoints within `threshold` px, over every known keypoint of every frame, and
    the mean error of each keypoint (`keypoint_error_px` [J], NaN for one never known)."""
    frames, points = check_frames_keypoints(frames, keypoints, detector.cfg)
    if points.shape[1] != detector.n_keypoints:
        raise ValueError(f"keypoints has J={points.shape[1]}, the detector finds {detector.n_keypoints}")
    found = np.concatenate(
        [
            detect(detector, frames_to_input(frames[start : start + batch_size], None, "cpu")[None], batch_size)[0]
            for start in range(0, len(frames), batch_size)
        ]
    )[:, None]  # every frame its own sequence of one step: the means run over all known keypoints at once
    true = in_frame(points, *detector.frame_size)[:, None]
    return {
        "error_px": float(joint_error_by_horizon(found, true)[0]),
        "accuracy": float(accuracy_by_horizon(found, true, threshold)[0]),
        "threshold": float(threshold),
        "keypoint_error_px": joint_error_by_horizon(found.swapaxes(1, 2), true.swapaxes(1, 2)).tolist(),
    }


def structure_joints(names: Sequence[str]) -> list[int]:
    """The keypoints a per-index detector can learn: all but objects, whose keypoints (object_1, object_2, ...) are
    an unordered set (the pusher's objects are numbered in random order), so no index means one object."""
    return [j for j, name in enumerate(names) if not name.startswith("object")]
