"""Training-time perturbations: colour jitter for the pose input, thin-plate-spline (TPS) warps for the appearance
input.

The factorization model sees a colour-jittered x as pose input and a TPS-warped x (paper Eq. 2-4, after Lorenz et al.
2019) as appearance input; the target is x itself. Everything is batched, runs on the images' device and draws all
randomness from an explicit `torch.Generator`, so a run (and a resumed run) is reproducible.

Random TPS parameterisation (all in normalised coordinates, [-1,1], x right, y down):
  * source control points `src`: a regular `tps_grid` x `tps_grid` lattice spanning [-1,1]^2 (5 x 5 = 25 points);
  * a random similarity A per sample: rotation ~ U(-rotation, rotation) radians, scale ~ U(1-scale, 1+scale),
    translation ~ U(-translation, translation) per axis, about the image centre;
  * destination control points `dst = A(src) + eps`, eps ~ N(0, tps_scale^2) per point and axis.
  The warp moves the content at src_i to dst_i: output(p) = x(f(p)) with f the TPS interpolant f(dst_i) = src_i,
  f(p) = a0 + A p + sum_i w_i U(|p - dst_i|), U(r) = r^2 log r^2 (the kernel OpenCV uses), distances measured with
  the image's aspect ratio so the spline is the physical thin plate.

Speed: the (N+3)x(N+3) system is solved once per sample, f is evaluated every `coarse_step` pixels and bilinearly
upsampled to H x W (one einsum) before `grid_sample` (TPS maps are smooth: the upsampling error is well under a pixel,
see the benchmark's deviation from OpenCV's warp). Large temporaries are avoided (in-place kernel, fused colour map),
as each is a fresh page-faulting allocation. `benchmarks/bench_augment.py` times it against OpenCV's per-sample
`ThinPlateSplineShapeTransformer` (the reference implementation's choice) and kornia's `warp_image_tps`.
Measured: experiments/log.yaml#tps-speed-inplace.

Colour jitter is ours rather than kornia's `ColorJitter`, because kornia 0.9 draws its parameters from torch's global
RNG (only usable via fork_rng + reseeding around every call) and converts through HSV; here brightness (multiplicative),
contrast (blend with the mean grey), saturation (blend with the grey image) and hue (a rotation of the chroma plane in
YIQ space, the linear stand-in for an HSV hue shift) are all linear colour maps, composed per sample into one 3x3
matrix + offset and applied in one pass (baddbmm), clamped to [0,1] once at the end (not after every step as
torchvision does). Grayscale images (C = 1) get brightness and contrast only. The benchmark prints both timings.
Why ours: experiments/log.yaml#color-jitter-ours.

The default magnitudes (`AugmentConfig`) are ours; stronger ones measured worse on the cpu profile:
experiments/log.yaml#strong-colour-jitter and experiments/log.yaml#strong-tps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmvid_lib.config import check_choice, check_int, check_number, is_int
from lmvid_lib.landmarks import pixel_centres

PADDING_MODES = ("border", "zeros", "reflection")
# ITU-R BT.601 luma weights: grey level for contrast/saturation and the Y row of YIQ.
LUMA = (0.299, 0.587, 0.114)
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.595716, -0.274453, -0.321263), (0.211456, -0.522591, 0.311135))


@dataclass
class AugmentConfig:
    """Perturbations of the training inputs and the temporal pairing (see module docstring for the TPS model)."""

    brightness: float = 0.3  # factor ~ U(1-b, 1+b)
    contrast: float = 0.3  # factor ~ U(1-c, 1+c)
    saturation: float = 0.3  # factor ~ U(1-s, 1+s); RGB only
    hue: float = 0.1  # hue rotation ~ U(-h, h) turns (0.5 = half circle); RGB only
    tps_grid: int = 5  # control points per side (5 x 5 = 25)
    tps_scale: float = 0.05  # std of the control-point displacement, normalised units (image width = 2)
    rotation: float = 0.1  # max rotation of the random similarity, radians
    scale: float = 0.05  # max relative scale change of the random similarity
    translation: float = 0.05  # max translation of the random similarity, normalised units
    coarse_step: int = 4  # TPS evaluated every coarse_step pixels, bilinearly upsampled (1 = at every pixel)
    padding: str = "border"  # grid_sample padding outside the image: border | zeros | reflection
    temporal_prob: float = 0.5  # fraction of the batch whose appearance input is a temporal partner
    temporal_min: int = 3  # partner frame-number distance range, inclusive (official follow-up code: 3-39)
    temporal_max: int = 60


def validate_augment_config(cfg: AugmentConfig) -> None:
    """Raise ValueError naming the first bad AugmentConfig parameter."""
    for name in ("brightness", "contrast", "saturation", "tps_scale", "rotation", "scale", "translation"):
        value = getattr(cfg, name)
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"AugmentConfig.{name} must be a number >= 0, got {value!r}")
    for name in ("brightness", "contrast", "saturation", "scale"):
        if getattr(cfg, name) >= 1:
            raise ValueError(
                f"AugmentConfig.{name} must be < 1 (factors are drawn from U(1-v, 1+v)), got {getattr(cfg, name)!r}"
            )
    if not isinstance(cfg.hue, (int, float)) or not 0 <= cfg.hue <= 0.5:
        raise ValueError(f"AugmentConfig.hue must be in [0, 0.5] turns, got {cfg.hue!r}")
    check_int(cfg.tps_grid, "AugmentConfig.tps_grid", 2)
    check_int(cfg.coarse_step, "AugmentConfig.coarse_step")
    check_choice(cfg.padding, "AugmentConfig.padding", PADDING_MODES)
    check_number(cfg.temporal_prob, "AugmentConfig.temporal_prob", 0, 1)
    check_int(cfg.temporal_min, "AugmentConfig.temporal_min")
    if not is_int(cfg.temporal_max, cfg.temporal_min):
        raise ValueError(
            f"AugmentConfig.temporal_max must be an int >= temporal_min={cfg.temporal_min}, got {cfg.temporal_max!r}"
        )


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    """[n] float32 ~ U(low, high), drawn on the generator's device."""
    return low + (high - low) * torch.rand(n, generator=generator, device=generator.device)


