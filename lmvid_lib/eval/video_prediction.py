"""Chapter 5's protocol: predicted video against the real video, frame by frame (paper §3.2-3.3, Fig. 4, 5, 7, 8).

A dataset's test videos are cut into clips of `context + horizon` frames (the registry's protocols,
`data.datasets.DATASETS`: BAIR and its stand-in condition on 2 frames and predict 28, KTH and its stand-in on 10 and
predict 30). Landmark predictors (the LSTMs of chapter 4 and the state-space baselines) roll the context's landmark
states forward and the dataset's factorization model decodes them with the appearance of the last context frame
(`landmark_video`); pixel predictors map context frames to future frames directly. Every prediction is one deterministic
sample, compared at the model's resolution with the real frames (`real_video`) by `lmvid_lib.eval.metrics`
(`score_video`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lmvid_lib.config import check_int
from lmvid_lib.data.datasets import DATASETS, data_label
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval import metrics
from lmvid_lib.eval.horizon import HorizonCurves
from lmvid_lib.eval.predictors import (
    CONSTANT_VELOCITY,
    COPY_FRAME,
    COPY_LAST,
    OURS,
    OURS_DIRECT,
    OURS_SCENE,
    REAL_FUTURE,
)
from lmvid_lib.eval.structure import structure_error
from lmvid_lib.models.checkpoint import dataset_run, load_trained, read_run_config, scene_run
from lmvid_lib.models.dynamics import ConstantVelocity, CopyLast, dynamics_run
from lmvid_lib.models.files import LANDMARK_LSTM, load_model
from lmvid_lib.models.rollout import rollout
from lmvid_lib.models.sequences import extract_sequences, open_run_videos, render_sequence, sequence_indices


@dataclass
class VideoClips:
    """Clips of a split for prediction: frame indices [N,L] into `videos.frames` (L = context + horizon) and the
    landmark states [N,L,K,5] of every clip frame by the dataset's factorization model."""

    videos: VideoSet
    indices: np.ndarray
    states: np.ndarray
    context: int
    horizon: int

    @property
    def clip_videos(self) -> np.ndarray:
        """int64 [N]: the source video of each clip (`videos.frame_video` of its first frame), the unit of the
        standard errors (`metrics.step_stats`)."""
        return self.videos.frame_video[self.indices[:, 0]]

    @property
    def n_videos(self) -> int:
        """How many source videos the clips come from."""
        return len(np.unique(self.clip_videos))


def protocol(dataset: str, context: int | None = None, horizon: int | None = None) -> tuple[int, int]:
    """(context, horizon) of `dataset`: the paper's, or the given values where not None."""
    default = DATASETS[dataset].protocol if dataset in DATASETS else None
    if default is None and (context is None or horizon is None):
        known = sorted(name for name, d in DATASETS.items() if d.protocol)
        raise ValueError(f"dataset {dataset!r} has no prediction protocol (known: {known}): give both")
    context = default[0] if context is None else context
    horizon = default[1] if horizon is None else horizon
    return check_int(context, "context"), check_int(horizon, "horizon")


def video_clips(
    run: str | Path,
    videos: VideoSet,
    context: int,
    horizon: int,
    max_clips: int | None = None,
    device: str = "cpu",
) -> VideoClips:
    """The first `max_clips` (None: all) non-overlapping clips of `context + horizon` frames of `videos`, with their
    landmark states by the factorization run folder `run` (cached by `extract_sequences`)."""
    length = context + horizon
    indices = sequence_indices(videos, length)
    states = extract_sequences(run, videos, length, device=device, progress=False)
    if max_clips is not None:
        indices, states = indices[:max_clips], states[:max_clips]
    return VideoClips(videos, indices, states, context, horizon)


def real_video(clips: VideoClips, image_size: int) -> torch.Tensor:
    """The real clips as the model sees them: float32 [N,L,C,H,W] in [0,1] at `image_size` (CPU)."""
    flat = clips.indices.ravel()
    frames = frames_to_input(np.asarray(clips.videos.frames[flat]), image_size, "cpu")
    return frames.unflatten(0, clips.indices.shape)


def landmark_video(factorization: nn.Module, predictor: nn.Module, clips: VideoClips) -> torch.Tensor:
    """Frames decoded from `predictor`'s rollout of the context states: float32 [N,horizon,C,H,W] in [0,1], drawn
    with each clip's last context frame's appearance."""
    context = torch.from_numpy(clips.states[:, : clips.context]).float()
    future = rollout(predictor, context, clips.horizon)
    appearance = np.asarray(clips.videos.frames[clips.indices[:, clips.context - 1]])
    return render_sequence(factorization, future, appearance)


def copy_last_frame(real: torch.Tensor, context: int, horizon: int) -> torch.Tensor:
    """The pixel baseline: the last context frame repeated: real [N,L,C,H,W] -> [N,horizon,C,H,W]."""
    return real[:, context - 1 : context].expand(-1, horizon, -1, -1, -1).clone()


