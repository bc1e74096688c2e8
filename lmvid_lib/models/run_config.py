"""What a factorization training run is, as data: `TrainConfig`, its validation, and where the run lives.

Training (`lmvid_lib.train`) writes runs from it; models and evaluation read runs back with it
(`lmvid_lib.models.checkpoint`), without importing the trainer. A run lives in `<run_dir>/factorization/<run_name>`.

Chapter 2 trains the profile's main runs (every decoder x seed on `common: dataset`, `config_from_parameters`) and
one model per further dataset (`DatasetModel`, `dataset_model_configs`): the paper trains one factorization model for
each of BBC Pose, BAIR and KTH.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lmvid_lib.config import check_choice, check_int, check_number, check_optional_int, from_dict
from lmvid_lib.data.augment import AugmentConfig, validate_augment_config
from lmvid_lib.data.datasets import DATASETS, EMBEDDED, check_dataset
from lmvid_lib.models.factorization import ModelConfig, validate_model_config
from lmvid_lib.models.losses import LossConfig
from lmvid_lib.paths import run_folder

T = TypeVar("T")

LR_SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    dataset: str = "signer"  # signer | pusher | walker (embedded) or bbc | bair | kth (prepared, needs data_root)
    data_root: str | None = None
    split: str = "train"
    synthetic: dict[str, Any] = field(default_factory=dict)  # overrides for embedded presets, e.g. n_videos, n_frames
    data_seed: int = 0  # seed of the embedded synthetic data; training seeds share it, as the paper's seeds share BBC
    name: str | None = None  # run folder name; default <dataset>-<decoder>-seed<seed>
    steps: int = 1000
    batch_size: int = 16  # per process and micro-batch; the global batch is batch_size * world_size * accumulate
    accumulate: int = 1  # micro-batches per optimizer step (gradient accumulation): a large global batch on few GPUs
    global_batch: int | None = (
        None  # if set, accumulate = global_batch / (batch_size * processes), for any process count
    )
    lr: float = 1e-4
    lr_schedule: str = "constant"  # constant (paper) | cosine: lr * (1 + cos(pi * (step-1) / steps)) / 2, after warmup
    warmup_steps: int = 0  # linear warm-up from lr / warmup_steps to lr
    weight_decay: float = 5e-6
    adam_betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    device: str = "cpu"
    bf16: bool = False  # autocast to bfloat16 (GPU speed); the CPU path stays plain fp32
    channels_last: bool = False
    compile: bool = False  # torch.compile the generator and discriminator
    log_every: int = 10
    checkpoint_every: int = 100
    sample_every: int = 0  # 0: one sample grid at the end
    progress: bool = True  # tqdm bar
    # A finished run's folder name under <run_dir>/factorization: its pose encoder is loaded and frozen, its appearance
    # encoder loaded as the start, so only what renders trains on the landmarks that run learned (decoder 'scene').
    landmarks_from: str | None = None

    @property
    def run_name(self) -> str:
        return self.name or f"{self.dataset}-{self.model.decoder}-seed{self.seed}"


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The config as plain JSON data (tuples become lists), as written to config.json."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def load_config(mapping: Mapping[str, Any] | TrainConfig, name: str = "factorization") -> TrainConfig:
    """A validated TrainConfig from a mapping (unknown keys are an error naming them and `name`) or a TrainConfig."""
    cfg = mapping if isinstance(mapping, TrainConfig) else from_dict(TrainConfig, mapping, name)
    validate_train_config(cfg)
    return cfg


def config_from_parameters(
    factorization: Mapping[str, Any],
    dataset: str | None = None,
    data_root: str | None = None,
    seed: int | None = None,
    device: str | None = None,
    decoder: str | None = None,
    data_seed: int | None = None,
) -> TrainConfig:
    """A TrainConfig from notebook parameters: the `factorization` mapping overlaid with the profile's common
    settings (dataset, data_root, device, the profile seed as `data_seed`), the training seed and the decoder variant,
    where given."""
    mapping = dict(factorization)
    overlay = {"dataset": dataset, "data_root": data_root, "seed": seed, "device": device, "data_seed": data_seed}
    mapping.update({k: v for k, v in overlay.items() if v is not None})
    if decoder is not None:
        mapping["model"] = {**dict(mapping.get("model") or {}), "decoder": decoder}
    return load_config(mapping)


# Keys of the shared mapping that describe the main dataset's data and run, so a dataset model does not inherit them.
_MAIN_DATA_KEYS = ("dataset", "data_root", "synthetic", "split", "name")
# Keys a dataset model's overrides may not set: the entry itself and the profile decide them.
_FIXED_KEYS = ("dataset", "data_root", "synthetic", "seed", "data_seed", "device", "name")


@dataclass
class DatasetModel:
    """A factorization model of one more dataset: an entry of chapter 2's `dataset_models: {<stand-in>: ...}`.

    The key names an embedded stand-in (pusher, walker, signer); with `data_root` the model trains instead on the real
    dataset it stands for (its registry twin: bair, kth, bbc) in that prepared folder.
    """

    data_root: str | None = None  # folder of the prepared real dataset; None: the embedded stand-in
    synthetic: dict[str, Any] = field(default_factory=dict)  # the stand-in's preset overrides (only without data_root)
    factorization: dict[str, Any] = field(default_factory=dict)  # overrides of the shared factorization mapping


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied; a mapping value (model, loss, augment) is merged key by key into base's."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            value = {**merged[key], **value}
        merged[key] = value
    return merged


def dataset_model_configs(
    factorization: Mapping[str, Any],
    dataset_models: Mapping[str, Any] | None,
    seed: int,
    device: str | None = None,
    data_seed: int | None = None,
    main_dataset: str | None = None,
) -> dict[str, TrainConfig]:
    """dataset -> the TrainConfig of its model, one per entry of `dataset_models` ({stand-in: DatasetModel mapping}).

    Each is the shared `factorization` mapping (without the keys that describe the main dataset: its `synthetic` set
    and `split`) overlaid with the entry's `factorization` overrides, on the entry's dataset: the stand-in with the
    entry's `synthetic`, or its real dataset with `data_root`; decoder spade, training seed `seed` (the profile's
    first), data `data_seed`. So the run is `<run_dir>/factorization/<dataset>-spade-seed<seed>`. An entry on
    `main_dataset` is left out: the main runs already model that dataset. Errors name the entry and the parameter.
    """
    if dataset_models is None:
        return {}
    if not isinstance(dataset_models, Mapping):
        raise ValueError(f"dataset_models must be a mapping {{stand-in: settings}}, got {dataset_models!r}")
    shared = {k: v for k, v in factorization.items() if k not in _MAIN_DATA_KEYS}
    configs = {}
    for key, mapping in dataset_models.items():
        name = f"dataset_models.{key}"
        _check(key in EMBEDDED, f"{name}: unknown stand-in {key!r}; known: {list(EMBEDDED)}")
        _check(isinstance(mapping, Mapping), f"{name}: expected a mapping of DatasetModel parameters, got {mapping!r}")
        entry = from_dict(DatasetModel, mapping, name)
        for part in ("synthetic", "factorization"):
            _check(isinstance(getattr(entry, part), Mapping), f"{name}.{part}: expected a mapping")
        fixed = sorted(set(entry.factorization) & set(_FIXED_KEYS))
        _check(
            not fixed, f"{name}.factorization: {fixed} cannot be overridden here (the entry and the profile set them)"
        )
        dataset = key if entry.data_root is None else DATASETS[key].twin
        if dataset == main_dataset:
            continue
        mapping = merge_overrides(shared, entry.factorization)
        if entry.data_root is None:
            mapping["synthetic"] = dict(entry.synthetic)
        try:
            configs[dataset] = config_from_parameters(
                mapping, dataset, entry.data_root, seed, device, decoder="spade", data_seed=data_seed
            )
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"{name}: {exc}") from None
    return configs


def scene_model_configs(
    paper_configs: list[TrainConfig], scene_decoder: Mapping[str, Any] | None
) -> dict[str, TrainConfig]:
    """dataset -> the TrainConfig of its scene-decoder run, one per paper-decoder config of `paper_configs` (the
    first per dataset): that config with decoder 'scene', trained on its frozen landmarks (`landmarks_from` = its run)
    with `scene_decoder`'s overrides (e.g. steps, model.scene_width), so the run is `<dataset>-scene-seed<seed>`.
    None or {}: no scene runs. Errors name `scene_decoder` and the parameter."""
    if not scene_decoder:
        return {}
    if not isinstance(scene_decoder, Mapping):
        raise ValueError(f"scene_decoder must be a mapping of TrainConfig overrides, got {scene_decoder!r}")
    fixed = sorted(set(scene_decoder) & {*_FIXED_KEYS, "landmarks_from"})
    _check(not fixed, f"scene_decoder: {fixed} cannot be overridden (the paper-decoder run sets them)")
    configs = {}
    for cfg in paper_configs:
        if cfg.dataset in configs or cfg.model.decoder == "scene":
            continue
        mapping = merge_overrides(config_dict(cfg), scene_decoder)
        mapping["model"] = {**mapping["model"], "decoder": "scene"}
        mapping.update(landmarks_from=cfg.run_name, name=None)
        try:
            configs[cfg.dataset] = load_config(mapping, "scene_decoder")
        except ValueError as exc:
            raise ValueError(f"scene_decoder: {exc}") from None
    return configs


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def validate_train_config(cfg: TrainConfig) -> None:
    """Raise ValueError naming the parameter for a config that cannot train; reads no data."""
    for key in ("model", "loss", "augment"):
        expected = {"model": ModelConfig, "loss": LossConfig, "augment": AugmentConfig}[key]
        _check(isinstance(getattr(cfg, key), expected), f"{key}: expected a mapping of {expected.__name__} parameters")
    validate_model_config(cfg.model)
    validate_augment_config(cfg.augment)
    check_optional_int(cfg.global_batch, "global_batch")
    _check(
        cfg.global_batch is None or cfg.global_batch % (cfg.batch_size * cfg.accumulate) == 0,
        f"global_batch {cfg.global_batch} must be a multiple of batch_size x accumulate = "
        f"{cfg.batch_size * cfg.accumulate} (leave accumulate at 1: global_batch sets it)",
    )
    for key in ("steps", "batch_size", "accumulate", "log_every", "checkpoint_every"):
        check_int(getattr(cfg, key), key)
    for key in ("sample_every", "seed", "data_seed"):
        check_int(getattr(cfg, key), key, 0)
    check_number(cfg.lr, "lr", 0, strict=True)
    check_choice(cfg.lr_schedule, "lr_schedule", LR_SCHEDULES)
    check_int(cfg.warmup_steps, "warmup_steps", 0, cfg.steps, what=f" (steps={cfg.steps})")
    check_number(cfg.weight_decay, "weight_decay", 0)
    betas = tuple(cfg.adam_betas)
    _check(
        len(betas) == 2 and all(0 <= b < 1 for b in betas),
        f"adam_betas must be two numbers in [0, 1), got {cfg.adam_betas!r}",
    )
    cfg.adam_betas = (float(betas[0]), float(betas[1]))
    _check(isinstance(cfg.synthetic, dict), f"synthetic must be a mapping of preset overrides, got {cfg.synthetic!r}")
    _check(
        cfg.name is None or (isinstance(cfg.name, str) and cfg.name and "/" not in cfg.name),
        f"name must be a folder name, got {cfg.name!r}",
    )
    check_dataset(cfg.dataset, cfg.data_root)
    _check(
        cfg.landmarks_from is None
        or (isinstance(cfg.landmarks_from, str) and cfg.landmarks_from and "/" not in cfg.landmarks_from),
        f"landmarks_from must be a run folder name under <run_dir>/factorization, got {cfg.landmarks_from!r}",
    )
    _check(cfg.landmarks_from != cfg.run_name, f"landmarks_from names the run itself ({cfg.run_name!r})")


def run_path(cfg: TrainConfig, run_dir: str | Path) -> Path:
    """The folder of the run `cfg` describes: `<run_dir>/factorization/<run_name>`."""
    return run_folder(run_dir, "factorization", cfg.run_name)


def with_global_batch(cfg: TrainConfig, world_size: int) -> TrainConfig:
    """`cfg` with `accumulate` derived from `global_batch` for `world_size` processes (unchanged without it).

    The paper's 16 images per GPU on 8 GPUs: global_batch 128 gives accumulate 8 on one GPU and 1 under 8-GPU torchrun.
    """
    if cfg.global_batch is None:
        return cfg
    per_step = cfg.batch_size * world_size
    if cfg.global_batch % per_step:
        raise ValueError(
            f"global_batch {cfg.global_batch} is not a multiple of batch_size {cfg.batch_size} x {world_size} "
            f"process(es) = {per_step}"
        )
    return dataclasses.replace(cfg, accumulate=cfg.global_batch // per_step)


def chapter_models(runs: Iterable[tuple[TrainConfig, T]]) -> dict[str, T]:
    """dataset -> the run (of (config, run) pairs) later chapters use for it: among runs that learned their own
    landmarks (no `landmarks_from`: a run on another's landmarks is that run's second decoder), the SPADE one if
    any, then the lowest training seed, then the first given. `checkpoint.dataset_run` applies it to finished runs,
    the cost plan to the configs chapter 2 will train."""
    chosen: dict[str, tuple[tuple[bool, int], T]] = {}
    for cfg, run in runs:
        key = (cfg.model.decoder != "spade", cfg.seed)
        if cfg.landmarks_from is None and (cfg.dataset not in chosen or key < chosen[cfg.dataset][0]):
            chosen[cfg.dataset] = (key, run)
    return {dataset: run for dataset, (_, run) in chosen.items()}
