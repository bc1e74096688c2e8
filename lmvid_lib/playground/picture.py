"""The landmark playground's picture: the original frame beside the decoded one, every landmark drawn on both (its
mean as a dot and its one-sigma ellipse), the selected landmark highlighted.

Drawn with PIL rather than matplotlib: the live playground redraws this picture on every update, and PIL draws and
encodes it in a few milliseconds (`benchmarks/bench_playground.py` times the whole update). The same pictures make the
static book's animation, so the page shows what the live playground shows.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageDraw

from lmvid_lib import landmarks
from lmvid_lib.config import check_int
from lmvid_lib.report.figures import landmark_colors

GAP = 8  # pixels between the two panels
ELLIPSE_POINTS = 48  # vertices of an ellipse's outline


def _rgb_image(frame: np.ndarray | torch.Tensor, size: int) -> Image.Image:
    """uint8 [H,W,C] or float [C,H,W] in [0,1] (C = 1 or 3) -> an RGB PIL image of size x size (nearest upscaling:
    the model's pixels stay visible)."""
    if isinstance(frame, torch.Tensor):
        frame = (frame.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    if frame.ndim != 3 or frame.shape[-1] not in (1, 3) or frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 [H,W,C] or float [C,H,W] with C = 1 or 3, got {frame.shape}")
    image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame).convert("RGB")
    return image.resize((size, size), Image.Resampling.NEAREST)


def ellipse_outlines(state: torch.Tensor, size: int, n_sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Landmark states [K,5] -> (means [K,2], outlines [K,ELLIPSE_POINTS,2]) in pixels of a size x size picture
    (0 to size along each axis): mu + n_sigma L (cos t, sin t), L the Cholesky factor of the covariance."""
    mu, cov = landmarks.from_state(state.detach().cpu().double())
    factor = torch.linalg.cholesky(cov)  # positive-definite: from_state adds COV_EPS * I
    t = torch.linspace(0, 2 * torch.pi, ELLIPSE_POINTS, dtype=torch.float64)
    circle = torch.stack([t.cos(), t.sin()])  # [2,P]
    outline = mu[:, :, None] + n_sigma * factor @ circle  # [K,2,P]
    to_pixels = size / 2.0  # normalised [-1, 1] -> [0, size]
    return ((mu + 1) * to_pixels).numpy(), ((outline.transpose(1, 2) + 1) * to_pixels).numpy()


def _draw_landmarks(draw: ImageDraw.ImageDraw, state: torch.Tensor, size: int, left: int, selected: int | None) -> None:
    means, outlines = ellipse_outlines(state, size)
    colors = [tuple(int(255 * c) for c in rgba[:3]) for rgba in landmark_colors(len(means))]
    radius = max(2.0, size / 80)
    for k in range(len(means)):
        width = 3 if k == selected else 1
        draw.line([(left + x, y) for x, y in outlines[k]], fill=colors[k], width=width)
        x, y = means[k]
        r = radius * (1.8 if k == selected else 1.0)
        draw.ellipse((left + x - r, y - r, left + x + r, y + r), fill=colors[k], outline="white")


def playground_picture(
    original: np.ndarray, decoded: torch.Tensor, state: torch.Tensor, selected: int | None = None, size: int = 256
) -> np.ndarray:
    """The playground's picture, uint8 [size, 2 size + GAP, 3]: `original` (uint8 [H,W,C], the selected frame) on
    the left and `decoded` (float [C,h,w] in [0,1]) on the right, each scaled to size x size, with the landmarks of
    `state` [K,5] drawn on both (landmark `selected` thicker)."""
    check_int(size, "size", 16, what=" (pixels per panel)")
    picture = Image.new("RGB", (2 * size + GAP, size), "white")
    picture.paste(_rgb_image(original, size), (0, 0))
    picture.paste(_rgb_image(decoded, size), (size + GAP, 0))
    draw = ImageDraw.Draw(picture)
    for left in (0, size + GAP):
        _draw_landmarks(draw, state, size, left, selected)
    return np.asarray(picture)


def png_bytes(picture: np.ndarray) -> bytes:
    """uint8 [H,W,3] -> PNG file bytes (fast compression: the live playground sends one per update)."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def picture_to_norm(x: float, y: float, size: int) -> tuple[float, float] | None:
    """A point (x, y) in pixels of a `playground_picture` of panel `size` (as a click reports it) -> normalised
    coordinates of the frame under it, or None in the gap between the panels."""
    if x >= size + GAP:
        x -= size + GAP
    elif x >= size:
        return None
    return 2.0 * x / size - 1.0, 2.0 * y / size - 1.0
