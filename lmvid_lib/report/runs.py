"""A run in words, for the book's prose and captions: `training_setup` (the model, inputs, loss and training of a
factorization run, from its config, and the per-dataset models beside it), `data_source` (what a run trained on) and
`run_inventory` (what a run directory holds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmvid_lib.data.datasets import data_label, reported_splits
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.eval.keypoints import open_eval_sets
from lmvid_lib.models.checkpoint import dataset_run, load_trained, read_run_config, scene_run
from lmvid_lib.models.dynamics import dynamics_run
from lmvid_lib.models.run_config import TrainConfig, config_dict
from lmvid_lib.paths import data_dir, finished_runs, runs_of
from lmvid_lib.report.figures import landmark_colors, pipeline_figure
from lmvid_lib.train.runs import training_seconds


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
scales) weight {loss.lambda_grad:g}; an SSIM loss (1 - SSIM) weight {loss.lambda_ssim:g}; after Zhang et al. \
(2018), a *concentration* term (mean trace of the landmark covariances) weight {loss.lambda_concentration:g} \
and a *separation* term (penalising landmark pairs closer than about {loss.separation_sigma:g} image \
half-widths) weight {loss.lambda_separation:g}. The runs behind these \
settings are in the appendix *What we tried*.
- **Training:** {cfg.steps} steps of batch {cfg.batch_size * cfg.accumulate} per process \
({cfg.accumulate} accumulated micro-batch(es) of {cfg.batch_size}), Adam lr {cfg.lr:g}; bf16 {cfg.bf16}, \
channels_last {cfg.channels_last}, compile {cfg.compile}. Runs: decoders {list(decoders)} x seeds \
{list(seeds)}, in `{runs_of(run_dir, "factorization")}/`.""" + _dataset_models(cfg, dataset_models or {})


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


def chapter_data_rows(
    profile_data: Mapping[str, Any],
    run_dir: str | Path,
    dataset: str,
    data_root: str | None,
    decoders: Sequence[str],
    seeds: Sequence[int],
) -> list[list[str]]:
    """The introduction's table of the data each chapter of a run used: (chapter, data, how) rows, from the profile
    (`config.load_profile`) and what the run directory holds (`run_inventory`)."""

    def section(stem: str) -> Mapping[str, Any]:
        return profile_data.get(stem) or {}

    inventory = run_inventory(run_dir)
    presets = section("01_data").get("presets", [])
    predicted = section("05_prediction").get("prediction_datasets", [])
    interpolated = (section("06_interpolation").get("interpolation") or {}).get("datasets", [])

    def names(items: Sequence[str]) -> str:
        return ", ".join(f"`{d}`" for d in items) or "-"

    return [
        ["1. Data", f"{names(presets)} (synthetic stand-ins)" if presets else "-", "generated into the run directory"],
        [
            "2. Factorization",
            "; ".join(inventory["factorization"]) or "-",
            f"decoders {', '.join(decoders)} x seeds {list(seeds)} on `{dataset}`; one SPADE model per further dataset",
        ],
        [
            "3. Landmarks as keypoints",
            f"`{dataset}` ({data_label(dataset, data_root)}" + (f", `{data_root}`)" if data_root else ")"),
            "held-out splits of the same data",
        ],
        [
            "4. Landmark dynamics",
            ", ".join(inventory["dynamics"]) or "-",
            f"an LSTM and its direct-state ablation per dataset model; poses scored on held-out `{dataset}` videos",
        ],
        [
            "5. Video prediction",
            names(predicted),
            "test clips; decoded landmark predictions, copy-last frame and the pixel predictor "
            f"({', '.join(inventory['pixel']) or '-'}); a keypoint detector for structure",
        ],
        ["6. Interpolation", names(interpolated), "first -> last frame of clips of each dataset's test split"],
    ]


def budget_sentence(cfg: TrainConfig) -> str:
    """What the learned landmarks of a factorization run cost: steps, batch, size and loss weights, in words."""
    m, loss = cfg.model, cfg.loss
    return (
        f"The learned landmarks come from {cfg.steps} training steps of batch {cfg.batch_size * cfg.accumulate} at "
        f"{m.image_size}x{m.image_size} ({m.n_landmarks} landmarks, perceptual loss `{loss.perceptual}`, edge-loss "
        f"weight {loss.lambda_grad:g}, SSIM-loss weight {loss.lambda_ssim:g}, landmark concentration / separation "
        f"weights {loss.lambda_concentration:g} / {loss.lambda_separation:g})."
    )


