"""The keypoint protocol of the paper (Table 1, Fig. 9; appendix B): landmarks of annotated frames, a linear regressor
fitted on the training split, accuracy on each test split, for trained runs and the two baselines.

`evaluate_landmarks` extracts the landmarks of a split's annotated frames (`lmvid_lib.models.inference`), converts them
and the ground truth to *crop-centred* pixels (origin at the centre of the `crop_size` x `crop_size` evaluation crop,
x right, y down; see `lmvid_lib.eval.scales`), fits `lmvid_lib.eval.regression.fit_regressor` on the training frames
and scores every test split with `score_split` at `KeypointEvalConfig.eval_scale` (the pixel scale each table names
through `KeypointEvalConfig.unit`). Baseline (a) (`evaluate_mean_pose`) predicts the mean training pose; baseline (b)
(`evaluate_run(..., baseline="untrained")`) regresses from the landmarks of the run's pose encoder as initialised.

Missing joints follow the rule of `lmvid_lib.eval.regression` (fit, mean pose and scores); the protocol itself scores
only frames with every joint annotated (`annotated_frames`, as BBC Pose annotates them), so on its datasets the rule
never has to leave a joint out.

`evaluate_run` scores one finished training run (read with `lmvid_lib.models.checkpoint.load_trained`) on its own
dataset, cached in `<run_dir>/keypoints/`; `find_runs` and `evaluate_table1` do so for every decoder x seed. Their
results are summarised by `lmvid_lib.report.table1` and drawn by `lmvid_lib.report.figures`.

Per-identity diagnostic (not the protocol, `KeypointEvalConfig.per_identity`): where every scored identity was seen in
training, a second read-out fits one regressor per identity (`lmvid_lib.eval.regression.per_identity_predictions`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmvid_lib.data.datasets import open_dataset
from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval.regression import (
    KeypointRegressor,
    as_points,
    fit_regressor,
    mean_pose_baseline,
    pck,
    pck_curve,
    per_identity_predictions,
    per_joint_pck,
)
from lmvid_lib.eval.scales import (
    EVAL_SCALE_CHOICES,
    landmarks_to_crop_centred,
    pixels_to_crop_centred,
    protocol_crops,
    resolve_eval_scale,
    to_eval_pixels,
)
from lmvid_lib.io import atomic_write_json
from lmvid_lib.models.checkpoint import load_trained
from lmvid_lib.models.factorization import FactorizationModel, ModelConfig
from lmvid_lib.models.inference import encode_frames
from lmvid_lib.models.run_config import TrainConfig, config_dict, run_path
from lmvid_lib.paths import RunFiles, keypoints_cache
from lmvid_lib.seed import seed_everything


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
            raise ValueError(
                f"KeypointEvalConfig.eval_scale must be one of {EVAL_SCALE_CHOICES}, got {self.eval_scale!r}"
            )
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
        return {
            "crop": f"px in the {self.crop_size}x{self.crop_size} crop",
            "original": "px of the original frame",
            "half_original": "px at half the original resolution",
        }[self.eval_scale]


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
    def from_dict(cls, d: Mapping[str, Any]) -> KeypointResult:
        splits = {
            k: SplitResult(
                pred=np.asarray(v["pred"], dtype=np.float64),
                gt=np.asarray(v["gt"], dtype=np.float64),
                frame_index=np.asarray(v["frame_index"], dtype=np.int64),
                accuracy=float(v["accuracy"]),
                curve=np.asarray(v["curve"], dtype=np.float64),
                per_joint=np.asarray(v["per_joint"], dtype=np.float64),
                per_identity_accuracy=None
                if v.get("per_identity_accuracy") is None
                else float(v["per_identity_accuracy"]),
                per_identity_per_joint=None
                if v.get("per_identity_per_joint") is None
                else np.asarray(v["per_identity_per_joint"], dtype=np.float64),
            )
            for k, v in d["splits"].items()
        }
        weights = d.get("weights")
        return cls(
            d["method"],
            splits,
            np.asarray(d["thresholds"], dtype=np.float64),
            dict(d.get("config", {})),
            None if weights is None else KeypointRegressor(np.asarray(weights, dtype=np.float64)),
        )


def score_split(
    pred_cc: np.ndarray,
    gt_cc: np.ndarray,
    frame_index: np.ndarray,
    cfg: KeypointEvalConfig,
    crops: Any = None,
    per_identity_cc: np.ndarray | None = None,
) -> SplitResult:
    """Score crop-centred predictions [N,J,2] against crop-centred ground truth at cfg.eval_scale (and the
    per-identity diagnostic's predictions [N,J,2], when given)."""
    pred = to_eval_pixels(pred_cc, cfg.eval_scale, cfg.crop_size, crops)
    gt = to_eval_pixels(gt_cc, cfg.eval_scale, cfg.crop_size, crops)
    result = SplitResult(
        pred,
        gt,
        np.asarray(frame_index, dtype=np.int64),
        pck(pred, gt, cfg.threshold),
        pck_curve(pred, gt, cfg.thresholds),
        per_joint_pck(pred, gt, cfg.threshold),
    )
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
    indices = {
        name: annotated_frames(v, cfg.max_train_frames if name == "train" else cfg.max_test_frames, name)
        for name, v in sets.items()
    }
    crops = protocol_crops(sets, indices)
    landmarks = {}
    for name, videos in sets.items():
        if isinstance(source, torch.nn.Module):
            codes = encode_frames(
                source, videos.frames, cfg.batch_size, indices=indices[name], device=device, progress=progress
            )
            mu = codes.mu.numpy()
        elif name in source:
            mu = as_points(f"landmarks[{name!r}]", source[name])
            if len(mu) != len(indices[name]):
                raise ValueError(
                    f"landmarks[{name!r}] has N={len(mu)} but the split has {len(indices[name])} scored frames"
                )
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
            per_identity = per_identity_predictions(
                landmarks["train"], train_kp, ids["train"], landmarks[name], ids[name]
            )
        gt = split_keypoints(videos, indices[name], cfg, name)
        splits[name] = score_split(
            regressor.predict(landmarks[name]), gt, indices[name], cfg, crops[name], per_identity
        )
    return KeypointResult(method, splits, cfg.thresholds, asdict(cfg), regressor)


def evaluate_mean_pose(
    train_set: VideoSet, test_sets: Mapping[str, VideoSet], cfg: KeypointEvalConfig | None = None
) -> KeypointResult:
    """Baseline (a): every test frame gets the mean training pose (crop-centred)."""
    cfg = cfg or KeypointEvalConfig()
    sets = {"train": train_set, **test_sets}
    indices = {
        name: annotated_frames(v, cfg.max_train_frames if name == "train" else cfg.max_test_frames, name)
        for name, v in sets.items()
    }
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

    def open_(split: str) -> VideoSet:
        return open_dataset(
            train_cfg.dataset, split, run_dir, train_cfg.data_root, seed=train_cfg.data_seed, **train_cfg.synthetic
        )

    return {"train": open_(frame_crop_split(train_cfg.split)), **{s: open_(s) for s in splits if s != "train"}}


def untrained_model(train_cfg: Any, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Baseline (b): the pose encoder as `train_factorization` initialises it (same seed and config), untrained."""
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
    if baseline not in (None, *BASELINES):
        raise ValueError(f"baseline must be None or one of {BASELINES}, got {baseline!r}")
    run = Path(run)
    model, train_cfg = load_trained(run, device)
    cfg = cfg.for_dataset(train_cfg.dataset)  # resolves "auto"; an original scale without original frames fails here
    weights = RunFiles(run).model
    method = {
        None: train_cfg.run_name,
        "untrained": f"untrained {train_cfg.model.decoder} encoder, seed {train_cfg.seed}",
        "mean_pose": "mean training pose",
    }[baseline]
    key = {
        "method": method,
        "train_config": config_dict(train_cfg),
        "eval": asdict(cfg),
        "splits": list(test_splits),
        "weights": [weights.stat().st_size, weights.stat().st_mtime_ns] if baseline is None else None,
    }
    cache = keypoints_cache(run_dir, f"{train_cfg.run_name}{'' if baseline is None else '-' + baseline}")

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
        raise ValueError(
            f"dataset: keypoint regression is evaluated on {sorted(EVAL_SPLITS)} (upper-body keypoints "
            f"in BBC Pose order), got {dataset!r}"
        )
    return dict(EVAL_SPLITS[dataset])


def find_runs(
    run_dir: str | Path, dataset: str, decoders: Sequence[str], seeds: Sequence[int]
) -> dict[str, list[Path]]:
    """decoder -> its finished training runs `<run_dir>/factorization/<dataset>-<decoder>-seed<seed>`, in `seeds`
    order. A run is finished when its model.pt exists; a FileNotFoundError lists every missing one."""
    if not decoders or not seeds:
        raise ValueError(f"decoders and seeds must be non-empty, got decoders={list(decoders)} seeds={list(seeds)}")
    runs = {
        d: [run_path(TrainConfig(dataset=dataset, seed=s, model=ModelConfig(decoder=d)), run_dir) for s in seeds]
        for d in decoders
    }
    missing = [str(r) for paths in runs.values() for r in paths if not RunFiles(r).model.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} factorization run(s) are missing or unfinished: {', '.join(missing)}. "
            "Run notebook 02_factorization first with the same profile (it trains every decoder "
            "in `decoders` for every seed in `seeds`)."
        )
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
