"""How a chapter shows its results to a reader: numbered captions, and the result files the intro summarises.

- `Captions(chapter)`: numbered figures ("Figure 2.1.") and tables ("Table 3.2.") with their captions, as display
  objects that render the same in the book and in JupyterLab (HTML: `<figure>` / `<table>` with their caption).
- `write_claims` / `read_claims`: each chapter writes the paper claims it tests, with its measured number, to
  `<run_dir>/claims/<chapter>.json`; the intro reads them all into the reproduction table (`claims_table`).
- `pipeline_figure`: one frame through the model: frame -> part maps -> Gaussian heatmaps -> decoded frame.
- `training_setup`: the model, inputs, loss and training of a factorization run in words, from its config, and the
  per-dataset models beside it; `data_source`: what a run trained on, for captions.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmvid_lib import landmarks
from lmvid_lib.data.datasets import data_label
from lmvid_lib.io import atomic_write_json
from lmvid_lib.models.checkpoint import read_run_config
from lmvid_lib.paths import claims_dir, finished_runs
from lmvid_lib.run_config import TrainConfig, config_dict
from lmvid_lib.tables import Table, inline_html, markdown_table


class Figure:
    """A captioned figure for `IPython.display.display`: `body` is an HTML fragment (an image or an animation)."""

    def __init__(self, body: str, caption: str, full_width: bool):
        self.body = body
        self.caption = caption
        self.full_width = full_width

    def _repr_html_(self) -> str:
        return (
            f'<figure class="lmvid-figure{" full-width" if self.full_width else ""}">{self.body}'
            f"<figcaption>{inline_html(self.caption)}</figcaption></figure>"
        )

    def __repr__(self) -> str:
        return f"Figure({self.caption!r})"


def png_html(fig: Any, dpi: int = 110) -> str:
    """A matplotlib figure as an `<img>` with an embedded PNG; the figure is closed (so it is not shown twice)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%;height:auto" alt="figure">'


class Captions:
    """Numbers the figures and tables of chapter `chapter` in the order they are shown ("Figure 2.3"); a page
    outside the numbered chapters (the introduction) passes None ("Figure 3")."""

    def __init__(self, chapter: int | None):
        self.prefix = "" if chapter is None else f"{chapter}."
        self.n_figures = 0
        self.n_tables = 0

    def figure(self, fig: Any, caption: str, full_width: bool = False) -> Figure:
        """`fig`: a matplotlib figure, or an HTML fragment (e.g. an animation from `plotting.animate`)."""
        self.n_figures += 1
        body = fig if isinstance(fig, str) else png_html(fig)
        return Figure(body, f"**Figure {self.prefix}{self.n_figures}.** {caption}", full_width)

    def table(self, markdown: str, caption: str) -> Table:
        self.n_tables += 1
        return Table(markdown, f"Table {self.prefix}{self.n_tables}. {caption}")


@dataclass
class Claim:
    """One paper claim tested by a chapter. `paper`: the published number or statement (quoted); `ours`: what this
    run measured, with its conditions; `dataset`: the data `ours` was measured on."""

    claim: str
    paper: str
    ours: str
    dataset: str
    profile: str
    chapter: str


def write_claims(run_dir: str | Path, stem: str, claims: Sequence[Claim]) -> Path:
    """Write `claims` to `<run_dir>/claims/<stem>.json`, `stem` being the notebook's (atomic; replaces that notebook's
    previous claims)."""
    return atomic_write_json(claims_dir(run_dir) / f"{stem}.json", [asdict(c) for c in claims])


def read_claims(run_dir: str | Path) -> list[Claim]:
    """Every notebook's claims under `<run_dir>/claims/`, in notebook (file name) order; [] when there are none."""
    names = {f.name for f in fields(Claim)}
    result = []
    for path in sorted(claims_dir(run_dir).glob("*.json")):
        for entry in json.loads(path.read_text()):
            if set(entry) != names:
                raise ValueError(f"{path}: a claim has fields {sorted(entry)}, expected {sorted(names)}")
            result.append(Claim(**entry))
    return result


