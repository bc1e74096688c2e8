"""train_factorization end to end on a tiny prepared dataset: outputs, resume semantics, config errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image
from torch import nn

from lmvid_lib.config import load_profile
from lmvid_lib.data.datasets import open_dataset
from lmvid_lib.data.store import VideoSet, write_dataset
from lmvid_lib.io import load_checkpoint
from lmvid_lib.models import Discriminator
from lmvid_lib.models.checkpoint import load_trained
from lmvid_lib.models.files import FACTORIZATION, read_model_file
from lmvid_lib.models.losses import VGGWeightsMissing
from lmvid_lib.models.run_config import config_from_parameters, with_global_batch
from lmvid_lib.train import read_metrics, train_factorization
from lmvid_lib.train.__main__ import profile_configs


def write_tiny_dataset(root: Path, size: int = 16, n_videos: int = 3, n_frames: int = 10) -> Path:
    """A prepared dataset (labelled 'bair') of coloured squares moving on a grey background."""
    rng = np.random.default_rng(0)
    frames = np.full((n_videos, n_frames, size, size, 3), 90, dtype=np.uint8)
    for v in range(n_videos):
        colour = rng.integers(120, 255, 3)
        x0, y0 = rng.integers(0, size // 2, 2)
        for t in range(n_frames):
            x, y = (x0 + t) % (size - 4), (y0 + t // 2) % (size - 4)
            frames[v, t, y : y + 5, x : x + 5] = colour
    videos = VideoSet.from_clips(frames, video_ids=np.arange(n_videos))
    return write_dataset(root, "bair", {"train": videos}, provenance={"source": "test fixture"})


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny") / "bair")


def biases_before_instance_norm(module: nn.Module) -> set[str]:
    """Conv biases that an InstanceNorm subtracts again: their exact gradient is 0, so Adam moves them by noise."""
    names = set()
    for prefix, child in module.named_modules():
        layers = list(child.named_children()) if isinstance(child, nn.Sequential) else []
        for (name, layer), (_, following) in zip(layers, layers[1:]):
            if isinstance(following, nn.InstanceNorm2d) and getattr(layer, "bias", None) is not None:
                names.add(f"{prefix}.{name}.bias" if prefix else f"{name}.bias")
    return names


def model_state(run: str | Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(Path(run) / "model.pt")["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def schedule_calls(model, prediction_loss, clips, n_inputs: int) -> tuple[list, torch.Tensor]:
    """Run `prediction_loss(model, clips, n_inputs)` recording every call of `model`: check that its n + m - 1 calls
    read the ground truth clips[:, t] exactly for t < n and their own previous output after; return (the outputs of
    every call, the loss)."""
    fed, outputs = [], []

    def record(module, args, output):
        fed.extend(args[0].unbind(1))
        outputs.extend(output[0].unbind(1))

    model.register_forward_hook(record)
    loss = prediction_loss(model, clips, n_inputs)
    predictions = clips.shape[1] - 1
    assert len(fed) == len(outputs) == predictions
    ground_truth = [t for t, x in enumerate(fed) if torch.equal(x, clips[:, t])]
    assert ground_truth == list(range(min(n_inputs, predictions)))
    for t in range(n_inputs, predictions):  # every later input is the model's own previous output
        assert torch.equal(fed[t], outputs[t - 1])
    return outputs, loss


def assert_killed_sequence_run_resumes_bit_identically(
    train, module, tmp_path, monkeypatch, loss: str = "prediction_loss"
) -> None:
    """A run of a `train_loop` trainer (`train(run_dir)` of `train/dynamics.py`, `train/pixel_predictor.py` or
    `train/structure.py`, whose step loss is `module.<loss>`) killed at its 7th step, after its step-4 checkpoint,
    resumes to exactly the weights, optimiser state, RNG state and metrics of an uninterrupted run."""
    straight = train(tmp_path / "straight")
    real_loss, calls = getattr(module, loss), []

    def dies_at_step_7(*args):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt("killed")
        return real_loss(*args)

    monkeypatch.setattr(module, loss, dies_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "killed")
    monkeypatch.setattr(module, loss, real_loss)
    resumed = train(tmp_path / "killed")
    assert resumed["resumed_from"] == 4

    assert_same_weights(load_checkpoint(straight["model"])["model"], load_checkpoint(resumed["model"])["model"])
    a, b = load_checkpoint(straight["checkpoint"]), load_checkpoint(resumed["checkpoint"])
    assert_same_weights(a["opt"]["state"][0], b["opt"]["state"][0])
    assert torch.equal(a["rng"]["generator"], b["rng"]["generator"])
    strip = lambda rows: [{k: v for k, v in r.items() if k != "sec_per_step"} for r in rows]  # noqa: E731
    assert strip(read_metrics(straight["run"])) == strip(read_metrics(resumed["run"]))


def test_train_writes_run_and_loads_back(data_root, tmp_path):
    summary = train_factorization(tiny_config(data_root), tmp_path)
    run = Path(summary["run"])
    assert run == tmp_path / "factorization" / "bair-spade-seed0"
    assert json.loads((run / "config.json").read_text())["model"]["n_landmarks"] == 3
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [2, 4]
    assert all(np.isfinite(r["loss"]) and r["loss"] == pytest.approx(r["mse"]) for r in rows)
    assert [Path(p).name for p in summary["samples"]] == ["step_0000002.png", "step_0000004.png"]
    grid = np.asarray(Image.open(summary["samples"][-1]))
    assert grid.shape == (4 * 16, 4 * 16, 3)  # 4 examples x (target | pose in | appearance in | recon)
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 4

    model, cfg = load_trained(run)
    assert cfg.model.n_landmarks == 3 and cfg.steps == 4
    assert read_model_file(run).payload["kind"] == FACTORIZATION
    assert_same_weights(model.state_dict(), model_state(run))
    x = open_dataset("bair", "train", tmp_path, data_root).frames[:2]
    x = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        out = model(x, x)
    assert out["recon"].shape == (2, 3, 16, 16) and out["mu"].shape == (2, 3, 2)

    # A finished run is reported, not retrained.
    again = train_factorization(tiny_config(data_root), tmp_path)
    assert again["resumed_from"] == 4 and again["final"] == summary["final"]
    assert_same_weights(model_state(run), model.state_dict())


def test_training_lowers_the_reconstruction_loss(data_root, tmp_path):
    cfg = tiny_config(data_root, steps=60, log_every=10, checkpoint_every=60, sample_every=0, lr=3e-3)
    rows = read_metrics(train_factorization(cfg, tmp_path)["run"])
    assert rows[-1]["mse"] < 0.7 * rows[0]["mse"]


def test_continuing_a_run_equals_training_it_at_once(data_root, tmp_path):
    """Raising `steps` resumes from the last checkpoint, bit-identical to a run with the final steps from the start."""
    straight = train_factorization(tiny_config(data_root, steps=6), tmp_path / "a")
    train_factorization(tiny_config(data_root, steps=2), tmp_path / "b")
    resumed = train_factorization(tiny_config(data_root, steps=6), tmp_path / "b")
    assert resumed["resumed_from"] == 2
    assert_same_weights(model_state(straight["run"]), model_state(resumed["run"]))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "sec_per_step"} for r in rows]  # noqa: E731
    assert strip(read_metrics(straight["run"])) == strip(read_metrics(resumed["run"]))


def test_learning_rate_schedules():
    from lmvid_lib.models.run_config import TrainConfig
    from lmvid_lib.train.factorization import learning_rate

    constant = TrainConfig(lr=1e-3, steps=100, warmup_steps=10)
    assert [learning_rate(constant, s) for s in (1, 5, 10, 11, 100)] == pytest.approx([1e-4, 5e-4, 1e-3, 1e-3, 1e-3])
    cosine = TrainConfig(lr=1e-3, steps=100, lr_schedule="cosine")
    rates = [learning_rate(cosine, s) for s in range(1, 101)]
    assert rates[0] == 1e-3 and rates[50] == pytest.approx(5e-4) and 0 < rates[-1] < 1e-6
    assert all(a > b for a, b in zip(rates, rates[1:]))
    warm = TrainConfig(lr=1e-3, steps=30, lr_schedule="cosine", warmup_steps=10)
    assert learning_rate(warm, 10) == learning_rate(warm, 11) == pytest.approx(1e-3)
    assert learning_rate(warm, 21) == pytest.approx(5e-4)


def test_cosine_schedule_is_applied_and_pins_steps(data_root, tmp_path):
    cfg = tiny_config(data_root, steps=4, log_every=1, lr_schedule="cosine")
    rows = read_metrics(train_factorization(cfg, tmp_path)["run"])
    assert [r["lr"] for r in rows] == pytest.approx([1e-4 * (1 + np.cos(np.pi * s / 4)) / 2 for s in range(4)])
    # The schedule depends on `steps`: a decaying run cannot be extended.
    with pytest.raises(ValueError, match=r"different config \(steps differ\)"):
        train_factorization(tiny_config(data_root, steps=6, log_every=1, lr_schedule="cosine"), tmp_path)


def test_adversarial_training_updates_the_discriminator(data_root, tmp_path):
    cfg = tiny_config(data_root, steps=2, loss={"lambda_adv": 0.1}, name="adv")
    summary = train_factorization(cfg, tmp_path)
    state = load_checkpoint(summary["checkpoint"])
    assert state["disc"] is not None and state["opt_d"]["state"]  # Adam state exists only after disc steps
    assert {"adv", "disc"} <= set(summary["final"])
    assert summary["final"]["loss"] == pytest.approx(summary["final"]["mse"] + 0.1 * summary["final"]["adv"])


def test_landmark_regularisers_are_trained_and_logged(data_root, tmp_path):
    cfg = tiny_config(
        data_root,
        steps=2,
        log_every=1,
        name="reg",
        loss={"lambda_concentration": 0.5, "lambda_separation": 2.0, "separation_sigma": 0.3},
    )
    summary = train_factorization(cfg, tmp_path)
    final = summary["final"]
    assert final["loss"] == pytest.approx(final["mse"] + 0.5 * final["conc"] + 2.0 * final["sep"], rel=1e-5)
    rows = read_metrics(summary["run"])
    assert all({"conc", "sep"} <= set(row) for row in rows)
    plain = train_factorization(tiny_config(data_root, steps=2, name="plain"), tmp_path)
    assert not {"conc", "sep"} & set(plain["final"])
    assert not torch.equal(
        model_state(summary["run"])["pose_encoder.unet.head.weight"],
        model_state(plain["run"])["pose_encoder.unet.head.weight"],
    )


def test_concat_decoder_and_grayscale_from_parameters(data_root, tmp_path):
    cfg = config_from_parameters(tiny_config(data_root), seed=3, decoder="concat")
    assert cfg.model.decoder == "concat" and cfg.seed == 3
    summary = train_factorization(cfg, tmp_path)
    assert Path(summary["run"]).name == "bair-concat-seed3"
    gray = tiny_config(data_root, model={"channels": 1})
    with pytest.raises(ValueError, match="model.channels is 1 but dataset 'bair' has 3-channel frames"):
        train_factorization(gray, tmp_path)


def test_training_seeds_share_the_embedded_data(tmp_path):
    """Seeds vary the training, not the data: the embedded set comes from data_seed (the profile seed)."""

    def pusher(seed: int, data_seed: int) -> dict:
        cfg = tiny_config(
            tmp_path,
            steps=1,
            seed=seed,
            data_seed=data_seed,
            dataset="pusher",
            synthetic={"n_videos": 4, "n_frames": 8},
            name=f"s{seed}-d{data_seed}",
        )
        del cfg["data_root"]
        return cfg

    runs = [train_factorization(pusher(s, 0), tmp_path)["run"] for s in (0, 1)]
    assert len(list((tmp_path / "data").iterdir())) == 1
    a, b = model_state(runs[0]), model_state(runs[1])
    assert any(not torch.equal(a[k], b[k]) for k in a)
    train_factorization(pusher(1, 1), tmp_path)
    assert len(list((tmp_path / "data").iterdir())) == 2
    assert load_trained(runs[1])[1].data_seed == 0


def test_runs_from_before_accumulate_and_spade_condition_resume_with_their_defaults(data_root, tmp_path):
    """A run saved before `accumulate` and `spade_condition` existed trained as their defaults do: it resumes."""
    summary = train_factorization(tiny_config(data_root, steps=2), tmp_path)

    def strip(config: dict) -> dict:
        del config["accumulate"], config["model"]["spade_condition"]
        return config

    Path(summary["config"]).write_text(json.dumps(strip(json.loads(Path(summary["config"]).read_text()))))
    for path in (summary["model"], summary["checkpoint"]):
        state = load_checkpoint(path)
        strip(state["config"])
        torch.save(state, path)
    assert train_factorization(tiny_config(data_root, steps=4), tmp_path)["resumed_from"] == 2
    with pytest.raises(ValueError, match=r"different config \(model differ\)"):
        train_factorization(tiny_config(data_root, steps=6, model={"spade_condition": "heatmaps"}), tmp_path)


def test_resuming_with_another_config_is_refused(data_root, tmp_path):
    train_factorization(tiny_config(data_root, steps=2), tmp_path)
    with pytest.raises(ValueError, match=r"different config \(lr differ\)"):
        train_factorization(tiny_config(data_root, steps=2, lr=1e-3), tmp_path)


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"model": {"decoder": "unet"}}, ValueError, "ModelConfig.decoder must be one of"),
        ({"model": {"n_landmarks": 0}}, ValueError, "ModelConfig.n_landmarks must be a positive int"),
        (
            {"model": {"image_size": 24, "pose_widths": [4, 4, 4, 4]}},
            ValueError,
            "ModelConfig.image_size must be divisible by 16",
        ),
        ({"model": {"colour": 3}}, ValueError, r"factorization.model: unknown parameter\(s\) \['colour'\]"),
        ({"stpes": 3}, ValueError, r"factorization: unknown parameter\(s\) \['stpes'\]"),
        ({"steps": 0}, ValueError, "steps must be a positive int, got 0"),
        ({"accumulate": 0}, ValueError, "accumulate must be a positive int, got 0"),
        ({"global_batch": 6, "batch_size": 4}, ValueError, "global_batch 6 must be a multiple of batch_size"),
        ({"global_batch": 0}, ValueError, "global_batch must be a positive int or None, got 0"),
        ({"data_seed": -1}, ValueError, "data_seed must be an int >= 0"),
        ({"lr_schedule": "step"}, ValueError, "lr_schedule must be one of"),
        ({"warmup_steps": 4}, ValueError, r"warmup_steps must be an int in \[0, 4\) \(steps=4\), got 4"),
        ({"augment": {"temporal_prob": 2}}, ValueError, "AugmentConfig.temporal_prob"),
        ({"dataset": "ucf"}, ValueError, "dataset: unknown dataset 'ucf'"),
        ({"dataset": "kth", "data_root": None}, FileNotFoundError, "dataset 'kth' is a real dataset: set data_root"),
        ({"data_root": "/nonexistent/bair"}, FileNotFoundError, "/nonexistent/bair is not a prepared lmvid dataset"),
        ({"dataset": "bbc"}, ValueError, "holds dataset 'bair', but dataset is 'bbc'"),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"device": "gpu"}, ValueError, "device: "),
        (
            {"loss": {"perceptual": "vgg19", "vgg_weights": "/nonexistent/vgg19.pth"}},
            VGGWeightsMissing,
            "/nonexistent/vgg19.pth",
        ),
    ],
)
def test_bad_config_fails_before_training(data_root, tmp_path, change, error, message):
    cfg = tiny_config(data_root)
    for key, value in change.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    with pytest.raises(error, match=message):
        train_factorization(copy.deepcopy(cfg), tmp_path)
    assert not (tmp_path / "factorization").exists()


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_profiles_hold_a_valid_factorization_config(profile):
    common = load_profile(profile)["common"]
    # every decoder x seed of the profile, as notebook 02 trains them (then its dataset models: test_dataset_models)
    configs = profile_configs(profile)[: len(common["decoders"]) * len(common["seeds"])]
    assert [(c.model.decoder, c.seed) for c in configs] == [(d, s) for d in common["decoders"] for s in common["seeds"]]
    for cfg in configs:
        assert cfg.dataset == "signer" and cfg.steps >= 1
        assert cfg.bf16 == cfg.channels_last == (profile == "paper")
        if profile == "paper":  # the paper's global batch (16 per GPU on 8 GPUs) on one GPU, and its SPADE wiring
            assert (cfg.batch_size, cfg.global_batch) == (16, 128)
            assert with_global_batch(cfg, 1).accumulate == 8 and with_global_batch(cfg, 8).accumulate == 1
            assert cfg.model.spade_condition == "heatmaps"


def test_gpu_speed_switches_run_and_change_the_numerics(data_root, tmp_path):
    """bf16 autocast and channels_last (the paper profile's GPU settings) also run on CPU; bf16 really takes effect."""
    plain = train_factorization(tiny_config(data_root, steps=2, loss={"lambda_adv": 0.1}), tmp_path / "fp32")
    fast = train_factorization(
        tiny_config(data_root, steps=2, loss={"lambda_adv": 0.1}, bf16=True, channels_last=True), tmp_path / "bf16"
    )
    assert all(np.isfinite(v) for v in fast["final"].values())
    assert fast["final"]["mse"] == pytest.approx(plain["final"]["mse"], rel=0.05)  # same training, lower precision
    a, b = model_state(plain["run"]), model_state(fast["run"])
    assert a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype == torch.float32 for k in a if a[k].is_floating_point()
    )
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_torch_compile_trains_like_eager(data_root, tmp_path):
    """compile=True (inductor, C++ codegen on CPU; ~1 min to compile) takes the same steps as the eager model,
    up to float rounding, and saves weights under the plain module's names (no `_orig_mod.` prefix)."""
    eager = train_factorization(tiny_config(data_root, steps=2, log_every=1), tmp_path / "eager")
    compiled = train_factorization(tiny_config(data_root, steps=2, log_every=1, compile=True), tmp_path / "compiled")
    rows_e, rows_c = read_metrics(eager["run"]), read_metrics(compiled["run"])
    assert [r["mse"] for r in rows_c] == pytest.approx([r["mse"] for r in rows_e], rel=1e-4)
    a, b = model_state(eager["run"]), model_state(compiled["run"])
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a if a[k].is_floating_point())


