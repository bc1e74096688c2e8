"""The one prepared on-disk format that training and evaluation read, for synthetic and real datasets alike.

Layout of a prepared dataset folder::

    <root>/index.json             {"format": "lmvid-videos", "format_version": 1, "dataset": ...,
                                   "splits": {split: {n_frames, n_videos, frame_shape, has_keypoints, crop_mode}},
                                   "keypoint_names": [...], "provenance": {...}, "lmvid_version": ...}
    <root>/<split>/frames.npy         uint8 [M,H,W,C]  every stored frame, videos concatenated, in time order
    <root>/<split>/video_starts.npy   int64 [V+1]      video v is frames[starts[v]:starts[v+1]]
    <root>/<split>/video_ids.npy      int64 [V]        identity of each video (actor / scene / person)
    <root>/<split>/frame_numbers.npy  int64 [M]        original frame number of each stored frame
    <root>/<split>/keypoints.npy      float32 [M,J,2]  (optional) x, y in 0-based pixels of the stored frame; NaN = none
    <root>/<split>/crops.npy          float64 [M,3]    (optional) where each stored frame was cropped from its original
                                                       frame: centre x, centre y, half side, in 0-based original pixels
    <root>/<split>/meta.json          {"video_names": [...], ...}; with crops also "crop_mode" ("frame": each frame
                                      cropped around its own keypoints, "video": one crop per video), "crop_margin",
                                      "crop_out_size" (the stored side) and "source_frame_hw"

Datasets rendered at their stored size (the embedded stand-ins) have no crops.npy: their pixels are the only pixels.

`frames.npy` is opened as a read-only memmap, so a split larger than memory still trains. The whole folder is written
with `lmvid_lib.io.atomic_dir`: `index.json` exists only in a complete set, and an interrupted write leaves the previous
set untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmvid_lib import __version__
from lmvid_lib.io import atomic_dir, atomic_write_json

FORMAT = "lmvid-videos"
FORMAT_VERSION = 1


@dataclass
class VideoSet:
    """Variable-length videos stored back to back. Shapes: M frames, V videos, J keypoints."""

    frames: np.ndarray  # uint8 [M,H,W,C]
    video_starts: np.ndarray  # int64 [V+1]
    video_ids: np.ndarray  # int64 [V]
    frame_numbers: np.ndarray  # int64 [M]
    keypoints: np.ndarray | None = None  # float32 [M,J,2]
    crops: np.ndarray | None = None  # float64 [M,3]: (centre x, centre y, half side) in the original frame
    keypoint_names: list[str] = field(default_factory=list)
    video_names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = len(self.frames)
        if self.frames.ndim != 4 or self.frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [M,H,W,C], got {self.frames.dtype} {self.frames.shape}")
        starts = np.asarray(self.video_starts)
        if starts.ndim != 1 or starts[0] != 0 or starts[-1] != m or np.any(np.diff(starts) < 0):
            raise ValueError(f"video_starts must rise from 0 to M={m}, got {starts[:3]}...{starts[-3:]}")
        if len(self.video_ids) != len(starts) - 1:
            raise ValueError(f"video_ids has {len(self.video_ids)} entries for {len(starts) - 1} videos")
        if len(self.frame_numbers) != m:
            raise ValueError(f"frame_numbers has {len(self.frame_numbers)} entries for {m} frames")
        if self.keypoints is not None and (self.keypoints.shape[0] != m or self.keypoints.shape[-1] != 2):
            raise ValueError(f"keypoints must be [M={m},J,2], got {self.keypoints.shape}")
        if self.crops is not None and tuple(self.crops.shape) != (m, 3):
            raise ValueError(f"crops must be [M={m},3] (centre x, centre y, half side), got {self.crops.shape}")
        if not self.video_names:
            self.video_names = [str(i) for i in range(self.n_videos)]

    @property
    def n_videos(self) -> int:
        return len(self.video_starts) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.video_starts)

    @property
    def frame_video(self) -> np.ndarray:
        """int64 [M]: the video index of each stored frame."""
        return np.repeat(np.arange(self.n_videos), self.lengths)

    def video(self, v: int) -> np.ndarray:
        return self.frames[self.video_starts[v] : self.video_starts[v + 1]]

    def as_clips(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(frames [N,T,H,W,C], keypoints [N,T,J,2] or None) when every video has the same length T."""
        lengths = self.lengths
        if len(lengths) == 0 or np.any(lengths != lengths[0]):
            raise ValueError("as_clips needs videos of equal length")
        n, t = len(lengths), int(lengths[0])
        frames = np.asarray(self.frames).reshape(n, t, *self.frames.shape[1:])
        kp = None if self.keypoints is None else np.asarray(self.keypoints).reshape(n, t, *self.keypoints.shape[1:])
        return frames, kp

    @classmethod
    def from_clips(
        cls,
        frames: np.ndarray,
        video_ids: np.ndarray,
        keypoints: np.ndarray | None = None,
        keypoint_names: list[str] | None = None,
        video_names: list[str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> VideoSet:
        """From equal-length clips: frames [N,T,H,W,C], keypoints [N,T,J,2], video_ids [N]."""
        n, t = frames.shape[:2]
        return cls(
            frames=frames.reshape(n * t, *frames.shape[2:]),
            video_starts=np.arange(n + 1, dtype=np.int64) * t,
            video_ids=np.asarray(video_ids, dtype=np.int64),
            frame_numbers=np.tile(np.arange(t, dtype=np.int64), n),
            keypoints=None if keypoints is None else keypoints.reshape(n * t, *keypoints.shape[2:]).astype(np.float32),
            keypoint_names=list(keypoint_names or []),
            video_names=list(video_names or []),
            meta=dict(meta or {}),
        )


def write_split(folder: Path, videos: VideoSet) -> dict[str, Any]:
    """Write one split's arrays into `folder` (inside an atomic_dir); return its summary for index.json."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "frames.npy", np.ascontiguousarray(videos.frames), allow_pickle=False)
    np.save(folder / "video_starts.npy", np.asarray(videos.video_starts, dtype=np.int64))
    np.save(folder / "video_ids.npy", np.asarray(videos.video_ids, dtype=np.int64))
    np.save(folder / "frame_numbers.npy", np.asarray(videos.frame_numbers, dtype=np.int64))
    if videos.keypoints is not None:
        np.save(folder / "keypoints.npy", np.asarray(videos.keypoints, dtype=np.float32))
    if videos.crops is not None:
        np.save(folder / "crops.npy", np.asarray(videos.crops, dtype=np.float64))
    (folder / "meta.json").write_text(json.dumps({"video_names": videos.video_names, **videos.meta}, indent=1))
    return {
        "n_frames": len(videos.frames),
        "n_videos": int(videos.n_videos),
        "frame_shape": [int(s) for s in videos.frames.shape[1:]],
        "has_keypoints": videos.keypoints is not None,
        "crop_mode": videos.meta.get("crop_mode") if videos.crops is not None else None,
    }


def write_dataset(
    root: str | Path,
    dataset: str,
    splits: Mapping[str, VideoSet],
    provenance: Mapping[str, Any],
    keypoint_names: list[str] | None = None,
) -> Path:
    """Atomically write a whole prepared dataset (all splits + index.json) to `root`, replacing any previous one."""
    root = Path(root)
    with atomic_dir(root) as tmp:
        summary = {name: write_split(tmp / name, videos) for name, videos in splits.items()}
        atomic_write_json(
            tmp / "index.json",
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "dataset": dataset,
                "splits": summary,
                "keypoint_names": list(keypoint_names or []),
                "provenance": dict(provenance),
                "lmvid_version": __version__,
            },
        )
    return root


def read_index(root: str | Path) -> dict[str, Any]:
    root = Path(root)
    path = root / "index.json"
    if not path.is_file():
        raise FileNotFoundError(f"{root} is not a prepared lmvid dataset (no index.json); prepare it first")
    index = json.loads(path.read_text())
    if index.get("format") != FORMAT or index.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format {index.get('format')} v{index.get('format_version')}, expected {FORMAT} v{FORMAT_VERSION}"
        )
    return index


def is_prepared(root: str | Path) -> bool:
    try:
        read_index(root)
    except (FileNotFoundError, ValueError, json.JSONDecodeError):
        return False
    return True


def open_split(root: str | Path, split: str, mmap: bool = True) -> VideoSet:
    """Open one split of a prepared dataset; frames are a read-only memmap unless `mmap=False`."""
    root = Path(root)
    index = read_index(root)
    if split not in index["splits"]:
        raise KeyError(f"{root}: no split {split!r}; has {sorted(index['splits'])}")
    folder = root / split
    kp_path, crops_path = folder / "keypoints.npy", folder / "crops.npy"
    meta = json.loads((folder / "meta.json").read_text())
    return VideoSet(
        frames=np.load(folder / "frames.npy", mmap_mode="r" if mmap else None),
        video_starts=np.load(folder / "video_starts.npy"),
        video_ids=np.load(folder / "video_ids.npy"),
        frame_numbers=np.load(folder / "frame_numbers.npy"),
        keypoints=np.load(kp_path) if kp_path.is_file() else None,
        crops=np.load(crops_path) if crops_path.is_file() else None,
        keypoint_names=list(index.get("keypoint_names", [])),
        video_names=meta.pop("video_names", []),
        meta=meta,
    )