@dataclass
class VideoScores:
    """Per-frame scores [N,horizon] of one predictor: SSIM, PSNR, and LPIPS per backbone that could be computed."""

    ssim: np.ndarray
    psnr: np.ndarray
    lpips: dict[str, np.ndarray]


def score_video(pred: torch.Tensor, target: torch.Tensor, lpips_nets: tuple[str, ...] = ()) -> VideoScores:
    """Scores of predicted against real future frames, both [N,T,C,H,W] in [0,1]; LPIPS for each backbone of
    `lpips_nets` ("alex", "vgg") whose weights are available (the others are left out)."""
    pred, target = pred.clamp(0, 1), target.clamp(0, 1)
    found = {}
    for net in lpips_nets:
        try:
            found[net] = metrics.lpips(pred, target, net=net).cpu().numpy()
        except metrics.LPIPSWeightsUnavailable:
            continue
    return VideoScores(metrics.ssim(pred, target).cpu().numpy(), metrics.psnr(pred, target).cpu().numpy(), found)


def available_lpips(nets: tuple[str, ...] = ("alex", "vgg")) -> dict[str, bool]:
    """Which LPIPS backbones have their ImageNet weights in torchvision's cache on this machine."""
    return {net: metrics.lpips_backbone_file(net).is_file() for net in nets}


def lpips_backbones(required: bool = False, nets: tuple[str, ...] = ("alex", "vgg")) -> tuple[str, ...]:
    """The LPIPS backbones of `nets` whose ImageNet weights are cached (chapter 5 scores those). With `required`
    (the paper profile: the paper scores its predictions by LPIPS, Sec. 3.2-3.3) a missing one is an error instead:
    one LPIPSWeightsUnavailable naming every missing file and the folder to place them in."""
    found = available_lpips(nets)
    missing = [metrics.lpips_backbone_file(net) for net, ok in found.items() if not ok]
    if required and missing:
        raise metrics.LPIPSWeightsUnavailable(
            f"require_lpips: the paper scores predictions by LPIPS (Sec. 3.2-3.3), and torchvision's cache lacks "
            f"{', '.join(path.name for path in missing)}: place them in {missing[0].parent} "
            "(torch.hub.get_dir()/checkpoints; set TORCH_HOME to use another cache), or set "
            "05_prediction.require_lpips: false to score without LPIPS"
        )
    return tuple(net for net, ok in found.items() if ok)


def overtaking_step(ours: np.ndarray, other: np.ndarray, higher_is_better: bool = True) -> int | None:
    """The first predicted frame (1-based) from which `ours` stays better than `other` (per-step means [T]) up to
    the last frame, or None if it is not better at the last frame."""
    better = ours > other if higher_is_better else ours < other
    if not better[-1]:
        return None
    worse = np.flatnonzero(~better)
    return 1 if len(worse) == 0 else int(worse[-1]) + 2


def strip_frames(videos: Mapping[str, torch.Tensor], clip: int, steps: list[int]) -> dict[str, Any]:
    """Rows for a Fig. 4-style strip: each video [N,T,C,H,W] -> frames [len(steps),H,W,C] of `clip` at the 1-based
    predicted steps `steps`."""
    index = torch.as_tensor(steps) - 1
    return {name: frames[clip, index].permute(0, 2, 3, 1) for name, frames in videos.items()}


# Landmark predictors decoded through the dataset's decoder: (chapter 4's LSTM wiring, or a state-space baseline).
LANDMARK_PREDICTORS: dict[str, bool | type[nn.Module]] = {
    OURS: True,
    OURS_DIRECT: False,
    COPY_LAST: CopyLast,
    CONSTANT_VELOCITY: ConstantVelocity,
}


@dataclass
class DatasetPrediction:
    """Every prediction of one dataset's test clips and its scores: real [N,L,C,H,W], predictions and scores by
    predictor name ([N,horizon,C,H,W] frames, VideoScores)."""

    dataset: str
    run: Path
    clips: VideoClips
    real: torch.Tensor
    predictions: dict[str, torch.Tensor]
    scores: dict[str, VideoScores]

    @property
    def target(self) -> torch.Tensor:
        return self.real[:, self.clips.context :]


