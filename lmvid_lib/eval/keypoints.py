"""Landmark quality by keypoint regression: the BBC Pose protocol of the paper (Table 1, Fig. 9; appendix B).

A linear map WITHOUT intercept is fitted by ordinary least squares from the 2K learned landmark coordinates to the 2J
annotated keypoint coordinates of the training split, both in *crop-centred* pixels (origin at the centre of the
evaluation crop, x right, y down, paper appendix B); it is then applied to the test split's landmarks and scored by
the fraction of (frame, joint) pairs within `threshold` pixels of the ground truth (accuracy at 6 px; Fig. 9 plots it
against the threshold).

Pixel scale. The paper reports "accuracy at 6 pixels" on 128x128 evaluation crops (appendix B: the tightest box around
the annotated keypoints, dilated by 150 px, resized to 128x128). We measure in pixels of that `crop_size` x
`crop_size` crop by default (`eval_scale="crop"`). The official follow-up code instead measures at half the original
BBC frame resolution (`0.5 * (p - 1) + 1` of 1-based original pixels); `eval_scale="half_original"` (or "original")
maps crop-centred points back to original-frame pixels through `lmvid_lib.data.bbc.CropTransform.from_crop` first.
Every table says which scale it used.

Table 1. `evaluate_table1` scores every decoder variant's training runs (one per seed) and baselines (a) mean
training pose and (b) regression on an untrained pose encoder; `accuracy_table` summarises seeds as mean ± std
(best), `margin_over_baselines` compares the best learned variant with the better baseline. The paper's published
BBC numbers are only ever quoted, in a table of their own (`paper_bbc_table`).

Per-identity diagnostic (not the protocol, `KeypointEvalConfig.per_identity`): where every scored identity (the
`video_ids` of the split's videos) was seen in training, a second read-out fits one regressor per identity. What it
gains over the single regressor is lost because a landmark marks different body parts in different identities; the
joints it still misses are ones no landmark follows (`identity_diagnosis` says both in words). On the cpu profile's
signer run (3000 steps, spade) it lifted held-out frames from 57.9% to 66.3% (elbows 0.37 -> 0.61), wrists stayed at
0.21-0.24; the untrained encoder moved from 38.0% to 46.5% the same way. That was with 6 signer identities; with 12
(the default since) the cpu book's spade run gains 0.1 points (56.1 -> 56.2%) and the untrained encoder 9.5.

Coordinates. Normalised landmark coordinates are in [-1, 1] over the model's input image; since that image *is* the
crop resized, crop-centred pixels are simply `mu * crop_size / 2`. Keypoints stored in 0-based pixels of a stored frame
of size S map to crop-centred pixels by `(p - (S - 1) / 2) * crop_size / S` (pixel i has its centre at i).
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval.scales import (
    EVAL_SCALE_CHOICES,
    crop_centred_to_pixels,
    landmarks_to_crop_centred,
    pixels_to_crop_centred,
    protocol_crops,
    resolve_eval_scale,
    to_eval_pixels,
)
from lmvid_lib.io import atomic_write_json
from lmvid_lib.tables import markdown_table


# Published BBC Pose test accuracies at 6 px, quoted from Shih et al. 2019, Table 1 (mean ± std over 3 seeds, best).
PAPER_BBC_TABLE1: tuple[tuple[str, str], ...] = (
    ("Charles et al. 2013 (supervised)", "79.9"),
    ("Pfister et al. 2015 (supervised)", "88.0"),
    ("Jakab et al. 2018", "68.4"),
    ("Lorenz et al. 2019", "74.5"),
    ("Shih et al. 2019, Lorenz-style decoder", "74.2 ± 1.6 (best 75.7)"),
    ("Shih et al. 2019, SPADE decoder", "75.0 ± 0.9 (best 76.1)"),
)


# ----------------------------------------------------------------------------------------------- validation helpers
def _points(name: str, value: Any, allow_nan: bool = False) -> np.ndarray:
    """`value` as float64 [N,P,2]; a ValueError naming `name` for a wrong shape or non-finite values."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 2:
        raise ValueError(f"{name} must be [N,P,2] (x, y per point), got shape {arr.shape}")
    if not allow_nan and not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).any(axis=(1, 2)).sum())
        raise ValueError(f"{name} has NaN/inf values in {bad} of {len(arr)} samples")
    return arr


def _pair(pred: Any, gt: Any) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _points("pred", pred), _points("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must have the same shape [N,J,2]")
    return pred, gt


# ------------------------------------------------------------------------------------------------------- regression
@dataclass
class KeypointRegressor:
    """Linear map without intercept from landmarks [N,K,2] to keypoints [N,J,2] (crop-centred pixels).

    `weights` is [2K, 2J]. Both sides are flattened row-major from [K,2] / [J,2], i.e. the order is
    (x_1, y_1, x_2, y_2, ...): row 2k + c holds landmark k's coordinate c (0 = x, 1 = y), column 2j + c keypoint j's.
    """

    weights: np.ndarray

    @property
    def n_landmarks(self) -> int:
        return self.weights.shape[0] // 2

    @property
    def n_keypoints(self) -> int:
        return self.weights.shape[1] // 2

    def predict(self, landmarks: Any) -> np.ndarray:
        """landmarks [N,K,2] -> keypoints [N,J,2] (float64)."""
        x = _points("landmarks", landmarks)
        if x.shape[1] != self.n_landmarks:
            raise ValueError(f"landmarks have K={x.shape[1]} points but the regressor was fitted with K={self.n_landmarks}")
        return (x.reshape(len(x), -1) @ self.weights).reshape(len(x), self.n_keypoints, 2)


