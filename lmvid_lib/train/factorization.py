"""Training the pose/appearance factorization model (paper Sec. 3.1): self-supervised reconstruction.

Each step draws a global batch of frames (batch_size per process x processes x `accumulate` micro-batches, whose
gradients are summed before the optimizer step); the pose encoder sees a colour-jittered copy, the appearance encoder a
TPS-warped copy or a temporal partner 3-60 frames away, and the decoder must rebuild the unperturbed frame
(lambda_vgg * VGG19 perceptual + lambda_mse * MSE + lambda_adv * adversarial). Adam, lr 1e-4, weight decay 5e-6 (paper);
the discriminator, when lambda_adv > 0, is trained alternately with its own Adam.

A run lives in `<run_dir>/factorization/<name>/`::

    config.json          the TrainConfig as data
    metrics.csv          one row per `log_every` steps (losses, seconds per step)
    checkpoints/last.pt  everything needed to resume bit-identically: weights, optimizers, RNG states, data order
    model.pt             final weights + config, a model file (`lmvid_lib.models.files.load_model`)
    samples/step_*.png   target | pose input | appearance input | reconstruction
    summary.json         paths and final metrics

Calling `train_factorization` again on the same run resumes from `last.pt` (a run killed even by SIGKILL continues
exactly where its last checkpoint left it) or, when the run is complete, returns its summary without training.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils.parametrizations import _SpectralNorm

from lmvid_lib.config import from_dict
from lmvid_lib.data.datasets import open_dataset
from lmvid_lib.data.pairs import FrameSampler, make_training_batch
from lmvid_lib.data.store import VideoSet
from lmvid_lib.io import atomic_write_bytes, file_digest
from lmvid_lib.models.discriminator import Discriminator
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.files import FACTORIZATION, ModelFile, model_payload, read_model_file
from lmvid_lib.models.losses import ReconstructionLoss, discriminator_loss
from lmvid_lib.models.run_config import TrainConfig, config_dict, load_config, run_path, with_global_batch
from lmvid_lib.paths import RunFiles, run_folder
from lmvid_lib.seed import seed_everything
from lmvid_lib.train.distributed import DistContext, init_distributed
from lmvid_lib.train.runs import RunFolder, Trainer, train_loop

# Settings that may change between a run and its resumption without changing what has been computed so far
# ("steps" only with a constant learning rate: a decaying schedule depends on it).
RESUMABLE_CHANGES = ("steps", "log_every", "checkpoint_every", "sample_every", "progress")


# ---------------------------------------------------------------------------------------------------------- state


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The generator's (and discriminator's) learning rate at training step `step` (1-based): a pure function of the
    step, so a resumed run needs no scheduler state."""
    if step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    if cfg.lr_schedule == "cosine":
        done = (step - 1 - cfg.warmup_steps) / (cfg.steps - cfg.warmup_steps)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * done))
    return cfg.lr


def _comparable(saved: Mapping[str, Any], source: str) -> dict[str, Any]:
    # Through the dataclass, so fields added since the run was saved take their defaults (the behaviour it had).
    return config_dict(from_dict(TrainConfig, saved, source))


def _save_samples(path: Path, batch: Mapping[str, torch.Tensor], recon: torch.Tensor, n: int = 8) -> Path:
    """PNG grid, one row per example: target | pose input | appearance input | reconstruction."""
    from PIL import Image

    rows = torch.stack([batch["target"][:n], batch["pose_input"][:n], batch["appearance_input"][:n], recon[:n]], 1)
    b, cols, c, h, w = rows.shape
    grid = rows.detach().float().clamp(0, 1).permute(0, 3, 1, 4, 2).reshape(b * h, cols * w, c)
    array = (grid * 255).round().to(torch.uint8).cpu().numpy()
    image = Image.fromarray(array[..., 0] if c == 1 else array)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return atomic_write_bytes(path, buf.getvalue())


# ------------------------------------------------------------------------------------------------------- training