def predict_dataset(
    run_dir: str | Path,
    dataset: str,
    max_clips: int | None = None,
    lpips_nets: tuple[str, ...] = (),
    pixel_predictors: Mapping[str, Callable[[torch.Tensor, int], torch.Tensor]] | None = None,
    device: str = "cpu",
) -> DatasetPrediction:
    """Predict the test clips of `dataset` (its chapter-2 model `dataset_run`, the paper's protocol for it) with
    every landmark predictor (chapter 4's LSTMs, `dynamics_run`, and the state-space baselines, all decoded), the
    copy-last frame, and each pixel predictor (name -> f(real context frames [N,Tc,C,H,W], horizon) -> frames),
    and score them all against the real future frames. Where chapter 2 trained a scene decoder on the model's
    landmarks (`scene_run`), the landmark LSTM's rollout is also drawn by it (OURS_SCENE)."""
    run = dataset_run(run_dir, dataset)
    model, cfg = load_trained(run, device)
    context, horizon = protocol(cfg.dataset)
    clips = video_clips(run, open_run_videos(run, "test", run_dir), context, horizon, max_clips, device)
    real = real_video(clips, cfg.model.image_size)
    predictions, predictors = {}, {}
    for name, kind in LANDMARK_PREDICTORS.items():
        predictors[name] = predictor = (
            load_model(dynamics_run(run_dir, dataset, kind), kind=LANDMARK_LSTM) if isinstance(kind, bool) else kind()
        )
        predictions[name] = landmark_video(model, predictor, clips)
    scene = scene_run(run_dir, dataset)
    if scene is not None:
        predictions[OURS_SCENE] = landmark_video(load_trained(scene, device)[0], predictors[OURS], clips)
    predictions[COPY_FRAME] = copy_last_frame(real, context, horizon)
    for name, predict in (pixel_predictors or {}).items():
        predictions[name] = predict(real[:, :context], horizon)
    target = real[:, context:]
    scores = {name: score_video(frames, target, lpips_nets) for name, frames in predictions.items()}
    return DatasetPrediction(dataset, run, clips, real, predictions, scores)


def future_keypoints(clips: VideoClips, joints: list[int], size: int, dataset: str) -> np.ndarray:
    """The true keypoints `joints` of the clips' predicted frames [N,T,J,2] (px of the stored frame, NaN = absent),
    for predictions decoded at `size` px; an error where the data has no keypoints or is stored at another size."""
    if clips.videos.keypoints is None:
        raise ValueError(f"{dataset}'s test videos have no keypoints: structure needs ground truth")
    stored = clips.videos.frames.shape[1]
    if stored != size:
        raise ValueError(f"frames are stored at {stored} px but predicted at {size} px")
    future = clips.indices[:, clips.context :]
    return np.asarray(clips.videos.keypoints)[future][..., joints, :]


def structure_curves(
    detector: nn.Module, joints: list[int], result: DatasetPrediction, threshold: float
) -> dict[str, HorizonCurves]:
    """Structure kept by every prediction of `result`: the detector's keypoints `joints` on its predicted frames
    against the true keypoints of the same future frames (`structure_error`), and on the real future frames
    (key REAL_FUTURE: the detector's own error, the floor of every curve)."""
    true = future_keypoints(result.clips, joints, result.real.shape[-1], result.dataset)
    videos = {REAL_FUTURE: result.target, **result.predictions}
    return {name: structure_error(detector, frames, true, threshold) for name, frames in videos.items()}


def structure_means(curves: Mapping[str, HorizonCurves]) -> tuple[dict[str, float], float]:
    """({predictor: mean detected-keypoint error over its predicted frames (px)}, the same on the real future frames
    (REAL_FUTURE, the detector's own error))."""
    means = {name: float(np.nanmean(c.errors)) for name, c in curves.items() if name != REAL_FUTURE}
    return means, float(np.nanmean(curves[REAL_FUTURE].errors))


def structure_says_nothing(floor: float, best: float) -> bool:
    """Whether the detector is no closer to the truth on the real frames (`floor`, px) than on the best prediction
    (`best`, px; within 0.1 px): then it cannot tell kept structure from lost."""
    return floor >= best - 0.1


def structure_sentence(dataset: str, curves: Mapping[str, HorizonCurves], named: list[str]) -> str:
    """Which prediction keeps the structure best (lowest mean detected-keypoint error over the predicted frames),
    with the `named` predictors' and the real frames' errors; or, when the detector is no closer to the truth on the
    real frames than on the best prediction, that the comparison says nothing on this dataset."""
    means, floor = structure_means(curves)
    keeper = min(means, key=means.get)
    others = ", ".join(f"{name} {means[name]:.1f}" for name in named)
    if structure_says_nothing(floor, means[keeper]):
        return (
            f"On `{dataset}` the detector misses the true keypoints by {floor:.1f} px on the real frames themselves, "
            f"no better than on the predictions ({others}): this dataset's structure comparison says nothing."
        )
    return (
        f"On `{dataset}`, {keeper} keeps the structure best: its detected keypoints are {means[keeper]:.1f} px from "
        f"the truth on average over the predicted frames ({others}; the detector on the real frames {floor:.1f})."
    )


def unscored_sentence(datasets: Sequence[str], run_dir: str | Path, detector: bool) -> str:
    """One sentence naming the prediction datasets whose structure is not scored, and why: their data has no true
    keypoints (your own videos, real BAIR and KTH), or no detector is configured."""
    from lmvid_lib.models.checkpoint import dataset_run

    labels = []
    for name in datasets:
        cfg = read_run_config(dataset_run(run_dir, name))
        labels.append(f"`{name}` ({data_label(cfg.dataset, cfg.data_root)})")
    why = "its data has no true keypoints" if detector else "no keypoint detector is configured (`detector`)"
    return f"*Structure is not scored on {', '.join(labels)}: {why}.*"