def claims_table(claims: Sequence[Claim]) -> str:
    """The reproduction table: one row per claim (markdown)."""
    header = ["paper claim", "paper (quoted)", "ours (measured)", "dataset", "profile", "chapter"]
    return markdown_table(header, [[c.claim, c.paper, c.ours, c.dataset, c.profile, c.chapter] for c in claims])


def _tint(maps: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """maps [K,H,W] >= 0, colors [K,3] in [0,1] -> RGB [H,W,3]: each map scaled to its own maximum, tinted, summed."""
    peak = maps.reshape(len(maps), -1).max(axis=1).clip(min=1e-12)
    return np.clip(np.einsum("khw,kc->hwc", maps / peak[:, None, None], colors), 0.0, 1.0)


def pipeline_figure(model: torch.nn.Module, frame: torch.Tensor, colors: np.ndarray, title: str) -> Any:
    """frame [1,C,S,S] in [0,1] (the model's input) -> a 1x4 matplotlib figure: the frame, its K part maps, the K
    Gaussian heatmaps fitted to them, and the frame decoded from those heatmaps with the frame's own appearance.
    colors: [K,3] (or [K,4]) RGB(A) in [0,1], one per landmark. The model is run in eval mode, its mode restored."""
    import matplotlib.pyplot as plt

    if frame.ndim != 4 or frame.shape[0] != 1:
        raise ValueError(f"frame must be [1,C,S,S], got {tuple(frame.shape)}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(frame, frame)
    finally:
        model.train(was_training)
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
    fig, axes = plt.subplots(1, 4, figsize=(11, 3.2))
    for ax, (name, image) in zip(axes, panels.items()):
        if isinstance(image, torch.Tensor):
            image = image.clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        ax.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=1)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def data_source(cfg: TrainConfig) -> str:
    """What a run trained on, for a caption (`data.datasets.data_label` of its dataset and data_root)."""
    return data_label(cfg.dataset, cfg.data_root)


def _flat(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in mapping.items():
        flat.update(_flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else {f"{prefix}{key}": value})
    return flat


# Settings a per-dataset model differs in by construction (its data and run), or that its sentence states anyway.
_STATED = {"dataset", "data_root", "name", "model.decoder", "seed", "model.n_landmarks", "model.image_size"}
_STATED |= {"model.channels", "steps"}


def _dataset_models(main: TrainConfig, models: Mapping[str, TrainConfig]) -> str:
    """Markdown list item: the per-dataset models, one line each (K, frames, steps, and every other setting that
    differs from `main`, the main runs' config)."""
    if not models:
        return ""
    base = _flat(config_dict(main))
    first = next(iter(models.values()))
    lines = [
        f"- **One model per further dataset**, as the paper trains one per dataset: decoder `{first.model.decoder}`, "
        f"seed {first.seed}, each in its own run folder:"
    ]
    for dataset, cfg in models.items():
        m = cfg.model
        flat = _flat(config_dict(cfg))
        other = {
            k: v for k, v in flat.items() if base.get(k) != v and k not in _STATED and k.split(".")[0] != "synthetic"
        }
        extra = f"; otherwise as above except {', '.join(f'{k} {v}' for k, v in other.items())}" if other else ""
        lines.append(
            f"  - `{dataset}` ({data_source(cfg)}): K = {m.n_landmarks} landmarks, {m.image_size}x{m.image_size} "
            f"{'grayscale' if m.channels == 1 else 'RGB'} inputs, {cfg.steps} steps{extra}; run `{cfg.run_name}`."
        )
    return "\n" + "\n".join(lines)


def training_setup(
    cfg: TrainConfig,
    profile: str,
    decoders: Sequence[str],
    seeds: Sequence[int],
    run_dir: str,
    dataset_models: Mapping[str, TrainConfig] | None = None,
) -> str:
    """Markdown: what a factorization run of `profile` trains (model, inputs, loss, schedule), every value from `cfg`,
    saying which settings are the paper's and which are ours; then the per-dataset models, from their configs."""
    m, loss, aug = cfg.model, cfg.loss, cfg.augment
    source = "embedded synthetic stand-in" if cfg.data_root is None else "prepared real data"
    top = m.decoder_max_resolution or m.image_size
    wiring = (
        " as in the paper"
        if m.spade_condition == "heatmaps"
        else " (ours; the paper conditions SPADE on the heatmaps only; the two are compared in *What we tried*)"
    )
    perceptual = (
        " (VGG19, the paper's)"
        if loss.perceptual == "vgg19"
        else " (no VGG19: its ImageNet weights cannot be downloaded on the machines this profile is for)"
    )
    adversarial = " (ours: Eq. 6 has no weight on the adversarial term)" if loss.lambda_adv else " (no discriminator)"
    return f"""**This run** (profile `{profile}`, dataset `{cfg.dataset}`, {source}):

- **Model:** {m.image_size}x{m.image_size} inputs, K = {m.n_landmarks} landmarks, C = {m.appearance_channels} \
appearance channels; pose U-Net widths {list(m.pose_widths)}; decoder widths {list(m.decoder_widths)} from \
{m.decoder_resolution}x{m.decoder_resolution} up to {top}x{top}, then bilinear upsampling to the image. The SPADE \
decoder is conditioned on `{m.spade_condition}`{wiring}.
- **Inputs:** colour jitter (brightness, contrast, saturation {aug.brightness:g} / {aug.contrast:g} / \
{aug.saturation:g}, hue {aug.hue:g}); TPS warp on a {aug.tps_grid}x{aug.tps_grid} grid (displacement std \
{aug.tps_scale:g} half-widths); a temporal partner {aug.temporal_min}-{aug.temporal_max} frames away for \
{aug.temporal_prob:.0%} of each batch.
- **Loss:** perceptual `{loss.perceptual}`{perceptual}, MSE weight {loss.lambda_mse:g}, adversarial weight \
{loss.lambda_adv:g}{adversarial}. Terms of ours, not in the paper: an edge loss (MSE of image gradients at 3 \
scales) weight {loss.lambda_grad:g}; after Zhang et al. (2018), a *concentration* term (mean trace of the landmark \
covariances) weight {loss.lambda_concentration:g} and a *separation* term (penalising landmark pairs closer than \
about {loss.separation_sigma:g} image half-widths) weight {loss.lambda_separation:g}. The runs behind these \
settings are in the appendix *What we tried*.
- **Training:** {cfg.steps} steps of batch {cfg.batch_size * cfg.accumulate} per process \
({cfg.accumulate} accumulated micro-batch(es) of {cfg.batch_size}), Adam lr {cfg.lr:g}; bf16 {cfg.bf16}, \
channels_last {cfg.channels_last}, compile {cfg.compile}. Runs: decoders {list(decoders)} x seeds \
{list(seeds)}, in `{run_dir}/factorization/`.""" + _dataset_models(cfg, dataset_models or {})


def run_inventory(run_dir: str | Path) -> dict[str, list[str]]:
    """What a run directory holds, for the introduction's data table: "factorization" -> the finished factorization
    runs as "`<dataset>` (<data source>): <run name>", "dynamics" and "pixel" -> the finished landmark-LSTM and
    pixel-predictor run names."""
    factorization = []
    for run in finished_runs(run_dir, "factorization"):
        cfg = read_run_config(run)
        factorization.append(f"`{cfg.dataset}` ({data_source(cfg)}): {run.name}")
    finished = {kind: [run.name for run in finished_runs(run_dir, kind)] for kind in ("dynamics", "pixel")}
    return {"factorization": factorization, **finished}