def method_figure(run: str | Path, run_dir: str | Path, device: str = "cpu") -> Any:
    """The introduction's figure: the middle frame of the first held-out split of the factorization run `run`'s data
    through its model (`figures.pipeline_figure`: frame, part maps, Gaussian heatmaps, decoded frame)."""
    model, cfg = load_trained(run, device)
    held_out = list(reported_splits(cfg.dataset, cfg.data_root, cfg.split))[:1]
    videos = open_eval_sets(cfg, held_out, run_dir)[held_out[0] if held_out else "train"]
    frame = np.array(videos.frames[len(videos.frames) // 2][None])
    x = frames_to_input(frame, cfg.model.image_size, device)
    colors = landmark_colors(cfg.model.n_landmarks)
    return pipeline_figure(model, x, colors, title=f"{Path(run).name}, a held-out `{cfg.dataset}` frame")


def keypoint_setup(
    cfg: Any,
    train_cfg: TrainConfig,
    splits: Mapping[str, str],
    decoders: Sequence[str],
    seeds: Sequence[int],
    run_dir: str | Path,
    profile: str,
) -> str:
    """Markdown: chapter 3's data, pixel scale, runs and frame caps (`cfg`: a `KeypointEvalConfig`)."""
    if train_cfg.data_root is None:
        data = (
            f"embedded synthetic `{train_cfg.dataset}` set ({data_label(train_cfg.dataset)}; data seed "
            f"{train_cfg.data_seed}, shared by all runs, generated under `{data_dir(run_dir)}`)"
        )
    else:
        data = f"{data_label(train_cfg.dataset, train_cfg.data_root)} in `{train_cfg.data_root}`"
    caps = ", ".join(f"{name} = {getattr(cfg, name) or 'all'}" for name in ("max_train_frames", "max_test_frames"))
    size = train_cfg.model.image_size
    return (
        f"**Dataset:** {data}; scored on {', '.join(f'{label} (`{s}`)' for s, label in splits.items())}.  \n"
        f"**Pixel scale:** accuracy is measured in {cfg.unit} (`eval_scale={cfg.eval_scale!r}`), at a threshold of "
        f"{cfg.threshold:g} px; the models see {size}x{size} inputs, and their normalised landmarks are converted to "
        f"that crop's pixels.  \n**Runs:** {len(decoders)} decoder variant(s) x {len(seeds)} seed(s) {list(seeds)} "
        f"from `{runs_of(run_dir, 'factorization')}` (profile `{profile}`; the paper uses 3 seeds).  \n"
        f"**Frame caps** (evenly spaced annotated frames): {caps}."
    )


def budget_sentence_pixel(run_dir: str | Path, dataset: str, pixel_run: str | Path) -> str:
    """The training budgets of chapter 5's two routes on `dataset`, in seconds on the machine that trained them: the
    pixel predictor's against the landmark route's (its factorization model, the scene decoder on its landmarks
    where chapter 2 trained one, and its residual landmark LSTM)."""
    factorization = training_seconds(dataset_run(run_dir, dataset))
    scene_folder = scene_run(run_dir, dataset)
    scene = 0.0 if scene_folder is None else training_seconds(scene_folder)
    lstm = training_seconds(dynamics_run(run_dir, dataset))
    pixel, route = training_seconds(pixel_run), factorization + scene + lstm
    verdict = "at least" if pixel >= route else f"{100 * pixel / route:.0f}% of"
    parts = f"factorization model {factorization:.0f} s + " + (
        f"scene decoder {scene:.0f} s + " if scene_folder else ""
    )
    return (
        f"`{dataset}`: the pixel predictor trained {pixel:.0f} s, {verdict} the landmark route's {route:.0f} s "
        f"({parts}landmark LSTM {lstm:.0f} s)"
    )


def scene_setup(scenes: Mapping[str, TrainConfig]) -> str:
    """Markdown: the scene-decoder runs of a profile (ours), every value from their configs, or that it trains none."""
    if not scenes:
        return "*This profile trains no scene decoder (`scene_decoder`): every frame is drawn by the paper's decoder.*"
    runs = "; ".join(
        f"`{c.run_name}` on the landmarks of `{c.landmarks_from}`, {c.steps} steps of batch "
        f"{c.batch_size * c.accumulate}, lr {c.lr:g}"
        for c in scenes.values()
    )
    width = next(iter(scenes.values())).model.scene_width
    return (
        "**Scene decoder (ours, beyond the paper):** beside each dataset model, a second decoder that also reads the "
        f"appearance input frame ({width} feature channels of it at every decoder scale) and blends what it draws with "
        "that frame through a learned mask. It trains on the first model's frozen pose encoder, so both decoders draw "
        f"from the same landmarks and every landmark prediction can be decoded by either: {runs}."
    )
