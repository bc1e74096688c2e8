"""Training budgets of chapter 5's two routes in FLOPs: the pixel predictor against the landmark route (factorization
model + landmark LSTM, + the scene decoder trained on the model's frozen landmarks where the profile has one: the
route of the scene decoder's predictions), per dataset and profile.

    python -m benchmarks.bench_budgets [PROFILE ...]     (default: cpu paper)

The runs are the ones the cost plan lists for the profile (`lmvid_lib.publish.cost.plan_jobs`: the same configs the
notebooks train). FLOPs per training step are counted with `benchmarks.flops` (convs, matmuls; forward and backward)
on one sample and multiplied by the profile's batch and steps; elementwise work, the optimiser, and the paper
profile's VGG19 loss and discriminator are not counted (they would add to the landmark route). Chapter 5's caption
states the same comparison in seconds on the machine that trained both routes.
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
from lmvid_lib.models.run_config import chapter_models
from lmvid_lib.paths import REPO
from lmvid_lib.publish import cost, runner
from lmvid_lib.publish.cost import Job
from lmvid_lib.train import dynamics, pixel_predictor

PROFILES = ("cpu", "paper")


def loss_flops(loss: Callable[[], torch.Tensor]) -> int:
    """FLOPs of one forward + backward of the scalar `loss()`."""
    return count_flops(lambda: loss().backward())


def _route_jobs(params: Mapping[str, Mapping[str, Any]], dataset: str) -> dict[str, Job | None]:
    """The cost plan's jobs of `dataset`'s landmark route and pixel predictor: {factorization (the model chapters 4-5
    use), scene (on its landmarks, or None), lstm (chapter 4's residual LSTM), pixel}."""
    jobs = list(cost.plan_jobs(params))
    factor = chapter_models((j.config, j) for j in jobs if j.kind == "factorization").get(dataset)
    if factor is None:
        raise ValueError(f"02_factorization trains no model of {dataset!r}")

    def one(notebook: str, kind: str, wanted: Callable[[Any], bool]) -> Job | None:
        found = [j for j in jobs if j.notebook == notebook and j.kind == kind and wanted(j.config)]
        return found[0] if found else None

    return {
        "factorization": factor,
        "scene": one("02_factorization", "scene", lambda c: c.landmarks_from == factor.config.run_name),
        "lstm": one("04_dynamics", "dynamics", lambda c: c.dataset == dataset and c.model.predict_residual),
        "pixel": one("05_prediction", "pixel", lambda c: c.dataset == dataset),
    }


def route_flops(profile: str, dataset: str) -> dict[str, Any]:
    """{factorization, scene, lstm, pixel: total training FLOPs, pixel_per_step, and the steps each trains} of
    `dataset` on `profile`, for the runs the cost plan lists (`publish.cost.plan_jobs`)."""
    jobs = _route_jobs(runner.plan(profile, None, [], [], REPO).parameters, dataset)
    factor, scene, lstm_job, pixel_job = (jobs[k] for k in ("factorization", "scene", "lstm", "pixel"))
    model_cfg = factor.config.model
    size, channels = model_cfg.image_size, model_cfg.channels
    torch.manual_seed(0)
    shape = (1, channels, size, size)
    batch = {key: torch.rand(shape) for key in ("pose_input", "appearance_input", "target")}
    per_sample = training_step_flops(FactorizationModel(model_cfg), batch)
    scene_flops = 0
    if scene is not None:  # its pose encoder frozen, as `landmarks_from` trains it
        scene_model = FactorizationModel(scene.config.model)
        scene_model.pose_encoder.requires_grad_(False)
        scene_flops = training_step_flops(scene_model, batch) * scene.samples * scene.steps
    n, m = lstm_job.config.schedule()
    lstm = LandmarkLSTM(lstm_job.config.model)
    states = torch.randn(1, n + m, model_cfg.n_landmarks, 5)
    lstm_step = loss_flops(lambda: dynamics.prediction_loss(lstm, states, n))
    pn, pm = pixel_job.config.schedule()
    model = PixelPredictor(pixel_job.config.model)
    clips = torch.rand(1, pn + pm, channels, size, size)
    pixel_step = loss_flops(lambda: pixel_predictor.prediction_loss(model, clips, pn))
    return {
        "factorization": per_sample * factor.samples * factor.steps,
        "scene": scene_flops,
        "lstm": lstm_step * lstm_job.samples * lstm_job.steps,
        "pixel": pixel_step * pixel_job.samples * pixel_job.steps,
        "pixel_per_step": pixel_step * pixel_job.samples,
        "steps": {
            "factorization": factor.steps,
            "scene": 0 if scene is None else scene.steps,
            "lstm": lstm_job.steps,
            "pixel": pixel_job.steps,
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
