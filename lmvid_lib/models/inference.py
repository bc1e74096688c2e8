"""Running a trained factorization model on frames: the one encode path (frames -> landmark states and
appearance vectors, `encode_frames`) and the one decode path (states + appearance -> frames, `decode_states`), with an
inference context. The sequence extraction, the chapter views, the playground and the ONNX export all call these;
`decode` is the graph the export writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from lmvid_lib import landmarks
from lmvid_lib.config import check_int
from lmvid_lib.data.frames import frames_to_input


def model_image_size(model: torch.nn.Module) -> int:
    """The square input size a FactorizationModel was built for (its config's `image_size`)."""
    for attr in ("cfg", "config"):
        size = getattr(getattr(model, attr, None), "image_size", None)
        if size is not None:
            return int(size)
    raise ValueError(f"{type(model).__name__} has no cfg.image_size; pass image_size= explicitly")


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


@dataclass
class Codes:
    """What the encoders make of M frames: mu [M,K,2] in [-1,1], cov [M,K,2,2], and, when asked for, appearance
    vectors [M,K,C] (Eq. 1, each frame's own) and part logits [M,K,S/2,S/2] (float32)."""

    mu: torch.Tensor
    cov: torch.Tensor
    appearance: torch.Tensor | None = None
    part_logits: torch.Tensor | None = None

    @property
    def states(self) -> torch.Tensor:
        """The Cholesky-space landmark states [M,K,5] (`landmarks.to_state`)."""
        return landmarks.to_state(self.mu, self.cov)


def encode(model: torch.nn.Module, x: torch.Tensor, appearance: bool = True, part_logits: bool = False) -> Codes:
    """One batch of model input x [B,C,S,S] in [0,1] -> its Codes on x's device; call under `inference(model)`."""
    pose = model.encode_pose(x)
    vectors = model.encode_appearance(x, pose.part_logits).float() if appearance else None
    logits = pose.part_logits.float() if part_logits else None
    return Codes(pose.mu.float(), pose.cov.float(), vectors, logits)


def decode(
    model: torch.nn.Module, states: torch.Tensor, appearance: torch.Tensor, scene: torch.Tensor | None = None
) -> torch.Tensor:
    """states [B,K,5] (any real values: `landmarks.from_state` makes valid Gaussians) + appearance [B,K,C] (+ the
    conditioning frame [B,channels,S,S] in [0,1], read by the scene decoder only) -> frames [B,channels,S,S] in [0,1].
    The graph `publish.web` exports; call under `inference(model)`."""
    mu, cov = landmarks.from_state(states)
    return model.decode(mu, cov, appearance, scene)


class _Take:
    """frames[indices[a:b]] for slices a:b: the rows of a (memmapped) frame array, read one batch at a time."""

    def __init__(self, frames: np.ndarray, indices: np.ndarray) -> None:
        self.frames, self.indices, self.shape = frames, indices, (len(indices), *frames.shape[1:])
        self.dtype, self.ndim = frames.dtype, frames.ndim

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, rows: slice) -> np.ndarray:
        return np.asarray(self.frames[self.indices[rows]])


def _check_frames(frames: object) -> None:
    if not (getattr(frames, "ndim", None) == 4 and getattr(frames, "dtype", None) == np.uint8):
        raise ValueError(
            f"frames must be a uint8 [M,H,W,C] array, got {type(frames).__name__} "
            f"{getattr(frames, 'dtype', '')} {getattr(frames, 'shape', '')}"
        )
    if len(frames) == 0:
        raise ValueError("frames is empty (M=0)")


def encode_frames(
    model: torch.nn.Module,
    frames: np.ndarray,
    batch_size: int = 64,
    *,
    indices: Sequence[int] | np.ndarray | None = None,
    appearance: bool = False,
    part_logits: bool = False,
    device: torch.device | str | None = None,
    image_size: int | None = None,
    progress: bool = False,
    desc: str = "landmarks",
) -> Codes:
    """Codes of uint8 frames [M,H,W,C] (a memmap is fine; with `indices`, of frames[indices] only, read batch by
    batch), as float32 CPU tensors. Batched under `inference(model)`; `device` defaults to the model's; frames are
    resized to `image_size` (default: the model's `cfg.image_size`) by `frames_to_input`."""
    _check_frames(frames)
    if indices is not None:
        frames = _Take(frames, np.asarray(indices, dtype=np.int64))
    check_int(batch_size, "batch_size")
    device = next(model.parameters()).device if device is None else device
    size = image_size or model_image_size(model)
    parts: list[Codes] = []
    with inference(model):
        starts = range(0, len(frames), batch_size)
        for start in tqdm(starts, desc=desc, unit="batch", disable=not progress, leave=False):
            x = frames_to_input(np.asarray(frames[start : start + batch_size]), size, device)
            parts.append(encode(model, x, appearance, part_logits))
    if not parts:
        raise ValueError("frames is empty (M=0)")

    def cat(name: str) -> torch.Tensor | None:
        values = [getattr(c, name) for c in parts]
        return None if values[0] is None else torch.cat(values).cpu()

    return Codes(cat("mu"), cat("cov"), cat("appearance"), cat("part_logits"))


def _rows(x: torch.Tensor, start: int, n: int) -> torch.Tensor:
    """Rows start..start+n of x [M,...], or its one row repeated n times when M is 1 (one set for every frame)."""
    return x.expand(n, *x.shape[1:]) if len(x) == 1 else x[start : start + n]


def decode_states(
    model: torch.nn.Module,
    states: torch.Tensor,
    appearance: torch.Tensor,
    batch_size: int = 64,
    scene: torch.Tensor | None = None,
) -> torch.Tensor:
    """Decode states [M,K,5] drawn with appearance vectors [M,K,C] (or [1,K,C]: one set for every frame) into frames,
    float32 [M,channels,S,S] in [0,1] on the CPU, in batches of `batch_size` under `inference(model)`. `scene`: the
    conditioning frames [M or 1,channels,S,S] in [0,1] the scene decoder reads (needed by it, ignored by the others)."""
    k = model.cfg.n_landmarks
    if not isinstance(states, torch.Tensor) or states.ndim != 3 or tuple(states.shape[1:]) != (k, 5):
        raise ValueError(
            f"states must be a tensor [M,{k},5] for this model (K={k}), got {getattr(states, 'shape', type(states))}"
        )
    if appearance.ndim != 3 or appearance.shape[0] not in (1, len(states)) or appearance.shape[1] != k:
        raise ValueError(f"appearance must be [M={len(states)} or 1,{k},C], got {tuple(appearance.shape)}")
    check_int(batch_size, "batch_size")
    reads_scene = getattr(model, "reads_scene", False)
    if reads_scene and (scene is None or scene.ndim != 4 or scene.shape[0] not in (1, len(states))):
        raise ValueError(
            f"this model's decoder reads the conditioning frame: scene must be [M={len(states)} or 1,channels,S,S], "
            f"got {None if scene is None else tuple(scene.shape)}"
        )
    device = next(model.parameters()).device
    appearance = appearance.to(device=device, dtype=torch.float32)
    frames = []
    with inference(model):
        for start in range(0, len(states), batch_size):
            chunk = states[start : start + batch_size].to(device=device, dtype=torch.float32)
            vectors = _rows(appearance, start, len(chunk))
            frame = _rows(scene.to(device=device, dtype=torch.float32), start, len(chunk)) if reads_scene else None
            frames.append(decode(model, chunk, vectors, frame).float().cpu())
    return torch.cat(frames)
