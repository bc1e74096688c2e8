"""Running a trained factorization model on frames: the one conversion of stored frames into model input, an
inference context, and landmark extraction (`extract_landmarks`).

Training (`lmvid_lib.data.pairs.load_frames`) and evaluation both convert frames with `frames_to_input`, so the
encoder sees test frames exactly as it saw training frames.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm


def model_image_size(model: torch.nn.Module) -> int:
    """The square input size a FactorizationModel was built for (its config's `image_size`)."""
    for attr in ("cfg", "config"):
        size = getattr(getattr(model, attr, None), "image_size", None)
        if size is not None:
            return int(size)
    raise ValueError(f"{type(model).__name__} has no cfg.image_size; pass image_size= explicitly")


def frames_to_input(frames: np.ndarray, image_size: int | None, device: torch.device | str) -> torch.Tensor:
    """uint8 [B,H,W,C] -> float32 [B,C,S,S] in [0,1] on `device`, S = image_size.

    Frames of another size are resized bilinearly with antialiasing (and clamped to [0,1]); with image_size None they
    keep their size.
    """
    frames = np.ascontiguousarray(frames)
    if not frames.flags.writeable:  # a read-only memmap slice: torch only wraps writable arrays
        frames = frames.copy()
    x = torch.from_numpy(frames).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    if image_size is not None and x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
        x = x.clamp_(0, 1)
    return x.contiguous()


@contextlib.contextmanager
def inference(model: torch.nn.Module) -> Iterator[None]:
    """Run `model` in eval mode under torch.no_grad, restoring its previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _pose_fields(out: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(out, Mapping):
        return out["mu"], out["cov"]
    return out.mu, out.cov


def extract_landmarks(
    model: torch.nn.Module,
    frames: np.ndarray,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    image_size: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of every frame: uint8 frames [M,H,W,C] (a memmap is fine) -> (mu [M,K,2] in [-1,1], cov [M,K,2,2]).

    Batched under `inference(model)`; `device` defaults to the model's; frames are resized to `image_size` (default:
    the model's `cfg.image_size`).
    """
    if not (isinstance(frames, np.ndarray) and frames.ndim == 4 and frames.dtype == np.uint8):
        raise ValueError(
            f"frames must be a uint8 [M,H,W,C] array, got {type(frames).__name__} "
            f"{getattr(frames, 'dtype', '')} {getattr(frames, 'shape', '')}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if device is None:
        device = next(model.parameters()).device
    size = image_size or model_image_size(model)
    mus, covs = [], []
    with inference(model):
        starts = range(0, len(frames), batch_size)
        for start in tqdm(starts, desc="landmarks", unit="batch", disable=not progress, leave=False):
            mu, cov = _pose_fields(model.encode_pose(frames_to_input(frames[start : start + batch_size], size, device)))
            mus.append(mu.float().cpu().numpy())
            covs.append(cov.float().cpu().numpy())
    if not mus:
        raise ValueError("frames is empty (M=0)")
    return np.concatenate(mus), np.concatenate(covs)
