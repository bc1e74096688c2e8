"""Chapter 4b's study, assembled: the stochastic landmark LSTM's sampled futures of one dataset's windows, scored as
joints (`lmvid_lib.eval.sampling`) beside the deterministic LSTM, copy-last, the training mean pose and the
random-training-pose sampler, with the sentences the chapter shows, every number computed from the run.

The windows, the read-out (landmarks -> joints, fitted on the training videos) and the joints are chapter 4's
(`lmvid_lib.eval.horizon`); deterministic predictors are scored as one sample each, so their energy score is their
joint error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lmvid_lib.config import check_int
from lmvid_lib.data.datasets import data_label
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.eval import horizon as hz
from lmvid_lib.eval import sampling
from lmvid_lib.eval import video_prediction as vp
from lmvid_lib.eval.prediction import speed_kept_over, states_to_joints
from lmvid_lib.eval.predictors import COPY_LAST, MEAN_POSE, OURS, OURS_STOCHASTIC, RANDOM_POSE
from lmvid_lib.eval.regression import known_mean
from lmvid_lib.eval.structure import detect, in_frame
from lmvid_lib.models.checkpoint import dataset_run, load_trained, read_run_config
from lmvid_lib.models.dynamics import CopyLast, dynamics_run
from lmvid_lib.models.files import LANDMARK_LSTM, load_model
from lmvid_lib.models.sequences import open_run_videos, render_sequence, sequence_indices


@dataclass
class SamplingConfig:
    n_samples: int = 20  # futures per window (SVG-LP and SAVP report the best of 100)
    seed: int = 0  # of the latent draws and of the random-training-pose sampler
    pose_every: int = 5  # every this many frames of the speed span enter the plausibility measure
    max_reference: int = 4000  # training poses the plausibility measure searches

    def __post_init__(self) -> None:
        for name in ("n_samples", "pose_every", "max_reference"):
            check_int(getattr(self, name), f"SamplingConfig.{name}")
        check_int(self.seed, "SamplingConfig.seed", 0)


@dataclass
class SampledScores:
    """One predictor's scores per predicted frame t = 1..T (px unless said), from its samples [S,N,T,J,2]."""

    energy: np.ndarray  # [T] energy score
    best: np.ndarray  # [T] best-of-N joint error
    mean: np.ndarray  # [T] mean-of-N joint error
    spread: np.ndarray  # [T] mean pairwise distance of the samples
    speed_kept: np.ndarray  # [T-1] sampled over real joint speed
    nearest_training_pose: float  # mean distance of its poses over the speed span to the nearest training pose
    n_samples: int


def span_plausibility(poses: np.ndarray, train_poses: np.ndarray, cfg: hz.HorizonConfig, scfg: SamplingConfig) -> float:
    """`sampling.plausibility` of poses [...,T,J,2] (samples [S,N,T,J,2] or real futures [N,T,J,2]) on every
    scfg.pose_every-th frame of cfg's speed span, against train_poses [...,J,2]."""
    start, stop = cfg.speed_span
    spanned = np.asarray(poses)[..., start - 1 : stop : scfg.pose_every, :, :]
    return sampling.plausibility(spanned, train_poses, scfg.max_reference, scfg.seed)


def score_samples(
    samples: np.ndarray, true: np.ndarray, train_poses: np.ndarray, cfg: hz.HorizonConfig, scfg: SamplingConfig
) -> SampledScores:
    """`SampledScores` of samples [S,N,T,J,2] against true [N,T,J,2], plausibility against train_poses [...,J,2]."""
    near = span_plausibility(samples, train_poses, cfg, scfg)
    return SampledScores(
        sampling.energy_score(samples, true),
        sampling.best_of_n(samples, true),
        sampling.mean_of_n(samples, true),
        sampling.spread(samples),
        sampling.kept_speed(samples, true),
        near,
        len(samples),
    )


