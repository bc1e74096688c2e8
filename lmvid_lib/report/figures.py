"""Every figure of the book, and its markdown tables of dataset statistics: frames with keypoint overlays, landmark
Gaussians as covariance ellipses, animations that play offline (`to_jshtml`), and the keypoint protocol's figures
(accuracy-against-distance curves, Fig. 9; a gallery of regressed keypoints).

Figures are built as `matplotlib.figure.Figure` objects on an Agg canvas, never through pyplot, so nothing is left in
pyplot's global figure list, no GUI backend is needed, and a notebook shows a figure only where it `display`s it
(as a PNG once the kernel runs `%matplotlib inline`).
Coordinates are 0-based pixel centres of the frame shown (x right, y down), as in `lmvid_lib.data.store`; landmarks
in normalised coordinates are converted with `landmarks.gaussians_to_pixels`.

Frames are uint8 [..., H, W, C] (C = 1 is shown in gray, C = 3 as RGB) or floats in [0, 1]; numpy arrays, memmaps
and CPU/GPU torch tensors are all accepted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Ellipse

from lmvid_lib import landmarks
from lmvid_lib.config import check_int
from lmvid_lib.eval.scales import crop_centred_to_pixels
from lmvid_lib.models.inference import inference
from lmvid_lib.report import tables

if TYPE_CHECKING:
    from lmvid_lib.eval.keypoints import KeypointEvalConfig, SplitResult

MARKER_SIZE = 18.0  # scatter marker area (points^2): visible on a 2-inch panel without hiding a 64-px limb
LEGEND_ROW = 0.19  # inches per legend entry at font size 8


def _numpy(value: Any) -> np.ndarray:
    """A numpy view of an array-like or a torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _frames(frames: Any, name: str, ndim: int) -> np.ndarray:
    """uint8 frames with `ndim` dimensions ending in [H,W,C], C in (1, 3); floats in [0, 1] are scaled to uint8."""
    array = _numpy(frames)
    if array.ndim != ndim or array.shape[-1] not in (1, 3):
        dims = "[N,H,W,C]" if ndim == 4 else "[H,W,C]"
        raise ValueError(f"{name} must be {dims} with C = 1 or 3, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise ValueError(f"{name} must be uint8 (0-255) or float (0-1), got dtype {array.dtype}")


def _points(points: Any, name: str, leading: tuple[int, ...]) -> np.ndarray:
    """float64 points [*leading, J, 2], checking the leading dimensions match the frames they belong to."""
    array = _numpy(points).astype(np.float64)
    expected = len(leading) + 2
    if array.ndim != expected or array.shape[-1] != 2 or array.shape[: len(leading)] != leading:
        lead = ",".join(str(n) for n in leading)
        raise ValueError(f"{name} must have shape [{lead}{',' if lead else ''}J,2], got {array.shape}")
    return array


def _colors(colors: Any, k: int, name: str = "colors") -> np.ndarray:
    if colors is None:
        return landmark_colors(k)
    rgba = mpl.colors.to_rgba_array(colors)
    if len(rgba) != k:
        raise ValueError(f"{name} has {len(rgba)} colours for {k} points")
    return rgba


def _names(names: Sequence[str] | None, k: int) -> list[str] | None:
    if names is not None and len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} keypoints")
    return None if names is None else list(names)


def landmark_colors(k: int) -> np.ndarray:
    """[k,4] RGBA, one distinct colour per landmark or joint (tab10 / tab20, then evenly spaced hues)."""
    check_int(k, "k", 0)
    if k <= 10:
        return mpl.colormaps["tab10"](np.arange(k))
    if k <= 20:
        return mpl.colormaps["tab20"](np.arange(k))
    return mpl.colormaps["hsv"](np.arange(k) / k)


