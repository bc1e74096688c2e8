"""Reading a finished factorization run back: its model and its TrainConfig (`<run_dir>/factorization/<name>/`).

`model.pt` (a model file, `lmvid_lib.models.files`) holds the final weights and the config as data (written by the
trainer, `train_factorization`); `config.json` holds the same config from the run's first step on.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lmvid_lib.config import from_dict
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.files import FACTORIZATION, build_model, read_model_file
from lmvid_lib.models.run_config import TrainConfig, chapter_models
from lmvid_lib.paths import RunFiles, finished_runs, runs_of


def read_run_config(run: str | Path) -> TrainConfig:
    """The TrainConfig of a run folder, from its config.json (no weights are read)."""
    path = RunFiles(Path(run)).config
    if not path.is_file():
        raise FileNotFoundError(f"{Path(run)} has no config.json: not a factorization run folder, or not started")
    return from_dict(TrainConfig, json.loads(path.read_text()), str(path))


def load_trained(run: str | Path, device: str | torch.device = "cpu") -> tuple[FactorizationModel, TrainConfig]:
    """(model in eval mode, its TrainConfig) from a finished run folder `<run_dir>/factorization/<name>`: the
    TrainConfig of its model.pt (the final one, where a resumed run changed steps), not of config.json."""
    file = read_model_file(run, device, FACTORIZATION)
    return build_model(file, device), from_dict(TrainConfig, file.payload["config"], f"{file.path}:config")


def dataset_run(run_dir: str | Path, dataset: str) -> Path:
    """The factorization run folder later chapters use for `dataset` (signer, pusher, walker, bbc, bair, kth).

    The run `run_config.chapter_models` chooses among the finished runs in `<run_dir>/factorization/` (model.pt
    present): of those that learned their own landmarks, the SPADE one if any, then the lowest training seed. Raises
    FileNotFoundError naming the folder and the datasets it does hold.
    """
    root = runs_of(run_dir, "factorization")
    runs = sorted(finished_runs(run_dir, "factorization"), key=lambda run: run.name)
    chosen = chapter_models((read_run_config(run), run) for run in runs)
    if dataset not in chosen:
        raise FileNotFoundError(
            f"{root} has no finished factorization run on {dataset!r} (datasets held: {sorted(chosen) or 'none'}): "
            f"run chapter 2 (02_factorization) of this profile first"
        )
    return chosen[dataset]


def scene_run(run_dir: str | Path, dataset: str) -> Path | None:
    """The finished scene-decoder run trained on the landmarks of `dataset_run(run_dir, dataset)`, or None (the
    profile trains none: `02_factorization.scene_decoder`)."""
    paper = dataset_run(run_dir, dataset)
    for run in finished_runs(run_dir, "factorization"):
        cfg = read_run_config(run)
        if cfg.landmarks_from == paper.name and cfg.model.decoder == "scene":
            return run
    return None
