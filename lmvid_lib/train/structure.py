"""Training the supervised keypoint detector that measures structure (`lmvid_lib.eval.structure`): resumable.

Adam on `keypoint_loss` of batch_size frames drawn uniformly (from a seeded generator) from a split's real frames,
against their true keypoints (NaN or outside the frame = absent, left out of the loss). A run lives where its caller
says (for a dataset: `detector_run_path`, `<run_dir>/detector/<dataset>-seed<seed>`) and holds what every run holds
(`lmvid_lib.train.runs`: config.json, metrics.csv, checkpoints/last.pt, model.pt, summary.json): calling
`train_detector` again continues from last.pt bit-identically, or returns the summary of a finished run; resuming on
other frames or keypoints is refused. `lmvid_lib.eval.structure.load_detector` reads the finished detector back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmvid_lib import landmarks
from lmvid_lib.config import from_dict
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval.structure import (
    check_frames_keypoints,
    detector_accuracy,
    in_frame,
    keypoint_loss,
    load_detector,
    structure_joints,
)
from lmvid_lib.models.detector import DetectorConfig, KeypointDetector
from lmvid_lib.models.files import STRUCTURE_DETECTOR, model_payload
from lmvid_lib.models.sequences import open_run_videos
from lmvid_lib.paths import run_folder
from lmvid_lib.seed import seed_everything
from lmvid_lib.train.runs import LossTrainer, RunFolder, train_loop

# Settings that may change between a run and its resumption (the learning rate is constant, so "steps" too).
RESUMABLE_CHANGES = ("steps", "log_every", "checkpoint_every", "progress")
_HASH_FRAMES = 1024  # frames hashed per read, so that a memmapped split is never loaded whole


def load_detector_config(config: DetectorConfig | Mapping[str, Any], name: str = "detector") -> DetectorConfig:
    """A validated DetectorConfig from a mapping (unknown keys are an error naming them) or a config."""
    return config if isinstance(config, DetectorConfig) else from_dict(DetectorConfig, config, name)


def _config_dict(cfg: DetectorConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def detector_run_path(run_dir: str | Path, dataset: str, cfg: DetectorConfig) -> Path:
    """The folder of `dataset`'s detector run: `<run_dir>/detector/<dataset>-seed<seed>`."""
    return run_folder(run_dir, "detector", f"{dataset}-seed{cfg.seed}")


def data_digest(frames: np.ndarray, keypoints: np.ndarray) -> str:
    """A short content hash of frames uint8 [M,H,W,C] (read in chunks: a memmap is fine) and keypoints float32
    [M,J,2], stored with a run to refuse resuming on other data."""
    digest = hashlib.blake2b(repr((frames.shape, keypoints.shape)).encode(), digest_size=16)
    for start in range(0, len(frames), _HASH_FRAMES):
        digest.update(np.ascontiguousarray(frames[start : start + _HASH_FRAMES]).tobytes())
    digest.update(np.ascontiguousarray(keypoints).tobytes())
    return digest.hexdigest()


def train_detector(
    config: DetectorConfig | Mapping[str, Any], frames: np.ndarray, keypoints: np.ndarray, out: str | Path
) -> dict[str, Any]:
    """Train (or resume, or just report) a detector in the run folder `out` on frames uint8 [M,H,W,C] (a memmap is
    fine) with their true keypoints [M,J,2] in 0-based pixels, NaN = absent; deterministic for a seed. Returns the
    run's summary (paths, steps, resumed_from, seconds, final metrics row); `load_detector(out)` reads it back."""
    cfg = load_detector_config(config)
    frames, points = check_frames_keypoints(frames, keypoints, cfg)
    height, width = frames.shape[1:3]
    points = in_frame(points, height, width).astype(np.float32)
    never = np.flatnonzero(np.isnan(points).any(-1).all(0))
    if len(never):
        raise ValueError(f"keypoints {never.tolist()} are absent (NaN or outside) in every frame: nothing to learn")
    run = RunFolder(
        Path(out),
        _config_dict(cfg),
        lambda saved, source: _config_dict(load_detector_config(saved, source)),
        RESUMABLE_CHANGES,
        ("data", data_digest(frames, points)),
    )
    run.check_config_file()
    return train_loop(run, cfg, detector_trainer(cfg, frames, points), "keypoint detector", device=cfg.device)


def detector_trainer(cfg: DetectorConfig, frames: np.ndarray, points: np.ndarray) -> LossTrainer:
    """The seeded trainer `train_detector` runs on checked frames uint8 [M,H,W,C] and their in-frame keypoints
    float32 [M,J,2] (pixels, NaN = absent): Adam on `keypoint_loss` of cfg.batch_size uniformly drawn frames."""
    height, width = frames.shape[1:3]
    target = landmarks.pixel_to_norm(torch.from_numpy(points), height, width).to(cfg.device)
    seed_everything(cfg.seed)
    detector = KeypointDetector(cfg, frames.shape[3], points.shape[1], (height, width)).to(cfg.device)
    opt = torch.optim.Adam(detector.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed)

    def batch_loss() -> torch.Tensor:
        index = torch.randint(len(frames), (cfg.batch_size,), generator=generator)
        return keypoint_loss(detector(frames_to_input(frames[index.numpy()], None, cfg.device)), target[index])

    def payload() -> dict[str, Any]:
        sizes = {"channels": detector.channels, "n_keypoints": detector.n_keypoints}
        frame_size = list(detector.frame_size)
        config = _config_dict(cfg)
        return model_payload(STRUCTURE_DETECTOR, detector, config=config, **sizes, frame_size=frame_size)

    return LossTrainer(detector, opt, generator, batch_loss, payload)


def train_dataset_detector(
    config: DetectorConfig | Mapping[str, Any],
    dataset: str,
    train: VideoSet,
    test: VideoSet,
    threshold: float,
    run_dir: str | Path,
) -> tuple[KeypointDetector, list[int], dict[str, float]]:
    """Train (or resume, or reuse) the detector of `dataset`'s learnable keypoints (`structure_joints`) on `train`'s
    frames in `detector_run_path`, and measure it on the real frames of `test` (`detector_accuracy`): (detector, the
    keypoint indices it finds, accuracy)."""
    if train.keypoints is None or test.keypoints is None:
        raise ValueError("train and test need keypoints: structure is measured against ground truth")
    cfg = load_detector_config(config)
    joints = structure_joints(train.keypoint_names)
    out = detector_run_path(run_dir, dataset, cfg)
    train_detector(cfg, train.frames, np.asarray(train.keypoints)[:, joints], out)
    detector = load_detector(out)
    return detector, joints, detector_accuracy(detector, test.frames, np.asarray(test.keypoints)[:, joints], threshold)


def run_detector(
    config: DetectorConfig | Mapping[str, Any],
    dataset: str,
    run: str | Path,
    run_dir: str | Path,
    split: str,
    threshold: float = 6.0,
) -> tuple[KeypointDetector, list[int], dict[str, float]] | None:
    """`train_dataset_detector` of the model run `run` of `dataset`: trained on the run's training videos, measured
    on its `split` videos (accuracy within `threshold` px); None where `config` is empty (no detector configured) or
    the data has no true keypoints (your own videos, real BAIR / KTH). Chapters 2, 4b and 5 share one run per
    dataset."""
    if not config:
        return None
    train, test = (open_run_videos(run, s, run_dir) for s in ("train", split))
    if train.keypoints is None or test.keypoints is None:
        return None
    return train_dataset_detector(config, dataset, train, test, threshold, run_dir)
