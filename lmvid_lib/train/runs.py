"""The one resumable training loop (`train_loop`) every trainer runs: the factorization model
(`train/factorization.py`), the landmark LSTM (`train/dynamics.py`), the pixel predictor (`train/pixel_predictor.py`)
and the structure detector (`train/structure.py`).

A run folder holds config.json, metrics.csv (one row per `log_every` steps: the window's mean metrics, optional
validation, seconds per step), checkpoints/last.pt (every `checkpoint_every` steps, atomic, with the RNG states from
`rng_state`, so a run killed at any point, even by SIGKILL, resumes bit-identically), model.pt and summary.json.
Calling a trainer again on the same folder resumes from last.pt, or returns the summary of a finished run; a changed
config (`RunFolder.check`, up to the keys that may change) or other training data (`RunFolder.data`) is refused. A
trainer brings only what is its own, as a `Trainer`: one optimisation step, its state, its model file.

The code that trained a run is part of what it is: last.pt, model.pt and summary.json record the library's code digest
(`paths.code_digest`), and a run trained by other code is refused (`check_code`) with an error naming the folder and
both digests: delete the folder to retrain it, or use another run_dir. Retraining is never silent (it would break a
profile's time budget); a finished run may instead be reused as it is when the environment sets
LMVID_REUSE_STALE_RUNS=1 (`lmvid run --reuse-stale-runs`), and the book's run record then lists it. An unfinished run
is never continued by other code: its steps would mix two codes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lmvid_lib.io import atomic_write_bytes, atomic_write_json, load_checkpoint, save_checkpoint
from lmvid_lib.paths import RunFiles, code_digest
from lmvid_lib.train.allocator import keep_freed_memory
from lmvid_lib.train.distributed import DistContext


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """The global torch (and CUDA) RNG states and `generator`'s, as tensors a weights_only checkpoint can hold."""
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any], generator: torch.Generator) -> None:
    """Restore what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


REUSE_STALE_RUNS = "LMVID_REUSE_STALE_RUNS"  # "1": a finished run trained by other library code is reused as it is


def reuse_stale_runs() -> bool:
    """Whether this process may reuse finished runs trained by other library code (REUSE_STALE_RUNS is "1")."""
    return os.environ.get(REUSE_STALE_RUNS, "") == "1"


def check_code(saved: str | None, now: str, finished: bool, path: Path, folder: Path) -> None:
    """Raise ValueError unless a run whose last.pt (`path`) records code digest `saved` (None: none recorded) may go on
    under the library code of digest `now`: the same code, or a `finished` run while `reuse_stale_runs()`."""
    if saved == now or (finished and reuse_stale_runs()):
        return
    was = f"code digest {saved[:12]}" if saved else "no code digest recorded"
    how = (
        f"delete {folder} to retrain it, give the run another run_dir, or reuse it as it is with "
        f"`lmvid run --reuse-stale-runs` (environment {REUSE_STALE_RUNS}=1)"
        if finished
        else f"delete {folder} to retrain it or give the run another run_dir (an unfinished run is never continued by "
        "other code)"
    )
    raise ValueError(f"{path} was trained by other library code ({was}, now {now[:12]}): {how}")


def trained_by(folder: str | Path) -> str | None:
    """The code digest a finished run's summary.json records (None: not recorded, or no summary)."""
    path = RunFiles(Path(folder)).summary
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("code_digest")


def check_resumable(saved: Mapping[str, Any], now: Mapping[str, Any], free: Iterable[str], path: Path) -> None:
    """Raise ValueError naming the keys (other than `free`) in which two config dicts differ: a run saved under
    `saved` (read from `path`) cannot continue under `now`."""
    free = set(free)
    differ = sorted(k for k in set(saved) | set(now) if k not in free and saved.get(k) != now.get(k))
    if differ:
        raise ValueError(
            f"{path} was trained with a different config ({', '.join(differ)} differ): "
            f"give this run another name or run_dir, or delete {path.parent}"
        )


def write_metrics_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """Write metric rows (dicts; keys in first-seen order) to a CSV file atomically; nothing for no rows."""
    if not rows:
        return
    keys = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def read_metrics(run: str | Path) -> list[dict[str, float]]:
    """The rows of `<run>/metrics.csv` as dicts of floats."""
    path = RunFiles(Path(run)).metrics
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


