"""Landmark playground: one update (move a landmark, decode, draw, encode the PNG) at the cpu profile's model size.

The issue's budget: an update under 0.3 s on 2 CPU cores. Ours (`Playground` + `playground.picture`) decodes with
the selected frame's appearance vectors computed once, and draws with PIL. Side by side, in the same run: the update
through `render_sequence` (which encodes the appearance frame again on every call) and the picture drawn with
matplotlib (`report.figures.show_image` + `draw_landmarks` on two panels, saved as PNG). Median of REPEATS updates each.
Uses the signer model of `runs/cpu` when chapter 2 has trained it, else a fresh model of the cpu profile's config
(random weights time the same).
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.common import verdict
from lmvid_lib.config import from_dict, load_profile
from lmvid_lib.landmarks import from_state, gaussians_to_pixels
from lmvid_lib.models.checkpoint import dataset_run, load_trained
from lmvid_lib.models.factorization import FactorizationModel, ModelConfig
from lmvid_lib.models.sequences import render_sequence
from lmvid_lib.paths import default_run_dir, repo_path
from lmvid_lib.playground.core import Playground
from lmvid_lib.playground.picture import playground_picture, png_bytes
from lmvid_lib.report.figures import draw_landmarks, new_figure, show_image

RUN_DIR = repo_path(default_run_dir("cpu"))
REPEATS = 15
PANEL = 256  # pixels per panel, as the live playground draws them
BUDGET = 0.3  # seconds per update


def median_time(fn: Callable[[int], object], repeat: int = REPEATS, warmup: int = 2) -> float:
    """Median wall time (seconds) of fn(i) for i = 0..repeat-1, after `warmup` calls."""
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_model() -> tuple[FactorizationModel, str]:
    """The cpu run's signer model, else a fresh one of the cpu profile's model config; and where it came from."""
    try:
        model, _ = load_trained(dataset_run(RUN_DIR, "signer"))
        return model, f"trained signer model of {RUN_DIR.name}"
    except FileNotFoundError:
        cfg = load_profile("cpu")["02_factorization"]["factorization"]["model"]
        return FactorizationModel(from_dict(ModelConfig, cfg, "cpu profile model")).eval(), "fresh cpu-profile model"


def matplotlib_picture(original: np.ndarray, decoded: torch.Tensor, state: torch.Tensor) -> bytes:
    """The playground's picture drawn with matplotlib: the two panels with every landmark's ellipse, as PNG bytes."""
    fig = new_figure(2 * PANEL / 100, PANEL / 100)
    for ax, frame in zip(fig.subplots(1, 2), (original, decoded.permute(1, 2, 0))):
        show_image(ax, frame)
        mu, cov = gaussians_to_pixels(*from_state(state), frame.shape[0], frame.shape[1])
        draw_landmarks(ax, mu, cov)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def main() -> None:
    torch.manual_seed(0)
    model, source = cpu_model()
    size = model.cfg.image_size
    frames = np.random.default_rng(0).integers(0, 256, (8, 2 * size, 2 * size, model.cfg.channels), dtype=np.uint8)
    pg = Playground(model, frames)
    xs = np.linspace(-0.8, 0.8, REPEATS + 2)

    def ours(i: int) -> bytes:
        pg.move(0, float(xs[i]), 0.1)
        return png_bytes(playground_picture(pg.frames[pg.frame], pg.render(), pg.state, 0, PANEL))

    def re_encoding(i: int) -> bytes:
        pg.move(0, float(xs[i]), 0.1)
        decoded = render_sequence(model, pg.state[None, None], pg.frames[pg.frame : pg.frame + 1])[0, 0]
        return png_bytes(playground_picture(pg.frames[pg.frame], decoded, pg.state, 0, PANEL))

    def with_matplotlib(i: int) -> bytes:
        pg.move(0, float(xs[i]), 0.1)
        return matplotlib_picture(pg.frames[pg.frame], pg.render(), pg.state)

    def decode_only(i: int) -> torch.Tensor:
        pg.move(0, float(xs[i]), 0.1)
        return pg.render()

    t_ours = median_time(ours)
    t_decode = median_time(decode_only)
    t_re_encoding = median_time(re_encoding)
    t_matplotlib = median_time(with_matplotlib)
    print(
        f"one playground update, {source}: {size}x{size}, K={model.cfg.n_landmarks}, picture 2 x {PANEL} px, "
        f"median of {REPEATS}, {torch.get_num_threads()} threads"
    )
    print(
        f"  ours (move + decode + PIL picture + PNG)  {t_ours * 1e3:7.1f} ms   budget < {BUDGET:.1f} s: "
        f"{verdict(t_ours, BUDGET, higher_is_better=False)}"
    )
    print(f"    of which move + decode                  {t_decode * 1e3:7.1f} ms")
    print(
        f"  decode via render_sequence (re-encodes)   {t_re_encoding * 1e3:7.1f} ms   "
        f"ratio / ours {t_re_encoding / t_ours:.2f}x"
    )
    print(
        f"  picture drawn with matplotlib             {t_matplotlib * 1e3:7.1f} ms   "
        f"ratio / ours {t_matplotlib / t_ours:.2f}x"
    )