def test_accumulated_micro_batches_make_one_update_of_the_whole_batch(data_root, tmp_path):
    """2 micro-batches of 2 train on the same frames as one batch of 4, with the same losses and parameter updates
    (spectral norm and the discriminator included); steps and the lr schedule count optimizer steps."""
    settings = {"steps": 2, "log_every": 1, "lr_schedule": "cosine", "loss": {"lambda_adv": 0.1}}
    whole = train_factorization(tiny_config(data_root, batch_size=4, **settings), tmp_path / "whole")
    split = train_factorization(tiny_config(data_root, batch_size=2, accumulate=2, **settings), tmp_path / "split")
    derived = train_factorization(
        tiny_config(data_root, batch_size=2, global_batch=4, **settings), tmp_path / "derived"
    )
    assert whole["global_batch"] == split["global_batch"] == derived["global_batch"] == 4
    state_derived = load_checkpoint(derived["checkpoint"])["model"]
    assert all(torch.equal(v, load_checkpoint(split["checkpoint"])["model"][k]) for k, v in state_derived.items())
    rows_whole, rows_split = read_metrics(whole["run"]), read_metrics(split["run"])
    assert [r["step"] for r in rows_split] == [1, 2]
    assert [r["lr"] for r in rows_split] == [r["lr"] for r in rows_whole] == pytest.approx([1e-4, 5e-5])
    for a, b in zip(rows_whole, rows_split):
        for key in ("loss", "mse", "adv", "disc"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), key
    state_whole, state_split = load_checkpoint(whole["checkpoint"]), load_checkpoint(split["checkpoint"])
    for opt in ("opt", "opt_d"):
        assert {float(s["step"]) for s in state_split[opt]["state"].values()} == {2.0}
    for key, value in state_whole["model"].items():
        torch.testing.assert_close(state_split["model"][key], value, rtol=1e-5, atol=1e-7, msg=key)
    noise_only = biases_before_instance_norm(Discriminator(3))
    for key, value in state_whole["disc"].items():
        # Adam moves a parameter by at most ~lr per step, whatever its gradient's noise.
        atol = 2.02e-4 if key in noise_only else 1e-5
        torch.testing.assert_close(state_split["disc"][key], value, rtol=1e-4, atol=atol, msg=key)


def test_global_batch_sets_accumulate_for_the_process_count():
    cfg = config_from_parameters({"batch_size": 16, "global_batch": 128})
    assert [with_global_batch(cfg, n).accumulate for n in (1, 2, 8)] == [8, 4, 1]
    assert with_global_batch(config_from_parameters({"accumulate": 3}), 4).accumulate == 3
    with pytest.raises(ValueError, match=r"global_batch 128 is not a multiple of batch_size 16 x 3 process\(es\) = 48"):
        with_global_batch(cfg, 3)