@dataclass
class SamplingStudy:
    dataset: str
    source: str  # the caption label of its data
    split: str
    cfg: hz.HorizonConfig
    scfg: SamplingConfig
    n_windows: int
    n_videos: int
    scores: dict[str, SampledScores]  # predictor -> scores, ours first
    real_nearest_pose: float  # the plausibility measure of the real futures
    true: np.ndarray  # [N,T,J,2] true future joints
    samples: np.ndarray  # [S,N,T,J,2] the stochastic model's joints
    sampled_states: torch.Tensor  # [S,N,T,K,5] the stochastic model's states (for decoding and landmark paths)
    deterministic_states: torch.Tensor  # [N,T,K,5] the deterministic LSTM's
    window_states: np.ndarray  # [N,L,K,5] the windows' real states
    frame_index: np.ndarray  # [N,L] the windows' frames in `videos.frames`
    videos: Any  # the split's VideoSet

    def paths(self, window: int, n_samples: int) -> dict[str, np.ndarray]:
        """Landmark state paths [L,K,5] of window `window` (context, then prediction): "real", the deterministic
        LSTM's and the first `n_samples` samples ("sample 1", ...)."""
        context = torch.as_tensor(self.window_states[window, : self.cfg.context], dtype=torch.float32)
        predicted = {OURS: self.deterministic_states[window]}
        predicted |= {f"sample {i + 1}": self.sampled_states[i, window] for i in range(n_samples)}
        paths = {"real": np.asarray(self.window_states[window, : self.cfg.length])}
        return paths | {k: torch.cat([context, v.cpu()]).numpy() for k, v in predicted.items()}

    def decoded(self, model: nn.Module, window: int, n_samples: int) -> dict[str, torch.Tensor]:
        """Window `window` as video, frames [L,C,H,W] in [0,1] at the model's size: the real frames, then each path
        of `paths` decoded by `model` with the appearance (and scene) of the last context frame."""
        frames = np.asarray(self.videos.frames[self.frame_index[window, : self.cfg.length]])
        paths = self.paths(window, n_samples)
        predicted = {k: v for k, v in paths.items() if k != "real"}
        stacked = torch.as_tensor(np.stack(list(predicted.values())), dtype=torch.float32)
        appearance = np.repeat(frames[self.cfg.context - 1][None], len(predicted), 0)
        decoded = render_sequence(model, stacked, appearance)
        real = frames_to_input(frames, model.cfg.image_size, "cpu")
        return {"real": real} | dict(zip(predicted, decoded))

    def table(self) -> tuple[list[str], list[list[str]]]:
        """`scores_table` of this study's predictors."""
        return scores_table(self.cfg, self.scores, self.real_nearest_pose)

    def sample_sentence(self) -> str:
        return f"{self.n_windows} windows of {self.n_videos} videos, {self.scfg.n_samples} samples each"

    def verdict(self) -> str:
        """`scores_verdict` of this study's predictors."""
        return scores_verdict(self.cfg, self.scores, self.real_nearest_pose)


def scores_table(
    cfg: hz.HorizonConfig, scores: Mapping[str, SampledScores], real_nearest_pose: float
) -> tuple[list[str], list[list[str]]]:
    """(header, rows): every score of every predictor of `scores` at the horizons `cfg` shows, speed kept over its
    span, and the distance to the nearest training pose (real futures: the last row, `real_nearest_pose`)."""
    ts = cfg.horizons
    span = cfg.speed_span
    header = ["predictor", "N"]
    for name in sampling.SCORES:
        header += [f"{name} t={t}" for t in ts]
    header += [f"speed kept t={span[0]}-{span[1]}", "spread t=" + str(ts[-1]), "to nearest training pose"]
    rows = []
    for predictor, s in scores.items():
        row = [predictor, str(s.n_samples)]
        for curve in (s.energy, s.best, s.mean):
            row += [f"{curve[t - 1]:.1f}" for t in ts]
        kept = speed_kept_over(s.speed_kept, *span)
        row += [f"{100 * kept:.0f}%", f"{s.spread[ts[-1] - 1]:.1f}", f"{s.nearest_training_pose:.1f}"]
        rows.append(row)
    blank = [""] * (len(sampling.SCORES) * len(ts) + 2)
    rows.append(["real futures", "", *blank, f"{real_nearest_pose:.1f}"])
    return header, rows


