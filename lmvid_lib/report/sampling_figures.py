"""Chapter 4b's figures: the sampled futures' scores against the horizon, and a strip of several decoded samples.

Built like `lmvid_lib.report.figures` (Figure objects on an Agg canvas, never pyplot).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from lmvid_lib.eval import predictors
from lmvid_lib.eval.sampling_study import DecodedSamples, SampledScores
from lmvid_lib.report.figures import new_figure

PANELS = (
    ("energy", "energy score (px, lower is better)"),
    ("best", "best-of-N joint error (px)"),
    ("spread", "sample spread (px, mean pairwise distance)"),
    ("speed_kept", "joint speed kept (sampled / real)"),
)


def scores_figure(scores: Mapping[str, SampledScores], title: str, unit: str) -> Figure:
    """Four panels against the predicted frame t: energy score, best-of-N error, spread and kept speed of every
    predictor of `scores` (name -> scores); `unit` names the pixels (e.g. "px, 128x128 crop")."""
    fig = new_figure(12, 3.4)
    axes = fig.subplots(1, len(PANELS))
    for ax, (field, label) in zip(axes, PANELS):
        for name, s in scores.items():
            curve = np.asarray(getattr(s, field))
            if field == "speed_kept" and name == predictors.MEAN_POSE:
                continue  # no motion
            t = np.arange(1, len(curve) + 1) + (1 if field == "speed_kept" else 0)
            ax.plot(t, curve, label=f"{name} (N={s.n_samples})", **predictors.style(name))
        ax.set_xlabel("predicted frame t")
        ax.set_ylabel(label.replace("px", unit) if "px" in label else label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].axhline(1.0, color="k", linewidth=0.6)
    axes[-1].set_ylim(0, 2.0)
    axes[0].legend(fontsize="x-small")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def decoded_figure(results: Mapping[str, DecodedSamples]) -> Figure:
    """One column per dataset: best-of-N SSIM of the decoded samples and the deterministic prediction's SSIM against
    the predicted frame t; below it, where any dataset has a structure score, the energy score (px) of the keypoints
    the detector finds in each predictor's decoded frames, and the detector's error on the real frames."""
    rows = 2 if any(r.structure is not None for r in results.values()) else 1
    fig = new_figure(4.6 * len(results), 3.2 * rows)
    axes = fig.subplots(rows, len(results), squeeze=False)
    for column, (dataset, r) in enumerate(results.items()):
        t = np.arange(1, len(r.best_ssim) + 1)
        sampled = predictors.style(predictors.OURS_STOCHASTIC)
        ax = axes[0, column]
        ax.plot(t, r.best_ssim, label=f"{predictors.OURS_STOCHASTIC}, best of {r.n_samples}", **sampled)
        ax.plot(t, r.deterministic_ssim, label=predictors.OURS, **predictors.style(predictors.OURS))
        ax.set_ylabel("SSIM (higher is better)")
        ax.set_title(f"{dataset}: {r.n_clips} test clips", fontsize=9)
        if rows == 2:
            ax = axes[1, column]
            if r.structure is None:
                ax.set_axis_off()
                continue
            for name, scored in r.structure.scores.items():
                ax.plot(t, scored.energy, label=f"{name} (N={scored.n_samples})", **predictors.style(name))
            ax.plot(t, r.structure.real, label=predictors.REAL_FUTURE, **predictors.style(predictors.REAL_FUTURE))
            ax.set_ylabel("energy score of detected keypoints (px)", fontsize=8)
    for ax in axes.flat:
        if ax.axison:
            ax.set_xlabel("predicted frame t")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="x-small")
    fig.tight_layout()
    return fig
