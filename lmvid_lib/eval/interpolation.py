"""Frame interpolation through landmarks (paper §2.3, Fig. 6, Fig. 13): the first and last frame of a sequence are
given, the frames between are made up.

Three ways, on batches of sequences: **ours**, linear interpolation of the landmark states in Cholesky space
(`cholesky_path`, paper Eq. 7); the baseline that interpolates means and covariances directly (`covariance_path`);
both decoded with the FIRST frame's appearance (ours: the paper does not say whose appearance it draws with;
`models.sequences.render_sequence`; `covariance_gap` says how far
apart their Gaussians are); and a pixel cross-fade of the two real end frames (`cross_fade`). Where the data has
ground-truth joints, interpolated poses are scored against the true middle frames (`joint_errors`): chapter 3's linear
read-out maps landmarks to joints, with its rule for missing joints (`lmvid_lib.eval.regression`). `interpolate_split`
runs all of it on the test split of one dataset's factorization run; `score_table` tabulates a per-frame metric's
mean and standard error over the clips' source videos (`eval.metrics.step_stats`, Fig. 13), `end_to_middle_drop` how
much it falls from the given ends to the middle and `middle_sentence` says it in words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmvid_lib import landmarks
from lmvid_lib.config import check_int
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.eval.keypoints import open_eval_sets
from lmvid_lib.eval.metrics import step_stats
from lmvid_lib.eval.prediction import joint_error_by_horizon, states_to_joints
from lmvid_lib.eval.predictors import (
    CHOLESKY,
    CHOLESKY_SCENE,
    COVARIANCE,
    CROSS_FADE,
    JOINT_LERP,
    MEAN_POSE,
    REAL_LANDMARKS,
)
from lmvid_lib.eval.regression import KeypointRegressor, fit_regressor, mean_pose_baseline
from lmvid_lib.eval.scales import landmarks_to_crop_centred, pixels_to_crop_centred
from lmvid_lib.models.checkpoint import dataset_run, load_trained, scene_run
from lmvid_lib.models.inference import encode_frames
from lmvid_lib.models.sequences import extract_sequences, render_sequence, sequence_indices

# method key -> its display name (`eval.predictors`)
METHODS = {"cholesky": CHOLESKY, "covariance": COVARIANCE, "cross_fade": CROSS_FADE, "cholesky_scene": CHOLESKY_SCENE}
GROUND_TRUTH = "ground truth"


@dataclass
class InterpolationConfig:
    """Settings of chapter 6 (`06_interpolation: interpolation:` of a profile)."""

    datasets: tuple[str, ...] = ("pusher", "signer")  # each needs a factorization run (chapter 2)
    split: str = "test"  # held-out videos the sequences are cut from
    length: int = 30  # frames per sequence, first -> last (BAIR's 30-frame clips)
    max_sequences: int | None = 64  # evenly spaced sequences of the split; None = all
    max_fit_frames: int | None = 1500  # evenly spaced training frames the joint regressor is fitted on; None = all
    batch_size: int = 64  # frames per encoder / decoder batch

    def __post_init__(self) -> None:
        self.datasets = tuple(self.datasets)
        if not self.datasets or not all(isinstance(d, str) for d in self.datasets):
            raise ValueError(f"interpolation.datasets must be a non-empty list of dataset names, got {self.datasets!r}")
        for name in ("length", "max_sequences", "max_fit_frames", "batch_size"):
            value = getattr(self, name)
            if value is None and name.startswith("max_"):
                continue
            check_int(value, f"interpolation.{name}")
        if self.length < 3:
            raise ValueError(f"interpolation.length must be >= 3 (two end frames and one between), got {self.length}")


def endpoint_alphas(length: int) -> torch.Tensor:
    """Interpolation weights float32 [T] from exactly 0 (first frame) to exactly 1 (last frame), T = length >= 2."""
    check_int(length, "length", 2, what=" (the two end frames)")
    return torch.linspace(0.0, 1.0, length)


def _check_sequence_states(states: torch.Tensor) -> None:
    if not isinstance(states, torch.Tensor) or not states.is_floating_point() or states.ndim != 4:
        raise ValueError(f"states must be a float tensor [N,T,K,5], got {getattr(states, 'shape', type(states))}")
    if states.shape[-1] != 5 or states.shape[1] < 2:
        raise ValueError(f"states must be [N,T,K,5] with T >= 2, got {tuple(states.shape)}")


def cholesky_path(states: torch.Tensor) -> torch.Tensor:
    """Ours: states [N,T,K,5] -> [N,T,K,5], frame t the linear interpolation in Cholesky space (mu, L) between frame
    0 and frame T-1 at alpha = t / (T-1); exactly the given states at both ends. Frames in between are ignored."""
    _check_sequence_states(states)
    path = landmarks.interpolate(states[:, 0], states[:, -1], endpoint_alphas(states.shape[1]))  # [T,N,K,5]
    return path.movedim(0, 1)


def covariance_path(states: torch.Tensor) -> torch.Tensor:
    """Baseline: states [N,T,K,5] -> [N,T,K,5] whose means and covariances (`landmarks.from_state`) are the linear
    interpolation of those of frame 0 and frame T-1, as states again (`to_state`); the ends equal the given states up
    to float rounding and the sign of l11, l22 (which does not change the Gaussian)."""
    _check_sequence_states(states)
    mu0, cov0 = landmarks.from_state(states[:, 0])
    mu1, cov1 = landmarks.from_state(states[:, -1])
    mu, cov = landmarks.interpolate_covariance(mu0, cov0, mu1, cov1, endpoint_alphas(states.shape[1]))
    return landmarks.to_state(mu, cov).movedim(0, 1)


def covariance_gap(states: torch.Tensor) -> float:
    """How far apart the two landmark paths' Gaussians are: for states [N,T,K,5], the mean over the frames strictly
    between the ends, the landmarks and the clips of ||Sigma_ours - Sigma_cov||_F / ||Sigma_cov||_F: 0 where a
    Gaussian keeps its covariance between the two ends, growing as it turns, stretches or shrinks."""
    _check_sequence_states(states)
    _, ours = landmarks.from_state(cholesky_path(states)[:, 1:-1])
    _, cov = landmarks.from_state(covariance_path(states)[:, 1:-1])
    return float((torch.linalg.matrix_norm(ours - cov) / torch.linalg.matrix_norm(cov)).mean())


def cross_fade(first: torch.Tensor, last: torch.Tensor, length: int) -> torch.Tensor:
    """Pixel baseline: first, last [N,C,H,W] -> [N,T,C,H,W] with frame t = (1 - alpha) first + alpha last, alpha =
    t / (T-1), T = length; exactly `first` and `last` at the ends."""
    if not isinstance(first, torch.Tensor) or not isinstance(last, torch.Tensor) or first.shape != last.shape:
        raise ValueError(
            f"first and last must be tensors [N,C,H,W] of one shape, got {getattr(first, 'shape', type(first))} "
            f"and {getattr(last, 'shape', type(last))}"
        )
    if first.ndim != 4 or not first.is_floating_point():
        raise ValueError(f"first and last must be float frames [N,C,H,W], got {first.dtype} {tuple(first.shape)}")
    alphas = endpoint_alphas(length).to(first).reshape(1, -1, 1, 1, 1)
    # torch.lerp switches formula at 0.5 so both ends are exact in floating point.
    return torch.lerp(first.unsqueeze(1), last.unsqueeze(1), alphas)


def interpolate_frames(
    model: torch.nn.Module,
    states: torch.Tensor,
    videos: np.ndarray,
    batch_size: int = 64,
    scene_model: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """The real frames and every method's: states [N,T,K,5] of the real sequences (only the ends are used), videos
    uint8 [N,T,H,W,C] (the real frames) -> {GROUND_TRUTH and each key of METHODS: [N,T,C,S,S] float in [0,1]}, S the
    model's image size. The landmark methods are decoded with the first frame's appearance; with `scene_model` (the
    scene decoder on the same landmarks), the Cholesky path is also drawn by it ("cholesky_scene"), else that key is
    left out."""
    videos = np.asarray(videos)
    if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[:2] != tuple(states.shape[:2]):
        raise ValueError(
            f"videos must be uint8 [N,T,H,W,C] with the N,T of states {tuple(states.shape)}, got {videos.dtype} "
            f"{videos.shape}"
        )
    n, t = videos.shape[:2]
    truth = frames_to_input(videos.reshape(n * t, *videos.shape[2:]), model.cfg.image_size, "cpu")
    truth = truth.unflatten(0, (n, t))
    first = np.ascontiguousarray(videos[:, 0])
    path = cholesky_path(states)
    frames = {
        GROUND_TRUTH: truth,
        "cholesky": render_sequence(model, path, first, batch_size),
        "covariance": render_sequence(model, covariance_path(states), first, batch_size),
        "cross_fade": cross_fade(truth[:, 0], truth[:, -1], t),
    }
    if scene_model is not None:
        frames["cholesky_scene"] = render_sequence(scene_model, path, first, batch_size)
    return frames


def lerp_joints(joints: np.ndarray) -> np.ndarray:
    """The ceiling of any first->last interpolation of a pose: joints [N,T,J,2] -> [N,T,J,2], linear between the
    true joints of frame 0 and frame T-1 (NaN where an end is NaN)."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 4 or joints.shape[1] < 2 or joints.shape[-1] != 2:
        raise ValueError(f"joints must be [N,T,J,2] with T >= 2, got shape {joints.shape}")
    alphas = endpoint_alphas(joints.shape[1]).double().numpy()[None, :, None, None]
    return (1 - alphas) * joints[:, :1] + alphas * joints[:, -1:]


