"""Chapter 2's per-dataset models: `dataset_models` parsing (lmvid_lib.models.run_config.dataset_model_configs), the
profiles' entries, and the runs `python -m lmvid_lib.train --profile` trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmvid_lib.config import load_profile
from lmvid_lib.data.store import VideoSet, write_dataset
from lmvid_lib.models.checkpoint import dataset_run
from lmvid_lib.models.run_config import dataset_model_configs
from lmvid_lib.train import train_factorization
from lmvid_lib.train.__main__ import profile_configs

SHARED = {
    "model": {"image_size": 64, "n_landmarks": 12, "appearance_channels": 16},
    "loss": {"perceptual": "none", "lambda_adv": 0.0, "lambda_grad": 20.0},
    "synthetic": {"n_videos": 12, "n_frames": 300},  # the main (signer) set and split: never a dataset model's
    "split": "train_video",
    "steps": 1500,
    "lr": 1.0e-3,
}


def test_entries_overlay_the_shared_mapping_on_their_own_data():
    models = {
        "pusher": {"synthetic": {"n_videos": 64, "n_frames": 30}, "factorization": {"model": {"n_landmarks": 8}}},
        "walker": {"synthetic": {"n_videos": 48}, "factorization": {"model": {"channels": 1}, "steps": 600}},
    }
    configs = dataset_model_configs(SHARED, models, seed=2, device="cpu", data_seed=5)
    assert list(configs) == ["pusher", "walker"]
    pusher, walker = configs["pusher"], configs["walker"]
    assert (pusher.run_name, walker.run_name) == ("pusher-spade-seed2", "walker-spade-seed2")
    assert (pusher.dataset, pusher.data_root, pusher.seed, pusher.data_seed) == ("pusher", None, 2, 5)
    # model overrides are merged key by key: the shared widths stay, K changes
    assert (pusher.model.n_landmarks, pusher.model.appearance_channels, pusher.model.channels) == (8, 16, 3)
    assert (walker.model.n_landmarks, walker.model.channels, walker.steps, pusher.steps) == (12, 1, 600, 1500)
    assert pusher.synthetic == {"n_videos": 64, "n_frames": 30} and walker.synthetic == {"n_videos": 48}
    assert pusher.loss.lambda_grad == 20.0 and pusher.lr == 1.0e-3 and pusher.split == "train"
    assert dataset_model_configs(SHARED, {"pusher": {}}, seed=0)["pusher"].synthetic == {}
    assert dataset_model_configs(SHARED, None, seed=0) == {} == dataset_model_configs(SHARED, {}, seed=0)


def test_a_data_root_trains_the_real_dataset_the_stand_in_stands_for(tmp_path):
    frames = np.zeros((2, 4, 16, 16, 3), dtype=np.uint8)
    root = write_dataset(tmp_path / "bair", "bair", {"train": VideoSet.from_clips(frames, np.arange(2))}, provenance={})
    entry = {"data_root": str(root), "synthetic": {"n_videos": 64}}  # the stand-in's size is not used then
    cfg = dataset_model_configs(SHARED, {"pusher": entry}, seed=0)["bair"]
    assert (cfg.dataset, cfg.data_root, cfg.synthetic, cfg.run_name) == ("bair", str(root), {}, "bair-spade-seed0")
    with pytest.raises(ValueError, match=r"dataset_models.walker: .*holds dataset 'bair', but dataset is 'kth'"):
        dataset_model_configs(SHARED, {"walker": {"data_root": str(root)}}, seed=0)


def test_an_entry_on_the_main_dataset_is_left_to_the_main_runs():
    configs = dataset_model_configs(SHARED, {"pusher": {}, "walker": {}}, seed=0, main_dataset="pusher")
    assert list(configs) == ["walker"]


@pytest.mark.parametrize(
    "models, message",
    [
        ({"bair": {}}, r"dataset_models.bair: unknown stand-in 'bair'; known: \['signer', 'pusher', 'walker'\]"),
        ({"pusher": {"steps": 10}}, r"dataset_models.pusher: unknown parameter\(s\) \['steps'\]"),
        ({"pusher": {"factorization": {"synthetic": {}}}}, r"dataset_models.pusher.factorization: \['synthetic'\]"),
        ({"pusher": {"factorization": {"model": {"n_landmark": 3}}}}, r"n_landmark"),
        ({"walker": {"factorization": {"steps": 0}}}, r"dataset_models.walker: steps must be a positive int, got 0"),
        ({"pusher": [1]}, r"dataset_models.pusher: expected a mapping"),
        ({"pusher": {"synthetic": [64]}}, r"dataset_models.pusher.synthetic: expected a mapping"),
        ([1], r"dataset_models must be a mapping"),
    ],
)
def test_bad_entries_name_the_entry_and_the_parameter(models, message):
    with pytest.raises(ValueError, match=message):
        dataset_model_configs(SHARED, models, seed=0)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_every_profile_trains_a_pusher_and_a_walker_model_on_01_datas_sets(profile):
    params = load_profile(profile)
    configs = profile_configs(profile)
    main, others = configs[:-2], {c.dataset: c for c in configs[-2:]}
    assert {c.dataset for c in main} == {"signer"} and list(others) == ["pusher", "walker"]
    first_seed = params["common"]["seeds"][0]
    data = params["01_data"]
    for dataset, cfg in others.items():
        assert cfg.run_name == f"{dataset}-spade-seed{first_seed}" and cfg.data_seed == params["common"]["seed"]
        # the same synthetic set as chapter 1 generates, so it is generated once
        assert cfg.synthetic == {"n_videos": data["n_videos"][dataset], "n_frames": data["n_frames"][dataset]}
        assert cfg.model.image_size == 64 and cfg.data_root is None
    assert (others["pusher"].model.channels, others["walker"].model.channels) == (3, 1)
    if profile == "paper":  # appendix A: K = 30 for BAIR and KTH, 40 for BBC
        assert [c.model.n_landmarks for c in main] == [40] * len(main)
        assert others["pusher"].model.n_landmarks == others["walker"].model.n_landmarks == 30


def test_a_trained_dataset_model_is_the_run_later_chapters_find(tmp_path, one_thread, tiny_model_config):
    tiny = {
        "model": tiny_model_config,
        "loss": {"perceptual": "none", "lambda_adv": 0.0},
        "steps": 2,
        "batch_size": 2,
        "checkpoint_every": 2,
        "progress": False,
    }
    models = {
        "walker": {"synthetic": {"n_videos": 1, "n_frames": 6, "size": 32}, "factorization": {"model": {"channels": 1}}}
    }
    cfg = dataset_model_configs(tiny, models, seed=0)["walker"]
    summary = train_factorization(cfg, tmp_path)
    assert dataset_run(tmp_path, "walker") == tmp_path / "factorization" / "walker-spade-seed0" == Path(summary["run"])