def new_figure(width: float, height: float, dpi: float = 100.0) -> Figure:
    """A figure (inches) on its own Agg canvas, outside pyplot's global state."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def show_image(ax: Axes, frame: Any) -> Any:
    """Draw one frame [H,W,C] on `ax` in pixel coordinates (gray for C = 1), axes hidden; returns the AxesImage."""
    frame = _frames(frame, "frame", 3)
    if frame.shape[-1] == 1:
        image = ax.imshow(frame[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        image = ax.imshow(frame, interpolation="nearest")
    ax.set_axis_off()
    return image


def draw_keypoints(ax: Axes, points: Any, colors: Any = None, size: float = MARKER_SIZE) -> PathCollection:
    """Scatter keypoints [J,2] (pixels) on `ax`, joint j in `colors[j]` (default `landmark_colors(J)`).

    Absent keypoints (NaN) are left out, so the collection's offsets are the present points in joint order. The view
    limits are kept, so points outside the frame (a walker leaving it) do not shrink the image.
    """
    pts = _points(points, "points", ())
    rgba = _colors(colors, len(pts))
    present = np.isfinite(pts).all(axis=1)
    limits = ax.get_xlim(), ax.get_ylim()
    artist = ax.scatter(
        pts[present, 0], pts[present, 1], s=size, c=rgba[present], edgecolors="white", linewidths=0.5, zorder=3
    )
    ax.set_xlim(limits[0])
    ax.set_ylim(limits[1])
    return artist


def draw_landmarks(
    ax: Axes, mu_pixels: Any, cov_pixels: Any, colors: Any = None, n_sigma: float = 1.0, size: float = MARKER_SIZE
) -> list[Ellipse]:
    """Draw K Gaussians on `ax`: means mu_pixels [K,2] as dots and their `n_sigma` ellipses from cov_pixels [K,2,2].

    Landmark k is drawn in `colors[k]` (default `landmark_colors(K)`). An ellipse's axes are n_sigma * sqrt of the
    covariance's eigenvalues, along its eigenvectors (in pixel coordinates, so it lies right on a y-down image).
    Returns the ellipses in landmark order.
    """
    mu = _points(mu_pixels, "mu_pixels", ())
    cov = _numpy(cov_pixels).astype(np.float64)
    if cov.shape != (len(mu), 2, 2):
        raise ValueError(f"cov_pixels must be [K={len(mu)},2,2] to match mu_pixels, got {cov.shape}")
    if not n_sigma > 0:
        raise ValueError(f"n_sigma must be > 0, got {n_sigma!r}")
    rgba = _colors(colors, len(mu))
    evals, evecs = np.linalg.eigh((cov + cov.transpose(0, 2, 1)) / 2)  # ascending eigenvalues
    evals = np.clip(evals, 0.0, None)
    angles = np.degrees(np.arctan2(evecs[:, 1, 1], evecs[:, 0, 1]))  # direction of the larger axis
    ellipses = []
    limits = ax.get_xlim(), ax.get_ylim()
    for k in range(len(mu)):
        ellipse = Ellipse(
            tuple(mu[k]),
            width=2 * n_sigma * np.sqrt(evals[k, 1]),
            height=2 * n_sigma * np.sqrt(evals[k, 0]),
            angle=float(angles[k]),
            fill=False,
            edgecolor=rgba[k],
            linewidth=1.2,
            zorder=3,
        )
        ax.add_patch(ellipse)
        ellipses.append(ellipse)
    ax.scatter(mu[:, 0], mu[:, 1], s=size, c=rgba, edgecolors="white", linewidths=0.5, zorder=4)
    ax.set_xlim(limits[0])
    ax.set_ylim(limits[1])
    return ellipses


def keypoint_legend(fig: Figure, names: Sequence[str], colors: Any = None, **kwargs: Any) -> Any:
    """A figure legend: one coloured dot per joint name (default colours `landmark_colors(len(names))`)."""
    rgba = _colors(colors, len(names))
    handles = [
        Line2D([], [], linestyle="", marker="o", markersize=5, markerfacecolor=c, markeredgecolor="white", label=n)
        for n, c in zip(names, rgba)
    ]
    options = {"loc": "center left", "bbox_to_anchor": (1.0, 0.5), "frameon": False, "fontsize": 8, **kwargs}
    return fig.legend(handles=handles, **options)


def show_frames(
    frames: Any,
    keypoints: Any = None,
    names: Sequence[str] | None = None,
    ncols: int = 4,
    titles: Sequence[str] | None = None,
    colors: Any = None,
    panel: float = 2.0,
    suptitle: str | None = None,
) -> Figure:
    """A grid of frames [N,H,W,C] (uint8, C = 1 gray) with keypoints [N,J,2] (pixels, NaN = absent) overlaid.

    Joint j has one colour in every panel; `names` [J] adds a legend. `titles` [N] label the panels; `panel` is the
    width of one panel in inches. Returns the figure (N images in its first N axes, unused grid cells hidden).
    """
    images = _frames(frames, "frames", 4)
    n = len(images)
    if n == 0:
        raise ValueError("frames is empty: nothing to show")
    check_int(ncols, "ncols")
    points = None if keypoints is None else _points(keypoints, "keypoints", (n,))
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles has {len(titles)} entries for {n} frames")
    j = 0 if points is None else points.shape[1]
    names = _names(names, j)
    rgba = _colors(colors, j)
    cols = min(ncols, n)
    rows = -(-n // cols)
    h, w = images.shape[1:3]
    # inches beside and above the grid, so neither the legend nor the suptitle is cut off or overlaps a panel
    suptitle_height = 0.3 if suptitle else 0.0
    height = panel * rows * h / w + (0.3 if titles is not None else 0.0) * rows + suptitle_height
    legend_cols = -(-len(names) * LEGEND_ROW // height) if names else 0  # as many columns as the height needs
    legend_width = 1.3 * legend_cols
    fig = new_figure(panel * cols + legend_width, height)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_axis_off()
            continue
        show_image(ax, images[i])
        if points is not None:
            draw_keypoints(ax, points[i], rgba)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    grid_right, grid_top = 1.0 - legend_width / fig.get_figwidth(), 1.0 - suptitle_height / fig.get_figheight()
    if suptitle:
        fig.suptitle(suptitle, fontsize=10, x=grid_right / 2, y=1.0, va="top")
    if names:
        keypoint_legend(fig, names, rgba, bbox_to_anchor=(grid_right, 0.5), ncols=int(legend_cols))
    fig.tight_layout(pad=0.3, rect=(0.0, 0.0, grid_right, grid_top))
    return fig


def animate(
    frames: Any,
    keypoints: Any = None,
    fps: float = 10.0,
    panel: float = 2.0,
    colors: Any = None,
    title: str | None = None,
    frame_format: str = "png",
) -> str:
    """An HTML/JavaScript player of frames [T,H,W,C] with keypoints [T,J,2] (pixels) overlaid, for offline pages.

    Built with `FuncAnimation(...).to_jshtml()`: every frame is embedded as a `frame_format` image ("png" is
    lossless; "jpeg" is several times smaller for textured frames), so the page plays without a server. The figure
    lives only inside this call. Returns the HTML string.
    """
    images = _frames(frames, "frames", 4)
    t = len(images)
    if t == 0:
        raise ValueError("frames is empty: nothing to animate")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    if frame_format not in ("png", "jpeg"):
        raise ValueError(f"frame_format must be 'png' or 'jpeg', got {frame_format!r}")
    points = None if keypoints is None else _points(keypoints, "keypoints", (t,))
    h, w = images.shape[1:3]
    fig = new_figure(panel, panel * h / w + (0.25 if title else 0.0))
    ax = fig.add_axes((0.0, 0.0, 1.0, h / w * panel / fig.get_figheight()))
    image = show_image(ax, images[0])
    if title:
        fig.suptitle(title, fontsize=8, y=0.99)
    scatter, rgba = None, None
    if points is not None:
        rgba = _colors(colors, points.shape[1])
        scatter = draw_keypoints(ax, points[0], rgba)

    def update(i: int) -> list[Any]:
        image.set_data(images[i][..., 0] if images.shape[-1] == 1 else images[i])
        if scatter is None:
            return [image]
        present = np.isfinite(points[i]).all(axis=1)
        scatter.set_offsets(points[i][present])
        scatter.set_facecolor(rgba[present])
        return [image, scatter]

    animation = FuncAnimation(fig, update, frames=t, interval=1000.0 / fps, blit=False)
    with mpl.rc_context({"animation.frame_format": frame_format}):
        return animation.to_jshtml(fps=fps)


def sample_frames(videos: Any, count: int = 4) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """One frame from each of the first `count` videos of a `store.VideoSet`, at times spread over the videos.

    Returns frames [n,H,W,C], keypoints [n,J,2] (None when the set has none) and titles "id <video_id>, t=<t>" (plus
    the video's action where `videos.meta["actions"]` lists them, as for walker and KTH), with n = min(count, number
    of videos); t is the frame's index in its video, (7 v + 3) mod its length for video v.
    """
    check_int(count, "count")
    picks = [(v, int((7 * v + 3) % videos.lengths[v])) for v in range(min(count, videos.n_videos)) if videos.lengths[v]]
    rows = [int(videos.video_starts[v]) + t for v, t in picks]
    keypoints = None if videos.keypoints is None else np.asarray(videos.keypoints[rows])
    actions = videos.meta.get("actions")
    titles = [f"id {videos.video_ids[v]}, t={t}" + (f", {actions[v]}" if actions else "") for v, t in picks]
    return np.asarray(videos.frames[rows]), keypoints, titles


def split_summary(videos: Any) -> dict[str, Any]:
    """Statistics of one split (a `store.VideoSet`): videos, frames, frames per video, size, channels, identities,
    keypoints and the fraction of keypoints absent (NaN)."""
    lengths = np.asarray(videos.lengths)
    h, w, c = (int(s) for s in videos.frames.shape[1:4])
    row: dict[str, Any] = {
        "videos": int(videos.n_videos),
        "frames": int(len(videos.frames)),
        "frames/video": f"{lengths.min()}" if lengths.min() == lengths.max() else f"{lengths.min()}-{lengths.max()}",
        "size": f"{h}x{w}",
        "channels": c,
        "identities": int(len(np.unique(videos.video_ids))),
        "keypoints": 0 if videos.keypoints is None else int(videos.keypoints.shape[1]),
    }
    row["absent keypoints"] = "-" if videos.keypoints is None else f"{np.isnan(videos.keypoints).any(-1).mean():.1%}"
    return row


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A markdown table of `rows` (dicts); columns default to the first row's keys, numbers right-aligned."""
    if not rows:
        raise ValueError("rows is empty: nothing to tabulate")
    columns = list(columns or rows[0])
    missing = [c for r in rows for c in columns if c not in r]
    if missing:
        raise ValueError(f"rows lack column(s) {sorted(set(missing))}")
    numeric = [all(isinstance(r[c], (int, float, np.number)) for r in rows) for c in columns]
    return tables.markdown_table(columns, [[r[c] for c in columns] for r in rows], right_align=numeric)


