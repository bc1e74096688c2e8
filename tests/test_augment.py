"""Colour jitter and thin-plate-spline warps of lmvid_lib.data.augment."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lmvid_lib.config import from_dict
from lmvid_lib.data.augment import (
    LUMA,
    AugmentConfig,
    color_jitter,
    color_jitter_apply,
    pixel_centre_grid,
    random_tps_points,
    tps_control_grid,
    tps_evaluate,
    tps_sampling_grid,
    tps_solve,
    tps_warp,
    tps_warp_points,
    validate_augment_config,
)

NO_WARP = dict(tps_scale=0.0, rotation=0.0, scale=0.0, translation=0.0)
NO_JITTER = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def smooth_images(b: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Band-limited random images in [0,1], so bilinear resampling errors stay small and comparable."""
    low = torch.rand(b, c, 6, 6, generator=gen(seed))
    return torch.nn.functional.interpolate(low, size=(h, w), mode="bicubic", align_corners=True).clamp(0, 1)


def test_zero_displacement_identity_affine_is_identity_warp():
    x = torch.rand(3, 3, 40, 56, generator=gen(1))
    cfg = AugmentConfig(**NO_WARP)
    src, dst = random_tps_points(3, cfg, gen(2))
    assert torch.equal(src, dst)
    for coarse in (5, 1):
        grid = tps_sampling_grid(src, dst, 40, 56, coarse)
        torch.testing.assert_close(grid, pixel_centre_grid(40, 56).expand(3, -1, -1, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(tps_warp(x, cfg, gen(3)), x, atol=1e-5, rtol=0)


def test_tps_interpolates_control_points_exactly():
    src, dst = random_tps_points(4, AugmentConfig(tps_scale=0.1, rotation=0.3, scale=0.1, translation=0.1), gen(0))
    for aspect in (1.0, 1.5):
        coeffs = tps_solve(dst, src, aspect)
        torch.testing.assert_close(tps_evaluate(dst, coeffs, dst, aspect), src, atol=1e-5, rtol=0)


def test_sampling_grid_maps_dst_pixels_to_src():
    h = w = 48
    # dst control points exactly on pixel centres, so the dense grid can be read at them.
    rows = torch.tensor([[3, 10, 24, 40, 44, 20, 30, 5, 35]])
    cols = torch.tensor([[4, 30, 24, 10, 44, 40, 15, 42, 33]])
    dst = torch.stack([(2 * cols + 1) / w - 1, (2 * rows + 1) / h - 1], dim=-1).float()
    src = dst + 0.08 * torch.randn(dst.shape, generator=gen(5))
    dense = tps_sampling_grid(src, dst, h, w, 1)
    torch.testing.assert_close(dense[0, rows[0], cols[0]], src[0], atol=1e-5, rtol=0)
    coarse = tps_sampling_grid(src, dst, h, w, 4)
    pixel_error = ((coarse[0, rows[0], cols[0]] - src[0]).abs() * w / 2).max()
    assert pixel_error < 0.5


def test_affine_only_tps_is_the_affine_map():
    # With no displacement noise the spline must reduce to its affine part: f(p) = A^-1 (p - t).
    cfg = AugmentConfig(tps_scale=0.0, rotation=0.2, scale=0.1, translation=0.1)
    src, dst = random_tps_points(2, cfg, gen(4))
    a = torch.linalg.lstsq(torch.cat([src, torch.ones(2, 25, 1)], -1), dst).solution  # dst = [src,1] @ a
    p = pixel_centre_grid(20, 20).reshape(1, -1, 2).expand(2, -1, -1)
    expected = (p - a[:, 2:]) @ torch.linalg.inv(a[:, :2])
    grid = tps_sampling_grid(src, dst, 20, 20, 1).reshape(2, -1, 2)
    torch.testing.assert_close(grid, expected, atol=1e-5, rtol=0)


def test_warp_moves_content_from_src_to_dst():
    h = w = 64
    src = tps_control_grid(5).unsqueeze(0)
    dst = src.clone()
    dst[0, 12] += torch.tensor([0.2, -0.15])  # move the centre point right and up
    centre = pixel_centre_grid(h, w)
    blob = torch.exp(-((centre - src[0, 12]) ** 2).sum(-1) / 0.005)[None, None]  # a dot at src[12]
    warped = tps_warp_points(blob, src, dst, coarse_step=1)[0, 0]
    peak = centre.reshape(-1, 2)[warped.argmax()]
    assert (peak - dst[0, 12]).abs().max() <= 2 / w  # within a pixel


def test_coarse_warp_agrees_with_dense_reference():
    cfg = AugmentConfig()
    x = smooth_images(4, 3, 96, 96)
    src, dst = random_tps_points(4, cfg, gen(7))
    dense_grid = tps_sampling_grid(src, dst, 96, 96, 1)
    coarse_grid = tps_sampling_grid(src, dst, 96, 96, cfg.coarse_step)
    assert ((dense_grid - coarse_grid).abs() * 48).max() < 0.4  # pixels
    dense = tps_warp_points(x, src, dst, 1)
    coarse = tps_warp_points(x, src, dst, cfg.coarse_step)
    assert (dense - coarse).abs().max() < 0.02
    assert (dense - x).abs().max() > 0.05  # and the warp did something


def test_tps_warp_determinism_and_grayscale():
    cfg = AugmentConfig()
    x = torch.rand(5, 1, 32, 32, generator=gen(0))
    a, b, c = tps_warp(x, cfg, gen(11)), tps_warp(x, cfg, gen(11)), tps_warp(x, cfg, gen(12))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_color_jitter_shape_range_determinism():
    cfg = AugmentConfig(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.3)
    x = torch.rand(6, 3, 16, 20, generator=gen(0))
    a, b, c = color_jitter(x, cfg, gen(1)), color_jitter(x, cfg, gen(1)), color_jitter(x, cfg, gen(2))
    assert a.shape == x.shape and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert not torch.allclose(a, x)


@pytest.mark.parametrize("channels", [1, 3])
def test_color_jitter_zero_strength_is_identity(channels):
    x = torch.rand(3, channels, 8, 8, generator=gen(0))
    torch.testing.assert_close(color_jitter(x, AugmentConfig(**NO_JITTER), gen(0)), x, atol=0, rtol=0)


def test_color_jitter_grayscale_skips_hue_and_saturation():
    x = torch.rand(4, 1, 8, 8, generator=gen(0))
    only_colour = AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.9, hue=0.5)
    torch.testing.assert_close(color_jitter(x, only_colour, gen(0)), x, atol=0, rtol=0)
    out = color_jitter(x, AugmentConfig(brightness=0.5, contrast=0.5), gen(0))
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_color_jitter_components():
    x = 0.3 + 0.4 * torch.rand(2, 3, 8, 8, generator=gen(0))  # mid-range: no clipping
    factor = torch.tensor([0.7, 1.3])
    torch.testing.assert_close(color_jitter_apply(x, {"brightness": factor}), x * factor[:, None, None, None])
    grey = (x * torch.tensor(LUMA)[:, None, None]).sum(1, keepdim=True)
    desaturated = color_jitter_apply(x, {"saturation": torch.zeros(2)})
    torch.testing.assert_close(desaturated, grey.expand_as(x))
    flat = color_jitter_apply(x, {"contrast": torch.zeros(2)})
    torch.testing.assert_close(flat, grey.mean((2, 3), keepdim=True).expand_as(x))
    # A hue rotation keeps the luma and changes the colour.
    rotated = color_jitter_apply(x, {"hue": torch.tensor([0.05, -0.05])})
    torch.testing.assert_close(
        (rotated * torch.tensor(LUMA)[:, None, None]).sum(1, keepdim=True), grey, atol=1e-5, rtol=0
    )
    assert (rotated - x).abs().max() > 0.01


@pytest.mark.parametrize(
    "key, value",
    [
        ("brightness", -0.1),
        ("scale", 1.0),
        ("hue", 0.7),
        ("tps_grid", 1),
        ("coarse_step", 0),
        ("padding", "wrap"),
        ("temporal_prob", 1.5),
        ("temporal_min", 0),
        ("temporal_max", 2),
    ],
)
def test_validate_names_the_parameter(key, value):
    cfg = dataclasses.replace(AugmentConfig(), **{key: value})
    with pytest.raises(ValueError, match=key):
        validate_augment_config(cfg)


def test_config_from_dict():
    cfg = from_dict(AugmentConfig, {"tps_scale": 0.1, "temporal_max": 39})
    assert cfg.tps_scale == 0.1 and cfg.temporal_max == 39
    validate_augment_config(cfg)
    with pytest.raises(ValueError, match="tps_sigma"):
        from_dict(AugmentConfig, {"tps_sigma": 0.1})