def scores_verdict(cfg: hz.HorizonConfig, scores: Mapping[str, SampledScores], real_nearest_pose: float) -> str:
    """Markdown: how the stochastic model's energy score compares with each other predictor of `scores` (at every
    frame, and where it is not lower; the random-training-pose sampler's over the first 10 frames), the motion it
    keeps and how plausible its poses are; every number from the scores."""
    ours = scores[OURS_STOCHASTIC]
    parts = [compare(ours.energy, other.energy, name) for name, other in scores.items() if other is not ours]
    first10 = slice(0, min(10, len(ours.energy)))
    random_gap = float(np.mean(ours.energy[first10] - scores[RANDOM_POSE].energy[first10]))
    span = cfg.speed_span
    kept = speed_kept_over(ours.speed_kept, *span)
    ratio = ours.nearest_training_pose / real_nearest_pose
    return (
        f"The energy score of {OURS_STOCHASTIC} is " + "; ".join(parts) + ". Over the first "
        f"{first10.stop} predicted frames it is {random_gap:+.1f} px from the {RANDOM_POSE} sampler's "
        f"(negative: lower). Its samples keep {100 * kept:.0f}% of the real joint speed over frames "
        f"{span[0]}-{span[1]} ({OURS}: "
        f"{100 * speed_kept_over(scores[OURS].speed_kept, *span):.0f}%), and their poses there lie "
        f"{ours.nearest_training_pose:.1f} px from the nearest training pose, {ratio:.2f}x the real futures' "
        f"{real_nearest_pose:.1f} px."
    )


def compare(ours: np.ndarray, other: np.ndarray, name: str, unit: str = " px", lower_is_better: bool = True) -> str:
    """ "lower than <name>'s at every predicted frame (by 2.0 px on average)", or where it is not: per-frame curves
    [T] of ours and the other predictor; with lower_is_better False, "higher" is the better side."""
    better = ours < other if lower_is_better else ours > other
    gain = float(np.nanmean(other - ours if lower_is_better else ours - other))
    side, worse = ("lower", "higher") if lower_is_better else ("higher", "lower")
    if better.all():
        return f"{side} than {name}'s at every predicted frame (by {gain:.3g}{unit} on average)"
    if not better.any():
        return f"{worse} than {name}'s at every predicted frame (by {-gain:.3g}{unit} on average)"
    first = int(np.flatnonzero(~better)[0]) + 1
    return (
        f"{side} than {name}'s at {int(better.sum())} of {len(better)} predicted frames (the first where not: "
        f"t = {first}), {gain:+.3g}{unit} on average (positive: {side})"
    )


