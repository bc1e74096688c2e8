"""Chapter 2's rendering measurements for every dataset model: the paper decoder and the scene decoder (ours) on
held-out test pairs (`eval.rendering`), with the render-fidelity detector of each dataset (chapter 5's instrument,
trained by `train.structure.train_dataset_detector`, the same run), and the sentences that say what they show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lmvid_lib.config import check_int, from_dict
from lmvid_lib.eval import rendering
from lmvid_lib.eval.video_prediction import lpips_backbones
from lmvid_lib.models.checkpoint import load_trained
from lmvid_lib.models.sequences import open_run_videos

PAPER, SCENE = "paper decoder", "scene decoder (ours)"
_SETTINGS, _M, _REFS = (rendering.SELF, rendering.CROSS), ("SSIM", "PSNR"), (rendering.MEAN_FRAME, rendering.COPY)


@dataclass
class RenderConfig:
    """What chapter 2 measures: `n_pairs` held-out (target, conditioning) pairs per dataset from `split`, the
    conditioning frame `gap_min`-`gap_max` steps before the target; the detector's `threshold` (px)."""

    split: str = "test"
    n_pairs: int = 128
    gap_min: int = 10
    gap_max: int = 30
    threshold: float = 6.0

    def __post_init__(self) -> None:
        check_int(self.n_pairs, "render.n_pairs")
        check_int(self.gap_min, "render.gap_min")
        check_int(self.gap_max, "render.gap_max", self.gap_min)


@dataclass
class DatasetRendering:
    """One dataset's studies {decoder label: RenderStudy}, its pairs, and example frames."""

    dataset: str
    studies: dict[str, rendering.RenderStudy]
    pairs: rendering.RenderPairs
    examples: dict[str, torch.Tensor]  # {column: frames [E,C,S,S]} of the first pairs, for the figure


def render_config(cfg: RenderConfig | Mapping[str, Any]) -> RenderConfig:
    """A RenderConfig from a mapping (unknown keys are an error naming them) or a RenderConfig."""
    return cfg if isinstance(cfg, RenderConfig) else from_dict(RenderConfig, cfg, "render")


def study_dataset(
    dataset: str,
    runs: Mapping[str, Path],
    cfg: RenderConfig | Mapping[str, Any],
    run_dir: str | Path,
    detector: tuple[nn.Module, list[int]] | None = None,
    n_examples: int = 4,
) -> DatasetRendering:
    """Render studies of `runs` ({decoder label: factorization run folder}, the first the paper decoder's) on
    `dataset`'s held-out pairs of `cfg.split`; with `detector` (the detector, the keypoint indices it finds), render
    fidelity."""
    cfg = render_config(cfg)
    videos = open_run_videos(next(iter(runs.values())), cfg.split, run_dir)
    pairs = rendering.render_pairs(videos, cfg.n_pairs, (cfg.gap_min, cfg.gap_max), seed=0)
    found = detector if videos.keypoints is not None else None
    nets = lpips_backbones()
    studies, examples = {}, {}
    for label, run in runs.items():
        model, _ = load_trained(run)
        studies[label] = rendering.render_study(Path(run).name, model, videos, pairs, found, nets)
        size = model.cfg.image_size
        head = pairs.target[:n_examples], pairs.source[:n_examples]
        if not examples:
            examples["target"] = rendering.frames_at(videos, head[0], size)
            examples["conditioning frame"] = rendering.frames_at(videos, head[1], size)
        examples[f"{label}, cross"] = rendering.reconstruct(model, videos, *head)
    return DatasetRendering(dataset, studies, pairs, examples)


def gap_range(results: Mapping[str, DatasetRendering]) -> str:
    """The conditioning gaps drawn over every dataset's pairs, e.g. "10-30"."""
    gaps = np.concatenate([r.pairs.gap for r in results.values()])
    return f"{gaps.min()}-{gaps.max()}"


def score_table(results: Mapping[str, DatasetRendering]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): dataset | decoder | self SSIM / PSNR | cross SSIM / PSNR | mean frame | copy, then LPIPS where
    measured."""
    header = ["dataset", "decoder", "self SSIM", "self PSNR", "cross SSIM", "cross PSNR"]
    header += ["mean frame SSIM", "copy SSIM", "mean frame PSNR", "copy PSNR"]
    rows = []
    for dataset, result in results.items():
        for label, study in result.studies.items():
            s = study.scores
            rows.append(
                [
                    dataset,
                    label,
                    *(f"{s[k]['SSIM']:.3f}" if m == "SSIM" else f"{s[k]['PSNR']:.1f}" for k in _SETTINGS for m in _M),
                    *(f"{s[k]['SSIM']:.3f}" for k in _REFS),
                    *(f"{s[k]['PSNR']:.1f}" for k in _REFS),
                ]
            )
    return header, rows


def fidelity_table(results: Mapping[str, DatasetRendering]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the detector's mean per-joint error (px of the stored frames): real frames at the model's
    resolution, each decoder's self and cross reconstructions, the copied conditioning frame; and cross / real."""
    header = ["dataset", "decoder", "real frames", "self", "cross", "copy", "cross / real"]
    rows = []
    for dataset, result in results.items():
        for label, study in result.studies.items():
            if study.fidelity is None:
                continue
            f = {k: float(np.nanmean(v)) for k, v in study.fidelity.items()}
            keys = (rendering.REAL_AT_MODEL, rendering.SELF, rendering.CROSS, rendering.COPY)
            rows.append([dataset, label, *(f"{f[k]:.2f}" for k in keys), f"{rendering.fidelity_ratio(study):.2f}"])
    return header, rows


def verdict(result: DatasetRendering) -> str:
    """What the scores of one dataset say, every number from them: each decoder's self reconstruction against the
    video's mean frame, and its cross reconstruction against the copied conditioning frame."""
    parts = []
    for label, study in result.studies.items():
        s = study.scores
        mean, copy = s[rendering.MEAN_FRAME]["SSIM"], s[rendering.COPY]["SSIM"]
        own, cross = s[rendering.SELF]["SSIM"], s[rendering.CROSS]["SSIM"]
        vs_mean = "above" if own > mean else "below"
        vs_copy = "above" if cross > copy else "below"
        text = (
            f"the {label} scores SSIM {own:.3f} on its own frames, {vs_mean} the video's mean frame ({mean:.3f}), and "
            f"{cross:.3f} from a frame {result.pairs.gap.min()}-{result.pairs.gap.max()} steps earlier, {vs_copy} "
            f"that frame copied ({copy:.3f})"
        )
        if study.fidelity is not None:
            ratio = rendering.fidelity_ratio(study)
            text += f"; the detector's error on its cross reconstructions is {ratio:.2f}x its error on real frames"
        parts.append(text)
    return f"On `{result.dataset}`, " + "; ".join(parts) + "."
