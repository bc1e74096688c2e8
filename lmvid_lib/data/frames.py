"""The one conversion of stored frames into model input: training (`data.pairs.load_frames`) and every model run on
frames (`models.inference`) use it, so the encoder sees test frames exactly as it saw training frames."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


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