def joint_errors(
    regressor: KeypointRegressor, states: torch.Tensor, true_joints: np.ndarray, crop_size: int, mean_pose: np.ndarray
) -> dict[str, np.ndarray]:
    """Mean joint error per frame [T] of each pose source against the true joints [N,T,J,2] (crop-centred pixels at
    `crop_size`, NaN = absent), for the real sequences' states [N,T,K,5]: ours (`cholesky_path`; the covariance
    path has the same means, so the same joints), the regressor on the real frames' landmarks, the linear
    interpolation of the true joints, and `mean_pose` [J,2] in every frame."""
    mean = np.broadcast_to(np.asarray(mean_pose, dtype=np.float64), true_joints.shape)
    return {
        METHODS["cholesky"]: joint_error_by_horizon(
            states_to_joints(regressor, cholesky_path(states), crop_size), true_joints
        ),
        REAL_LANDMARKS: joint_error_by_horizon(states_to_joints(regressor, states, crop_size), true_joints),
        JOINT_LERP: joint_error_by_horizon(lerp_joints(true_joints), true_joints),
        MEAN_POSE: joint_error_by_horizon(mean, true_joints),
    }


def evenly_spaced(count: int, limit: int | None) -> np.ndarray:
    """int64 indices of at most `limit` of `count` items, evenly spaced (all of them when limit is None)."""
    if limit is None or count <= limit:
        return np.arange(count, dtype=np.int64)
    return np.round(np.linspace(0, count - 1, limit)).astype(np.int64)