def _check_images(x: torch.Tensor, what: str) -> None:
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"{what}: expected float images [B,C,H,W], got {x.dtype} {tuple(x.shape)}")


# ---------------------------------------------------------------------------------------------------- colour jitter


def color_jitter_params(
    batch: int, channels: int, cfg: AugmentConfig, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Random per-sample factors {name: [B]} for the jitters with non-zero strength (hue/saturation only if RGB)."""
    names = ["brightness", "contrast"] + (["saturation"] if channels == 3 else [])
    params = {
        name: _uniform(batch, 1 - getattr(cfg, name), 1 + getattr(cfg, name), generator)
        for name in names
        if getattr(cfg, name) > 0
    }
    if channels == 3 and cfg.hue > 0:
        params["hue"] = _uniform(batch, -cfg.hue, cfg.hue, generator)
    return params


def color_jitter_apply(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Apply brightness -> contrast -> saturation -> hue, composed into one affine colour map per sample.

    x: [B,C,H,W] in [0,1], C in {1,3}; params: {name: [B]} from `color_jitter_params`. Returns [B,C,H,W] in [0,1].
    """
    _check_images(x, "color_jitter")
    b, c = x.shape[:2]
    if c not in (1, 3):
        raise ValueError(f"color_jitter: images must have 1 or 3 channels, got {c}")
    if not params:
        return x
    # The colour map is tiny ([B,C,C]); compose it in float64 and apply it to the images once.
    dev = x.device
    eye = torch.eye(c, dtype=torch.float64, device=dev).expand(b, c, c)
    matrix, offset = eye.clone(), torch.zeros(b, c, dtype=torch.float64, device=dev)
    luma = (
        torch.tensor(LUMA, dtype=torch.float64, device=dev)
        if c == 3
        else torch.ones(1, dtype=torch.float64, device=dev)
    )
    mean_colour = x.mean(dim=(2, 3), dtype=torch.float64)  # [B,C]

    def then(m: torch.Tensor, t: torch.Tensor) -> None:
        nonlocal matrix, offset
        matrix, offset = m @ matrix, (m @ offset.unsqueeze(-1)).squeeze(-1) + t

    factor = lambda name: params[name].to(device=dev, dtype=torch.float64)[:, None, None]  # noqa: E731
    if "brightness" in params:
        then(factor("brightness") * eye, torch.zeros_like(offset))
    if "contrast" in params:
        k = factor("contrast")
        # Mean grey of the image as transformed so far: luma . (M mean + t).
        grey = ((matrix @ mean_colour.unsqueeze(-1)).squeeze(-1) + offset) @ luma
        then(k * eye, (1 - k[:, 0]) * grey[:, None])
    if "saturation" in params:
        k = factor("saturation")
        then(k * eye + (1 - k) * luma.expand(c, c), torch.zeros_like(offset))
    if "hue" in params:
        angle = 2 * math.pi * params["hue"].to(device=dev, dtype=torch.float64)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.zeros(b, 3, 3, dtype=torch.float64, device=dev)
        rot[:, 0, 0] = 1
        rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
        to_yiq = torch.tensor(RGB_TO_YIQ, dtype=torch.float64, device=dev)
        then(torch.linalg.inv(to_yiq) @ rot @ to_yiq, torch.zeros_like(offset))
    matrix, offset = matrix.to(x.dtype), offset.to(x.dtype)
    # One fused product + offset (one fresh [B,C,H,W] allocation), then an in-place clamp.
    out = torch.baddbmm(offset.unsqueeze(-1), matrix, x.reshape(b, c, -1)).view_as(x)
    return out.clamp_(0, 1)


def color_jitter(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random colour jitter of a batch. x: [B,C,H,W] in [0,1], C in {1,3} -> [B,C,H,W] in [0,1]."""
    _check_images(x, "color_jitter")
    return color_jitter_apply(x, color_jitter_params(x.shape[0], x.shape[1], cfg, generator))


# ------------------------------------------------------------------------------------------------- thin-plate splines


def tps_control_grid(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """[n*n,2] regular lattice over [-1,1]^2, x varying fastest."""
    t = torch.linspace(-1, 1, n, device=device)
    y, x = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=-1)


def random_tps_points(batch: int, cfg: AugmentConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random control points (src [B,N,2], dst [B,N,2]), normalised, on the generator's device (module docstring)."""
    dev = generator.device
    src = tps_control_grid(cfg.tps_grid, dev).expand(batch, -1, -1)
    angle = _uniform(batch, -cfg.rotation, cfg.rotation, generator)
    scale = _uniform(batch, 1 - cfg.scale, 1 + cfg.scale, generator)
    shift = cfg.translation * (2 * torch.rand(batch, 1, 2, generator=generator, device=dev) - 1)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    similarity = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # [B,2,2]
    noise = cfg.tps_scale * torch.randn(src.shape, generator=generator, device=dev)
    dst = src @ similarity.transpose(1, 2) + shift + noise
    return src.contiguous(), dst


def _tps_kernel(d2: torch.Tensor) -> torch.Tensor:
    """U(r) = r^2 log r^2 from squared distances, with U(0) = 0."""
    return d2 * torch.log(d2.clamp_min(1e-20))


def tps_solve(ctrl: torch.Tensor, values: torch.Tensor, aspect: float = 1.0) -> torch.Tensor:
    """Coefficients of the TPS f with f(ctrl_i) = values_i.

    ctrl, values: [B,N,2] normalised points; aspect = W / H of the image (distances use x * aspect, y).
    Returns [B,N+3,2]: N kernel weights, then the affine part (constant, x, y).
    """
    b, n, _ = ctrl.shape
    # A 28x28 system per sample: solve it in float64, the cost is nothing and the spline interpolates exactly.
    c = ctrl.double() * ctrl.new_tensor([aspect, 1.0], dtype=torch.float64)
    system = torch.zeros(b, n + 3, n + 3, dtype=torch.float64, device=ctrl.device)
    system[:, :n, :n] = _tps_kernel(torch.cdist(c, c).square())
    poly = torch.cat([torch.ones(b, n, 1, dtype=torch.float64, device=ctrl.device), ctrl.double()], dim=-1)
    system[:, :n, n:] = poly
    system[:, n:, :n] = poly.transpose(1, 2)
    rhs = torch.cat([values.double(), values.new_zeros(b, 3, 2, dtype=torch.float64)], dim=1)
    return torch.linalg.solve(system, rhs).to(values.dtype)


def tps_evaluate(ctrl: torch.Tensor, coeffs: torch.Tensor, points: torch.Tensor, aspect: float = 1.0) -> torch.Tensor:
    """Evaluate the TPS (ctrl [B,N,2], coeffs [B,N+3,2] from `tps_solve`) at points [B,P,2] -> [B,P,2]."""
    n = ctrl.shape[1]
    scale = points.new_tensor([aspect, 1.0])
    # In place: each [B,P,N] temporary is a fresh large allocation (page faults on every call), which made this
    # evaluation 1.6-4.4 ms instead of ~1 ms at 16 x 33 x 33 points on 2 cores.
    d2 = torch.cdist(points * scale, ctrl.to(points.dtype) * scale).square_()  # [B,P,N]
    kernel = d2.clamp_min(1e-20).log_().mul_(d2)  # U(r) = r^2 log r^2, U(0) = 0
    return torch.baddbmm(coeffs[:, n : n + 1] + points @ coeffs[:, n + 1 :], kernel, coeffs[:, :n])


def pixel_centre_grid(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """[H,W,2] normalised (x, y) coordinates of the pixel centres (grid_sample with align_corners=False)."""
    ys = pixel_centres(height, dtype=torch.float32, device=device)
    xs = pixel_centres(width, dtype=torch.float32, device=device)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y], dim=-1)


def tps_sampling_grid(
    src: torch.Tensor, dst: torch.Tensor, height: int, width: int, coarse_step: int = 4
) -> torch.Tensor:
    """grid_sample grid [B,H,W,2] of the warp moving content at src to dst (both [B,N,2], normalised).

    Grid point p holds f(p), f(dst_i) = src_i. f is evaluated on a lattice spanning the outer pixel centres with at
    most `coarse_step` pixels between its points and bilinearly upsampled; coarse_step=1 evaluates every pixel centre
    (the dense reference). A step in pixels (not a fixed lattice size) keeps the upsampling error, worst next to the
    control points where the r^2 log r^2 kernel bends most, the same in pixels at every image size.
    """
    check_int(coarse_step, "tps_sampling_grid: coarse_step")
    aspect = width / height
    coeffs = tps_solve(dst, src, aspect)
    b = src.shape[0]
    if coarse_step == 1:
        points = pixel_centre_grid(height, width, src.device).reshape(1, -1, 2).expand(b, -1, -1)
        return tps_evaluate(dst, coeffs, points, aspect).reshape(b, height, width, 2)
    gh, gw = -(-(height - 1) // coarse_step) + 1, -(-(width - 1) // coarse_step) + 1
    ys = torch.linspace(1 / height - 1, 1 - 1 / height, gh, device=src.device)
    xs = torch.linspace(1 / width - 1, 1 - 1 / width, gw, device=src.device)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([x, y], dim=-1).reshape(1, -1, 2).expand(b, -1, -1)
    coarse = tps_evaluate(dst, coeffs, points, aspect).reshape(b, gh, gw, 2)
    # Bilinear upsampling is separable: one einsum of two small matrix products, ~5x faster on CPU than
    # F.interpolate's kernel and ~3x faster than the same products written as matmuls with a transposed operand.
    rows = _linear_upsampling_matrix(gh, height, src.device)  # [H,gh]
    cols = _linear_upsampling_matrix(gw, width, src.device)  # [W,gw]
    return torch.einsum("hi,bijc,wj->bhwc", rows, coarse, cols)


def _linear_upsampling_matrix(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    """[n_out,n_in] linear interpolation weights; the end points map onto each other (align_corners=True), as the
    coarse lattice spans the outer pixel centres."""
    eye = torch.eye(n_in, device=device).unsqueeze(0)  # [1,n_in,n_in]: each row an impulse
    return F.interpolate(eye, size=n_out, mode="linear", align_corners=True)[0].T


def tps_warp_points(
    x: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, coarse_step: int = 4, padding: str = "border"
) -> torch.Tensor:
    """Warp images x [B,C,H,W] so the content at src [B,N,2] moves to dst [B,N,2] (normalised) -> [B,C,H,W]."""
    _check_images(x, "tps_warp")
    if padding not in PADDING_MODES:
        raise ValueError(f"tps_warp: padding must be one of {PADDING_MODES}, got {padding!r}")
    grid = tps_sampling_grid(src.to(x.device, x.dtype), dst.to(x.device, x.dtype), x.shape[2], x.shape[3], coarse_step)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def tps_warp(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random TPS warp of a batch (paper Eq. 2-4). x: [B,C,H,W] -> [B,C,H,W], same range."""
    _check_images(x, "tps_warp")
    src, dst = random_tps_points(x.shape[0], cfg, generator)
    return tps_warp_points(x, src, dst, cfg.coarse_step, cfg.padding)