@dataclass
class _Trainer(Trainer):
    cfg: TrainConfig
    out: Path  # the run folder (samples are written to its samples/)
    ctx: DistContext
    device: torch.device
    videoset: VideoSet
    model: nn.Module  # the plain model (weights saved from here)
    disc: nn.Module | None
    criterion: ReconstructionLoss
    opt: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    sampler: FrameSampler
    generator: torch.Generator
    step_model: nn.Module = None  # the model as called in training: DDP-wrapped and/or compiled
    step_disc: nn.Module | None = None
    ddp: tuple[DistributedDataParallel, ...] = ()  # DDP wrappers: their gradient sync waits for the last micro-batch
    spectral_norms: tuple[nn.Module, ...] = ()  # the spectral-norm parametrizations of model and discriminator
    samples: list[Path] = field(default_factory=list)  # the sample PNGs of the run
    shown: tuple[dict[str, torch.Tensor], torch.Tensor] | None = None  # the last step's (rank batch, reconstruction)

    @property
    def global_batch(self) -> int:
        return self.cfg.batch_size * self.ctx.world_size * self.cfg.accumulate

    def begin(self, start: int) -> None:
        self.wrap()
        self.samples = sorted(RunFiles(self.out).samples.glob("step_*.png"))
        if start < self.cfg.steps and self.ctx.is_main:
            print(
                f"{self.cfg.run_name}: global batch {self.global_batch} = {self.cfg.batch_size} per process x "
                f"{self.ctx.world_size} process(es) x {self.cfg.accumulate} accumulated micro-batch(es)",
                file=sys.stderr,
                flush=True,
            )

    def wrap(self) -> None:
        self.step_model, self.step_disc = self.model, self.disc
        modules = (m for net in (self.model, self.disc) if net is not None for m in net.modules())
        self.spectral_norms = tuple(m for m in modules if isinstance(m, _SpectralNorm))
        if self.ctx.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_model = DistributedDataParallel(self.model, device_ids=ids)
            if self.disc is not None:
                self.step_disc = DistributedDataParallel(self.disc, device_ids=ids)
            self.ddp = tuple(m for m in (self.step_model, self.step_disc) if m is not None)
        if self.cfg.compile:
            self.step_model = torch.compile(self.step_model)
            if self.disc is not None:
                self.step_disc = torch.compile(self.step_disc)

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    @contextlib.contextmanager
    def _micro_batch(self, i: int) -> Iterator[None]:
        """Micro-batch `i` of a step: DDP all-reduces gradients only in the last one's backward, and spectral norm
        runs its power iteration only in the first one (later ones reuse its estimate), as for the whole batch."""
        with contextlib.ExitStack() as stack:
            if i < self.cfg.accumulate - 1:
                for module in self.ddp:
                    stack.enter_context(module.no_sync())
            frozen = [m for m in self.spectral_norms if m.training] if i > 0 else []
            for m in frozen:
                m.train(False)
            try:
                yield
            finally:
                for m in frozen:
                    m.train(True)

    def _micro_batches(self, batch: Mapping[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """This rank's rows of each micro-batch of a global batch laid out as [accumulate][world_size][batch_size]."""
        size = self.cfg.batch_size * self.ctx.world_size
        rows = self.ctx.slice(self.cfg.batch_size)
        return [{k: v[i * size : (i + 1) * size][rows] for k, v in batch.items()} for i in range(self.cfg.accumulate)]

    def step(self, step: int) -> dict[str, float]:
        metrics, *self.shown = self._update(step)
        return metrics

    def after_step(self, step: int, last: bool) -> None:
        sample_every = self.cfg.sample_every
        if self.ctx.is_main and ((sample_every and step % sample_every == 0) or last):
            self.samples.append(_save_samples(RunFiles(self.out).samples / f"step_{step:07d}.png", *self.shown))

    def _update(self, step: int) -> tuple[dict[str, float], dict[str, torch.Tensor], torch.Tensor]:
        """Training step `step` (1-based): one generator (and discriminator) update on this rank's slices of a global
        batch, its gradient the mean over `accumulate` micro-batches. Every loss is a mean over equal micro-batches
        and every norm is per sample, so this is the update of the whole batch at once (up to float summation order).
        Returns (metrics of this rank, the rank's batch, its reconstruction)."""
        cfg = self.cfg
        lr = learning_rate(cfg, step)
        for opt in filter(None, (self.opt, self.opt_d)):
            for group in opt.param_groups:
                group["lr"] = lr
        batch = make_training_batch(
            self.videoset,
            self.sampler,
            cfg.batch_size * self.ctx.world_size * cfg.accumulate,
            cfg.augment,
            cfg.model.image_size,
            self.generator,
            self.device,
        )
        micro_batches = self._micro_batches(batch)
        sums: dict[str, float] = {}

        def add(values: Mapping[str, torch.Tensor]) -> None:
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())

        if self.disc is not None:
            # The generator step backpropagates through a frozen discriminator, called outside DDP so that
            # gradient synchronisation only ever happens for the module being updated.
            self.disc.requires_grad_(False)
        self.opt.zero_grad(set_to_none=True)
        recons = []
        for i, micro in enumerate(micro_batches):
            target, pose_in, app_in = (self._prepare(micro[k]) for k in ("target", "pose_input", "appearance_input"))
            with self._micro_batch(i):
                with self._autocast():
                    out = self.step_model(pose_in, app_in)
                    d_fake = self.disc(out["recon"]) if self.disc is not None else None
                    total, parts = self.criterion(out["recon"], target, d_fake, mu=out["mu"], cov=out["cov"])
                (total / cfg.accumulate).backward()
            recons.append(out["recon"].detach().float())
            add({"loss": total, **parts})
        self.opt.step()

        if self.disc is not None:
            self.disc.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            for i, (micro, recon) in enumerate(zip(micro_batches, recons)):
                # Real and fake go through one call: DDP syncs once, and the discriminator is per-sample (no batch
                # statistics), so this equals two calls.
                with self._micro_batch(i):
                    with self._autocast():
                        logits = self.step_disc(
                            torch.cat([self._prepare(micro["target"]), self._prepare(recon)])
                        ).float()
                    d_real, d_fake = logits.chunk(2)
                    loss_d = discriminator_loss(d_real, d_fake)
                    (loss_d / cfg.accumulate).backward()
                add({"disc": loss_d})
            self.opt_d.step()
        means = {k: v / cfg.accumulate for k, v in sums.items()}
        metrics = {"loss": means.pop("loss"), "lr": lr, **means}
        rank_batch = {k: torch.cat([m[k] for m in micro_batches]) for k in micro_batches[0]}
        return metrics, rank_batch, torch.cat(recons)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "disc": None if self.disc is None else self.disc.state_dict(),
            "opt": self.opt.state_dict(),
            "opt_d": None if self.opt_d is None else self.opt_d.state_dict(),
            "sampler": self.sampler.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        if self.disc is not None:
            self.disc.load_state_dict(state["disc"])
            self.opt_d.load_state_dict(state["opt_d"])
        self.sampler.load_state_dict(state["sampler"])

    def model_file(self) -> dict[str, Any]:
        return model_payload(FACTORIZATION, self.model, config=config_dict(self.cfg), global_batch=self.global_batch)

    def summary(self) -> dict[str, Any]:
        return {"samples": [str(p) for p in sorted(set(self.samples))], "global_batch": self.global_batch}


# What a run trained on another run's landmarks must share with it: the pose and appearance encoders' sizes.
_ENCODER_KEYS = ("image_size", "channels", "n_landmarks", "appearance_channels", "pose_widths", "appearance_width")


def landmarks_source(cfg: TrainConfig, run_dir: Path) -> ModelFile | None:
    """The model file of the run `cfg.landmarks_from` names, read (None without it), checked to be finished and to
    have the same encoder sizes; errors name the run and the differing ModelConfig keys."""
    if cfg.landmarks_from is None:
        return None
    source = RunFiles(run_folder(run_dir, "factorization", cfg.landmarks_from)).model
    if not source.is_file():
        raise FileNotFoundError(
            f"landmarks_from: {source} does not exist: train the run {cfg.landmarks_from!r} first (chapter 2)"
        )
    file = read_model_file(source, "cpu", FACTORIZATION)
    saved = from_dict(TrainConfig, file.payload["config"], str(source))
    differ = [k for k in _ENCODER_KEYS if getattr(saved.model, k) != getattr(cfg.model, k)]
    if differ:
        raise ValueError(f"landmarks_from: {source} has other encoder sizes (model.{', model.'.join(differ)} differ)")
    return file


def _load_landmarks(model: FactorizationModel, source: ModelFile) -> None:
    """Load the pose and appearance encoders of the read model file `source` into `model` (load_state_dict copies
    onto the model's device); freeze the pose encoder."""
    weights = source.payload["model"]
    for name in ("pose_encoder", "appearance_encoder"):
        part = {k.removeprefix(f"{name}."): v for k, v in weights.items() if k.startswith(f"{name}.")}
        getattr(model, name).load_state_dict(part)
    model.pose_encoder.requires_grad_(False)


def _build(
    cfg: TrainConfig,
    out: Path,
    ctx: DistContext,
    device: torch.device,
    videoset: VideoSet,
    criterion: ReconstructionLoss,
    source: ModelFile | None,
) -> _Trainer:
    seed_everything(cfg.seed)  # identical initial weights on every rank and in every resumed process
    model = FactorizationModel(cfg.model).to(device)
    if source is not None:
        _load_landmarks(model, source)
    disc = Discriminator(cfg.model.channels).to(device) if cfg.loss.lambda_adv > 0 else None
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
        disc = None if disc is None else disc.to(memory_format=torch.channels_last)
    adam = dict(lr=cfg.lr, betas=cfg.adam_betas, weight_decay=cfg.weight_decay)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], **adam)
    opt_d = None if disc is None else torch.optim.Adam(disc.parameters(), **adam)
    sampler = FrameSampler(videoset, cfg.augment, seed=cfg.seed)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    return _Trainer(cfg, out, ctx, device, videoset, model, disc, criterion, opt, opt_d, sampler, generator)


