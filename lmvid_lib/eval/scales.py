"""Pixel scales of the keypoint protocol: crop-centred pixels, pixels of the evaluation crop, original-frame pixels.

Crop-centred pixels have their origin at the centre of the `crop_size` x `crop_size` evaluation crop, x right, y down.
Normalised landmarks in [-1, 1] over the model input (= the crop resized) are `mu * crop_size / 2` there.
`to_eval_pixels` converts them to the unit accuracy is counted in, `eval_scale`:

* "crop": pixels of the `crop_size` crop;
* "original": pixels of the original frame, through the crop each frame was cut with (`protocol_crops`);
* "half_original": `0.5 * (p - 1) + 1` of 1-based original pixels, the scale of the BBC Pose MATLAB evaluation and of
  the authors' evaluation script. The paper names no scale for its 6-pixel threshold;
* "auto": resolved per dataset by `resolve_eval_scale`: half_original on real BBC Pose, crop on the embedded stand-ins,
  which are rendered at their crop size and so have no original frames (their pixels are crop pixels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lmvid_lib.data.bbc import CropTransform
from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval.regression import as_points

EVAL_SCALES = ("crop", "original", "half_original")
EVAL_SCALE_CHOICES = (*EVAL_SCALES, "auto")  # what a config may say; "auto" is resolved per dataset
# Datasets whose stored frames are crops of larger original frames, and the scale "auto" picks for them.
ORIGINAL_FRAME_SCALES = {"bbc": "half_original"}


def resolve_eval_scale(eval_scale: str, dataset: str) -> str:
    """The scale `eval_scale` (one of EVAL_SCALE_CHOICES) means on `dataset`: "auto" -> half_original on a dataset
    with original frames (BBC Pose), else crop. An original scale on a dataset without original frames is an error."""
    if eval_scale not in EVAL_SCALE_CHOICES:
        raise ValueError(f"eval_scale must be one of {EVAL_SCALE_CHOICES}, got {eval_scale!r}")
    if eval_scale == "auto":
        return ORIGINAL_FRAME_SCALES.get(dataset, "crop")
    if eval_scale != "crop" and dataset not in ORIGINAL_FRAME_SCALES:
        raise ValueError(
            f"eval_scale={eval_scale!r}: dataset {dataset!r} has no original frames (it is rendered at "
            "its crop size, so its pixels are crop pixels); use eval_scale 'crop' or 'auto'"
        )
    return eval_scale


def protocol_crops(sets: Mapping[str, VideoSet], indices: Mapping[str, np.ndarray]) -> dict[str, CropTransform | None]:
    """split name -> batched crops [N] of its scored frames `indices[name]` (int [N] into the split), to map crop
    pixels back to the original frames; None for every split of data rendered at its crop size (no crops.npy).

    The protocol fits and scores on frames cropped the same way (paper §3.1): every split must hold per-frame crops
    (crop_mode "frame") of the same margin and size, or none may hold crops. A video-crop copy (`<split>_video`,
    training only) is an error that says which split to evaluate on instead.
    """
    crops: dict[str, CropTransform | None] = {}
    kinds = {}
    for name, videos in sets.items():
        if videos.crops is None:
            crops[name] = None
            continue
        meta = videos.meta
        if meta.get("crop_mode") != "frame":
            raise ValueError(
                f"split {name!r} holds crop_mode {meta.get('crop_mode')!r}, not 'frame' (e.g. a "
                "training-only copy with one crop per video, 'train_video'); the protocol fits and "
                "scores on frames each cropped around its own keypoints: evaluate on the per-frame split "
                "(`lmvid_lib.data.bbc.frame_crop_split`)"
            )
        kinds[name] = (meta.get("crop_margin"), meta.get("crop_out_size"))
        crops[name] = CropTransform.from_array(np.asarray(videos.crops)[indices[name]], int(meta["crop_out_size"]))
    if kinds and (len(kinds) != len(sets) or len(set(kinds.values())) > 1):
        described = {name: kinds.get(name, "no crops") for name in sets}
        raise ValueError(
            f"the keypoint protocol needs every split cropped the same way; (margin, size) per split: {described}"
        )
    return crops


def landmarks_to_crop_centred(mu: Any, crop_size: int) -> np.ndarray:
    """Normalised landmarks [...,2] in [-1,1] (over the whole model input = the crop) -> crop-centred pixels at
    `crop_size` resolution (origin at the crop centre, x right, y down)."""
    if isinstance(mu, torch.Tensor):
        mu = mu.detach().cpu().numpy()
    return np.asarray(mu, dtype=np.float64) * (crop_size / 2.0)


def crop_centred_to_pixels(points: Any, crop_size: int) -> np.ndarray:
    """Crop-centred pixels [...,2] -> 0-based pixel coordinates inside the `crop_size` x `crop_size` crop image."""
    return np.asarray(points, dtype=np.float64) + (crop_size - 1) / 2.0


def pixels_to_crop_centred(points: Any, frame_size: int, crop_size: int) -> np.ndarray:
    """0-based pixels [...,2] of a square stored frame of side `frame_size` -> crop-centred pixels at `crop_size`."""
    return (np.asarray(points, dtype=np.float64) - (frame_size - 1) / 2.0) * (crop_size / frame_size)


def crop_centred_to_original(points: Any, crops: Any, crop_size: int) -> np.ndarray:
    """Crop-centred pixels [N,P,2] at `crop_size` -> original-frame pixels [N,P,2].

    `crops` is a `lmvid_lib.data.bbc.CropTransform`: one crop for all samples or a batched one (fields [N]), whose
    `from_crop` expects crop-centred points at its own `out_size` (rescaled here from `crop_size`).
    """
    pts = as_points("points", points)
    if getattr(crops, "batched", False) and len(crops) != len(pts):
        raise ValueError(f"crops holds {len(crops)} crops for N={len(pts)} samples")
    return np.asarray(crops.from_crop(pts * (crops.out_size / crop_size)), dtype=np.float64)


def to_eval_pixels(points: Any, eval_scale: str, crop_size: int, crops: Any = None) -> np.ndarray:
    """Crop-centred points [N,P,2] -> the pixel units in which accuracy is measured (see the module docstring).

    "crop": unchanged (pixels of the crop_size crop); "original": original-frame pixels through `crops` (a
    CropTransform, one crop or one per sample); "half_original": `0.5 * (p - 1) + 1` of 1-based original pixels.
    """
    if eval_scale not in EVAL_SCALES:
        raise ValueError(f"eval_scale must be one of {EVAL_SCALES} (resolve 'auto' first), got {eval_scale!r}")
    pts = as_points("points", points)
    if eval_scale == "crop":
        return pts
    if crops is None:
        raise ValueError(
            f"eval_scale={eval_scale!r} needs the per-frame crops of original frames, and these frames "
            "have none: data rendered at its crop size (the embedded signer) has no original frames, its "
            "pixels are crop pixels; use eval_scale 'crop' or 'auto'"
        )
    original = crop_centred_to_original(pts, crops, crop_size)
    # The BBC evaluation's 0.5 * (p - 1) + 1 is on 1-based pixels p = p0 + 1, i.e. 0.5 * p0 + 1 on our 0-based p0.
    return original if eval_scale == "original" else 0.5 * original + 1.0
