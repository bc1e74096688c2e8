"""Chapter 4's study, assembled: every predictor of one dataset with joints scored on its two held-out splits
(`lmvid_lib.eval.horizon`), the motion an accurate deterministic prediction can keep (`lmvid_lib.eval.predictability`),
and the sentences, tables and claim the chapter shows, all computed from the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from lmvid_lib.data.datasets import DATASETS, VALIDATION, data_label, dataset_info, has_validation
from lmvid_lib.eval import horizon as hz
from lmvid_lib.eval import predictability
from lmvid_lib.eval.prediction import horizon_table, speed_kept_over
from lmvid_lib.eval.predictors import CONSTANT_VELOCITY, COPY_LAST, LINEAR_FORECAST, MEAN_POSE, OURS, OURS_DIRECT
from lmvid_lib.eval.regression import KeypointRegressor
from lmvid_lib.models.checkpoint import dataset_run, load_trained, read_run_config, scene_run
from lmvid_lib.models.dynamics import ConstantVelocity, CopyLast
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.files import LANDMARK_LSTM, load_model


def horizon_splits(dataset: str) -> dict[str, str]:
    """Split -> label of the held-out splits chapter 4 reports on `dataset` (`data.datasets.Dataset.held_out`): the
    held-out frames first, then held-out attire; a ValueError for a dataset without them."""
    splits = dict(dataset_info(dataset).held_out)
    if not splits:
        known = [name for name, d in DATASETS.items() if d.held_out]
        raise ValueError(
            f"dataset: the pose horizon study needs true joints on held-out splits: {known}, got {dataset!r}"
        )
    return splits


@dataclass
class HorizonStudy:
    """One dataset's predictors scored against the horizon on each held-out split."""

    dataset: str
    source: str  # the caption label of its data (`data.datasets.data_label`)
    cfg: hz.HorizonConfig
    model: FactorizationModel
    n_landmarks: int
    train: hz.VideoStates
    regressor: KeypointRegressor
    predictors: dict[str, nn.Module]
    held_out: dict[str, hz.VideoStates]
    tune: hz.VideoStates | None  # the validation videos (`data.datasets.VALIDATION`): choices are made on them
    windows: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # split -> (states, joints, frame indices)
    results: dict[str, dict[str, hz.HorizonCurves]]  # split -> predictor name -> curves
    splits: dict[str, str]  # the reported splits (`horizon_splits`): split -> label, the held-out frames first
    scene_model: FactorizationModel | None = None  # the scene decoder on the same landmarks, where chapter 2 has one

    @property
    def first(self) -> str:
        """The held-out-frames split: the chapter's claim, note and neighbour table are computed there."""
        return next(iter(self.splits))

    @property
    def horizons(self) -> tuple[int, ...]:
        return self.cfg.horizons

    @property
    def speed_span(self) -> tuple[int, int]:
        return self.cfg.speed_span

    def n_videos(self, split: str) -> int:
        """How many held-out videos the windows of `split` are cut from."""
        return self.held_out[split].videos.n_videos

    def sample_sentence(self, split: str | None = None) -> str:
        """ "40 windows of 4 videos" for `split`, or for every split ("held-out frames: ...; held-out attire: ...")."""
        if split is not None:
            return f"{len(self.windows[split][0])} windows of {self.n_videos(split)} videos"
        return "; ".join(f"{label}: {self.sample_sentence(s)}" for s, label in self.splits.items())

    @property
    def unit(self) -> str:
        return f"px, {self.cfg.crop_size}x{self.cfg.crop_size} crop"

    def table(self, split: str) -> tuple[list[str], list[list[str]]]:
        """(header, rows) of the horizon table of `split`."""
        return horizon_table({k: v.as_tuple() for k, v in self.results[split].items()}, self.horizons)

    def verdicts(self) -> str:
        """Markdown: the computed verdict on each split, then what a linear forecast says about predictability."""
        parts = [
            f"**{label}.** {hz.horizon_summary(self.results[s], OURS, self.horizons, self.speed_span)}"
            for s, label in self.splits.items()
        ]
        note = hz.predictability_note(self.results[self.first], OURS, LINEAR_FORECAST, self.horizons, self.speed_span)
        return "\n\n".join([*parts, note])

    def claim_fields(self) -> dict[str, str]:
        """The chapter's claim row (claim, paper, ours, dataset), from the held-out-frames results."""
        results, t = self.results[self.first], self.horizons[-1]
        kept = speed_kept_over(results[OURS].speed_kept, *self.speed_span)
        return {
            "claim": f"A landmark LSTM predicts long-range pose ({self.cfg.context} -> {self.cfg.horizon} frames)",
            "paper": "qualitative (Fig. 3: BBC Pose predictions, 2 -> 98 frames, that keep moving)",
            "ours": (
                f"joint error at t={t}: {results[OURS].errors[t - 1]:.1f} px ({MEAN_POSE} "
                f"{results[MEAN_POSE].errors[t - 1]:.1f}, {COPY_LAST} {results[COPY_LAST].errors[t - 1]:.1f}); keeps "
                f"{100 * kept:.0f}% of the real speed over t={self.speed_span[0]}-{self.speed_span[1]}"
            ),
            "dataset": f"{self.dataset} held-out frames ({self.source}), {self.sample_sentence(self.first)}",
        }


