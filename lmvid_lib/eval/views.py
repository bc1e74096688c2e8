"""What a factorization model sees and produces, as arrays for figures (notebook 02_factorization).

- `training_views`: for a few training frames, every input the trainer can build from them (colour-jittered pose input,
  TPS-warped appearance input, temporal partner) with the model's reconstruction from each appearance source, made by
  the same augmentation functions as `lmvid_lib.data.pairs.make_training_batch`.
- `frame_landmarks`: landmarks (mean, covariance) in pixels of the stored frames, and the K part maps, of any frames.
- `landmark_strip`: evenly spaced frames of one video with their landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lmvid_lib import landmarks
from lmvid_lib.config import check_int
from lmvid_lib.data.augment import AugmentConfig, color_jitter, tps_warp
from lmvid_lib.data.pairs import FrameSampler, load_frames
from lmvid_lib.data.store import VideoSet
from lmvid_lib.models.inference import encode_frames, inference, model_image_size


@dataclass
class TrainingViews:
    """B training examples, every image float32 [B,C,S,S] in [0,1] at the model's input size S.

    target: the frame; pose_input: its colour jitter; warped: its TPS warp; partner: a frame of the same video
    `temporal_min`..`temporal_max` frame numbers away (the frame itself when it has none); recon_warped /
    recon_partner: reconstructions from (pose_input, warped) / (pose_input, partner). index / partner_index: int64 [B]
    stored-frame indices.
    """

    target: torch.Tensor
    pose_input: torch.Tensor
    warped: torch.Tensor
    partner: torch.Tensor
    recon_warped: torch.Tensor
    recon_partner: torch.Tensor
    index: np.ndarray
    partner_index: np.ndarray

    def columns(self) -> dict[str, torch.Tensor]:
        """Column title -> images, in the order a figure shows them (`lmvid_lib.report.figures.image_columns`)."""
        return {
            "frame\n(target)": self.target,
            "pose input\n(colour jitter)": self.pose_input,
            "appearance input\n(TPS warp)": self.warped,
            "appearance input\n(temporal partner)": self.partner,
            "reconstruction\n(pose + warp)": self.recon_warped,
            "reconstruction\n(pose + partner)": self.recon_partner,
        }


def training_views(
    model: torch.nn.Module,
    videoset: VideoSet,
    augment: AugmentConfig,
    count: int,
    seed: int,
    device: torch.device | str | None = None,
) -> TrainingViews:
    """`count` frames drawn as training draws them (`FrameSampler(videoset, augment, seed)`), with both kinds of
    appearance input and the reconstruction from each; the model is run in eval mode under no_grad (mode restored)."""
    check_int(count, "count")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    size = model_image_size(model)
    index, partner = FrameSampler(videoset, augment, seed=seed).sample(count)
    generator = torch.Generator(device=device).manual_seed(seed)
    target = load_frames(videoset, index, device, size)
    partner_frames = load_frames(videoset, partner, device, size)
    pose_input = color_jitter(target, augment, generator)
    warped = tps_warp(target, augment, generator)
    with inference(model):
        recon_warped = model(pose_input, warped)["recon"].float()
        recon_partner = model(pose_input, partner_frames)["recon"].float()
    return TrainingViews(
        target, pose_input, warped, partner_frames, recon_warped, recon_partner, index.numpy(), partner.numpy()
    )


@dataclass
class FrameLandmarks:
    """Landmarks of M frames: mu [M,K,2] and cov [M,K,2,2] in 0-based pixels of the frames as given (x right, y down),
    part_maps [M,K,h,w]: the spatial softmax of the pose encoder (each map sums to 1), h = model input size / 2."""

    mu: np.ndarray
    cov: np.ndarray
    part_maps: np.ndarray


def frame_landmarks(
    model: torch.nn.Module, frames: np.ndarray, device: torch.device | str | None = None
) -> FrameLandmarks:
    """uint8 frames [M,H,W,C] -> their landmarks in pixels of those H x W frames, and their part maps.

    The frames are resized to the model's input size as in training; since that input is the whole frame, normalised
    landmarks map to frame pixels by `landmarks.gaussians_to_pixels` (`landmarks.norm_to_pixel`).
    """
    if not (isinstance(frames, np.ndarray) and frames.ndim == 4 and frames.dtype == np.uint8 and len(frames)):
        raise ValueError(
            f"frames must be a non-empty uint8 [M,H,W,C] array, got {type(frames).__name__} "
            f"{getattr(frames, 'dtype', '')} {getattr(frames, 'shape', '')}"
        )
    codes = encode_frames(model, frames, len(frames), part_logits=True, device=device)
    mu, cov = landmarks.gaussians_to_pixels(codes.mu, codes.cov, *frames.shape[1:3])
    maps = landmarks.part_probabilities(codes.part_logits)
    return FrameLandmarks(mu.astype(np.float32), cov.astype(np.float32), maps.cpu().numpy())


def landmark_strip(
    model: torch.nn.Module, videos: VideoSet, count: int, video: int = 0, device: torch.device | str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`count` evenly spaced frames of video `video` (its first to its last) with their landmarks: (uint8 frames
    [count,H,W,C], mu [count,K,2] and cov [count,K,2,2] in pixels of those frames, int64 [count] frame numbers
    within the video)."""
    starts = np.asarray(videos.video_starts)
    if not 0 <= video < len(starts) - 1:
        raise ValueError(f"video must be in [0, {len(starts) - 1}), got {video!r}")
    check_int(count, "count")
    numbers = np.linspace(0, starts[video + 1] - starts[video] - 1, count).round().astype(np.int64)
    frames = np.array(videos.frames[starts[video] + numbers])
    lm = frame_landmarks(model, frames, device)
    return frames, lm.mu, lm.cov, numbers
