"""Training the pixel-space predictor (`lmvid_lib.models.pixel_predictor`), the baseline of chapter 5.

Each training example is a clip of n + m consecutive frames x_0 .. x_{n+m-1} of one video, sampled as for the
landmark LSTM (`lmvid_lib.train.dynamics`): the model makes the n + m - 1 predictions x_1 .. x_{n+m-1}, reading the
ground truth x_0 .. x_{n-1} for its first n steps (the skips come from x_{n-1}, the last ground-truth frame) and its
own predictions for the remaining m - 1. Its schedule is SVG's (`Dataset.pixel_schedule`: BAIR 2 in / 10 future, KTH
10 / 10), so it always trains with its own frames fed back, as it is scored; the landmark LSTM keeps the paper's
(appendix A). The loss is the mean squared error of all predicted pixels in [0, 1] (L2, as SVG's deterministic model).
Adam.

A run lives in `<run_dir>/pixel/<dataset>-seed<seed>/` (config.json, metrics.csv, checkpoints/last.pt, model.pt,
summary.json) and resumes like the other trainers (`lmvid_lib.train.runs`): calling `train_pixel_predictor` again
continues from `last.pt` bit-identically, or returns the summary of a finished run. Resuming on other frames is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmvid_lib.config import from_dict
from lmvid_lib.data.datasets import DATASETS, VALIDATION, has_validation
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.models.checkpoint import dataset_run, read_run_config
from lmvid_lib.models.files import PIXEL_PREDICTOR, model_payload
from lmvid_lib.models.inference import inference
from lmvid_lib.models.pixel_predictor import PixelPredictor, PixelPredictorConfig
from lmvid_lib.models.rollout import unroll
from lmvid_lib.models.sequences import open_run_videos
from lmvid_lib.paths import run_folder
from lmvid_lib.seed import seed_everything
from lmvid_lib.train.dynamics import (
    RESUMABLE_CHANGES,
    VALIDATION_CLIPS,
    SequenceTrainConfig,
    check_sequence_config,
    sample_clips,
)
from lmvid_lib.train.runs import LossTrainer, RunFolder, train_loop

_HASH_FRAMES = 256  # frames hashed per read, so that a memmapped split is never loaded whole


@dataclass
class PixelTrainConfig(SequenceTrainConfig):
    dataset: str = "pusher"  # names the default schedule (`Dataset.pixel_schedule`) and the run
    steps: int = 2000
    batch_size: int = 16
    model: PixelPredictorConfig = field(default_factory=PixelPredictorConfig)

    def default_schedule(self) -> tuple[int, int] | None:
        """The dataset's pixel-predictor schedule (`Dataset.pixel_schedule`: SVG's, with fed-back frames)."""
        return DATASETS[self.dataset].pixel_schedule if self.dataset in DATASETS else None

    @property
    def run_name(self) -> str:
        return self.name or f"{self.dataset}-seed{self.seed}"


def load_pixel_config(config: PixelTrainConfig | Mapping[str, Any], name: str = "pixel") -> PixelTrainConfig:
    """A validated PixelTrainConfig from a mapping (unknown keys are an error naming them) or a config."""
    cfg = config if isinstance(config, PixelTrainConfig) else from_dict(PixelTrainConfig, config, name)
    check_sequence_config(cfg, name, PixelPredictorConfig, ("lr", "grad_clip"))
    return cfg


def pixel_run_path(cfg: PixelTrainConfig, run_dir: str | Path) -> Path:
    """The folder of the run `cfg` describes: `<run_dir>/pixel/<run_name>`."""
    return run_folder(run_dir, "pixel", cfg.run_name)


def _config_dict(cfg: PixelTrainConfig) -> dict[str, Any]:
    """The config as plain JSON data, as written to config.json."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def check_video_frames(frames: object, name: str, cfg: PixelTrainConfig) -> np.ndarray:
    """`frames` as a uint8 array [N,T,S,S,C] (a memmap is fine) with C, S the model's and T >= n + m; a ValueError
    naming `name` otherwise."""
    model, (n, m) = cfg.model, cfg.schedule()
    expected = f"[N,T,{model.image_size},{model.image_size},{model.channels}]"
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise ValueError(
            f"{name} must be a uint8 numpy array {expected} (as VideoSet.as_clips), got {type(frames).__name__} "
            f"{getattr(frames, 'dtype', '')}"
        )
    if frames.ndim != 5 or frames.shape[2:] != (model.image_size, model.image_size, model.channels):
        raise ValueError(f"{name} must have shape {expected} (the model's image_size and channels), got {frames.shape}")
    if frames.shape[0] < 1 or frames.shape[1] < n + m:
        raise ValueError(
            f"{name} has {frames.shape[0]} videos of {frames.shape[1]} frames; n_inputs + n_future = {n} + {m} needs "
            f"at least one video of {n + m}"
        )
    return frames


def frames_digest(frames: np.ndarray) -> str:
    """A short content hash of frames [N,T,H,W,C], stored with a run to refuse resuming on other frames."""
    digest = hashlib.blake2b(repr(frames.shape).encode(), digest_size=16)
    flat = frames.reshape(-1, *frames.shape[2:])
    for start in range(0, len(flat), _HASH_FRAMES):
        digest.update(np.ascontiguousarray(flat[start : start + _HASH_FRAMES]).tobytes())
    return digest.hexdigest()


def clip_tensor(frames: np.ndarray, index: np.ndarray, device: str) -> torch.Tensor:
    """Frames [N,T,H,W,C] uint8 at flat frame indices [B,L] (into the N*T frames) -> float [B,L,C,H,W] in [0,1]."""
    flat = frames.reshape(-1, *frames.shape[2:])
    picked = flat[index.reshape(-1)]
    return frames_to_input(picked, None, device).unflatten(0, index.shape)