@dataclass
class RunFolder:
    """A run's folder and what a resumption must match: `config` (the run's config as JSON data, written to
    config.json and stored in last.pt and model.pt), up to the keys in `resumable`; `comparable(saved, source)` turns
    a saved config (read from `source`) into what `config` holds now (through its dataclass, so fields added since take
    their defaults); `data` = (what the training data is, e.g. "states", its digest), or None when the config alone
    names the data."""

    out: Path
    config: dict[str, Any]
    comparable: Callable[[Mapping[str, Any], str], dict[str, Any]]
    resumable: Iterable[str]
    data: tuple[str, str] | None = None
    code: str = field(default_factory=code_digest)  # the library code training it now

    @property
    def checkpoint(self) -> Path:
        return RunFiles(self.out).checkpoint

    @property
    def model(self) -> Path:
        return RunFiles(self.out).model

    def check(self, saved: Mapping[str, Any], path: Path) -> None:
        """ValueError if the run saved under config `saved` (read from `path`) cannot continue under this config."""
        check_resumable(self.comparable(saved, str(path)), self.config, self.resumable, path)

    def check_config_file(self) -> None:
        """`check` against config.json if there: call it before building anything costly, so a run that cannot
        resume fails at once."""
        path = RunFiles(self.out).config
        if path.is_file():
            self.check(json.loads(path.read_text()), path)

    def data_entry(self) -> dict[str, str]:
        """The data digest as stored in last.pt and model.pt: {"<kind>_digest": digest}, or nothing."""
        return {} if self.data is None else {f"{self.data[0]}_digest": self.data[1]}

    def check_state(self, state: Mapping[str, Any], world_size: int, finished: bool = False) -> None:
        """ValueError if last.pt's `state` was written under another config, data, library code (`check_code`;
        `finished`: no step is left to train) or number of processes."""
        path = self.checkpoint
        self.check(state["config"], path)
        if self.data is not None:
            kind, digest = self.data
            if state[f"{kind}_digest"] != digest:
                raise ValueError(
                    f"{path} was trained on other {kind} (digest {state[f'{kind}_digest']}, now {digest}): give this "
                    f"run another name or run_dir, or delete {self.out}"
                )
        saved_world = state.get("world_size", 1)  # a run before the loop stored it had one process
        if saved_world != world_size:
            raise ValueError(f"{path} was written by {saved_world} processes, this run has {world_size}")
        check_code(state.get("code_digest"), self.code, finished, path, self.out)


class Trainer:
    """What a trainer brings to `train_loop`: `generator` (the torch.Generator its batches are drawn from; saved with
    the global RNG states), one optimisation step, its state for last.pt and its model file. The hooks default to
    nothing."""

    generator: torch.Generator

    def step(self, step: int) -> dict[str, float]:
        """Training step `step` (1-based): one optimiser update; its metrics (floats, "loss" among them)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """What last.pt must hold beyond the loop's own entries to resume bit-identically (weights, optimisers...)."""
        raise NotImplementedError

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def model_file(self) -> dict[str, Any]:
        """model.pt's payload; the loop adds config, step and data digest."""
        raise NotImplementedError

    def begin(self, start: int) -> None:
        """Called once after any resumption, before training from step `start` + 1 (also when nothing is left)."""

    def validate(self) -> dict[str, float]:
        """Extra columns of a metrics row (e.g. val_loss), computed when it is logged."""
        return {}

    def after_step(self, step: int, last: bool) -> None:
        """Called after step `step`'s metrics row (if any) and before its checkpoint (if any)."""

    def summary(self) -> dict[str, Any]:
        """Extra entries of summary.json."""
        return {}


