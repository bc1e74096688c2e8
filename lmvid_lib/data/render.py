"""Anti-aliased 2D rendering of soft-edged shapes, batched over frames, for the synthetic datasets.

Every shape is a signed-distance field (negative inside, in pixels) evaluated on a crop of the pixel grid that covers
its bounding box in each frame of a batch: one vectorised numpy call per shape computes all B crops at once
(`[B,h,w]`), and only the compositing into each frame's view is a per-frame slice (a few microseconds each). The
coverage of a pixel is a 1-px linear ramp of the distance (a box-filtered edge), so edges are anti-aliased and
landmarks move sub-pixel.

Coordinates: pixel centres are the integers 0..W-1 (x right) and 0..H-1 (y down), the same 0-based pixel
coordinates as the keypoints of `lmvid_lib.data.store`.

Why crops and not the full grid: a limb covers ~5% of a 128x128 frame. `benchmarks/bench_synthetic.py` renders the
same signer videos both ways (identical pixels): full-grid fields make the whole generator 9.3-9.6x slower (2 x 60
frames at 128x128: 0.17-0.19 s with crops, 1.61-1.80 s on the full grid; 2-core CPU, three runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A field maps crop coordinates X [B,1,w], Y [B,h,1] to (distance [B,h,w], u [B,h,w], v [B,h,w]) in pixels,
# with (u, v) the shape's own coordinates so textures stick to the moving shape.
Field = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
# A shader maps (u, v, distance) [B,h,w] to colours broadcastable to [B,h,w,C] in [0,1].
Shader = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Shape:
    """A batch of B shapes: per-frame bounding boxes `lo`, `hi` [B,2] (x, y pixels) and their distance field."""

    lo: np.ndarray
    hi: np.ndarray
    field: Field


def _col(a: np.ndarray | float, b: int) -> np.ndarray:
    """Per-frame scalar(s) -> float32 [B,1,1] for broadcasting over a crop."""
    return np.broadcast_to(np.asarray(a, dtype=np.float32), (b,)).reshape(b, 1, 1)


def capsule(a: np.ndarray, b: np.ndarray, radius: np.ndarray | float) -> Shape:
    """Segments a->b [B,2] thickened by `radius` ([B] or scalar, pixels). u: pixels along a->b, v: signed across."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    n = len(a)
    r = np.broadcast_to(np.asarray(radius, np.float32), (n,))
    lo = np.minimum(a, b) - r[:, None]
    hi = np.maximum(a, b) + r[:, None]

    def field(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ax, ay, bx, by = (_col(c, n) for c in (a[:, 0], a[:, 1], b[:, 0], b[:, 1]))
        dx, dy = bx - ax, by - ay
        length = np.sqrt(dx * dx + dy * dy)
        # A zero-length segment is a disc; avoid 0/0 in the projection.
        inv = 1.0 / np.maximum(length, 1e-6)
        ux, uy = dx * inv, dy * inv
        px, py = x - ax, y - ay
        along = px * ux + py * uy
        across = py * ux - px * uy
        h = np.clip(along, 0.0, length)
        ex, ey = px - ux * h, py - uy * h
        dist = np.sqrt(ex * ex + ey * ey) - _col(r, n)
        return dist, along, across

    return Shape(lo, hi, field)


def ellipse(centre: np.ndarray, axes: np.ndarray, angle: np.ndarray | float = 0.0) -> Shape:
    """Ellipses with centres [B,2], semi-axes [B,2] (pixels) rotated by `angle` ([B] or scalar, radians).

    The distance is the usual first-order approximation |q/a| - 1 scaled by the gradient: exact on the boundary,
    which is all a 1-px soft edge needs. u, v: pixels along the rotated axes.
    """
    centre = np.asarray(centre, np.float32)
    axes = np.asarray(axes, np.float32)
    n = len(centre)
    ang = np.broadcast_to(np.asarray(angle, np.float32), (n,))
    c2, s2 = np.cos(ang) ** 2, np.sin(ang) ** 2
    extent = np.sqrt(
        np.stack([axes[:, 0] ** 2 * c2 + axes[:, 1] ** 2 * s2, axes[:, 0] ** 2 * s2 + axes[:, 1] ** 2 * c2], 1)
    )
    lo = centre - extent
    hi = centre + extent

    def field(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c, s = _col(np.cos(ang), n), _col(np.sin(ang), n)
        px, py = x - _col(centre[:, 0], n), y - _col(centre[:, 1], n)
        u = px * c + py * s
        v = py * c - px * s
        ia, ib = 1.0 / _col(axes[:, 0], n), 1.0 / _col(axes[:, 1], n)
        qa, qb = u * ia, v * ib
        k = np.sqrt(qa * qa + qb * qb)
        grad = np.sqrt(qa * qa * ia * ia + qb * qb * ib * ib)
        dist = (k - 1.0) * k / np.maximum(grad, 1e-6)
        return dist, u, v

    return Shape(lo, hi, field)


def disc(centre: np.ndarray, radius: np.ndarray | float) -> Shape:
    """Discs: centres [B,2], radius [B] or scalar (pixels)."""
    centre = np.asarray(centre, np.float32)
    return capsule(centre, centre, radius)


def coverage(dist: np.ndarray) -> np.ndarray:
    """Pixel coverage in [0,1] from signed distance (pixels): a linear ramp 1 px wide centred on the boundary.

    (The area a straight edge covers of a pixel, i.e. a box-filtered edge; cheaper than a smoothstep and as smooth.)
    """
    return np.clip(0.5 - dist, 0.0, 1.0)


def pattern(
    u: np.ndarray, v: np.ndarray, kind: str, period: float, phase: float = 0.0, angle: float = 0.0
) -> np.ndarray:
    """Procedural texture in [0,1] at shape coordinates u, v (pixels): 'plain', 'stripes', 'checks' or 'waves'.

    Smooth sinusoids (not hard steps) so the texture itself is anti-aliased at any period >= 2 px.
    """
    if kind == "plain":
        return np.zeros_like(u)
    k = np.float32(2 * np.pi / period)
    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    a = (u * c + v * s) * k + np.float32(phase)
    if kind == "stripes":
        return 0.5 + 0.5 * np.sin(a)
    b = (v * c - u * s) * k
    if kind == "checks":
        return np.clip(0.5 + 2.0 * np.sin(a) * np.sin(b), 0.0, 1.0)
    if kind == "waves":
        return 0.5 + 0.25 * np.sin(a + 1.5 * np.sin(0.5 * b)) + 0.25 * np.sin(0.7 * b - 0.3 * a)
    raise ValueError(f"unknown texture kind {kind!r}; known: plain, stripes, checks, waves")


class Canvas:
    """Float32 frames [B,H,W,C] in [0,1] that shapes are painted onto, back to front ("over" compositing)."""

    def __init__(self, background: np.ndarray, batch: int):
        """background: [H,W,C] float in [0,1], the same for all `batch` frames (the static scene)."""
        if background.ndim != 3:
            raise ValueError(f"background must be [H,W,C], got shape {background.shape}")
        self.frames = np.repeat(background[None].astype(np.float32), batch, axis=0)

    @property
    def batch(self) -> int:
        return self.frames.shape[0]

    def paint(self, shape: Shape, shader: Shader | np.ndarray, opacity: float = 1.0, shade: float = 0.0) -> None:
        """Composite `shape` with colours from `shader` (or a fixed colour array [C] / [B,C]) over the frames.

        `shade` darkens towards the boundary by up to that fraction (a cheap rounded, 3D look that also separates a
        limb from a same-coloured body behind it).
        """
        b, height, width, channels = self.frames.shape
        lo = np.floor(shape.lo).astype(np.int64)
        hi = np.ceil(shape.hi).astype(np.int64) + 1
        crop_w = int(min(width, max(1, np.max(hi[:, 0] - lo[:, 0]))))
        crop_h = int(min(height, max(1, np.max(hi[:, 1] - lo[:, 1]))))
        ox = np.clip(lo[:, 0], 0, width - crop_w)
        oy = np.clip(lo[:, 1], 0, height - crop_h)
        x = (ox[:, None, None] + np.arange(crop_w)[None, None, :]).astype(np.float32)
        y = (oy[:, None, None] + np.arange(crop_h)[None, :, None]).astype(np.float32)
        dist, u, v = shape.field(x, y)
        alpha = coverage(dist)
        if opacity != 1.0:
            alpha *= np.float32(opacity)
        if callable(shader):
            colour = np.asarray(shader(u, v, dist), np.float32)
        else:
            colour = np.asarray(shader, np.float32).reshape(-1, 1, 1, channels)
        if shade:
            # Inside depth (pixels from the edge) -> 0 at the edge, saturating ~4 px in.
            depth = np.clip(-dist * 0.25, 0.0, 1.0)
            colour = colour * (1.0 - np.float32(shade) * (1.0 - depth))[..., None]
        # view = view * (1 - alpha) + alpha * colour, with the batched parts hoisted out of the per-frame loop.
        alpha = alpha[..., None]
        premultiplied = alpha * colour
        keep = 1.0 - alpha
        for i in range(b):
            view = self.frames[i, oy[i] : oy[i] + crop_h, ox[i] : ox[i] + crop_w]
            view *= keep[i]
            view += premultiplied[i]

    def to_uint8(self) -> np.ndarray:
        """uint8 [B,H,W,C]."""
        return (np.clip(self.frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Band-limited noise [H,W] in ~[-1,1]: white noise blurred with a Gaussian of `scale` pixels, normalised."""
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.standard_normal(shape).astype(np.float32), scale, mode="wrap")
    return noise / (3.0 * noise.std() + 1e-6)
