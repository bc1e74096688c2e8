"""Synthetic data generation: frames/s per preset at the cpu profile's sizes, and crop-wise vs full-grid rendering.

Generates every split of each preset listed in `params/cpu.yaml` (`01_data`: n_videos / n_frames per preset), in
memory (no disk writes), and prints the throughput and the total against the target: the cpu profile's data in under
30 s on 2 cores. Then renders the same signer videos with `render.Canvas` evaluating every shape's distance field on
the whole frame instead of on its bounding-box crop (identical pixels, checked) to show what the crops buy.
Measured: experiments/log.yaml#bench-synthetic.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import best_time, verdict
from lmvid_lib.config import load_profile
from lmvid_lib.data import render, synthetic

TOTAL_TARGET_S = 30.0
CROP_SPEEDUP_TARGET = 2.0  # full-grid time / crop time
CROP_CASE = dict(n_videos=2, n_frames=60)  # signer at 128x128: the largest frames, where crops matter most


class FullGridCanvas(render.Canvas):
    """A Canvas that evaluates each shape on the whole frame (the straightforward alternative to crops)."""

    def paint(self, shape: render.Shape, *args, **kwargs) -> None:
        _, height, width, _ = self.frames.shape
        lo = np.zeros_like(shape.lo)
        hi = np.broadcast_to(np.array([width - 1, height - 1], shape.hi.dtype), shape.hi.shape)
        super().paint(render.Shape(lo, hi, shape.field), *args, **kwargs)


def _generate_all(preset: str, n_videos: int, n_frames: int) -> int:
    """Generate every split of `preset`; return the number of frames made."""
    return sum(
        synthetic.generate(preset, split, 0, n_videos=n_videos, n_frames=n_frames).frames.shape[0] * n_frames
        for split in synthetic.splits(preset)
    )


def _crop_vs_full_grid() -> tuple[float, float, bool]:
    """(crop seconds, full-grid seconds, identical frames) for CROP_CASE of the signer 'train' split."""
    crops = synthetic.generate("signer", "train", 0, **CROP_CASE).frames
    crop_s = best_time(lambda: synthetic.generate("signer", "train", 0, **CROP_CASE), repeat=2, warmup=0)
    render.Canvas, original = FullGridCanvas, render.Canvas  # synthetic looks `render.Canvas` up at call time
    try:
        full = synthetic.generate("signer", "train", 0, **CROP_CASE).frames
        full_s = best_time(lambda: synthetic.generate("signer", "train", 0, **CROP_CASE), repeat=2, warmup=0)
    finally:
        render.Canvas = original
    return crop_s, full_s, bool(np.array_equal(crops, full))


def main() -> None:
    section = load_profile("cpu")["01_data"]
    print(f"params/cpu.yaml 01_data, every split, seed 0, in memory; target: all presets < {TOTAL_TARGET_S:.0f} s")
    print(f"{'preset':10}{'videos x frames':>18}{'size':>10}{'frames':>9}{'seconds':>10}{'frames/s':>11}")
    total_s = 0.0
    for preset in section["presets"]:
        n_videos, n_frames = section["n_videos"][preset], section["n_frames"][preset]
        size = synthetic.preset_config(preset).size
        start = time.perf_counter()
        frames = _generate_all(preset, n_videos, n_frames)
        seconds = time.perf_counter() - start
        total_s += seconds
        print(
            f"{preset:10}{f'{n_videos} x {n_frames}':>18}{f'{size}x{size}':>10}{frames:>9}{seconds:>10.2f}"
            f"{frames / seconds:>11.0f}"
        )
    print(
        f"{'total':10}{'':>37}{total_s:>10.2f} s  (target <= {TOTAL_TARGET_S:.0f} s) "
        f"{verdict(total_s, TOTAL_TARGET_S, higher_is_better=False)}"
    )

    crop_s, full_s, identical = _crop_vs_full_grid()
    ratio = full_s / crop_s
    print(
        f"\nsigner train {CROP_CASE['n_videos']} x {CROP_CASE['n_frames']} frames at 128x128: crops {crop_s:.2f} s, "
        f"full grid {full_s:.2f} s, identical frames: {identical}"
    )
    print(f"full grid / crops {ratio:.2f}x (target >= {CROP_SPEEDUP_TARGET}x) {verdict(ratio, CROP_SPEEDUP_TARGET)}")
