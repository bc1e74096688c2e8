from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from lmvid_lib.config import from_dict
from lmvid_lib.models.factorization import FactorizationModel, ModelConfig
from lmvid_lib.seed import seed_everything

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# The ModelConfig mapping of the tiny factorization model the tests build, train and evaluate: the structure of the
# paper's model at widths where a training step takes milliseconds (also the model of `tiny_config` below).
TINY_MODEL: dict[str, Any] = {
    "image_size": 16,
    "n_landmarks": 3,
    "appearance_channels": 4,
    "pose_widths": [4, 8],
    "appearance_width": 4,
    "decoder_widths": [8, 8],
    "decoder_resolution": 8,
    "decoder_max_resolution": 16,
    "spade_hidden": 4,
}


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder of real fixtures beside the checkout (CI has it)."""
    if not SHARED.is_dir():
        pytest.skip(f"no shared fixtures at {SHARED}")
    return SHARED


@pytest.fixture
def one_thread():
    """Tiny convs on 2 busy cores run many times faster on one thread than on two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_model_config() -> dict[str, Any]:
    """A fresh copy of TINY_MODEL (the `model` mapping of a TrainConfig)."""
    return copy.deepcopy(TINY_MODEL)


@pytest.fixture
def tiny_model(tiny_model_config: dict[str, Any]) -> Callable[..., FactorizationModel]:
    """Builds the tiny model: `tiny_model(seed=0, **ModelConfig overrides)`; weights drawn after seed_everything."""

    def build(seed: int = 0, **overrides: Any) -> FactorizationModel:
        seed_everything(seed)
        return FactorizationModel(from_dict(ModelConfig, {**tiny_model_config, **overrides}, "tiny model"))

    return build


def tiny_config(data_root: Path, **overrides) -> dict:
    """A TrainConfig mapping of the tiny model on the prepared dataset at `data_root` (default: the 'bair' fixture);
    `overrides` replace keys, and mapping values are merged into the defaults' mappings."""
    cfg = {
        "model": dict(TINY_MODEL),
        "loss": {"perceptual": "none", "lambda_adv": 0.0},
        "augment": {"temporal_min": 1, "temporal_max": 3},
        "dataset": "bair",
        "data_root": str(data_root),
        "steps": 4,
        "batch_size": 4,
        "log_every": 2,
        "checkpoint_every": 2,
        "sample_every": 2,
        "progress": False,
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            cfg[key] = {**cfg.get(key, {}), **value}
        else:
            cfg[key] = value
    return cfg
