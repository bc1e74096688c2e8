"""A short timed probe of a training step: the cost plan's measure of what a run will take (`publish.cost`).

Each probe builds the trainer its `train_*` function runs (`factorization._build`, `dynamics_trainer`,
`pixel_trainer`, `detector_trainer`) on random data of the run's shapes, so the step timed is the step trained: its
losses, augmentation, optimiser and (for factorization) discriminator included. The first step, at one sample, runs
under torch's FLOP counter (`models.flops.count_flops`: convs, matmuls, einsums; elementwise ops are not counted)
and warms the kernels up; then the step at as many samples as PROBE_FLOPS allows (at most the run's batch) is timed
(best of PROBE_REPEAT). Every network here has only per-sample normalisation, so FLOPs and, to a first order, time
are linear in the batch: the plan scales both by the run's samples per optimiser step (batch x micro-batches).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lmvid_lib.data.bbc import JOINT_NAMES
from lmvid_lib.data.store import VideoSet
from lmvid_lib.models.detector import DetectorConfig
from lmvid_lib.models.dynamics import STATE_DIM
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.files import FACTORIZATION, ModelFile
from lmvid_lib.models.flops import count_flops
from lmvid_lib.models.losses import ReconstructionLoss, VGGWeightsMissing
from lmvid_lib.models.run_config import TrainConfig, with_global_batch
from lmvid_lib.train.allocator import keep_freed_memory
from lmvid_lib.train.distributed import DistContext, resolve_device
from lmvid_lib.train.dynamics import DynamicsTrainConfig, dynamics_trainer
from lmvid_lib.train.pixel_predictor import PixelTrainConfig, pixel_trainer
from lmvid_lib.train.runs import Trainer
from lmvid_lib.train.structure import detector_trainer

PROBE_REPEAT = 2  # timed steps after the warm-up (the best one counts)
LONG_STEP = 0.25  # seconds: a step this long is timed once (the plan probes every run of a fresh book)
# FLOPs of the largest step probed, per device type: a CPU step of the paper model at batch 16 takes about a minute
PROBE_FLOPS = {"cpu": 20e9, "cuda": 5e12}
PROBE_VIDEO_FRAMES = 64  # frames per random video: room for temporal partners up to 60 steps away (appendix A)
DETECTOR_KEYPOINTS = len(JOINT_NAMES)  # the detector's head only: its size hardly changes the step


@dataclass(frozen=True)
class StepProbe:
    """What one training step costs here, per sample of its batch."""

    flops_per_sample: float
    seconds_per_sample: float
    batch: int  # samples in the timed step
    device: str
    note: str = ""  # what the probe left out, if anything


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def probe(build: Callable[[int], Trainer], batch: int, device: torch.device, note: str = "") -> StepProbe:
    """Probe the trainers `build(samples)` makes (one optimiser step of `samples` samples each): FLOPs counted at one
    sample, time at min(batch, what PROBE_FLOPS allows) samples."""
    keep_freed_memory()  # as train_loop: CPU steps reuse their buffers (train/allocator.py)
    trainer = build(1)
    flops = count_flops(lambda: trainer.step(1))
    cap = PROBE_FLOPS.get(device.type, PROBE_FLOPS["cpu"])
    timed = max(1, min(batch, int(cap // max(flops, 1))))
    if timed > 1:
        trainer = build(timed)
        trainer.step(1)
    best = float("inf")
    for step in range(2, 2 + PROBE_REPEAT):
        _sync(device)
        start = time.perf_counter()
        trainer.step(step)
        _sync(device)
        best = min(best, time.perf_counter() - start)
        if best > LONG_STEP:  # timed once: its noise is small beside its length
            break
    return StepProbe(float(flops), best / timed, timed, str(device), note)


def probe_device(name: str) -> tuple[torch.device, str]:
    """(the device a run configured for `name` probes on, a note): `name` where it exists here, else the CPU."""
    try:
        return resolve_device(name, DistContext()), ""
    except ValueError:
        return torch.device("cpu"), f"device {name!r} is not available here: probed on cpu"


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def random_videoset(size: int, channels: int, n_videos: int = 2, length: int = PROBE_VIDEO_FRAMES) -> VideoSet:
    """`n_videos` videos of `length` random frames uint8 [size,size,channels]: shapes for a probe, no content."""
    frames = np.random.default_rng(0).integers(0, 256, (n_videos * length, size, size, channels), dtype=np.uint8)
    starts = np.arange(n_videos + 1, dtype=np.int64) * length
    return VideoSet(frames, starts, np.arange(n_videos), np.tile(np.arange(length), n_videos))


def probe_factorization(cfg: TrainConfig) -> StepProbe:
    """Probe `cfg`'s factorization step (a scene run's: its pose encoder frozen, as `landmarks_from` trains it) on
    random frames. Without the VGG19 weights file the perceptual term is left out, and the note says so."""
    from lmvid_lib.train import factorization  # its _build is the trainer train_factorization runs

    device, note = probe_device(cfg.device)
    cfg = dataclasses.replace(with_global_batch(cfg, 1), device=str(device), compile=False, progress=False)
    if note and cfg.bf16:  # CPU autocast to bf16 is many times slower than fp32: no CPU run would use it
        cfg, note = dataclasses.replace(cfg, bf16=False), _join(note, "fp32, not bf16")
    try:
        criterion = ReconstructionLoss(cfg.loss).to(device)
    except VGGWeightsMissing:
        cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, perceptual="none"))
        criterion, note = (
            ReconstructionLoss(cfg.loss).to(device),
            _join(note, "VGG19 weights absent: no perceptual loss"),
        )
    videoset = random_videoset(cfg.model.image_size, cfg.model.channels)
    source = None
    if cfg.landmarks_from is not None:
        source = ModelFile(
            Path(cfg.landmarks_from), FACTORIZATION, {"model": FactorizationModel(cfg.model).state_dict()}
        )

    def build(samples: int) -> Trainer:
        step_cfg = dataclasses.replace(cfg, batch_size=samples, accumulate=1, global_batch=None)
        with tempfile.TemporaryDirectory() as out:  # only after_step writes there, and the probe never calls it
            trainer = factorization._build(step_cfg, Path(out), DistContext(), device, videoset, criterion, source)
        trainer.wrap()
        return trainer

    return probe(build, cfg.batch_size * cfg.accumulate, device, note)


def probe_dynamics(cfg: DynamicsTrainConfig) -> StepProbe:
    """Probe the landmark LSTM's step (`dynamics_trainer`) on random states of its K and schedule."""
    device, note = probe_device(cfg.device)
    n, m = cfg.schedule()
    gen = torch.Generator().manual_seed(0)
    states = (0.1 * torch.randn(4, n + m + 1, cfg.model.n_landmarks, STATE_DIM, generator=gen)).to(device)

    def build(samples: int) -> Trainer:
        return dynamics_trainer(dataclasses.replace(cfg, batch_size=samples, device=str(device)), states)

    return probe(build, cfg.batch_size, device, note)


