"""Reading a finished factorization run back: its model and its TrainConfig (`<run_dir>/factorization/<name>/`).

`model.pt` holds the final weights and the config as data (written by the trainer, `train_factorization`);
`config.json` holds the same config from the run's first step on. Loaded with `weights_only=True`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lmvid_lib.config import from_dict
from lmvid_lib.io import load_checkpoint
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.run_config import TrainConfig


def read_run_config(run: str | Path) -> TrainConfig:
    """The TrainConfig of a run folder, from its config.json (no weights are read)."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{Path(run)} has no config.json: not a factorization run folder, or not started")
    return from_dict(TrainConfig, json.loads(path.read_text()), str(path))


def load_trained(run: str | Path, device: str | torch.device = "cpu") -> tuple[FactorizationModel, TrainConfig]:
    """(model in eval mode, its TrainConfig) from a finished run folder `<run_dir>/factorization/<name>`."""
    run = Path(run)
    model_path = run / "model.pt"
    if not model_path.is_file():
        raise FileNotFoundError(f"{run} has no model.pt: train it first (train_factorization) or check the path")
    state = load_checkpoint(model_path, map_location=device)
    cfg = from_dict(TrainConfig, state["config"], f"{model_path}:config")
    model = FactorizationModel(cfg.model).to(device)
    model.load_state_dict(state["model"])
    return model.eval(), cfg
