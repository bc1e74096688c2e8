"""Figures of the interpolation chapter (paper Fig. 6, Fig. 13): strips of interpolated frames with the landmarks'
trajectories, and per-frame curves with a standard-error band.

Kept apart from `lmvid_lib.report.figures` (keypoint and landmark drawing primitives, reused here) so each chapter's
figures live in their own module. Frames are float [T,C,H,W] in [0,1]; landmark states [T,K,5] (normalised means).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lmvid_lib import landmarks
from lmvid_lib.eval import predictors
from lmvid_lib.report.figures import draw_landmarks, landmark_colors, new_figure, show_image

PANEL = 1.4  # inches per frame of a strip
LABEL_WIDTH = 1.6  # inches left of a strip for the row labels


def state_pixels(states: torch.Tensor, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Landmark states [...,K,5] -> (means [...,K,2], covariances [...,K,2,2]) in pixels of a size x size frame."""
    mu, cov = landmarks.from_state(torch.as_tensor(states, dtype=torch.float32))
    return landmarks.gaussians_to_pixels(mu, cov, size, size)


def _draw_trajectories(ax: Axes, states: torch.Tensor, t: int, size: int) -> None:
    """Each landmark's path over the whole sequence (thin line) and its Gaussian at frame t (ellipse)."""
    mu, cov = state_pixels(states, size)
    colors = landmark_colors(mu.shape[1])
    for k in range(mu.shape[1]):
        ax.plot(mu[:, k, 0], mu[:, k, 1], color=colors[k], linewidth=0.7, alpha=0.8, zorder=2)
    draw_landmarks(ax, mu[t], cov[t], colors, size=6.0)


def plot_interpolation_strip(
    rows: Mapping[str, torch.Tensor],
    columns: Sequence[int],
    trajectories: Mapping[str, torch.Tensor] | None = None,
) -> Figure:
    """Fig. 6: one row per entry of `rows` (label -> frames [T,C,H,W] in [0,1], all of one T and size), one column
    per frame index in `columns`. Rows named in `trajectories` (label -> states [T,K,5]) also show every landmark's
    path over the sequence and its Gaussian at that frame."""
    trajectories = dict(trajectories or {})
    if not rows or not columns:
        raise ValueError("rows and columns must be non-empty")
    lengths = {label: frames.shape[0] for label, frames in rows.items()}
    if len(set(lengths.values())) != 1 or not all(0 <= c < min(lengths.values()) for c in columns):
        raise ValueError(f"rows must share T frames and columns lie in 0..T-1: rows {lengths}, columns {list(columns)}")
    unknown = sorted(set(trajectories) - set(rows))
    if unknown:
        raise ValueError(f"trajectories names rows that are not in rows: {unknown}")
    fig = new_figure(PANEL * len(columns) + LABEL_WIDTH, PANEL * len(rows) + 0.3)
    axes = fig.subplots(len(rows), len(columns), squeeze=False)
    for r, (label, frames) in enumerate(rows.items()):
        size = frames.shape[-1]
        for c, t in enumerate(columns):
            ax = axes[r, c]
            show_image(ax, frames[t].permute(1, 2, 0).clamp(0, 1))
            if label in trajectories:
                _draw_trajectories(ax, trajectories[label], t, size)
            if r == 0:
                ax.set_title(f"t = {t}", fontsize=8)
        axes[r, 0].text(-0.08, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(
        left=LABEL_WIDTH / fig.get_figwidth(), right=0.99, top=0.93, bottom=0.01, wspace=0.04, hspace=0.04
    )
    return fig


def plot_step_curves(
    ax: Axes,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    ylabel: str,
    title: str,
    first: int = 0,
    xlabel: str = "frame t (0 and T-1: the given end frames)",
) -> Axes:
    """Fig. 13 (and Fig. 5, 7): a per-frame score against the frame number first, first + 1, ..., label -> (mean [T],
    standard error [T] or None), with a band of mean +- standard error where given."""
    for label, (mean, sem) in curves.items():
        mean = np.asarray(mean, dtype=np.float64)
        steps = first + np.arange(len(mean))
        (line,) = ax.plot(steps, mean, label=label, linewidth=1.4, **predictors.style(label))
        if sem is not None:
            sem = np.nan_to_num(np.asarray(sem, dtype=np.float64))
            ax.fill_between(steps, mean - sem, mean + sem, color=line.get_color(), alpha=0.25, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax


def step_curves_figure(
    panels: Mapping[str, tuple[Mapping[str, tuple[np.ndarray, np.ndarray | None]], str, int]],
    xlabel: str = "frame number",
) -> Figure:
    """One `plot_step_curves` panel per entry of `panels` (title -> (curves, y label, number of the first frame)),
    side by side."""
    fig = new_figure(5.0 * len(panels), 3.8)
    for ax, (title, (curves, ylabel, first)) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels.items()):
        plot_step_curves(ax, curves, ylabel, title, first=first, xlabel=xlabel)
    fig.tight_layout()
    return fig