def probe_pixel(cfg: PixelTrainConfig) -> StepProbe:
    """Probe the pixel predictor's step (`pixel_trainer`) on random videos of its frame size and schedule."""
    device, note = probe_device(cfg.device)
    n, m = cfg.schedule()
    size, channels = cfg.model.image_size, cfg.model.channels
    frames = np.random.default_rng(0).integers(0, 256, (4, n + m + 1, size, size, channels), dtype=np.uint8)

    def build(samples: int) -> Trainer:
        return pixel_trainer(dataclasses.replace(cfg, batch_size=samples, device=str(device)), frames)

    return probe(build, cfg.batch_size, device, note)


def probe_detector(cfg: DetectorConfig, size: int, channels: int) -> StepProbe:
    """Probe the keypoint detector's step (`detector_trainer`) on random size x size frames with DETECTOR_KEYPOINTS
    random keypoints."""
    device, note = probe_device(cfg.device)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (64, size, size, channels), dtype=np.uint8)
    points = rng.uniform(0, size - 1, (64, DETECTOR_KEYPOINTS, 2)).astype(np.float32)

    def build(samples: int) -> Trainer:
        return detector_trainer(dataclasses.replace(cfg, batch_size=samples, device=str(device)), frames, points)

    return probe(build, cfg.batch_size, device, note)
