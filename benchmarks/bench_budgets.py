"""Training budgets of chapter 5's two routes in FLOPs: the pixel predictor against the landmark route (factorization
model + landmark LSTM, + the scene decoder trained on the model's frozen landmarks where the profile has one: the
route of the scene decoder's predictions), per dataset and profile.

    python -m benchmarks.bench_budgets [PROFILE ...]     (default: cpu paper)

FLOPs per training step are counted with `benchmarks.flops` (convs, matmuls; forward and backward) on one sample and
multiplied by the profile's batch and steps; elementwise work, the optimiser, and the paper profile's VGG19 loss and
discriminator are not counted (they would add to the landmark route). Chapter 5's caption states the same comparison
in seconds on the machine that trained both routes.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch

from benchmarks.common import verdict
from benchmarks.flops import training_step_flops
from lmvid_lib.config import load_profile
from lmvid_lib.data.datasets import dataset_info
from lmvid_lib.models.dynamics import LandmarkLSTM
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.flops import count_flops
from lmvid_lib.models.pixel_predictor import PixelPredictor
from lmvid_lib.models.run_config import TrainConfig, dataset_model_configs, scene_model_configs, with_global_batch
from lmvid_lib.train import dynamics, pixel_predictor
from lmvid_lib.train.dynamics import dataset_configs, dataset_dynamics_config
from lmvid_lib.train.pixel_predictor import dataset_pixel_config

PROFILES = ("cpu", "paper")


def loss_flops(loss: Callable[[], torch.Tensor]) -> int:
    """FLOPs of one forward + backward of the scalar `loss()`."""
    return count_flops(lambda: loss().backward())


def _samples(cfg: TrainConfig) -> int:
    """Samples per optimiser step of a factorization run on one process: batch x accumulated micro-batches."""
    one = with_global_batch(cfg, 1)
    return one.batch_size * one.accumulate


def route_flops(profile: str, dataset: str) -> dict[str, Any]:
    """{factorization, lstm, pixel: total training FLOPs, and the steps each trains} of `dataset` on `profile`."""
    params = load_profile(profile)
    section = params["02_factorization"]
    factor = dataset_model_configs(section["factorization"], section.get("dataset_models"), 0, "cpu", 0)[dataset]
    size, channels = factor.model.image_size, factor.model.channels
    torch.manual_seed(0)
    shape = (1, channels, size, size)
    batch = {key: torch.rand(shape) for key in ("pose_input", "appearance_input", "target")}
    per_sample = training_step_flops(FactorizationModel(factor.model), batch)
    scene = scene_model_configs([factor], section.get("scene_decoder")).get(dataset)
    scene_flops = 0
    if scene is not None:  # its pose encoder frozen, as `landmarks_from` trains it
        scene_model = FactorizationModel(scene.model)
        scene_model.pose_encoder.requires_grad_(False)
        scene_flops = training_step_flops(scene_model, batch) * _samples(scene) * scene.steps
    dyn = params["04_dynamics"]
    shared = dataset_configs(dyn["dynamics"], dyn.get("dynamics_overrides", {}), dyn["dynamics_datasets"])[dataset]
    lstm_cfg = dataset_dynamics_config(shared, dataset, factor.model.n_landmarks)
    n, m = lstm_cfg.schedule()
    lstm = LandmarkLSTM(lstm_cfg.model)
    states = torch.randn(1, n + m, factor.model.n_landmarks, 5)
    lstm_step = loss_flops(lambda: dynamics.prediction_loss(lstm, states, n))
    pix = params["05_prediction"]
    shared = dataset_configs(pix.get("pixel", {}), pix.get("pixel_overrides", {}), pix["prediction_datasets"])[dataset]
    pixel_cfg = dataset_pixel_config(shared, dataset, channels, size)
    pn, pm = pixel_cfg.schedule()
    model = PixelPredictor(pixel_cfg.model)
    clips = torch.rand(1, pn + pm, channels, size, size)
    pixel_step = loss_flops(lambda: pixel_predictor.prediction_loss(model, clips, pn))
    return {
        "factorization": per_sample * _samples(factor) * factor.steps,
        "scene": scene_flops,
        "lstm": lstm_step * lstm_cfg.batch_size * lstm_cfg.steps,
        "pixel": pixel_step * pixel_cfg.batch_size * pixel_cfg.steps,
        "pixel_per_step": pixel_step * pixel_cfg.batch_size,
        "steps": {
            "factorization": factor.steps,
            "scene": 0 if scene is None else scene.steps,
            "lstm": lstm_cfg.steps,
            "pixel": pixel_cfg.steps,
        },
    }


def budget_rows(profile: str, datasets: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """One row per chapter-5 dataset of `profile`: (dataset, factorization, scene decoder, LSTM, route, pixel GFLOP,
    pixel / route, the pixel's steps, the pixel steps that would match the route)."""
    datasets = datasets or load_profile(profile)["05_prediction"]["prediction_datasets"]
    rows = []
    for dataset in datasets:
        dataset_info(dataset)
        f = route_flops(profile, dataset)
        route = f["factorization"] + f["scene"] + f["lstm"]
        parity = math.ceil(route / f["pixel_per_step"])
        rows.append(
            (
                dataset,
                f["factorization"] / 1e9,
                f["scene"] / 1e9,
                f["lstm"] / 1e9,
                route / 1e9,
                f["pixel"] / 1e9,
                f["pixel"] / route,
                f["steps"]["pixel"],
                parity,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    for profile in argv or PROFILES:
        print(f"\n{profile}: training GFLOP (forward + backward of the models; elementwise ops not counted)")
        print(
            f"{'dataset':8} {'factorization':>14} {'scene':>10} {'LSTM':>10} {'route':>14} {'pixel':>14} "
            f"{'pixel/route':>12} {'pixel steps':>11} {'for parity':>10}"
        )
        for dataset, fac, scene, lstm, route, pixel, ratio, steps, parity in budget_rows(profile):
            print(
                f"{dataset:8} {fac:14.1f} {scene:10.1f} {lstm:10.1f} {route:14.1f} {pixel:14.1f} {ratio:12.2f} "
                f"{steps:11d} "
                f"{parity:10d}  {verdict(ratio, 1.0)}"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
