"""Chapter 5's study, assembled from `lmvid_lib.eval.video_prediction`'s results: the per-frame metric curves by
metric (standard errors over source videos), the mean-score table, the verdict sentences, the clips the Fig. 4 / 8
strips show (by our rule and by our reading of the paper's), and the claim row (ours against the learned pixel
predictor on what Sec. 3.2-3.3 claim), all computed from the run. Metrics are keyed by `Metric` (never parsed back
from a display label)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lmvid_lib.data.datasets import dataset_info
from lmvid_lib.eval.horizon import HorizonCurves
from lmvid_lib.eval.metrics import rank_sequences, step_stats, worst_frame_clip
from lmvid_lib.eval.predictors import OURS, OURS_SCENE, PIXEL
from lmvid_lib.eval.video_prediction import (
    DatasetPrediction,
    VideoScores,
    overtaking_step,
    structure_means,
    structure_says_nothing,
)


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


def ours_shown(result: DatasetPrediction) -> list[str]:
    """Our predictions scored in `result`: the landmark LSTM drawn by the paper's decoder, and by the scene decoder
    where chapter 2 trained one."""
    return [name for name in (OURS, OURS_SCENE) if name in result.scores]


def ssim_verdict(dataset: str, result: DatasetPrediction, others: Sequence[str]) -> str:
    """Which predictor has the highest mean SSIM over all predicted frames, and from which frame each of ours
    (`ours_shown`) stays above each of `others`."""
    means = _ssim_means(result)
    best = max(means, key=lambda n: means[n].mean())
    sentences = [f"On `{dataset}`, the highest mean SSIM over all predicted frames is {best}'s."]
    for ours in ours_shown(result):
        for other in others:
            step = overtaking_step(means[ours], means[other])
            sentences.append(
                f"From frame {step + result.clips.context} on, {ours} has a higher mean SSIM than the {other}."
                if step is not None
                else f"{ours[0].upper()}{ours[1:]} does not end above the {other} in mean SSIM."
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


# The paper's claim of Sec. 3.2 (BAIR, Fig. 5) and 3.3 (KTH, Fig. 7), against SVG and SAVP, as it states it.
PAPER_PREDICTION_CLAIM = (
    "Sec. 3.2-3.3 (Fig. 5, 7): against SVG and SAVP, its LPIPS becomes competitive after about 15 frames and its "
    "SSIM is consistently lower; its predictions keep the structure where the others blur"
)


def frame_comparison(ours: np.ndarray, other: np.ndarray, better: str, context: int) -> str:
    """Where per-frame means `ours` [T] are `better` ("lower" or "higher") than `other` [T]: at every predicted frame,
    from frame N on (frame numbers from the first of `context` conditioning frames), never, or at k of T frames."""
    wins = ours < other if better == "lower" else ours > other
    step = overtaking_step(ours, other, higher_is_better=better == "higher")
    if step == 1:
        return f"ours {better} at every predicted frame"
    if step is not None:
        return f"ours {better} from frame {step + context} on"
    if not wins.any():
        return f"ours never {better}"
    return f"ours {better} at {int(wins.sum())} of {len(wins)} predicted frames, not at the last"


def pixel_verdict(
    result: DatasetPrediction,
    structure: Mapping[str, HorizonCurves] | None,
    lpips_nets: Sequence[str],
    opponent: str = PIXEL,
    ours_name: str = OURS,
) -> str:
    """`ours_name` (default: the landmark LSTM through the paper's decoder) against `opponent` (the learned pixel
    predictor) on what the paper claims (PAPER_PREDICTION_CLAIM): per
    LPIPS backbone, per-frame SSIM, and the structure score (mean detected-keypoint error of `structure`, the
    `vp.structure_curves` of `result`; None where the data has no true keypoints), with the last frame's values."""
    if opponent not in result.scores:
        raise ValueError(
            f"opponent {opponent!r} was not scored on {result.dataset} (predictors: {list(result.scores)})"
        )
    context, parts = result.clips.context, []
    for metric in [Metric(net, f"LPIPS ({net})", False) for net in lpips_nets] + [Metric("ssim", "SSIM")]:
        videos = result.clips.clip_videos  # means over source videos, as every chapter-5 number
        ours, other = (step_stats(metric.values(result.scores[n]), videos).mean for n in (ours_name, opponent))
        better = "higher" if metric.higher_is_better else "lower"
        parts.append(
            f"{metric.label}: {frame_comparison(ours, other, better, context)} "
            f"(last frame {ours[-1]:.3f} vs {other[-1]:.3f})"
        )
    if not lpips_nets:
        parts.insert(0, "LPIPS: not computed (no backbone weights in torchvision's cache)")
    if structure is None:
        parts.append("structure: not measured (no true keypoints)")
    else:
        means, floor = structure_means(structure)
        ours, theirs = means[ours_name], means[opponent]
        text = (
            f"structure (detected-keypoint error): ours {ours:.1f} px, theirs {theirs:.1f} px (real frames {floor:.1f})"
        )
        if structure_says_nothing(floor, min(ours, theirs)):
            text += ": the detector does no better on the real frames, so this says nothing"
        parts.append(text)
    return f"{ours_name} against the {opponent}: " + "; ".join(parts)


def claim_fields(
    dataset: str,
    source: str,
    result: DatasetPrediction,
    structure: Mapping[str, HorizonCurves] | None,
    lpips_nets: Sequence[str],
) -> dict[str, str]:
    """The chapter's claim row (claim, paper, ours, dataset) from one dataset's results: the paper's Sec. 3.2-3.3
    claim as it states it, and ours against the learned pixel predictor (`pixel_verdict`)."""
    return {
        "claim": "Predicting in landmark space keeps the structure of the scene over long horizons",
        "paper": PAPER_PREDICTION_CLAIM,
        "ours": pixel_verdict(result, structure, lpips_nets),
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