def plot_pck_curves(ax: Axes, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, unit: str) -> Axes:
    """Fig. 9: accuracy (%) against distance. `curves`: label -> (thresholds [T], accuracy [T] in [0,1])."""
    for label, (thresholds, accuracy) in curves.items():
        ax.plot(thresholds, 100 * np.asarray(accuracy), label=label)
    ax.set_xlabel(f"distance threshold ({unit})")
    ax.set_ylabel("keypoints within threshold (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_gallery(
    frames: np.ndarray, result: SplitResult, names: Sequence[str], cfg: KeypointEvalConfig, n: int = 8, ncols: int = 4
) -> Figure:
    """Test frames with regressed keypoints (x) and ground truth (o), one colour per joint.

    frames: the split's stored frames (uint8 [M,S,S,C]); `result` must be scored at eval_scale "crop" so that its
    points map back onto the stored frames. Returns the Figure.
    """
    if cfg.eval_scale != "crop":
        raise ValueError("plot_gallery draws on the stored crops: evaluate with eval_scale='crop'")
    picks = np.round(np.linspace(0, len(result.frame_index) - 1, min(n, len(result.frame_index)))).astype(int)
    side = frames.shape[1]

    def to_frame(points: np.ndarray) -> np.ndarray:
        return crop_centred_to_pixels(points * (side / cfg.crop_size), side)

    nrows = math.ceil(len(picks) / ncols)
    fig = new_figure(2.4 * ncols, 2.4 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    colours = landmark_colors(len(names))
    for ax, i in zip(axes.flat, picks):
        show_image(ax, frames[result.frame_index[i]])
        pred, gt = to_frame(result.pred[i]), to_frame(result.gt[i])
        for j, name in enumerate(names):
            ax.plot(*gt[j], "o", ms=5, mfc="none", mec=colours[j], mew=1.5, label=name)
            ax.plot(*pred[j], "x", ms=5, color=colours[j], mew=1.5)
        ok = int(np.sum(np.linalg.norm(result.pred[i] - result.gt[i], axis=-1) <= cfg.threshold))
        ax.set_title(f"frame {result.frame_index[i]}: {ok}/{len(names)} within {cfg.threshold:g} px", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(names), fontsize=7, frameon=False)
    fig.suptitle("o = ground truth, x = regressed from landmarks", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def image_columns(columns: Mapping[str, Any], panel: float = 1.9) -> Figure:
    """A grid with one column per entry of `columns` (title -> images [B,C,H,W], floats in [0,1] or uint8, torch or
    numpy; C = 1 gray) and one row per example: a model's inputs beside its reconstructions."""
    if not columns:
        raise ValueError("columns is empty: nothing to show")
    images = {title: _frames(np.moveaxis(_numpy(x), 1, -1), f"columns[{title!r}]", 4) for title, x in columns.items()}
    counts = {len(x) for x in images.values()}
    if len(counts) != 1 or 0 in counts:
        raise ValueError(f"every column needs the same non-zero number of images, got {sorted(counts)}")
    rows = counts.pop()
    fig = new_figure(panel * len(images), panel * rows + 0.4)
    axes = fig.subplots(rows, len(images), squeeze=False)
    for col, (title, x) in enumerate(images.items()):
        for row in range(rows):
            show_image(axes[row, col], x[row])
        axes[0, col].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def landmark_rows(
    rows: Mapping[str, tuple[Any, Any, Any, Sequence[str]]], colors: Any = None, panel: float = 1.9
) -> Figure:
    """One row of frames per entry of `rows`: label -> (frames [N,H,W,C], mu_pixels [N,K,2], cov_pixels [N,K,2,2],
    titles [N]), every frame with its K landmarks (means and 1-sigma ellipses, landmark k in `colors[k]`)."""
    if not rows:
        raise ValueError("rows is empty: nothing to show")
    ncols = max(len(entry[0]) for entry in rows.values())
    fig = new_figure(panel * ncols, (panel + 0.2) * len(rows))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, (label, (frames, mu, cov, titles)) in enumerate(rows.items()):
        images = _frames(frames, f"rows[{label!r}] frames", 4)
        mu = _points(mu, f"rows[{label!r}] mu", (len(images),))
        if len(titles) != len(images):
            raise ValueError(f"rows[{label!r}]: {len(titles)} titles for {len(images)} frames")
        for c in range(len(images)):
            show_image(axes[r, c], images[c])
            draw_landmarks(axes[r, c], mu[c], _numpy(cov)[c], colors)
            axes[r, c].set_title(titles[c], fontsize=10)
    fig.tight_layout()
    return fig


def _tint(maps: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """maps [K,H,W] >= 0, colors [K,3] in [0,1] -> RGB [H,W,3]: each map scaled to its own maximum, tinted, summed."""
    peak = maps.reshape(len(maps), -1).max(axis=1).clip(min=1e-12)
    return np.clip(np.einsum("khw,kc->hwc", maps / peak[:, None, None], colors), 0.0, 1.0)


def pipeline_figure(model: torch.nn.Module, frame: torch.Tensor, colors: np.ndarray, title: str) -> Any:
    """frame [1,C,S,S] in [0,1] (the model's input) -> a 1x4 matplotlib figure: the frame, its K part maps, the K
    Gaussian heatmaps fitted to them, and the frame decoded from those heatmaps with the frame's own appearance.
    colors: [K,3] (or [K,4]) RGB(A) in [0,1], one per landmark. The model is run in eval mode, its mode restored."""
    if frame.ndim != 4 or frame.shape[0] != 1:
        raise ValueError(f"frame must be [1,C,S,S], got {tuple(frame.shape)}")
    with inference(model):
        out = model(frame, frame)
    size = frame.shape[-1]
    parts = landmarks.part_probabilities(out["part_logits"].float())[0].cpu().numpy()
    heat = landmarks.render_heatmaps(out["mu"].float(), out["cov"].float(), size, size)[0].cpu().numpy()
    rgb = np.asarray(colors, dtype=np.float64)[:, :3]
    panels = {
        "frame (pose and appearance input)": frame[0],
        "part maps (pose encoder)": _tint(parts, rgb),
        "Gaussian landmarks (heatmaps)": _tint(heat, rgb),
        "decoded frame": out["recon"][0].float(),
    }
    fig = new_figure(11, 3.2)
    for ax, (name, image) in zip(fig.subplots(1, 4), panels.items()):
        if isinstance(image, torch.Tensor):
            image = image.clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=1)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def part_maps_figure(frame: np.ndarray, mu: np.ndarray, cov: np.ndarray, part_maps: np.ndarray) -> Figure:
    """One frame [H,W,C] with its landmarks (mu [K,2], cov [K,2,2] in its pixels), then its K part maps [K,h,w],
    each titled in its landmark's colour."""
    k = len(part_maps)
    colors = landmark_colors(k)
    ncols = min(k + 1, 8)
    nrows = -(-(k + 1) // ncols)
    fig = new_figure(1.7 * ncols, 1.8 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    show_image(axes[0, 0], frame)
    draw_landmarks(axes[0, 0], mu, cov, colors)
    axes[0, 0].set_title("frame + landmarks", fontsize=10)
    for i in range(k):
        axes.flat[i + 1].imshow(part_maps[i], cmap="magma")
        axes.flat[i + 1].set_title(f"part map {i}", fontsize=10, color=colors[i])
    fig.tight_layout()
    return fig