@dataclass
class LossTrainer(Trainer):
    """A trainer whose step is one Adam-style update of `model` on `loss()` (a scalar tensor), its gradient norm
    clipped at `grad_clip` (0: not clipped); `validation()` gives a row's val_loss; `extra` goes into the summary."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    generator: torch.Generator
    loss: Callable[[], torch.Tensor]
    payload: Callable[[], dict[str, Any]]
    grad_clip: float = 0.0
    validation: Callable[[], float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def step(self, step: int) -> dict[str, float]:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss()
        loss.backward()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.opt.step()
        return {"loss": float(loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])

    def model_file(self) -> dict[str, Any]:
        return self.payload()

    def begin(self, start: int) -> None:
        self.model.train()

    def validate(self) -> dict[str, float]:
        return {} if self.validation is None else {"val_loss": self.validation()}

    def summary(self) -> dict[str, Any]:
        return dict(self.extra)


def _resume(
    run: RunFolder, trainer: Trainer, ctx: DistContext, device: Any, steps: int
) -> tuple[int, list, list, str | None]:
    """(step, metrics rows, the window of unlogged step metrics, the code digest that trained it: None when not
    recorded) of last.pt, loaded into `trainer`; (0, [], [], the current code digest) and config.json written (by
    rank 0) for a new run. `steps`: the steps the run is to have."""
    if not run.checkpoint.is_file():
        if ctx.is_main:
            atomic_write_json(RunFiles(run.out).config, run.config)
        return 0, [], [], run.code
    state = load_checkpoint(run.checkpoint, map_location=device)
    step = int(state["step"])
    run.check_state(state, ctx.world_size, finished=step >= steps)
    trainer.load_state_dict(state)
    set_rng_state(state["rng"], trainer.generator)
    return step, list(state["metrics"]), list(state["window"]), state.get("code_digest")


def _window_mean(window: list[dict[str, float]], ctx: DistContext, device: Any) -> dict[str, float]:
    """The mean of each metric over the steps of `window` (and over the ranks)."""
    return ctx.mean({k: sum(m[k] for m in window) / len(window) for k in window[0]}, device)


def train_loop(
    run: RunFolder, cfg: Any, trainer: Trainer, desc: str, ctx: DistContext | None = None, device: Any = "cpu"
) -> dict[str, Any]:
    """Train `trainer` in `run`'s folder for cfg.steps steps (cfg: any config with steps, log_every,
    checkpoint_every and progress), resuming from last.pt if there, and write summary.json; returns the summary
    (paths, steps, resumed_from, seconds, final metrics row, and `trainer.summary()`). Under DDP (`ctx`) every rank
    trains and rank 0 writes, with barriers after each checkpoint and at the end; `device`: where last.pt loads to."""
    from tqdm import tqdm

    keep_freed_memory()  # CPU steps reuse their buffers instead of faulting in fresh pages (train/allocator.py)
    ctx = ctx or DistContext()
    start, metrics, window, trained = _resume(run, trainer, ctx, device, cfg.steps)
    trainer.begin(start)
    started = time.perf_counter()
    if start < cfg.steps:
        bar = tqdm(total=cfg.steps, initial=start, desc=desc, disable=not (cfg.progress and ctx.is_main), mininterval=2)
        tick = time.perf_counter()
        for step in range(start + 1, cfg.steps + 1):
            window.append(trainer.step(step))
            bar.update(1)
            last = step == cfg.steps
            if step % cfg.log_every == 0 or last:
                now = time.perf_counter()
                row = {"step": step, **_window_mean(window, ctx, device), **trainer.validate()}
                metrics.append({**row, "sec_per_step": (now - tick) / len(window)})
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                window, tick = [], now
                if ctx.is_main:
                    write_metrics_csv(RunFiles(run.out).metrics, metrics)
            trainer.after_step(step, last)
            if step % cfg.checkpoint_every == 0 or last:
                if ctx.is_main:
                    # window: the steps since the last logged row, so that resumed rows average the same steps
                    state = {"step": step, "window": window, "config": run.config, "code_digest": run.code}
                    state.update(run.data_entry())
                    state.update(trainer.state_dict(), rng=rng_state(trainer.generator), metrics=metrics)
                    save_checkpoint(run.checkpoint, {**state, "world_size": ctx.world_size})
                ctx.barrier()
        bar.close()
        if ctx.is_main:
            payload = {**trainer.model_file(), "config": run.config, "step": cfg.steps, "code_digest": run.code}
            payload.update(run.data_entry())
            save_checkpoint(run.model, payload)
    ctx.barrier()
    summary = {
        "run": str(run.out),
        "config": str(RunFiles(run.out).config),
        "metrics": str(RunFiles(run.out).metrics),
        "checkpoint": str(run.checkpoint),
        "model": str(run.model),
        "steps": cfg.steps,
        "resumed_from": start,
        "seconds": time.perf_counter() - started,
        "final": metrics[-1] if metrics else {},
        "code_digest": trained,  # the code that trained it: the current one, unless a stale run was reused
        **trainer.summary(),
    }
    if ctx.is_main:
        atomic_write_json(RunFiles(run.out).summary, summary)
    return summary


def training_seconds(run: str | Path) -> float:
    """Wall seconds a run's training steps took, from its metrics.csv (each row's seconds per step times the steps
    since the previous row): the budget it was given on the machine that trained it."""
    total, previous = 0.0, 0
    for row in read_metrics(run):
        total += row["sec_per_step"] * (row["step"] - previous)
        previous = row["step"]
    return total