def prediction_loss(model: PixelPredictor, clips: torch.Tensor, n_inputs: int) -> torch.Tensor:
    """Mean squared pixel error of the n + m - 1 predictions of clips [B,n+m,C,S,S] in [0,1], the first
    min(n, n+m-1) inputs ground truth (the last of them gives the skips) and the rest the model's own outputs."""
    n_fed = min(n_inputs, clips.shape[1] - 1)
    predicted = unroll(model, clips[:, :n_fed], clips.shape[1] - n_fed)
    return (predicted - clips[:, 1:]).square().mean()


def _validation_loss(model: PixelPredictor, val: np.ndarray, cfg: PixelTrainConfig) -> float:
    """The loss on the first n + m frames of (at most VALIDATION_CLIPS of) the validation videos, in batches."""
    n, m = cfg.schedule()
    videos = min(len(val), VALIDATION_CLIPS)
    index = np.arange(videos)[:, None] * val.shape[1] + np.arange(n + m)
    total = 0.0
    with inference(model):
        for start in range(0, videos, cfg.batch_size):
            part = index[start : start + cfg.batch_size]
            total += float(prediction_loss(model, clip_tensor(val, part, cfg.device), n)) * len(part)
    return total / videos


def train_pixel_predictor(
    config: PixelTrainConfig | Mapping[str, Any],
    frames: np.ndarray,
    run_dir: str | Path,
    val_frames: np.ndarray | None = None,
) -> dict[str, Any]:
    """Train (or resume, or just report) the pixel predictor on training videos `frames`, uint8 [N,T,S,S,C]
    (`VideoSet.as_clips`; converted to [0,1] per batch), T >= n + m.

    With `val_frames` [N',T',S,S,C], each logged row also has `val_loss`: the same loss on the first n + m frames of
    (at most VALIDATION_CLIPS of) its videos. Returns the run's summary (paths, steps, schedule, resumed_from, seconds,
    final metrics row).
    """
    cfg = load_pixel_config(config)
    train = check_video_frames(frames, "frames", cfg)
    val = None if val_frames is None else check_video_frames(val_frames, "val_frames", cfg)
    digest = frames_digest(train)
    run = RunFolder(
        pixel_run_path(cfg, run_dir),
        _config_dict(cfg),
        lambda saved, source: _config_dict(load_pixel_config(saved, source)),
        RESUMABLE_CHANGES,
        ("frames", digest),
    )
    run.check_config_file()
    return train_loop(run, cfg, pixel_trainer(cfg, train, val), f"pixel {cfg.run_name}", device=cfg.device)


def pixel_trainer(cfg: PixelTrainConfig, train: np.ndarray, val: np.ndarray | None = None) -> LossTrainer:
    """The seeded trainer `train_pixel_predictor` runs on checked uint8 videos `train` [N,T,S,S,C] (`val` likewise:
    each logged row's val_loss): Adam, batches of cfg.batch_size clips of n + m frames."""
    n_inputs, n_future = cfg.schedule()
    seed_everything(cfg.seed)
    model = PixelPredictor(cfg.model).to(cfg.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    # Clips are drawn as flat frame indices, so that only a batch of frames is ever read from a (memmapped) split.
    frame_index = torch.arange(train.shape[0] * train.shape[1]).view(train.shape[:2])

    def batch_loss() -> torch.Tensor:
        index = sample_clips(frame_index, n_inputs + n_future, cfg.batch_size, generator).numpy()
        return prediction_loss(model, clip_tensor(train, index, cfg.device), n_inputs)

    return LossTrainer(
        model,
        opt,
        generator,
        batch_loss,
        lambda: model_payload(PIXEL_PREDICTOR, model),
        cfg.grad_clip,
        None if val is None else lambda: _validation_loss(model, val, cfg),
        {"schedule": [n_inputs, n_future]},
    )


def train_dataset_pixel_predictor(
    config: Mapping[str, Any], dataset: str, run_dir: str | Path, device: str = "cpu"
) -> dict[str, Any]:
    """Train (or resume, or report) the pixel predictor of `dataset` on the training videos of its chapter-2 model's
    data (`dataset_run`), validated on the validation videos (`data.datasets.VALIDATION`), at that model's frame size
    and channels (so that it sees the frames the landmark predictions are scored on). `config`: a PixelTrainConfig
    mapping shared by every dataset."""
    run = dataset_run(run_dir, dataset)
    factorization = read_run_config(run)
    frames, _ = open_run_videos(run, "train", run_dir).as_clips()
    # without a validation split (a prepared real set, for now) it trains unvalidated: never on test
    has_val = has_validation(factorization.dataset, factorization.data_root)
    val = open_run_videos(run, VALIDATION, run_dir).as_clips()[0] if has_val else None
    size, channels = factorization.model.image_size, frames.shape[-1]
    if frames.shape[2:4] != (size, size):
        raise ValueError(
            f"{dataset}'s frames are {frames.shape[2]}x{frames.shape[3]} but its model sees {size}x{size}: the pixel "
            "predictor must predict the frames the landmark predictions are scored on"
        )
    cfg = dataset_pixel_config(config, dataset, int(channels), size, device)
    return train_pixel_predictor(cfg, frames, run_dir, val)


def dataset_pixel_config(
    config: Mapping[str, Any], dataset: str, channels: int, image_size: int, device: str = "cpu"
) -> PixelTrainConfig:
    """The PixelTrainConfig `train_dataset_pixel_predictor` trains `dataset`'s predictor with: the shared `config`
    mapping with the dataset, device and the frames' channels and size set."""
    model = {**dict(config.get("model", {})), "channels": channels, "image_size": image_size}
    return load_pixel_config({**config, "dataset": dataset, "device": device, "model": model}, "pixel")
