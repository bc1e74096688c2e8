"""Chapter 6's study, assembled from `lmvid_lib.eval.interpolation`'s results: the strips' rows and landmark paths,
the per-frame SSIM curves and tables, the joint-error comparison, the sentences and the claim rows, all computed from
the run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lmvid_lib.data.datasets import data_label
from lmvid_lib.eval import interpolation as interp
from lmvid_lib.eval.metrics import ssim, step_stats, video_means
from lmvid_lib.eval.predictors import (
    CHOLESKY,
    CHOLESKY_SCENE,
    COVARIANCE,
    CROSS_FADE,
    JOINT_LERP,
    MEAN_POSE,
    REAL_LANDMARKS,
)
from lmvid_lib.models.checkpoint import read_run_config

Results = Mapping[str, interp.SplitInterpolation]


def sources(results: Results) -> dict[str, str]:
    """dataset -> the caption label of the data its model trained on (`data.datasets.data_label`)."""
    configs = {d: read_run_config(r.run) for d, r in results.items()}
    return {d: data_label(c.dataset, c.data_root) for d, c in configs.items()}


def setup_sentence(results: Results, cfg: interp.InterpolationConfig, seconds: float, profile: str) -> str:
    """Markdown: each dataset's clips and the model that interpolates them."""
    lines = []
    for d, r in results.items():
        train = read_run_config(r.run)
        size = train.model.image_size
        lines.append(
            f"**`{d}`** ({data_label(train.dataset, train.data_root)}): {len(r.frame_indices)} clips of {cfg.length} "
            f"frames from {r.n_videos} videos of its `{cfg.split}` split, landmarks of `{r.run.name}` "
            f"({train.model.n_landmarks} landmarks, {train.steps} training steps), decoded at {size}x{size}."
        )
    return "  \n".join([*lines, f"Interpolated and decoded in {seconds:.1f} s (profile `{profile}`)."])


def strip_inputs(
    result: interp.SplitInterpolation, columns: int, sequence: int
) -> tuple[dict[str, torch.Tensor], list[int], dict[str, torch.Tensor], int]:
    """(rows: real clip and every method's frames, the `columns` evenly spaced frame indices, the landmark paths drawn,
    the clip shown) for the Fig. 6 strip of clip `sequence` (the last clip when there are fewer)."""
    length = result.frame_indices.shape[1]
    shown = np.round(np.linspace(0, length - 1, columns)).astype(int).tolist()
    clip = min(sequence, len(result.frame_indices) - 1)
    rows = {"real": result.frames[interp.GROUND_TRUTH][clip]}
    rows.update({label: result.frames[key][clip] for key, label in result.methods.items()})
    states = result.states[clip : clip + 1]
    paths = {
        "real": result.states[clip],
        CHOLESKY: interp.cholesky_path(states)[0],
        COVARIANCE: interp.covariance_path(states)[0],
    }
    return rows, shown, paths, clip


def ssim_scores(results: Results) -> dict[str, dict[str, torch.Tensor]]:
    """dataset -> method label -> SSIM per frame [N,T] against the real frames."""
    return {d: r.scores(ssim) for d, r in results.items()}


def curves(scores: Mapping[str, Any], groups: Any = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label -> (per-frame mean, standard error) of per-frame scores [N,T], over the clips' source videos `groups`
    [N] (`SplitInterpolation.clip_videos`; None: every clip its own video), as `metrics.step_stats`."""
    stats = {label: step_stats(values, groups) for label, values in scores.items()}
    return {label: (s.mean, s.se) for label, s in stats.items()}


def table_steps(length: int) -> list[int]:
    """The frame indices the tables show: the first and last frames between the ends, and the quarters."""
    return sorted({1, length // 4, length // 2, 3 * length // 4, length - 2})


def between(scores: Any, groups: Any = None) -> float:
    """Mean of each clip's mean score between the two given frames, over the clips' source videos `groups` [N]
    (None: over the clips): [N,T] -> float."""
    values = np.asarray(scores, dtype=np.float64)[:, 1:-1].mean(1)
    return float(video_means(values, groups).mean())


def ssim_sentences(results: Results, ssims: Mapping[str, Mapping[str, Any]], middle: int) -> str:
    """Per dataset: the mean SSIM between the ends of ours, the covariance path and the cross-fade, how far apart
    the two landmark paths' covariances are, and where ours stands against the cross-fade at frame `middle`."""
    sentences = []
    for dataset, scores in ssims.items():
        videos = results[dataset].clip_videos
        ours, cov, fade = (between(scores[label], videos) for label in (CHOLESKY, COVARIANCE, CROSS_FADE))
        gap = interp.covariance_gap(results[dataset].states)
        sentences.append(
            f"On `{dataset}`, the frames between the ends reach a mean SSIM of {ours:.3f} with ours, {cov:.3f} in "
            f"covariance space ({ours - cov:+.3f} for ours) and {fade:.3f} with the cross-fade "
            f"({ours - fade:+.3f} for ours). Between the ends, the covariances of ours and of the covariance path "
            f"differ by {gap:.1%} on average (relative Frobenius norm)."
        )
        sentences.append(interp.middle_sentence(scores[CHOLESKY], scores[CROSS_FADE], middle))
        if CHOLESKY_SCENE in scores:
            scene = between(scores[CHOLESKY_SCENE], videos)
            sentences.append(
                f"Drawn by the scene decoder, the same Cholesky path reaches {scene:.3f} between the ends "
                f"({scene - fade:+.3f} against the cross-fade)."
            )
    return " ".join(sentences)


def joint_sentences(scored: Results) -> str:
    """Per dataset with joints: how far the joints read off our interpolation are from the truth between the ends,
    against the three references."""
    sentences = []
    for dataset, result in scored.items():
        e = {label: float(np.nanmean(curve[1:-1])) for label, curve in result.joint_errors.items()}
        ours, real, lerp, mean = (e[k] for k in (CHOLESKY, REAL_LANDMARKS, JOINT_LERP, MEAN_POSE))
        sentences.append(
            f"On `{dataset}`, between the ends, the joints read off our interpolation are {ours:.1f} px from the truth "
            f"on average: {ours - real:+.1f} px against the real middle frames' landmarks ({real:.1f} px), "
            f"{ours - lerp:+.1f} px against the straight-line interpolation of the true joints ({lerp:.1f} px), and "
            f"{ours - mean:+.1f} px against the mean training pose ({mean:.1f} px)."
        )
    return " ".join(sentences)


def claim_fields(
    results: Results, ssims: Mapping[str, Mapping[str, Any]], cfg: interp.InterpolationConfig, labels: Mapping[str, str]
) -> list[dict[str, str]]:
    """One claim row per dataset (claim, paper, ours, dataset): the mean SSIM between the ends of every method."""
    rows = []
    for dataset, scores in ssims.items():
        result = results[dataset]
        values = {label: between(v, result.clip_videos) for label, v in scores.items()}
        rows.append(
            {
                "claim": "First->last interpolation of Cholesky-space landmark states: SSIM of the frames between the "
                "ends",
                "paper": "Fig. 13: per-frame SSIM of BAIR first->last interpolations (a plot; no number quoted here)",
                "ours": ", ".join(f"{label} {value:.3f}" for label, value in values.items()),
                "dataset": f"{dataset} {cfg.split} ({labels[dataset]}), {len(result.frame_indices)} clips of "
                f"{cfg.length} frames from {result.n_videos} videos",
            }
        )
    return rows
