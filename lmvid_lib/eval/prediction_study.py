"""Chapter 5's study, assembled from `lmvid_lib.eval.video_prediction`'s results: the per-frame metric curves by
metric (standard errors over source videos), the mean-score table, the verdict sentences, the clips the Fig. 4 / 8
strips show (by our rule and by our reading of the paper's), and the claim row, all computed from the run.
Metrics are keyed by `Metric` (never parsed back from a display label)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lmvid_lib.data.datasets import dataset_info
from lmvid_lib.eval.metrics import rank_sequences, step_stats, worst_frame_clip
from lmvid_lib.eval.predictors import COPY_FRAME, OURS
from lmvid_lib.eval.video_prediction import DatasetPrediction, VideoScores, overtaking_step


@dataclass(frozen=True)
class Metric:
    """One per-frame video metric: its key ("ssim", "psnr", or an LPIPS backbone), display label and direction."""

    key: str
    label: str
    higher_is_better: bool = True

    def values(self, scores: VideoScores) -> np.ndarray:
        """[N,horizon] of this metric in `scores`."""
        if self.key in ("ssim", "psnr"):
            return getattr(scores, self.key)
        return scores.lpips[self.key]


def metrics_shown(lpips_nets: Sequence[str]) -> list[Metric]:
    """SSIM, PSNR and LPIPS for each backbone whose weights were found."""
    lpips = [Metric(net, f"LPIPS ({net}, lower is better)", False) for net in lpips_nets]
    return [Metric("ssim", "SSIM"), Metric("psnr", "PSNR (dB)"), *lpips]


def metric_curves(result: DatasetPrediction, metric: Metric) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Predictor name -> (per-frame mean [horizon], standard error [horizon]) of `metric`, over the clips' source
    videos (`metrics.step_stats`: the clips of one video are one unit)."""
    curves = {}
    for name, scores in result.scores.items():
        stats = step_stats(metric.values(scores), result.clips.clip_videos)
        curves[name] = (stats.mean, stats.se)
    return curves


def _ssim_means(result: DatasetPrediction) -> dict[str, np.ndarray]:
    """Predictor name -> per-frame mean SSIM [horizon] over the source videos."""
    return {name: step_stats(s.ssim, result.clips.clip_videos).mean for name, s in result.scores.items()}


def mean_score_rows(results: Mapping[str, DatasetPrediction], metrics: Sequence[Metric]) -> list[list[str]]:
    """One row per dataset and predictor: the metrics averaged over every predicted frame and source video."""
    rows = []
    for dataset, result in results.items():
        videos = result.clips.clip_videos
        for name, scores in result.scores.items():
            means = [f"{step_stats(m.values(scores), videos).mean.mean():.3f}" for m in metrics]
            rows.append([f"`{dataset}`", name, *means])
    return rows


def ssim_verdict(dataset: str, result: DatasetPrediction, others: Sequence[str]) -> str:
    """Which predictor has the highest mean SSIM over all predicted frames, and from which frame ours stays above
    each of `others`."""
    means = _ssim_means(result)
    best = max(means, key=lambda n: means[n].mean())
    sentences = [f"On `{dataset}`, the highest mean SSIM over all predicted frames is {best}'s."]
    for other in others:
        step = overtaking_step(means[OURS], means[other])
        sentences.append(
            f"From frame {step + result.clips.context} on, ours has a higher mean SSIM than the {other}."
            if step is not None
            else f"Ours does not end above the {other} in mean SSIM."
        )
    return " ".join(sentences)


@dataclass(frozen=True)
class ClipPick:
    """A clip shown in the Fig. 4 / 8 strips and the rule that picked it, as the caption prints it."""

    clip: int
    rule: str