def sampling_study(
    run_dir: str | Path,
    dataset: str,
    split: str,
    cfg: hz.HorizonConfig,
    scfg: SamplingConfig,
    stochastic_run: str | Path,
    lstm_run: str | Path,
    train_overrides: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> SamplingStudy:
    """Score the stochastic LSTM of `stochastic_run` (scfg.n_samples per window), the deterministic one of
    `lstm_run`, copy-last, the mean pose and the random-training-pose sampler on the windows of `split` of `dataset`,
    read out with chapter 4's regressor fitted on the training videos (with `train_overrides`, as the LSTMs saw)."""
    run = dataset_run(run_dir, dataset)
    train = hz.video_states(run, "train", run_dir, cfg, device, **dict(train_overrides or {}))
    regressor = hz.fit_state_regressor(train.states, train.joints, cfg.crop_size)
    held = hz.video_states(run, split, run_dir, cfg, device)
    states, joints, frame_index = held.windows(cfg)
    true = np.asarray(joints, dtype=np.float64)[:, cfg.context : cfg.length]
    stochastic = load_model(stochastic_run, device, LANDMARK_LSTM)
    context = torch.as_tensor(states[:, : cfg.context], dtype=torch.float32, device=device)
    sampled = sampling.sample_rollouts(stochastic, context, cfg.horizon, scfg.n_samples, scfg.seed)
    samples = states_to_joints(regressor, sampled.flatten(0, 1), cfg.crop_size).reshape(*sampled.shape[:3], -1, 2)
    lstm = load_model(lstm_run, device, LANDMARK_LSTM)
    deterministic_states, deterministic = hz.predict_joints(lstm, regressor, states, cfg)
    copy = hz.predict_joints(CopyLast(), regressor, states, cfg)[1]
    mean_pose = hz.mean_pose_joints(train.joints, true.shape)
    train_paths = train.windows(cfg)[1][:, cfg.context : cfg.length]
    predictions = {
        OURS_STOCHASTIC: samples,
        OURS: deterministic[None],
        COPY_LAST: copy[None],
        MEAN_POSE: mean_pose[None],
        RANDOM_POSE: sampling.random_training_futures(train_paths, len(true), scfg.n_samples, scfg.seed),
    }
    scores = {name: score_samples(p, true, train.joints, cfg, scfg) for name, p in predictions.items()}
    real = span_plausibility(true, train.joints, cfg, scfg)
    factor_cfg = read_run_config(run)
    return SamplingStudy(
        dataset,
        data_label(factor_cfg.dataset, factor_cfg.data_root),
        split,
        cfg,
        scfg,
        len(true),
        held.videos.n_videos,
        scores,
        real,
        true,
        samples,
        sampled,
        deterministic_states,
        states,
        frame_index,
        held.videos,
    )


def setup_sentence(lstm: Any, cfg: hz.HorizonConfig, scfg: SamplingConfig, dataset: str, profile: str) -> str:
    """Markdown: the stochastic LSTM's training (a `DynamicsTrainConfig` with model.latent > 0) and what is scored."""
    n_inputs, n_future = lstm.schedule()
    m = lstm.model
    return (
        f"**Stochastic LSTM (ours):** {m.layers} x {m.hidden} units + a linear layer reading (s_t, s_t - s_(t-1), "
        f"z_t), z_t of {m.latent} dimensions; prior and posterior: one-layer LSTMs of {m.latent_hidden} units and a "
        f"linear layer to a diagonal Gaussian; KL weight {lstm.kl_weight:g}; {lstm.steps} steps of batch "
        f"{lstm.batch_size} at learning rate {lstm.lr:g} (Adam), seed {lstm.seed}; schedule on `{dataset}`: "
        f"{n_inputs} inputs, {n_future} future. **Scored:** `{dataset}` held-out windows of {cfg.context} context + "
        f"{cfg.horizon} predicted frames every {cfg.stride} frames, {scfg.n_samples} samples per window (latents "
        f"drawn with seed {scfg.seed}); joints in pixels of the {cfg.crop_size}x{cfg.crop_size} crop. Profile "
        f"`{profile}`."
    )


@dataclass
class DecodedStructure:
    """Structure of decoded sampled futures: chapter 5's detector finds the keypoints in every decoded sample, and they
    are scored as chapter 4b's joints (`score_samples`: per clip, then the mean over clips, where chapter 5 pools the
    keypoints of all clips) against the true future keypoints, in px of the stored frame; beside the deterministic
    prediction decoded the same way, the random-training-pose sampler (the keypoints the detector finds in random
    training clips: frames it was trained on, so a little easier for it than test frames) and the detector on the
    real future frames (`real` [T], its own error: the floor)."""

    cfg: hz.HorizonConfig  # the clips' context and horizon (speed kept over its second half)
    scores: dict[str, SampledScores]  # OURS_STOCHASTIC, OURS, RANDOM_POSE
    real: np.ndarray
    real_nearest_pose: float  # the plausibility measure of the keypoints detected in the real futures
    share_better: float  # of the (clip, sample) pairs with known keypoints: the sample's mean error below the
    # deterministic prediction's on that clip (NaN where no pair has any)

    def table(self) -> tuple[list[str], list[list[str]]]:
        """`scores_table` of the decoded predictors' detected keypoints."""
        return scores_table(self.cfg, self.scores, self.real_nearest_pose)

    def sentence(self) -> str:
        verdict = scores_verdict(self.cfg, self.scores, self.real_nearest_pose)
        said = (
            f"Structure (chapter 5's detector on the decoded frames; its error on the real future frames is "
            f"{float(known_mean(self.real)):.1f} px on average): {verdict}"
        )
        if np.isnan(self.share_better):
            return said
        return (
            f"{said} {100 * self.share_better:.0f}% of the decoded samples keep the structure better than the "
            "deterministic prediction of their clip (mean error over the predicted frames)."
        )


def decoded_structure(
    found: np.ndarray,
    deterministic: np.ndarray,
    real: np.ndarray,
    true: np.ndarray,
    train_found: np.ndarray,
    cfg: hz.HorizonConfig,
    scfg: SamplingConfig,
) -> DecodedStructure:
    """`DecodedStructure` of detected keypoints: found [S,N,T,J,2] in the S decoded samples, deterministic and real
    [N,T,J,2] in the deterministic prediction and the real frames, train_found [W,T,J,2] in W training clips (the
    random-training-pose sampler's paths and the plausibility reference), against true [N,T,J,2] (px, NaN =
    absent)."""
    predictions = {
        OURS_STOCHASTIC: found,
        OURS: deterministic[None],
        RANDOM_POSE: sampling.random_training_futures(train_found, len(true), len(found), scfg.seed),
    }
    train_poses = np.asarray(train_found).reshape(-1, *np.shape(train_found)[-2:])
    scores = {name: score_samples(p, true, train_poses, cfg, scfg) for name, p in predictions.items()}
    per_sample = known_mean(sampling.sample_errors(found, true), 2)  # [S,N]
    per_clip = known_mean(sampling.sample_errors(deterministic[None], true)[0], 1)  # [N]
    known = ~np.isnan(per_sample) & ~np.isnan(per_clip)[None]
    better = (per_sample < per_clip[None])[known]
    return DecodedStructure(
        cfg,
        scores,
        sampling.mean_of_n(real[None], true),
        span_plausibility(real, train_poses, cfg, scfg),
        float(better.mean()) if better.size else float("nan"),
    )


def training_clip_keypoints(
    detector: nn.Module, run: Path, run_dir: str | Path, context: int, horizon: int, size: int, scfg: SamplingConfig
) -> np.ndarray:
    """The keypoints `detector` finds in the predicted part of training clips of `context + horizon` frames of
    `run`'s training videos [W,T,J,2] (px): at most scfg.max_reference // horizon clips, drawn with scfg.seed."""
    videos = open_run_videos(run, "train", run_dir)
    index = sequence_indices(videos, context + horizon)[:, context:]
    keep = max(1, scfg.max_reference // horizon)
    if len(index) > keep:
        index = index[np.sort(np.random.default_rng(scfg.seed).choice(len(index), keep, replace=False))]
    frames = frames_to_input(np.asarray(videos.frames[index.ravel()]), size, "cpu")
    return detect(detector, frames.unflatten(0, index.shape))


@dataclass
class DecodedSamples:
    """Decoded sampled futures of one dataset's test clips against its deterministic LSTM's, per predicted frame
    [horizon], means over the clips: best-of-N SSIM and PSNR (the sample closest to the real clip, per frame, as
    SVG-LP and SAVP report) and the deterministic prediction's; the structure score where the data has keypoints."""

    dataset: str
    n_clips: int
    n_samples: int
    best_ssim: np.ndarray
    best_psnr: np.ndarray
    deterministic_ssim: np.ndarray
    deterministic_psnr: np.ndarray
    structure: DecodedStructure | None = None
    best_lpips: dict[str, np.ndarray] = field(default_factory=dict)  # per backbone whose weights are cached
    deterministic_lpips: dict[str, np.ndarray] = field(default_factory=dict)

    def sentence(self) -> str:
        """Where the best-of-N SSIM (and LPIPS, where it was measured) is better than the deterministic prediction's,
        with the mean margin; the structure."""
        compared = compare(self.best_ssim, self.deterministic_ssim, OURS, "", lower_is_better=False)
        said = [
            f"`{self.dataset}` ({self.n_clips} test clips, {self.n_samples} samples): the best-of-N SSIM is {compared}."
        ]
        for net, best in self.best_lpips.items():
            said.append(f"Best-of-N LPIPS ({net}) is {compare(best, self.deterministic_lpips[net], OURS, '')}.")
        if self.structure is not None:
            said.append(self.structure.sentence())
        return " ".join(said)


def decoded_samples(
    run_dir: str | Path,
    dataset: str,
    stochastic_run: str | Path,
    scfg: SamplingConfig,
    max_clips: int | None = None,
    device: str = "cpu",
    detector: tuple[nn.Module, list[int]] | None = None,
    lpips_nets: tuple[str, ...] = (),
) -> DecodedSamples:
    """`DecodedSamples` of `dataset`'s test clips (chapter 5's clips and protocol), every prediction decoded by the
    paper's decoder of its chapter-2 model with the last context frame's appearance; with `detector` (chapter 5's
    detector and the keypoints it finds), the structure score of every decoded sample; LPIPS for each backbone of
    `lpips_nets` whose weights are cached (best of N: the lowest per frame)."""
    run = dataset_run(run_dir, dataset)
    model, cfg = load_trained(run, device)
    context, horizon = vp.protocol(cfg.dataset)
    clips = vp.video_clips(run, open_run_videos(run, "test", run_dir), context, horizon, max_clips, device)
    target = vp.real_video(clips, cfg.model.image_size)[:, context:]
    deterministic = vp.landmark_video(model, load_model(dynamics_run(run_dir, dataset)), clips)
    states = torch.from_numpy(clips.states[:, :context]).float()
    sampled = sampling.sample_rollouts(
        load_model(stochastic_run, device, LANDMARK_LSTM), states, horizon, scfg.n_samples, scfg.seed
    )
    appearance = np.asarray(clips.videos.frames[clips.indices[:, context - 1]])
    scores, found = [], []
    for s in sampled:  # one decoded sample at a time: S x N x T frames would not fit the cpu machine's memory
        frames = render_sequence(model, s, appearance)
        scores.append(vp.score_video(frames, target, lpips_nets))
        if detector is not None:
            found.append(detect(detector[0], frames))
    structure = None
    if detector is not None:
        net, joints = detector
        true = in_frame(vp.future_keypoints(clips, joints, cfg.model.image_size, dataset), *net.frame_size)
        train = training_clip_keypoints(net, run, run_dir, context, horizon, cfg.model.image_size, scfg)
        found_det, found_real = detect(net, deterministic), detect(net, target)
        hcfg = hz.HorizonConfig(context=context, horizon=horizon)
        structure = decoded_structure(np.stack(found), found_det, found_real, true, train, hcfg, scfg)
    det = vp.score_video(deterministic, target, lpips_nets)
    return DecodedSamples(
        dataset,
        len(target),
        scfg.n_samples,
        np.max([s.ssim for s in scores], 0).mean(0),
        np.max([s.psnr for s in scores], 0).mean(0),
        det.ssim.mean(0),
        det.psnr.mean(0),
        structure,
        {net: np.min([s.lpips[net] for s in scores], 0).mean(0) for net in det.lpips},
        {net: curve.mean(0) for net, curve in det.lpips.items()},
    )


def decoded_sentences(results: Mapping[str, DecodedSamples], lpips_nets: tuple[str, ...]) -> str:
    """Each dataset's `DecodedSamples.sentence`, and once, where no LPIPS backbone was measured, that it was not."""
    said = [r.sentence() for r in results.values()]
    if not lpips_nets:
        said.append("LPIPS: not measured (no backbone's ImageNet weights are in torchvision's cache here).")
    return " ".join(said)