def _open_training_data(cfg: TrainConfig, run_dir: Path, ctx: DistContext) -> VideoSet:
    """Open (on first use, generate) the training split; rank 0 first so ranks never generate the same files at once."""

    def open_() -> VideoSet:
        return open_dataset(cfg.dataset, cfg.split, run_dir, cfg.data_root, seed=cfg.data_seed, **cfg.synthetic)

    if ctx.is_main:
        videoset = open_()
    ctx.barrier()
    if not ctx.is_main:
        videoset = open_()
    channels = videoset.frames.shape[-1]
    if channels != cfg.model.channels:
        raise ValueError(
            f"model.channels is {cfg.model.channels} but dataset {cfg.dataset!r} has {channels}-channel frames"
        )
    return videoset


def train_factorization(config: TrainConfig | Mapping[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Train (or resume, or just report) the factorization model described by `config` under `run_dir`.

    Returns the run's summary: paths (run, config, metrics, checkpoint, model, samples), steps done, the step it
    resumed from, wall seconds of this call, and the final metrics row. Every config error is raised before training.
    """
    cfg = load_config(config)
    ctx, device = init_distributed(cfg.device)
    cfg = with_global_batch(cfg, ctx.world_size)
    run_dir = Path(run_dir)
    free = RESUMABLE_CHANGES if cfg.lr_schedule == "constant" else tuple(k for k in RESUMABLE_CHANGES if k != "steps")
    source = landmarks_source(cfg, run_dir)
    # a run on another run's landmarks is another run once that one is retrained
    data = None if source is None else ("landmarks", file_digest(source.path))
    run = RunFolder(run_path(cfg, run_dir), config_dict(cfg), _comparable, free, data)
    run.check_config_file()
    # Built first: a missing VGG19 weights file (VGGWeightsMissing) is reported before any data is generated.
    criterion = ReconstructionLoss(cfg.loss).to(device)
    videoset = _open_training_data(cfg, run_dir, ctx)
    trainer = _build(cfg, run.out, ctx, device, videoset, criterion, source)
    return train_loop(run, cfg, trainer, cfg.run_name, ctx, device)