def _predictors(lstm_runs: Mapping[str, str | Path], device: str) -> dict[str, nn.Module]:
    lstms = {name: load_model(run, device, LANDMARK_LSTM) for name, run in lstm_runs.items()}
    return {**lstms, COPY_LAST: CopyLast(), CONSTANT_VELOCITY: ConstantVelocity()}


def horizon_study(
    run_dir: str | Path,
    dataset: str,
    cfg: hz.HorizonConfig,
    lstm_runs: Mapping[str, str | Path],
    train_overrides: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> HorizonStudy:
    """Score the LSTMs of `lstm_runs` ({OURS: run folder, OURS_DIRECT: run folder}), copy-last, constant velocity,
    the linear forecast and the mean pose on `dataset`'s held-out splits, with the read-out fitted on its training
    videos (with `train_overrides`, the synthetic overrides the LSTM trained on)."""
    unknown = sorted(set(lstm_runs) - {OURS, OURS_DIRECT})
    if unknown:
        raise ValueError(f"lstm_runs: unknown predictor(s) {unknown}; known: {[OURS, OURS_DIRECT]}")
    run = dataset_run(run_dir, dataset)
    model, factor_cfg = load_trained(run, device)
    splits = horizon_splits(factor_cfg.dataset)
    train = hz.video_states(run, "train", run_dir, cfg, device, **dict(train_overrides or {}))
    regressor = hz.fit_state_regressor(train.states, train.joints, cfg.crop_size)
    predictors = _predictors(lstm_runs, device)
    forecasts = {LINEAR_FORECAST: hz.fit_linear_forecast(train.windows(cfg)[0], cfg)}
    held_out = {split: hz.video_states(run, split, run_dir, cfg, device) for split in splits}
    has_tune = has_validation(factor_cfg.dataset, factor_cfg.data_root)
    tune = hz.video_states(run, VALIDATION, run_dir, cfg, device) if has_tune else None
    windows = {split: held_out[split].windows(cfg) for split in splits}
    results = {
        split: hz.evaluate_predictors(predictors, regressor, *windows[split][:2], train.joints, cfg, forecasts)
        for split in splits
    }
    source = data_label(factor_cfg.dataset, factor_cfg.data_root)
    k = factor_cfg.model.n_landmarks
    scene = scene_run(run_dir, dataset)
    scene_model = None if scene is None else load_trained(scene, device)[0]
    return HorizonStudy(
        dataset,
        source,
        cfg,
        model,
        k,
        train,
        regressor,
        predictors,
        held_out,
        tune,
        windows,
        results,
        splits,
        scene_model,
    )


@dataclass
class NeighbourStudy:
    """Averages of the real futures of the k nearest training windows: curves by k on the held-out-frames windows
    (reported) and the k most accurate at the last horizon on the validation windows (chosen there)."""

    curves: dict[int, hz.HorizonCurves]
    best: int | None  # None: no validation split, so no k was chosen apart from the reported windows
    header: list[str]
    rows: list[list[str]]


def neighbour_study(study: HorizonStudy, stride: int) -> NeighbourStudy:
    """`NeighbourStudy` of training windows every `stride` frames: k chosen on the validation videos' windows, the
    table of every k on the held-out-frames windows."""
    cfg = study.cfg
    train_windows = hz.windows(study.train.joints, cfg.length, stride)

    def curves(joints: np.ndarray) -> dict[int, hz.HorizonCurves]:
        return predictability.neighbour_curves(train_windows, joints, cfg.context, cfg.threshold)

    reported = curves(study.windows[study.first][1])
    # without a validation split k is chosen on the reported windows, and the note says so (best None)
    tune = curves(study.tune.windows(cfg)[1]) if study.tune is not None else None
    best = predictability.best_neighbours(tune, study.horizons[-1]) if tune is not None else None
    header, rows = predictability.tradeoff_rows(reported, study.horizons, study.speed_span)
    return NeighbourStudy(reported, best, header, rows)


def neighbour_note(study: HorizonStudy, neighbours: NeighbourStudy) -> str:
    """The sentence comparing the neighbour averages (k chosen on validation) with our LSTM and copy-last."""
    results = study.results[study.first]
    return predictability.tradeoff_note(
        neighbours.curves,
        results[OURS],
        OURS,
        results[COPY_LAST],
        study.horizons,
        study.speed_span,
        best=neighbours.best,
    )


def decoded_window(study: HorizonStudy, split: str, window: int = 0, scene: bool = False) -> tuple[Any, Any, Any]:
    """Window `window` of `split` as video: (real frames, frames decoded from our LSTM's prediction, its state path),
    `hz.decoded_prediction` with the appearance of the last context frame; drawn by the scene decoder with `scene`
    (ValueError when the study has none)."""
    if scene and study.scene_model is None:
        raise ValueError(f"{study.dataset}: chapter 2 trained no scene decoder on this model's landmarks")
    states, _, frame_index = study.windows[split]
    frames = study.held_out[split].videos.frames[frame_index[window]]
    model = study.scene_model if scene else study.model
    return hz.decoded_prediction(model, study.predictors[OURS], states[window], frames, study.cfg)


def setup_sentence(lstm: Any, cfg: hz.HorizonConfig, dataset: str, profile: str) -> str:
    """Markdown: the LSTM's training (a `DynamicsTrainConfig`) and what is scored."""
    n_inputs, n_future = lstm.schedule()
    return (
        f"**LSTM:** {lstm.model.layers} x {lstm.model.hidden} units + a linear layer, {lstm.steps} steps of "
        f"batch {lstm.batch_size} at learning rate {lstm.lr:g} (Adam), seed {lstm.seed}; schedule on "
        f"`{dataset}`: {n_inputs} inputs, {n_future} future. **Scored:** `{dataset}` held-out videos cut into "
        f"windows of {cfg.context} context + {cfg.horizon} predicted frames every {cfg.stride} frames; joints in "
        f"pixels of the {cfg.crop_size}x{cfg.crop_size} crop, accuracy within {cfg.threshold:g} px. "
        f"Profile `{profile}`."
    )


def sources_sentence(run_dir: str | Path, datasets: list[str]) -> str:
    """ "`signer`: embedded synthetic stand-in for BBC Pose; ...": the data of each dataset's factorization run."""
    labels = []
    for dataset in datasets:
        cfg = read_run_config(dataset_run(run_dir, dataset))
        labels.append(f"`{dataset}`: {data_label(cfg.dataset, cfg.data_root)}")
    return "; ".join(labels)
