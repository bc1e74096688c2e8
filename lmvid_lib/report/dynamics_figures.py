"""Chapter 4's figures: LSTM training curves, pose error and kept motion against the prediction horizon, Fig. 3-style
strips of a prediction under its ground truth, and landmark trajectories.

Built like `lmvid_lib.report.figures` (Figure objects on an Agg canvas, never pyplot); frames are uint8 or floats in [0,
1] [..., H, W, C], landmark means in normalised coordinates are drawn at 0-based pixel centres.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lmvid_lib import landmarks
from lmvid_lib.eval import predictors
from lmvid_lib.eval.horizon import HorizonCurves
from lmvid_lib.report.figures import _frames, landmark_colors, new_figure, show_image


def plot_training_curves(
    ax: Axes,
    runs: Mapping[str, Sequence[Mapping[str, float]]],
    title: str,
    ylabel: str = "loss (normalised state units, MSE)",
) -> Axes:
    """Loss (solid) and validation loss (dashed) against step; `runs`: label -> metrics rows (`read_metrics`)."""
    for i, (label, rows) in enumerate(runs.items()):
        steps = [r["step"] for r in rows]
        ax.plot(steps, [r["loss"] for r in rows], color=f"C{i}", label=f"{label}: training")
        if rows and "val_loss" in rows[0]:
            ax.plot(steps, [r["val_loss"] for r in rows], color=f"C{i}", linestyle="--", label=f"{label}: validation")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize="x-small")
    return ax


def plot_horizon_curves(
    error_ax: Axes, speed_ax: Axes, results: Mapping[str, HorizonCurves], title: str, unit: str, first: int = 1
) -> None:
    """Joint error (px) and kept joint speed (predicted / real) per predicted frame t = first, first + 1, ...;
    `results`: predictor name -> curves. The mean pose has no motion and is left out of the speed panel."""
    for name, curves in results.items():
        t = np.arange(first, first + len(curves.errors))
        error_ax.plot(t, curves.errors, label=name, **predictors.style(name))
        if name != predictors.MEAN_POSE:
            speed_ax.plot(t[1:], curves.speed_kept, label=name, **predictors.style(name))
    error_ax.set_ylabel(f"mean joint error ({unit})")
    speed_ax.set_ylabel("joint speed kept (predicted / real)")
    speed_ax.axhline(1.0, color="k", linewidth=0.6)
    for ax, name in ((error_ax, "joint error"), (speed_ax, "motion kept")):
        ax.set_xlabel("predicted frame t")
        ax.grid(alpha=0.3)
        ax.set_title(f"{title}: {name}", fontsize=9)
    top = max(float(np.nanmax(c.errors)) for n, c in results.items() if n != predictors.CONSTANT_VELOCITY)
    error_ax.set_ylim(0, 1.15 * top)  # constant velocity diverges: keep the others readable
    speed_ax.set_ylim(0, 2.0)
    error_ax.legend(fontsize="x-small")


def prediction_strip(
    rows: Mapping[str, Any], frame_numbers: Sequence[int], title: str | None = None, panel: float = 0.95
) -> Figure:
    """A Fig. 3-style strip: one row per label of `rows` (frames [T,H,W,C] each, the same T), one column per frame,
    titled with `frame_numbers` [T]."""
    images = {label: _frames(frames, f"rows[{label!r}]", 4) for label, frames in rows.items()}
    lengths = {len(v) for v in images.values()}
    if len(lengths) != 1 or lengths != {len(frame_numbers)}:
        raise ValueError(f"every row needs {len(frame_numbers)} frames (one per frame number), got {lengths}")
    n_rows, n_cols = len(images), len(frame_numbers)
    fig = new_figure(panel * n_cols + 1.0, panel * n_rows + 0.25 + (0.25 if title else 0.0))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (label, frames) in enumerate(images.items()):
        for c in range(n_cols):
            ax = axes[r, c]
            show_image(ax, frames[c])
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {frame_numbers[c]}", fontsize=7)
            if c == 0:
                ax.set_ylabel(textwrap.fill(label, 14), fontsize=7, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.2, w_pad=0.1, h_pad=0.1)
    return fig


def plot_trajectories(
    ax: Axes, frame: Any, tracks: Mapping[str, Any], chosen: Sequence[int], k: int, title: str
) -> Axes:
    """Landmark paths over a frame [H,W,C]: `tracks` label -> states [T,K,5] (normalised); the landmarks `chosen`
    (indices of K) are drawn, one colour per landmark, one line style per track; a dot marks each path's start."""
    image = _frames(frame[None], "frame", 4)[0]
    h, w = image.shape[:2]
    show_image(ax, image)
    colours = landmark_colors(k)
    styles = ["-", "--", ":", "-."]
    for s, (label, states) in enumerate(tracks.items()):
        mu, _ = landmarks.from_state(torch.as_tensor(np.asarray(states), dtype=torch.float32))
        pixels = landmarks.norm_to_pixel(mu, h, w).numpy()
        for j in chosen:
            ax.plot(pixels[:, j, 0], pixels[:, j, 1], styles[s % len(styles)], color=colours[j], linewidth=1.2)
            ax.plot(*pixels[0, j], "o", color=colours[j], markersize=3)
        ax.plot([], [], styles[s % len(styles)], color="k", label=label)
    ax.legend(fontsize="x-small", loc="lower right")
    ax.set_title(title, fontsize=9)
    return ax


def training_curves_figure(
    runs: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]],
    schedules: Mapping[str, Sequence[int]],
    ylabel: str = "loss (normalised state units, MSE)",
) -> Figure:
    """One panel per dataset of `runs` (dataset -> label -> metrics rows), titled with its (n inputs, m future)
    schedule from `schedules`."""
    fig = new_figure(4.6 * len(runs), 3.6)
    for ax, (dataset, curves) in zip(fig.subplots(1, len(runs), squeeze=False)[0], runs.items()):
        n, m = schedules[dataset]
        plot_training_curves(ax, curves, f"{dataset}: {n} inputs, {m} future", ylabel)
    fig.tight_layout()
    return fig


def horizon_figure(results: Mapping[str, Mapping[str, HorizonCurves]], labels: Mapping[str, str], unit: str) -> Figure:
    """One row per split of `results` (split -> predictor -> curves): joint error and kept speed against t; `labels`:
    split -> the row's title."""
    fig = new_figure(11, 3.6 * len(results))
    for row, (split, curves) in zip(fig.subplots(len(results), 2, squeeze=False), results.items()):
        plot_horizon_curves(row[0], row[1], curves, labels[split], unit)
    fig.tight_layout()
    return fig


def trajectories_figure(frame: Any, tracks: Mapping[str, Any], chosen: Sequence[int], k: int, title: str) -> Figure:
    """`plot_trajectories` on a figure of its own."""
    fig = new_figure(4.2, 4.2)
    plot_trajectories(fig.subplots(), frame, tracks, chosen, k, title)
    return fig