@dataclass
class SplitInterpolation:
    """One dataset's interpolation results: N sequences of T frames of its `split`."""

    dataset: str
    run: Path
    frame_indices: np.ndarray  # int64 [N,T] into the split
    states: torch.Tensor  # [N,T,K,5] extracted from the real frames
    frames: dict[str, torch.Tensor]  # GROUND_TRUTH and each METHODS key -> [N,T,C,S,S] in [0,1], S = model input
    joint_errors: dict[str, np.ndarray] | None  # label -> [T] (None: the data has no keypoints)
    frame_size: int  # side of the stored frames, the pixel unit of joint_errors
    clip_videos: np.ndarray  # int64 [N]: the split video each clip is cut from, the unit of the standard errors

    @property
    def n_videos(self) -> int:
        """How many source videos the clips come from."""
        return len(np.unique(self.clip_videos))

    @property
    def methods(self) -> dict[str, str]:
        """The METHODS (key -> label) this result holds frames of."""
        return {key: label for key, label in METHODS.items() if key in self.frames}

    def scores(self, metric: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> dict[str, torch.Tensor]:
        """Label of each method held -> metric(pred, ground truth) per frame [N,T] (e.g. `eval.metrics.ssim`)."""
        truth = self.frames[GROUND_TRUTH]
        return {label: metric(self.frames[key], truth) for key, label in self.methods.items()}


def _fit_regressor(
    model, train, cfg: InterpolationConfig, frame_size: int, device
) -> tuple[KeypointRegressor, np.ndarray]:
    """Regressor from the model's landmarks to the true joints of evenly spaced training frames, and their mean pose
    [J,2] (crop-centred pixels of the stored frame)."""
    fit = evenly_spaced(len(train.frames), cfg.max_fit_frames)
    mu = encode_frames(model, train.frames, cfg.batch_size, indices=fit, device=device).mu.numpy()
    truth = pixels_to_crop_centred(train.keypoints[fit], frame_size, frame_size)
    return fit_regressor(landmarks_to_crop_centred(mu, frame_size), truth), mean_pose_baseline(truth, 1)[0]


def interpolate_split(
    run_dir: str | Path, dataset: str, cfg: InterpolationConfig, device: str = "cpu", progress: bool = False
) -> SplitInterpolation:
    """Interpolate up to `cfg.max_sequences` sequences of `cfg.length` frames of `cfg.split`, first -> last, by every
    method, with the factorization run `dataset_run(run_dir, dataset)` on its own data (and its scene decoder where
    chapter 2 trained one); with keypoints, also the joint errors (in pixels of the stored frame)."""
    run = dataset_run(run_dir, dataset)
    model, train_cfg = load_trained(run, device)
    sets = open_eval_sets(train_cfg, [cfg.split], run_dir)
    videos = sets[cfg.split]
    chosen = evenly_spaced(len(sequence_indices(videos, cfg.length)), cfg.max_sequences)
    indices = sequence_indices(videos, cfg.length)[chosen]
    all_states = extract_sequences(run, videos, cfg.length, cfg.batch_size, device, progress)
    states = torch.from_numpy(all_states[chosen])
    scene = scene_run(run_dir, dataset)
    scene_model = None if scene is None else load_trained(scene, device)[0]
    frames = interpolate_frames(model, states, np.asarray(videos.frames)[indices], cfg.batch_size, scene_model)
    frame_size = videos.frames.shape[1]
    errors = None
    if videos.keypoints is not None and sets["train"].keypoints is not None:
        regressor, mean_pose = _fit_regressor(model, sets["train"], cfg, frame_size, device)
        true_joints = pixels_to_crop_centred(np.asarray(videos.keypoints)[indices], frame_size, frame_size)
        errors = joint_errors(regressor, states, true_joints, frame_size, mean_pose)
    clip_videos = videos.frame_video[indices[:, 0]]
    return SplitInterpolation(dataset, run, indices, states, frames, errors, frame_size, clip_videos)


def step_table(
    curves: Mapping[str, np.ndarray], steps: list[int], digits: int = 1
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for `tables.markdown_table`: one row per label of `curves` (label -> [T]), a column per frame
    index in `steps`, then the mean over the frames strictly between the ends (1 .. T-2)."""
    header = ["", *[f"t = {t}" for t in steps], "mean, t = 1..T-2"]
    rows = [
        [label, *[f"{curve[t]:.{digits}f}" for t in steps], f"{np.nanmean(curve[1:-1]):.{digits}f}"]
        for label, curve in curves.items()
    ]
    return header, rows


def end_to_middle_drop(scores: torch.Tensor | np.ndarray, middle: int) -> float:
    """How much a per-frame score [N,T] (e.g. SSIM) falls from the two given end frames to frame `middle`: the mean
    over clips of (score at t = 0 and T-1, averaged) minus the score at `middle` (0 < middle < T-1)."""
    values = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
    if values.ndim != 2 or not 0 < middle < values.shape[1] - 1:
        raise ValueError(f"scores must be [N,T] and middle in 1..T-2, got shape {values.shape} and middle={middle}")
    return float(((values[:, 0] + values[:, -1]) / 2 - values[:, middle]).mean())


def middle_sentence(ours: torch.Tensor | np.ndarray, fade: torch.Tensor | np.ndarray, middle: int) -> str:
    """The notebook's sentence on where ours stands against the cross-fade, from their per-frame SSIM [N,T]: how much
    each falls from the given ends to frame `middle` (`end_to_middle_drop`), their SSIM there, and which of the two
    explains the gap (the interpolation, or the decoder's reconstruction already visible at the ends)."""
    drop_ours, drop_fade = end_to_middle_drop(ours, middle), end_to_middle_drop(fade, middle)
    at_middle = [float(np.asarray(v, dtype=np.float64)[:, middle].mean()) for v in (ours, fade)]
    text = (
        f"From the given ends to the middle frame (t = {middle}), SSIM falls by {drop_ours:.3f} with ours and by "
        f"{drop_fade:.3f} with the cross-fade; at t = {middle} ours scores {at_middle[0]:.3f}, the cross-fade "
        f"{at_middle[1]:.3f}. "
    )
    if at_middle[0] >= at_middle[1]:
        return text + "In the middle of the clip, ours is ahead."
    if drop_ours < drop_fade:
        return text + (
            "Ours loses less to the motion than the cross-fade, but not enough to make up for the decoder's "
            "reconstruction error, which it carries from the ends on."
        )
    return text + "Ours loses more to the motion than the cross-fade does."


def score_table(
    scores: Mapping[str, torch.Tensor | np.ndarray], steps: list[int], digits: int = 3, groups: Any = None
) -> tuple[list[str], list[list[str]]]:
    """(header, rows) for `tables.markdown_table`: label -> per-frame scores [N,T] (e.g. SSIM), one row per label with
    "mean ± standard error" at each frame index of `steps`, and of each sequence's mean over the frames strictly
    between the ends; over the source videos `groups` [N] (`SplitInterpolation.clip_videos`; None: every sequence its
    own video), as `metrics.step_stats`."""
    header = ["", *[f"t = {t}" for t in steps], "mean, t = 1..T-2"]
    rows = []
    for label, values in scores.items():
        values = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
        per_step = step_stats(values, groups)
        between = step_stats(values[:, 1:-1].mean(axis=1, keepdims=True), groups)
        cells = [(per_step.mean[t], per_step.se[t]) for t in steps] + [(between.mean[0], between.se[0])]
        rows.append([label, *[f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in cells]])
    return header, rows