def clip_picks(result: DatasetPrediction, lpips_nets: Sequence[str]) -> dict[str, ClipPick]:
    """{title: ClipPick} by LPIPS of the first backbone found (SSIM, our fallback, without LPIPS): our best clip, the
    worst clip over all predictors by our rule (time-averaged score averaged over the predictors), the worst clip by
    our reading of the paper's rule (Fig. 4, 15: `metrics.worst_frame_clip` over every predictor), our worst clip."""
    net = lpips_nets[0] if lpips_nets else None
    ours = result.scores[OURS]
    ranking = rank_sequences(ours.lpips.get(net) if net else None, ours.ssim)
    every = result.scores.values()
    shared = rank_sequences(
        np.mean([s.lpips[net] for s in every], 0) if net else None, np.mean([s.ssim for s in every], 0)
    )
    per_model = {name: s.lpips[net] if net else s.ssim for name, s in result.scores.items()}
    paper = worst_frame_clip(per_model, "LPIPS" if net else "SSIM")
    fallback = "" if net else ", our fallback: LPIPS unavailable"
    ours_rule = f"our rule: {ranking.description}"
    return {
        "our best clip": ClipPick(ranking.best, f"{ours_rule} of {OURS}{fallback}"),
        "the worst clip over all predictors": ClipPick(
            shared.worst, f"{ours_rule}, averaged over every predictor{fallback}"
        ),
        "the worst clip by the paper's rule": ClipPick(paper.clip, paper.description),
        "our worst clip": ClipPick(ranking.worst, f"{ours_rule} of {OURS}{fallback}"),
    }


def figure_number(dataset: str, which: str) -> str:
    """The paper's figure this chapter's `which` ("scores" or "clips") figure of `dataset` is an analogue of:
    "Analogue of Fig. 5", or "Predictions" for a dataset the paper shows none for."""
    figures = dataset_info(dataset).figures
    if figures is None:
        return "Predictions"
    return f"Analogue of Fig. {figures[0] if which == 'scores' else figures[1]}"


def claim_fields(dataset: str, source: str, result: DatasetPrediction) -> dict[str, str]:
    """The chapter's claim row (claim, paper, ours, dataset) from one dataset's results."""
    means = _ssim_means(result)
    return {
        "claim": "Landmark-space prediction keeps structure over long horizons (per-frame SSIM)",
        "paper": "Fig. 5, 7: higher SSIM/LPIPS than SVG/SAVP late in BAIR and KTH predictions",
        "ours": (
            f"mean SSIM over the last predicted frame: ours {means[OURS][-1]:.3f}, copy-last frame "
            f"{means[COPY_FRAME][-1]:.3f}"
        ),
        "dataset": f"{dataset} ({source})",
    }


def setup_sentence(
    results: Mapping[str, DatasetPrediction], sources: Mapping[str, str], lpips_nets: Sequence[str], profile: str
) -> str:
    """Markdown: each dataset's clips and protocol, and which LPIPS backbones could be computed."""
    lines = [
        f"**`{d}`** ({sources[d]}): {len(r.clips.indices)} test clips of {r.clips.n_videos} test videos, "
        f"{r.clips.context} conditioning frames, "
        f"{r.clips.horizon} predicted, scored at {r.real.shape[-1]}x{r.real.shape[-1]}."
        for d, r in results.items()
    ]
    if lpips_nets:
        lines.append(f"LPIPS ({', '.join(lpips_nets)}) from the ImageNet weights in torchvision's cache.")
    else:
        lines.append(
            "LPIPS could not be computed on this machine: the ImageNet weights of its AlexNet and VGG16 backbones "
            "are not in torchvision's cache, so the figures show SSIM and PSNR only."
        )
    return "  \n".join([*lines, f"Profile `{profile}`."])


def strip_steps(result: DatasetPrediction, frame_numbers: Sequence[int]) -> tuple[list[int], list[int]]:
    """The `frame_numbers` (counted from the first conditioning frame) that are predicted frames of `result`, and
    their 1-based predicted steps."""
    context, horizon = result.clips.context, result.clips.horizon
    shown = [f for f in frame_numbers if context < f <= context + horizon]
    return shown, [f - context for f in shown]