def fit_regressor(landmarks: Any, keypoints: Any) -> KeypointRegressor:
    """Ordinary least squares without intercept: landmarks [N,K,2] -> keypoints [N,J,2], crop-centred pixels.

    Solved with `np.linalg.lstsq` (SVD; minimum-norm solution if the landmarks are rank deficient, e.g. a collapsed
    landmark).
    """
    x, y = _points("landmarks", landmarks), _points("keypoints", keypoints)
    if len(x) != len(y):
        raise ValueError(f"landmarks has N={len(x)} samples but keypoints has N={len(y)}")
    if len(x) == 0:
        raise ValueError("landmarks and keypoints are empty (N=0); nothing to fit")
    weights, *_ = np.linalg.lstsq(x.reshape(len(x), -1), y.reshape(len(y), -1), rcond=None)
    return KeypointRegressor(weights)


def per_identity_predictions(train_landmarks: Any, train_keypoints: Any, train_ids: Any, landmarks: Any,
                             ids: Any) -> np.ndarray | None:
    """A diagnostic, not the protocol: one regressor per identity, fitted on that identity's training frames only.

    train_landmarks [N,K,2], train_keypoints [N,J,2], train_ids [N]; landmarks [M,K,2], ids [M] -> predictions
    [M,J,2] (crop-centred), or None when an identity in `ids` has fewer than 2K training frames (e.g. none: BBC Pose
    tests on new signers). Its gain over the single regressor measures how much is lost because a landmark does not
    mark the same body part in every identity; joints it still misses are ones no landmark follows.
    """
    x, y = _points("train_landmarks", train_landmarks), _points("train_keypoints", train_keypoints)
    lm = _points("landmarks", landmarks)
    train_ids, ids = np.asarray(train_ids), np.asarray(ids)
    if train_ids.shape != (len(x),) or len(y) != len(x):
        raise ValueError(f"train_landmarks (N={len(x)}), train_keypoints (N={len(y)}) and train_ids "
                         f"{train_ids.shape} must describe the same N frames")
    if ids.shape != (len(lm),):
        raise ValueError(f"ids {ids.shape} must hold one identity per landmarks sample (M={len(lm)})")
    pred = np.empty((len(lm), y.shape[1], 2))
    for identity in np.unique(ids):
        fit = train_ids == identity
        if fit.sum() < 2 * x.shape[1]:
            return None
        pred[ids == identity] = fit_regressor(x[fit], y[fit]).predict(lm[ids == identity])
    return pred


def mean_pose_baseline(train_keypoints: Any, n: int) -> np.ndarray:
    """Baseline (a): predict the training mean pose for every one of `n` samples. [N_train,J,2] -> [n,J,2]."""
    kp = _points("train_keypoints", train_keypoints)
    if len(kp) == 0:
        raise ValueError("train_keypoints is empty (N=0)")
    return np.repeat(kp.mean(axis=0, keepdims=True), n, axis=0)


# ---------------------------------------------------------------------------------------------------------- metrics
def keypoint_errors(pred: Any, gt: Any) -> np.ndarray:
    """Euclidean error per (sample, joint): pred, gt [N,J,2] -> [N,J]."""
    pred, gt = _pair(pred, gt)
    return np.linalg.norm(pred - gt, axis=-1)


def pck(pred: Any, gt: Any, threshold: float) -> float:
    """Fraction of (sample, joint) pairs whose Euclidean error is <= `threshold` pixels."""
    return float(np.mean(keypoint_errors(pred, gt) <= threshold))


def pck_curve(pred: Any, gt: Any, thresholds: Sequence[float]) -> np.ndarray:
    """Accuracy against distance (Fig. 9): [T] fractions, one per threshold."""
    errors = keypoint_errors(pred, gt).reshape(-1)
    return np.array([np.mean(errors <= t) for t in np.asarray(thresholds, dtype=np.float64)])


def per_joint_pck(pred: Any, gt: Any, threshold: float) -> np.ndarray:
    """[J] fraction of samples whose joint j is within `threshold` pixels."""
    return np.mean(keypoint_errors(pred, gt) <= threshold, axis=0)


# ------------------------------------------------------------------------------------------------------- extraction
def model_image_size(model: torch.nn.Module) -> int:
    """The square input size a FactorizationModel was built for (its config's `image_size`)."""
    for attr in ("cfg", "config"):
        size = getattr(getattr(model, attr, None), "image_size", None)
        if size is not None:
            return int(size)
    raise ValueError(f"{type(model).__name__} has no cfg.image_size; pass image_size= explicitly")


