"""Videos as landmark-state sequences and back: `extract_sequences` (frames -> states [N,T,K,5], cached) and
`render_sequence` (states + one appearance frame -> frames), both through a trained factorization model.

Extraction is cached in the factorization run folder, `<run>/sequences/<key>.npy`, the key a hash of the model file's
bytes and of the selected frames (their indices and pixels): later notebooks reuse a sequence set, and retraining the
model or regenerating the data makes a new one rather than reading a stale one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmvid_lib.config import check_int, check_optional_int
from lmvid_lib.data.datasets import open_dataset
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet
from lmvid_lib.io import atomic_write_npy, file_digest
from lmvid_lib.models.checkpoint import load_trained, read_run_config
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.inference import decode_states, encode_frames
from lmvid_lib.paths import RunFiles


def open_run_videos(run: str | Path, split: str, run_dir: str | Path, **synthetic_overrides: Any) -> VideoSet:
    """Split `split` of the dataset the factorization run folder `run` trained on, opened as its trainer opened it
    (dataset, data_root, data seed and synthetic overrides), with `synthetic_overrides` on top (e.g. more videos of an
    embedded stand-in for the landmark LSTM; an error with a real data_root)."""
    cfg = read_run_config(run)
    overrides = {**cfg.synthetic, **synthetic_overrides}
    return open_dataset(cfg.dataset, split, run_dir, cfg.data_root, seed=cfg.data_seed, **overrides)


def sequence_indices(videos: VideoSet, length: int | None = None) -> np.ndarray:
    """Global frame indices int64 [N,T] of the sequences of `videos`.

    length None: every video is one sequence (all must have the same length). Otherwise each video is cut into
    consecutive non-overlapping windows of `length` frames (a shorter remainder is dropped). The video of sequence i
    is `videos.frame_video[indices[i, 0]]`; its ground-truth keypoints `videos.keypoints[indices]`.
    """
    lengths = videos.lengths
    if length is None:
        if len(lengths) == 0 or np.any(lengths != lengths[0]):
            raise ValueError(f"videos have lengths {sorted(set(lengths.tolist()))[:5]}...: give a sequence length")
        length = int(lengths[0])
    check_optional_int(length, "length")
    starts = [videos.video_starts[v] + w * length for v in range(videos.n_videos) for w in range(lengths[v] // length)]
    if not starts:
        raise ValueError(f"no video has {length} frames (longest: {int(lengths.max(initial=0))})")
    return np.asarray(starts, dtype=np.int64)[:, None] + np.arange(length, dtype=np.int64)


def _frames_digest(frames: np.ndarray, flat: np.ndarray, batch: int) -> str:
    digest = hashlib.blake2b(flat.tobytes(), digest_size=16)
    for start in range(0, len(flat), batch):
        digest.update(np.ascontiguousarray(frames[flat[start : start + batch]]).tobytes())
    return digest.hexdigest()


def cache_path(run: str | Path, videos: VideoSet, indices: np.ndarray, batch: int = 256) -> Path:
    """Where `extract_sequences` caches the states of `indices` [N,T] of `videos` for the model in `run`."""
    run = Path(run)
    model_file = RunFiles(run).model
    if not model_file.is_file():
        raise FileNotFoundError(f"{run} has no model.pt: train it first (train_factorization) or check the path")
    # the shape too: the same frames cut into other windows (whole videos vs 30-frame clips) are another array
    shape = "x".join(map(str, indices.shape))
    key = f"{file_digest(model_file)}-{_frames_digest(videos.frames, indices.ravel(), batch)}-{shape}"
    return RunFiles(run).sequences / f"{key}.npy"


def extract_sequences(
    run: str | Path,
    videos: VideoSet,
    length: int | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> np.ndarray:
    """Landmark states float32 [N,T,K,5] (`landmarks.to_state` of the pose encoder's Gaussians) of the sequences
    `sequence_indices(videos, length)`, by the trained factorization model of run folder `run`
    (`<run_dir>/factorization/<name>`, holding model.pt). Read from the run's cache when present, else extracted in
    batches of `batch_size` frames (tqdm bar) and cached atomically."""
    indices = sequence_indices(videos, length)
    path = cache_path(run, videos, indices)
    if path.is_file():
        return np.load(path, allow_pickle=False)
    model, _ = load_trained(run, device)
    codes = encode_frames(
        model, videos.frames, batch_size, indices=indices.ravel(), device=device, progress=progress, desc="sequences"
    )
    result = codes.states.numpy().reshape(*indices.shape, -1, 5).astype(np.float32)
    atomic_write_npy(path, result)
    return result


def render_sequence(
    model: FactorizationModel,
    states: np.ndarray | torch.Tensor,
    appearance_frame: np.ndarray,
    batch_size: int = 64,
) -> torch.Tensor:
    """Decode landmark states into frames: float32 [N,T,C,H,W] in [0,1] on the CPU (H = W = the model's image_size).

    states: [N,T,K,5] (any real values; `landmarks.from_state` makes valid Gaussians); appearance_frame: uint8
    [N,H',W',C], one conditioning frame per sequence whose appearance vectors (Eq. 1, pooled with its own part maps)
    every frame of that sequence is drawn with (and, by the scene decoder, the scene it reads). Decoded in batches of
    `batch_size` frames under `inference(model)`.
    """
    states = torch.as_tensor(states)
    k = model.cfg.n_landmarks
    if not states.is_floating_point() or states.ndim != 4 or tuple(states.shape[2:]) != (k, 5):
        raise ValueError(
            f"states must be float [N,T,{k},5] for this model (K={k}), got {states.dtype} {tuple(states.shape)}"
        )
    if not (
        isinstance(appearance_frame, np.ndarray)
        and appearance_frame.dtype == np.uint8
        and appearance_frame.ndim == 4
        and len(appearance_frame) == len(states)
    ):
        raise ValueError(
            f"appearance_frame must be a uint8 [N={len(states)},H,W,C] array, got "
            f"{getattr(appearance_frame, 'dtype', type(appearance_frame).__name__)} "
            f"{getattr(appearance_frame, 'shape', '')}"
        )
    check_int(batch_size, "batch_size")
    n, t = states.shape[:2]
    # the N conditioning frames in one batch, as the decoder is given them
    appearance = encode_frames(model, appearance_frame, len(appearance_frame), appearance=True).appearance  # [N,K,C]
    scene = frames_to_input(appearance_frame, model.cfg.image_size, "cpu") if model.reads_scene else None
    frames = decode_states(
        model,
        states.flatten(0, 1),
        appearance.repeat_interleave(t, 0),
        batch_size,
        None if scene is None else scene.repeat_interleave(t, 0),
    )
    return frames.unflatten(0, (n, t))
