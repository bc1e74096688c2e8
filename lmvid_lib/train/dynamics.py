"""Training the landmark LSTM (paper Sec. 2.4, appendix A) with the "n inputs, m future" schedule.

Each training example is a clip of n + m consecutive states s_0 .. s_{n+m-1} of one sequence: the LSTM makes the
n + m - 1 predictions s_1 .. s_{n+m-1}, reading the ground truth s_0 .. s_{n-1} for its first n steps and its own
predictions for the remaining m - 1 (with m = 0, the n - 1 predictions of n ground-truth inputs). The loss is the
mean squared error of all predictions, per coordinate in units of the training states' standard deviation. Adam.
The stochastic model (`DynamicsConfig.latent > 0`, ours) reads posterior samples of z_t in the same unroll and adds
`kl_weight` x KL(posterior || prior), summed over the latent and averaged over the steps (SVG-LP's objective).

A run lives in `<run_dir>/dynamics/<name>/` (config.json, metrics.csv, checkpoints/last.pt, model.pt, summary.json)
and resumes like a factorization run (`lmvid_lib.train.runs`): calling `train_dynamics` again continues from
`last.pt` bit-identically, or returns the summary of a finished run. The training states are part of what a run is:
resuming with other states is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lmvid_lib.config import check_int, check_number, check_optional_int, from_dict
from lmvid_lib.data.datasets import DATASETS, VALIDATION, has_validation
from lmvid_lib.models.checkpoint import dataset_run, read_run_config
from lmvid_lib.models.dynamics import DynamicsConfig, LandmarkLSTM, LatentSource, check_states, gaussian_kl
from lmvid_lib.models.files import LANDMARK_LSTM, model_payload
from lmvid_lib.models.inference import inference
from lmvid_lib.models.rollout import unroll
from lmvid_lib.models.sequences import extract_sequences, open_run_videos
from lmvid_lib.paths import run_folder
from lmvid_lib.seed import seed_everything
from lmvid_lib.train.runs import LossTrainer, RunFolder, train_loop

RESUMABLE_CHANGES = ("steps", "log_every", "checkpoint_every", "progress")
VALIDATION_CLIPS = 256  # at most this many validation clips (the first n + m states of each sequence)


@dataclass
class SequenceTrainConfig:
    """What the sequence predictors' trainers share (the landmark LSTM's here, the pixel predictor's in
    `train/pixel_predictor.py`): the "n inputs, m future" schedule, the optimiser and the run bookkeeping."""

    dataset: str = "signer"  # names the default schedule (`data.datasets.DATASETS`) and the run
    n_inputs: int | None = None  # n: ground-truth inputs per clip (None: the dataset's default)
    n_future: int | None = None  # m: predictions fed back (None: the dataset's default)
    name: str | None = None  # run folder name; default: see run_name
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    grad_clip: float = 1.0  # maximum gradient norm (0: no clipping); LSTMs unrolled on their own outputs can spike
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10
    checkpoint_every: int = 100
    progress: bool = True  # tqdm bar

    def default_schedule(self) -> tuple[int, int] | None:
        """The dataset's (n inputs, m future) for this model: the landmark LSTM's (appendix A), None if unknown."""
        return DATASETS[self.dataset].schedule if self.dataset in DATASETS else None

    def schedule(self) -> tuple[int, int]:
        """(n inputs, m future): the config's, or the dataset's defaults (`default_schedule`) where None."""
        default = self.default_schedule()
        if default is None and (self.n_inputs is None or self.n_future is None):
            raise ValueError(
                f"dataset {self.dataset!r} has no default schedule (known: {sorted(DATASETS)}): "
                "set n_inputs and n_future"
            )
        n = self.n_inputs if self.n_inputs is not None else default[0]
        m = self.n_future if self.n_future is not None else default[1]
        return n, m


@dataclass
class DynamicsTrainConfig(SequenceTrainConfig):
    model: DynamicsConfig = field(default_factory=DynamicsConfig)
    weight_decay: float = 0.0
    kl_weight: float = 1e-3  # ours: weight of the KL term of the stochastic model (model.latent > 0)

    @property
    def run_name(self) -> str:
        return self.name or f"{self.dataset}-{dynamics_wiring(self.model)}-seed{self.seed}"


def dynamics_wiring(model: DynamicsConfig) -> str:
    """The wiring a dynamics run is named by: stochastic (latent > 0), residual (the paper's) or direct."""
    if model.latent:
        return "stochastic"
    return "residual" if model.predict_residual else "direct"


def check_sequence_config(cfg: SequenceTrainConfig, name: str, model_type: type, numbers: tuple[str, ...]) -> None:
    """ValueError naming `name`.<field> for any field of `cfg` out of range; `numbers`: the float fields (>= 0, lr
    > 0)."""
    if not isinstance(cfg.model, model_type):
        raise ValueError(f"{name}.model: expected a mapping of {model_type.__name__} parameters, got {cfg.model!r}")
    for key, low in (("steps", 1), ("batch_size", 1), ("log_every", 1), ("checkpoint_every", 1), ("seed", 0)):
        check_int(getattr(cfg, key), f"{name}.{key}", low)
    for key, low in (("n_inputs", 1), ("n_future", 0)):
        check_optional_int(getattr(cfg, key), f"{name}.{key}", low)
    n, m = cfg.schedule()
    if n + m < 2:
        raise ValueError(f"{name}: n_inputs + n_future must be >= 2 (at least one prediction), got {n} + {m}")
    for key in numbers:
        check_number(getattr(cfg, key), f"{name}.{key}", 0, strict=key == "lr")
    if cfg.name is not None and (not isinstance(cfg.name, str) or not cfg.name or "/" in cfg.name):
        raise ValueError(f"{name}.name must be a folder name, got {cfg.name!r}")


def load_dynamics_config(
    config: DynamicsTrainConfig | Mapping[str, Any], name: str = "dynamics"
) -> DynamicsTrainConfig:
    """A validated DynamicsTrainConfig from a mapping (unknown keys are an error naming them) or a config."""
    cfg = config if isinstance(config, DynamicsTrainConfig) else from_dict(DynamicsTrainConfig, config, name)
    check_sequence_config(cfg, name, DynamicsConfig, ("lr", "weight_decay", "grad_clip", "kl_weight"))
    return cfg


def dynamics_config_dict(cfg: DynamicsTrainConfig) -> dict[str, Any]:
    """The config as plain JSON data, as written to config.json."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def dynamics_run_path(cfg: DynamicsTrainConfig, run_dir: str | Path) -> Path:
    """The folder of the run `cfg` describes: `<run_dir>/dynamics/<run_name>`."""
    return run_folder(run_dir, "dynamics", cfg.run_name)


def states_digest(states: np.ndarray | torch.Tensor) -> str:
    """A short content hash of training states (float32 [N,T,K,5]), stored with a run to refuse resuming on others."""
    array = np.ascontiguousarray(torch.as_tensor(states, dtype=torch.float32).cpu().numpy())
    return hashlib.blake2b(repr(array.shape).encode() + array.tobytes(), digest_size=16).hexdigest()


def prediction_loss(
    model: LandmarkLSTM,
    clips: torch.Tensor,
    n_inputs: int,
    kl_weight: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean squared error of the n + m - 1 predictions of clips [B,n+m,K,5], the first min(n, n+m-1) inputs ground
    truth and the rest the model's own outputs, per coordinate in units of the model's state_std. A stochastic model
    reads z_t sampled from its posterior (noise from `generator`) and adds kl_weight x the mean KL to its prior."""
    n_fed = min(n_inputs, clips.shape[1] - 1)
    state = None
    if model.cfg.latent:
        q_mu, q_logvar = model.posterior_statistics(clips)
        noise = torch.randn(q_mu.shape, generator=generator, dtype=q_mu.dtype).to(q_mu.device)
        source = LatentSource(given=q_mu + noise * (0.5 * q_logvar).exp())
        state = model.start(source)
    predicted = unroll(model, clips[:, :n_fed], clips.shape[1] - n_fed, state)
    loss = ((predicted - clips[:, 1:]) / model.state_std).square().mean()
    if model.cfg.latent:
        loss = loss + kl_weight * gaussian_kl(q_mu, q_logvar, *source.prior_statistics()).mean()
    return loss


def sample_clips(states: torch.Tensor, length: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """batch_size clips [B,length,K,5] of states [N,T,K,5], sequence and start uniform (drawn from `generator`)."""
    n, t = states.shape[:2]
    sequence = torch.randint(n, (batch_size,), generator=generator)
    start = torch.randint(t - length + 1, (batch_size,), generator=generator)
    steps = start[:, None] + torch.arange(length)
    return states[sequence[:, None], steps]


def _as_states(states: np.ndarray | torch.Tensor, name: str, cfg: DynamicsTrainConfig, length: int) -> torch.Tensor:
    states = torch.as_tensor(states, dtype=torch.float32)
    check_states(states, name, cfg.model.n_landmarks)
    if states.shape[1] < length:
        n, m = cfg.schedule()
        raise ValueError(
            f"{name} has sequences of {states.shape[1]} frames; n_inputs + n_future = {n} + {m} needs at least {length}"
        )
    return states.to(cfg.device)


def _validation_loss(model: LandmarkLSTM, clips: torch.Tensor, n_inputs: int, kl_weight: float) -> float:
    """The training loss on validation clips; a stochastic model's posterior noise from one fixed seed, so the
    numbers of two evaluations differ only by the weights."""
    with inference(model):
        return float(prediction_loss(model, clips, n_inputs, kl_weight, torch.Generator().manual_seed(0)))


def train_dynamics(
    config: DynamicsTrainConfig | Mapping[str, Any],
    states: np.ndarray | torch.Tensor,
    run_dir: str | Path,
    val_states: np.ndarray | torch.Tensor | None = None,
) -> dict[str, Any]:
    """Train (or resume, or just report) the landmark LSTM on training sequences `states` [N,T,K,5] (T >= n + m).

    The normalisation is fitted to `states`. With `val_states` [N',T',K,5], each logged row also has `val_loss`: the
    same loss on the first n + m states of (at most VALIDATION_CLIPS of) its sequences. Returns the run's summary
    (paths, steps, resumed_from, seconds, final metrics row).
    """
    cfg = load_dynamics_config(config)
    n_inputs, n_future = cfg.schedule()
    length = n_inputs + n_future
    train = _as_states(states, "states", cfg, length)
    val = None if val_states is None else _as_states(val_states, "val_states", cfg, length)[:VALIDATION_CLIPS, :length]
    digest = states_digest(train)
    run = RunFolder(
        dynamics_run_path(cfg, run_dir),
        dynamics_config_dict(cfg),
        lambda saved, source: dynamics_config_dict(load_dynamics_config(saved, source)),
        RESUMABLE_CHANGES,
        ("states", digest),
    )
    run.check_config_file()
    return train_loop(run, cfg, dynamics_trainer(cfg, train, val), f"dynamics {cfg.run_name}", device=cfg.device)


def dynamics_trainer(cfg: DynamicsTrainConfig, train: torch.Tensor, val: torch.Tensor | None = None) -> LossTrainer:
    """The seeded trainer `train_dynamics` runs: the LSTM normalised to `train` [N,T,K,5] (on cfg.device, T >= n + m),
    Adam, batches of cfg.batch_size clips; `val` [N',n+m,K,5] gives each logged row its val_loss."""
    n_inputs, n_future = cfg.schedule()
    seed_everything(cfg.seed)
    model = LandmarkLSTM(cfg.model).to(cfg.device)
    model.fit_normalisation(train)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)

    def batch_loss() -> torch.Tensor:
        clips = sample_clips(train, n_inputs + n_future, cfg.batch_size, generator).to(cfg.device)
        return prediction_loss(model, clips, n_inputs, cfg.kl_weight, generator)

    return LossTrainer(
        model,
        opt,
        generator,
        batch_loss,
        lambda: model_payload(LANDMARK_LSTM, model),
        cfg.grad_clip,
        None if val is None else lambda: _validation_loss(model, val, n_inputs, cfg.kl_weight),
        {"schedule": [n_inputs, n_future]},
    )


def train_dataset_dynamics(
    config: Mapping[str, Any],
    dataset: str,
    run_dir: str | Path,
    predict_residual: bool = True,
    videos: Mapping[str, Any] | None = None,
    length: int | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train (or resume, or report) the LSTM of `dataset` in `<run_dir>/dynamics/<run_name>` (`DynamicsTrainConfig`) on
    the landmark sequences its factorization model (`dataset_run`) extracts from the training split, validated on the
    validation split (`data.datasets.VALIDATION`). `config`: a DynamicsTrainConfig mapping shared by every dataset (its
    dataset, device, K and wiring are set here); `videos`: synthetic overrides of the training split (e.g. more videos
    of a stand-in); `length`: cut videos into sequences of this many frames (None: whole videos, which must then have
    one length)."""
    run = dataset_run(run_dir, dataset)
    states = extract_sequences(run, open_run_videos(run, "train", run_dir, **(videos or {})), length, device=device)
    data = read_run_config(run)
    # without a validation split (a prepared real set, for now) the LSTM trains unvalidated: never on test
    val = (
        extract_sequences(run, open_run_videos(run, VALIDATION, run_dir), length, device=device)
        if has_validation(data.dataset, data.data_root)
        else None
    )
    cfg = dataset_dynamics_config(config, dataset, int(states.shape[2]), predict_residual, device)
    return train_dynamics(cfg, states, run_dir, val)


def dataset_dynamics_config(
    config: Mapping[str, Any], dataset: str, n_landmarks: int, predict_residual: bool = True, device: str = "cpu"
) -> DynamicsTrainConfig:
    """The DynamicsTrainConfig `train_dataset_dynamics` trains `dataset`'s LSTM with: the shared `config` mapping
    with the dataset, device, K of its factorization model and the wiring set."""
    model = {**dict(config.get("model", {})), "n_landmarks": n_landmarks, "predict_residual": predict_residual}
    return load_dynamics_config({**config, "dataset": dataset, "device": device, "model": model}, "dynamics")


def stochastic_mapping(
    config: Mapping[str, Any], stochastic: Mapping[str, Any], name: str = "stochastic"
) -> dict[str, Any]:
    """A dataset's chapter-4 DynamicsTrainConfig mapping with `stochastic` (DynamicsTrainConfig keys, its `model` keys
    merged into the model's) on top: the stochastic LSTM trains as the deterministic one did, apart from what
    `stochastic` changes. A ValueError naming `name` unless it sets model.latent > 0."""
    model = {**dict(config.get("model", {})), **dict(stochastic.get("model", {}))}
    if not model.get("latent"):
        raise ValueError(f"{name}.model.latent must be a positive latent size, got {model.get('latent')!r}")
    return {**config, **stochastic, "model": model}


def dataset_configs(
    shared: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]], datasets: list[str], name: str = "dynamics"
) -> dict[str, dict[str, Any]]:
    """One DynamicsTrainConfig mapping per dataset of `datasets`: `shared` with that dataset's `overrides` on top. An
    override for a dataset not in `datasets` is an error naming it (it would be silently unused)."""
    unknown = sorted(set(overrides) - set(datasets))
    if unknown:
        raise ValueError(f"{name} overrides name datasets {unknown} that are not trained here (datasets: {datasets})")
    return {d: {**shared, **overrides.get(d, {})} for d in datasets}