def frames_to_input(frames: np.ndarray, image_size: int, device: torch.device | str) -> torch.Tensor:
    """uint8 [B,H,W,C] -> float [B,C,image_size,image_size] in [0,1] on `device`.

    The same conversion as training's `lmvid_lib.data.pairs.load_frames` (bilinear, antialiased, clamped), so the
    encoder sees test frames exactly as it saw training frames (a test checks they agree).
    """
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
        x = x.clamp_(0, 1)
    return x.contiguous()


def _pose_fields(out: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(out, Mapping):
        return out["mu"], out["cov"]
    return out.mu, out.cov


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


def extract_landmarks(
    model: torch.nn.Module,
    frames: np.ndarray,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    image_size: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of every frame: uint8 frames [M,H,W,C] (a memmap is fine) -> (mu [M,K,2] in [-1,1], cov [M,K,2,2]).

    Batched under `torch.no_grad` with the model in eval mode (its previous mode is restored); `device` defaults to the
    model's; frames are resized to `image_size` (default: the model's `cfg.image_size`).
    """
    if not (isinstance(frames, np.ndarray) and frames.ndim == 4 and frames.dtype == np.uint8):
        raise ValueError(f"frames must be a uint8 [M,H,W,C] array, got {type(frames).__name__} "
                         f"{getattr(frames, 'dtype', '')} {getattr(frames, 'shape', '')}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if device is None:
        device = next(model.parameters()).device
    size = image_size or model_image_size(model)
    mus, covs = [], []
    with inference(model):
        starts = range(0, len(frames), batch_size)
        for start in tqdm(starts, desc="landmarks", unit="batch", disable=not progress, leave=False):
            mu, cov = _pose_fields(model.encode_pose(frames_to_input(frames[start : start + batch_size], size, device)))
            mus.append(mu.float().cpu().numpy())
            covs.append(cov.float().cpu().numpy())
    if not mus:
        raise ValueError("frames is empty (M=0)")
    return np.concatenate(mus), np.concatenate(covs)


# --------------------------------------------------------------------------------------------------------- protocol
@dataclass
class KeypointEvalConfig:
    """The keypoint-regression protocol (notebook 03_keypoints)."""

    threshold: float = 6.0  # pixels at `eval_scale` (paper: 6)
    crop_size: int = 128  # side of the evaluation crop in which pixels are counted (paper appendix B: 128)
    eval_scale: str = "crop"  # crop | original | half_original | auto (lmvid_lib.eval.scales)
    curve_max: float = 20.0  # Fig. 9: accuracy for thresholds 0..curve_max pixels
    curve_points: int = 41
    max_train_frames: int | None = None  # evenly spaced annotated frames used to fit (None = all)
    max_test_frames: int | None = None  # evenly spaced annotated frames scored per test split (None = all)
    batch_size: int = 64
    per_identity: bool = True  # also score the per-identity diagnostic (`per_identity_predictions`) where it applies

    def __post_init__(self) -> None:
        if self.eval_scale not in EVAL_SCALE_CHOICES:
            raise ValueError(f"KeypointEvalConfig.eval_scale must be one of {EVAL_SCALE_CHOICES}, "
                             f"got {self.eval_scale!r}")
        if not self.threshold > 0 or not self.curve_max > 0 or self.curve_points < 2:
            raise ValueError("KeypointEvalConfig: threshold and curve_max must be > 0 and curve_points >= 2")
        if self.crop_size < 1:
            raise ValueError(f"KeypointEvalConfig.crop_size must be >= 1, got {self.crop_size}")
        for name in ("max_train_frames", "max_test_frames"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"KeypointEvalConfig.{name} must be >= 1 or None, got {value}")

    @property
    def thresholds(self) -> np.ndarray:
        return np.linspace(0.0, self.curve_max, self.curve_points)

    def for_dataset(self, dataset: str) -> KeypointEvalConfig:
        """This config with eval_scale resolved for `dataset` (`lmvid_lib.eval.scales.resolve_eval_scale`)."""
        return replace(self, eval_scale=resolve_eval_scale(self.eval_scale, dataset))

    @property
    def unit(self) -> str:
        """How table headers name the pixel scale."""
        return {"crop": f"px in the {self.crop_size}x{self.crop_size} crop", "original": "px of the original frame",
                "half_original": "px at half the original resolution"}[self.eval_scale]


def annotated_frames(videos: VideoSet, max_frames: int | None = None, name: str = "videos") -> np.ndarray:
    """int64 [N] indices of frames whose keypoints are all annotated, evenly thinned to at most `max_frames`."""
    if videos.keypoints is None:
        raise ValueError(f"{name} has no keypoints; keypoint regression needs an annotated split")
    index = np.flatnonzero(np.isfinite(np.asarray(videos.keypoints)).all(axis=(1, 2)))
    if len(index) == 0:
        raise ValueError(f"{name} has no frame with all keypoints annotated")
    if max_frames is not None and len(index) > max_frames:
        index = index[np.round(np.linspace(0, len(index) - 1, max_frames)).astype(np.int64)]
    return index


def _frame_side(videos: VideoSet, name: str) -> int:
    h, w = videos.frames.shape[1:3]
    if h != w:
        raise ValueError(f"{name}: keypoint evaluation expects square (cropped) frames, got {h}x{w}")
    return int(h)


def split_keypoints(videos: VideoSet, index: np.ndarray, cfg: KeypointEvalConfig, name: str = "videos") -> np.ndarray:
    """Ground truth of frames `index` in crop-centred pixels at cfg.crop_size: [N,J,2]."""
    kp = np.asarray(videos.keypoints)[index]
    return pixels_to_crop_centred(kp, _frame_side(videos, name), cfg.crop_size)


@dataclass
class SplitResult:
    """Scores of one test split. pred/gt: [N,J,2] in the eval_scale pixels; frame_index: [N] into the split."""

    pred: np.ndarray
    gt: np.ndarray
    frame_index: np.ndarray
    accuracy: float
    curve: np.ndarray  # [T] at KeypointEvalConfig.thresholds
    per_joint: np.ndarray  # [J]
    # The per-identity diagnostic (`per_identity_predictions`), None where it does not apply: accuracy and [J].
    per_identity_accuracy: float | None = None
    per_identity_per_joint: np.ndarray | None = None


@dataclass
class KeypointResult:
    """One method's evaluation: per test split scores (+ the fitted regressor when there is one)."""

    method: str
    splits: dict[str, SplitResult]
    thresholds: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)
    regressor: KeypointRegressor | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "thresholds": self.thresholds,
            "config": self.config,
            "weights": None if self.regressor is None else self.regressor.weights,
            "splits": {k: asdict(v) for k, v in self.splits.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "KeypointResult":
        splits = {
            k: SplitResult(
                pred=np.asarray(v["pred"], dtype=np.float64), gt=np.asarray(v["gt"], dtype=np.float64),
                frame_index=np.asarray(v["frame_index"], dtype=np.int64), accuracy=float(v["accuracy"]),
                curve=np.asarray(v["curve"], dtype=np.float64), per_joint=np.asarray(v["per_joint"], dtype=np.float64),
                per_identity_accuracy=None if v.get("per_identity_accuracy") is None
                else float(v["per_identity_accuracy"]),
                per_identity_per_joint=None if v.get("per_identity_per_joint") is None
                else np.asarray(v["per_identity_per_joint"], dtype=np.float64),
            )
            for k, v in d["splits"].items()
        }
        weights = d.get("weights")
        return cls(d["method"], splits, np.asarray(d["thresholds"], dtype=np.float64), dict(d.get("config", {})),
                   None if weights is None else KeypointRegressor(np.asarray(weights, dtype=np.float64)))


def score_split(pred_cc: np.ndarray, gt_cc: np.ndarray, frame_index: np.ndarray, cfg: KeypointEvalConfig,
                crops: Any = None, per_identity_cc: np.ndarray | None = None) -> SplitResult:
    """Score crop-centred predictions [N,J,2] against crop-centred ground truth at cfg.eval_scale (and the
    per-identity diagnostic's predictions [N,J,2], when given)."""
    pred = to_eval_pixels(pred_cc, cfg.eval_scale, cfg.crop_size, crops)
    gt = to_eval_pixels(gt_cc, cfg.eval_scale, cfg.crop_size, crops)
    result = SplitResult(pred, gt, np.asarray(frame_index, dtype=np.int64), pck(pred, gt, cfg.threshold),
                         pck_curve(pred, gt, cfg.thresholds), per_joint_pck(pred, gt, cfg.threshold))
    if per_identity_cc is not None:
        per_identity = to_eval_pixels(per_identity_cc, cfg.eval_scale, cfg.crop_size, crops)
        result.per_identity_accuracy = pck(per_identity, gt, cfg.threshold)
        result.per_identity_per_joint = per_joint_pck(per_identity, gt, cfg.threshold)
    return result


def evaluate_landmarks(
    source: torch.nn.Module | Mapping[str, Any],
    train_set: VideoSet,
    test_sets: Mapping[str, VideoSet],
    cfg: KeypointEvalConfig | None = None,
    device: torch.device | str | None = None,
    method: str = "landmarks",
    progress: bool = True,
) -> KeypointResult:
    """The protocol: fit the regressor on `train_set`'s annotated frames, score every split of `test_sets`.

    `source` is a FactorizationModel (its landmarks are extracted here) or a mapping from "train" and each test split
    name to precomputed normalised landmarks [N,K,2] of that split's `annotated_frames(split, max_*_frames)`.
    Every split must be cropped the same way (`protocol_crops`); its crops map the scores to cfg.eval_scale.
    """
    cfg = cfg or KeypointEvalConfig()
    sets = {"train": train_set, **test_sets}
    indices = {name: annotated_frames(v, cfg.max_train_frames if name == "train" else cfg.max_test_frames, name)
               for name, v in sets.items()}
    crops = protocol_crops(sets, indices)
    landmarks = {}
    for name, videos in sets.items():
        if isinstance(source, torch.nn.Module):
            mu, _ = extract_landmarks(source, videos.frames[indices[name]], cfg.batch_size, device, progress=progress)
        elif name in source:
            mu = _points(f"landmarks[{name!r}]", source[name])
            if len(mu) != len(indices[name]):
                raise ValueError(f"landmarks[{name!r}] has N={len(mu)} but the split has {len(indices[name])} scored frames")
        else:
            raise ValueError(f"landmarks mapping has no entry {name!r} (has {sorted(source)})")
        landmarks[name] = landmarks_to_crop_centred(mu, cfg.crop_size)
    train_kp = split_keypoints(train_set, indices["train"], cfg, "train")
    regressor = fit_regressor(landmarks["train"], train_kp)
    ids = {name: videos.video_ids[videos.frame_video[indices[name]]] for name, videos in sets.items()}
    splits = {}
    for name, videos in test_sets.items():
        per_identity = None
        if cfg.per_identity:
            per_identity = per_identity_predictions(landmarks["train"], train_kp, ids["train"], landmarks[name],
                                                    ids[name])
        gt = split_keypoints(videos, indices[name], cfg, name)
        splits[name] = score_split(regressor.predict(landmarks[name]), gt, indices[name], cfg, crops[name],
                                   per_identity)
    return KeypointResult(method, splits, cfg.thresholds, asdict(cfg), regressor)


def evaluate_mean_pose(train_set: VideoSet, test_sets: Mapping[str, VideoSet],
                       cfg: KeypointEvalConfig | None = None) -> KeypointResult:
    """Baseline (a): every test frame gets the mean training pose (crop-centred)."""
    cfg = cfg or KeypointEvalConfig()
    sets = {"train": train_set, **test_sets}
    indices = {name: annotated_frames(v, cfg.max_train_frames if name == "train" else cfg.max_test_frames, name)
               for name, v in sets.items()}
    crops = protocol_crops(sets, indices)
    train_kp = split_keypoints(train_set, indices["train"], cfg, "train")
    splits = {}
    for name, videos in test_sets.items():
        gt = split_keypoints(videos, indices[name], cfg, name)
        splits[name] = score_split(mean_pose_baseline(train_kp, len(gt)), gt, indices[name], cfg, crops[name])
    return KeypointResult("mean training pose", splits, cfg.thresholds, asdict(cfg))


def cached_result(path: str | Path, key: Mapping[str, Any], compute: Callable[[], KeypointResult]) -> KeypointResult:
    """Load the KeypointResult stored at `path` if it was computed for the same `key`; else compute and store it
    (atomically), so re-running the notebook reuses finished evaluations."""
    path = Path(path)
    key = json.loads(json.dumps(dict(key), sort_keys=True, default=str))
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except json.JSONDecodeError:
            stored = {}
        if stored.get("key") == key:
            return KeypointResult.from_dict(stored["result"])
    result = compute()
    atomic_write_json(path, {"key": key, "result": result.to_dict()})
    return result


# ------------------------------------------------------------------------------------------------- training runs
def open_eval_sets(train_cfg: Any, splits: Sequence[str], run_dir: str | Path) -> dict[str, VideoSet]:
    """The splits a training run's landmarks are evaluated on: its own dataset, as `train_factorization` opened it
    (same dataset, data_root, seed and synthetic overrides), with `train_cfg.split` under the name "train" (its
    per-frame copy where the run trained on a video-crop split, `lmvid_lib.data.bbc.frame_crop_split`)."""
    from lmvid_lib.data.bbc import frame_crop_split
    from lmvid_lib.data.datasets import open_dataset

    def open_(split: str) -> VideoSet:
        return open_dataset(train_cfg.dataset, split, run_dir, train_cfg.data_root, seed=train_cfg.data_seed,
                            **train_cfg.synthetic)

    return {"train": open_(frame_crop_split(train_cfg.split)), **{s: open_(s) for s in splits if s != "train"}}


def untrained_model(train_cfg: Any, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Baseline (b): the pose encoder exactly as `train_factorization` initialises it (same seed and config), untrained."""
    from lmvid_lib.models.factorization import FactorizationModel
    from lmvid_lib.seed import seed_everything

    seed_everything(train_cfg.seed)
    return FactorizationModel(train_cfg.model).to(device).eval()


BASELINES = ("untrained", "mean_pose")


def evaluate_run(
    run: str | Path,
    run_dir: str | Path,
    test_splits: Sequence[str],
    cfg: KeypointEvalConfig,
    device: torch.device | str = "cpu",
    baseline: str | None = None,
    progress: bool = True,
) -> KeypointResult:
    """Keypoint regression on the landmarks of a finished training run `<run_dir>/factorization/<name>`, on that run's
    own dataset; or a baseline on the same data: "untrained" = (b) its randomly initialised encoder, "mean_pose" = (a).

    Cached in `<run_dir>/keypoints/` and reused while the run's weights, its config, the splits and `cfg` are unchanged.
    """
    from lmvid_lib.train import load_trained
    from lmvid_lib.train.factorization import config_dict

    if baseline not in (None, *BASELINES):
        raise ValueError(f"baseline must be None or one of {BASELINES}, got {baseline!r}")
    run = Path(run)
    model, train_cfg = load_trained(run, device)
    cfg = cfg.for_dataset(train_cfg.dataset)  # resolves "auto"; an original scale without original frames fails here
    weights = run / "model.pt"
    method = {None: train_cfg.run_name, "untrained": f"untrained {train_cfg.model.decoder} encoder, seed {train_cfg.seed}",
              "mean_pose": "mean training pose"}[baseline]
    key = {"method": method, "train_config": config_dict(train_cfg), "eval": asdict(cfg), "splits": list(test_splits),
           "weights": [weights.stat().st_size, weights.stat().st_mtime_ns] if baseline is None else None}
    cache = Path(run_dir) / "keypoints" / f"{train_cfg.run_name}{'' if baseline is None else '-' + baseline}.json"

    def compute() -> KeypointResult:
        sets = open_eval_sets(train_cfg, test_splits, run_dir)
        tests = {s: sets[s] for s in test_splits}
        if baseline == "mean_pose":
            return evaluate_mean_pose(sets["train"], tests, cfg)
        source = untrained_model(train_cfg, device) if baseline == "untrained" else model
        return evaluate_landmarks(source, sets["train"], tests, cfg, device, method, progress=progress)

    return cached_result(cache, key, compute)


# ---------------------------------------------------------------------------------------------------------- Table 1
# The splits each dataset is scored on, with the label its tables use (signer: the embedded BBC Pose stand-in).
EVAL_SPLITS: dict[str, dict[str, str]] = {
    "signer": {"test": "held-out frames", "val": "held-out attire"},
    "bbc": {"test": "BBC Pose test"},
}
DECODER_LABELS = {"spade": "SPADE decoder", "concat": "concat decoder (Lorenz-style)"}
BASELINE_LABELS = {"mean_pose": "(a) mean training pose", "untrained": "(b) untrained pose encoder + regression"}


def eval_splits(dataset: str) -> dict[str, str]:
    """Test split name -> label for `dataset`: signer -> held-out frames ("test") and held-out attire ("val");
    bbc -> its test split."""
    if dataset not in EVAL_SPLITS:
        raise ValueError(f"dataset: keypoint regression is evaluated on {sorted(EVAL_SPLITS)} (upper-body keypoints "
                         f"in BBC Pose order), got {dataset!r}")
    return dict(EVAL_SPLITS[dataset])


def find_runs(run_dir: str | Path, dataset: str, decoders: Sequence[str],
              seeds: Sequence[int]) -> dict[str, list[Path]]:
    """decoder -> its finished training runs `<run_dir>/factorization/<dataset>-<decoder>-seed<seed>`, in `seeds`
    order. A run is finished when its model.pt exists; a FileNotFoundError lists every missing one."""
    from lmvid_lib.models.factorization import ModelConfig
    from lmvid_lib.train.factorization import TrainConfig, run_path

    if not decoders or not seeds:
        raise ValueError(f"decoders and seeds must be non-empty, got decoders={list(decoders)} seeds={list(seeds)}")
    runs = {d: [run_path(TrainConfig(dataset=dataset, seed=s, model=ModelConfig(decoder=d)), run_dir) for s in seeds]
            for d in decoders}
    missing = [str(r) for paths in runs.values() for r in paths if not (r / "model.pt").is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} factorization run(s) are missing or unfinished: {', '.join(missing)}. "
                                "Run notebook 02_factorization first with the same profile (it trains every decoder "
                                "in `decoders` for every seed in `seeds`).")
    return runs


def evaluate_table1(
    runs: Mapping[str, Sequence[Path]],
    run_dir: str | Path,
    test_splits: Sequence[str],
    cfg: KeypointEvalConfig,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict[str, list[KeypointResult]]:
    """Every row of the Table 1 analogue, as method label -> one result per seed: each decoder variant
    (`DECODER_LABELS`), then baselines (a) and (b) (`BASELINE_LABELS`).

    The baselines are evaluated on the first decoder's runs: all runs share the data (`data_seed`), and a training
    seed fixes the pose encoder's initial weights (it is built before the decoder), so the baselines do not depend on
    the decoder variant.
    """
    results: dict[str, list[KeypointResult]] = {
        DECODER_LABELS.get(d, d): [evaluate_run(r, run_dir, test_splits, cfg, device, progress=progress) for r in paths]
        for d, paths in runs.items()
    }
    first = next(iter(runs.values()))
    for baseline, label in BASELINE_LABELS.items():
        results[label] = [evaluate_run(r, run_dir, test_splits, cfg, device, baseline, progress) for r in first]
    return results


@dataclass
class Margin:
    """The best learned variant against the better baseline on one split (accuracies: mean over seeds, in [0,1])."""

    learned: str
    learned_accuracy: float
    baseline: str
    baseline_accuracy: float
    split_label: str
    n_seeds: int

    @property
    def points(self) -> float:
        """Margin in percentage points."""
        return 100.0 * (self.learned_accuracy - self.baseline_accuracy)

    def sentence(self, target_points: float, cfg: KeypointEvalConfig) -> str:
        """One sentence, generated from the numbers, saying whether the margin meets `target_points`."""
        verdict = "meets" if self.points >= target_points else "misses"
        return (f"On {self.split_label}, the best learned variant ({self.learned}, mean of {self.n_seeds} seed(s)) "
                f"reaches {100 * self.learned_accuracy:.1f}% of keypoints within {cfg.threshold:g} {cfg.unit}, the "
                f"better baseline ({self.baseline}) {100 * self.baseline_accuracy:.1f}%: a margin of "
                f"{self.points:+.1f} points, which {verdict} the {target_points:g}-point target "
                f"(by {abs(self.points - target_points):.1f} points).")


def margin_over_baselines(results: Mapping[str, Sequence[KeypointResult]], learned: Sequence[str],
                          baselines: Sequence[str], split: str, split_label: str | None = None) -> Margin:
    """Compare the learned method with the highest seed-mean accuracy on `split` to the best baseline."""
    def mean(method: str) -> float:
        if method not in results or not results[method]:
            raise ValueError(f"no results for method {method!r} (have {sorted(results)})")
        return float(np.mean([r.splits[split].accuracy for r in results[method]]))

    if not learned or not baselines:
        raise ValueError("margin_over_baselines needs at least one learned method and one baseline")
    best = max(learned, key=mean)
    base = max(baselines, key=mean)
    return Margin(best, mean(best), base, mean(base), split_label or split, len(results[best]))


def shortfall(in_sample: Margin, held_out: Margin, target_points: float) -> str:
    """Why `held_out` misses the target, read off the margin on the frames the regressor was fitted on ("" when it
    meets it). Low in-sample too: the landmarks do not encode the joints (model / training budget). High in-sample
    only: they do on training frames but do not generalise to new ones (data: too few training videos)."""
    if held_out.points >= target_points:
        return ""
    if in_sample.points < target_points:
        return (f"Even on the training frames the regressor was fitted on, the margin is only {in_sample.points:+.1f} "
                "points: the landmarks do not encode the joints well enough, which points at the model and its "
                "training budget rather than at generalisation.")
    return (f"On the training frames the regressor was fitted on, the margin is {in_sample.points:+.1f} points, above "
            f"the target: the landmarks encode the joints there but do not generalise to {held_out.split_label}, "
            "which points at the data (too few training videos) more than at the model.")


def identity_diagnosis(results: Mapping[str, Sequence[KeypointResult]], learned: str, baseline: str, split: str,
                       split_label: str, joint_names: Sequence[str], cfg: KeypointEvalConfig,
                       weak_below: float = 0.5, consistent_within: float = 2.0) -> str:
    """What the per-identity diagnostic says about `learned` on `split` (seed means), compared with `baseline`; ""
    when it was not computed (identities unseen in training, `cfg.per_identity` off, or results cached without it).
    A refit gaining less than `consistent_within` points counts as landmarks consistent across identities."""
    def means(method: str) -> tuple[float, float, np.ndarray] | None:
        runs = [r.splits[split] for r in results.get(method, ()) if split in r.splits]
        if not runs or any(r.per_identity_accuracy is None for r in runs):
            return None
        return (float(np.mean([r.accuracy for r in runs])), float(np.mean([r.per_identity_accuracy for r in runs])),
                np.mean([r.per_identity_per_joint for r in runs], axis=0))

    ours, base = means(learned), means(baseline)
    if ours is None:
        return ""
    accuracy, per_identity, per_joint = ours
    gain = 100 * (per_identity - accuracy)
    text = (f"Diagnosis (not the protocol): with one regressor per identity, fitted on that identity's training "
            f"frames only, {learned} reaches {100 * per_identity:.1f}% on {split_label} instead of "
            f"{100 * accuracy:.1f}%, " + (f"so {gain:.1f} points are lost because a landmark does not mark the same "
                                         "body part in every identity" if gain >= consistent_within else
                                         "so its landmarks mark the same body parts in every identity"))
    if base is not None:
        text += f" (the same refit moves {baseline} by {100 * (base[1] - base[0]):+.1f} points)"
    weak = [f"{name} {100 * a:.0f}%" for name, a in zip(joint_names, per_joint) if a < weak_below]
    if weak:
        text += (f". Even per identity, {', '.join(weak)} stay below {100 * weak_below:.0f}% within "
                 f"{cfg.threshold:g} px: no landmark follows these joints closely")
    return text + "."


# ----------------------------------------------------------------------------------------------------------- tables
@dataclass
class SeedSummary:
    """Accuracy over training seeds, as Table 1 reports it: mean ± std (sample std, ddof=1) and best."""

    mean: float
    std: float
    best: float
    n: int

    def format(self, percent: bool = True) -> str:
        s = 100.0 if percent else 1.0
        if self.n == 1:
            return f"{s * self.mean:.1f} (1 seed)"
        return f"{s * self.mean:.1f} ± {s * self.std:.1f} (best {s * self.best:.1f}, {self.n} seeds)"


def summarize_seeds(values: Sequence[float]) -> SeedSummary:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of accuracies, got shape {values.shape}")
    std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return SeedSummary(float(values.mean()), std, float(values.max()), len(values))


def accuracy_table(results: Mapping[str, Sequence[KeypointResult]], split_labels: Mapping[str, str],
                   cfg: KeypointEvalConfig) -> str:
    """Table 1 analogue: one row per method (several results = several seeds -> mean ± std, best), one column per split.

    `split_labels` maps split names to column headers (they should name the dataset).
    """
    header = ["Method"] + [f"{label}: accuracy at {cfg.threshold:g} {cfg.unit} (%)" for label in split_labels.values()]
    rows = []
    for method, runs in results.items():
        if not runs:
            raise ValueError(f"method {method!r} has no results")
        rows.append([method] + [summarize_seeds([r.splits[s].accuracy for r in runs]).format() for s in split_labels])
    return markdown_table(header, rows)


def per_joint_table(results: Mapping[str, KeypointResult | Sequence[KeypointResult]], split: str,
                    joint_names: Sequence[str], cfg: KeypointEvalConfig) -> str:
    """Accuracy at cfg.threshold per joint (%), one row per method, on `split`; a method with several results
    (seeds) shows their mean."""
    header = ["Method"] + list(joint_names) + [f"all joints (accuracy at {cfg.threshold:g} {cfg.unit}, %)"]
    rows = []
    for method, runs in results.items():
        runs = [runs] if isinstance(runs, KeypointResult) else list(runs)
        if not runs:
            raise ValueError(f"method {method!r} has no results")
        per_joint = np.mean([r.splits[split].per_joint for r in runs], axis=0)
        if len(per_joint) != len(joint_names):
            raise ValueError(f"{method}: {len(per_joint)} joints but {len(joint_names)} joint names")
        accuracy = np.mean([r.splits[split].accuracy for r in runs])
        rows.append([method] + [f"{100 * v:.1f}" for v in per_joint] + [f"{100 * accuracy:.1f}"])
    return markdown_table(header, rows)


def seed_mean_curves(results: Mapping[str, Sequence[KeypointResult]],
                     split: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fig. 9 input: method -> (thresholds [T], accuracy [T] averaged over the method's seeds) on `split`.
    The label says how many seeds were averaged."""
    curves = {}
    for method, runs in results.items():
        if not runs:
            raise ValueError(f"method {method!r} has no results")
        thresholds = runs[0].thresholds
        if any(not np.array_equal(r.thresholds, thresholds) for r in runs):
            raise ValueError(f"method {method!r}: its results were scored at different thresholds")
        n = len(runs)
        curves[f"{method} ({n} seed{'s' if n > 1 else ''})"] = (
            thresholds, np.mean([r.splits[split].curve for r in runs], axis=0))
    return curves


def paper_bbc_table() -> str:
    """The published BBC Pose numbers, quoted (never computed here): a table of its own."""
    return markdown_table(["Method", "BBC Pose, quoted from Shih et al. 2019: accuracy at 6 px (%)"], PAPER_BBC_TABLE1)


def plot_pck_curves(ax: Any, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, unit: str) -> Any:
    """Fig. 9: accuracy (%) against distance. `curves`: label -> (thresholds [T], accuracy [T] in [0,1])."""
    for label, (thresholds, accuracy) in curves.items():
        ax.plot(thresholds, 100 * np.asarray(accuracy), label=label)
    ax.set_xlabel(f"distance threshold ({unit})")
    ax.set_ylabel("keypoints within threshold (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_gallery(frames: np.ndarray, result: SplitResult, names: Sequence[str], cfg: KeypointEvalConfig,
                 n: int = 8, ncols: int = 4) -> Any:
    """Test frames with regressed keypoints (x) and ground truth (o), one colour per joint.

    frames: the split's stored frames (uint8 [M,S,S,C]); `result` must be scored at eval_scale "crop" so that its
    points map back onto the stored frames. Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if cfg.eval_scale != "crop":
        raise ValueError("plot_gallery draws on the stored crops: evaluate with eval_scale='crop'")
    picks = np.round(np.linspace(0, len(result.frame_index) - 1, min(n, len(result.frame_index)))).astype(int)
    side = frames.shape[1]

    def to_frame(points: np.ndarray) -> np.ndarray:
        return crop_centred_to_pixels(points * (side / cfg.crop_size), side)

    nrows = math.ceil(len(picks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.4 * nrows + 0.4), squeeze=False)
    colours = plt.get_cmap("tab10")(np.arange(len(names)) % 10)
    for ax, i in zip(axes.flat, picks):
        image = frames[result.frame_index[i]]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
        pred, gt = to_frame(result.pred[i]), to_frame(result.gt[i])
        for j, name in enumerate(names):
            ax.plot(*gt[j], "o", ms=5, mfc="none", mec=colours[j], mew=1.5, label=name)
            ax.plot(*pred[j], "x", ms=5, color=colours[j], mew=1.5)
        ok = int(np.sum(np.linalg.norm(result.pred[i] - result.gt[i], axis=-1) <= cfg.threshold))
        ax.set_title(f"frame {result.frame_index[i]}: {ok}/{len(names)} within {cfg.threshold:g} px", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(names), fontsize=7, frameon=False)
    fig.suptitle("o = ground truth, x = regressed from landmarks", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
