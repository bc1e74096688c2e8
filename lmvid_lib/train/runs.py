"""What every resumable training run shares: RNG states in checkpoints, metrics.csv, and the resumable-config check.

The factorization trainer (`train/factorization.py`) and the landmark-dynamics trainer (`train/dynamics.py`) both
write `checkpoints/last.pt` (atomic, via `lmvid_lib.io.save_checkpoint`) holding the RNG states from `rng_state`, so a
run killed at any point resumes bit-identically; both log `metrics.csv` and refuse to resume under a changed config.
The sequence predictors (the landmark LSTM, `train/dynamics.py`, and the pixel predictor, `train/pixel_predictor.py`)
share their whole loop, `train_sequence_model`.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from lmvid_lib.io import atomic_write_bytes, atomic_write_json, load_checkpoint, save_checkpoint


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
    path = Path(run) / "metrics.csv"
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def train_sequence_model(
    cfg: Any,
    out: Path,
    now: Mapping[str, Any],
    data: tuple[str, str],
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    generator: torch.Generator,
    batch_loss: Callable[[], torch.Tensor],
    validation_loss: Callable[[], float] | None,
    model_file: Callable[[], dict[str, Any]],
    resumable: Iterable[str],
    desc: str,
) -> dict[str, Any]:
    """The resumable loop the sequence predictors share (the landmark LSTM, the pixel predictor): resume from
    `<out>/checkpoints/last.pt` if there (the same config `now` up to the keys in `resumable`, and the same training
    data: `data` = (what it is, e.g. "states", its digest)), else write config.json;
    then Adam steps on `batch_loss()` with gradient clipping at cfg.grad_clip, metrics.csv every cfg.log_every steps
    (with `validation_loss()` when given), last.pt every cfg.checkpoint_every, `model_file()` plus config, step and
    digest as model.pt at the end; summary.json. `cfg`: a `train.dynamics.SequenceTrainConfig`. Returns the summary
    (paths, steps, schedule, resumed_from, seconds, final metrics row)."""
    from tqdm import tqdm

    kind, digest = data
    digest_key = f"{kind}_digest"
    ckpt_path, model_path = out / "checkpoints" / "last.pt", out / "model.pt"
    start, metrics, window = 0, [], []
    if ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, map_location=cfg.device)
        check_resumable(state["config"], now, resumable, ckpt_path)
        if state[digest_key] != digest:
            raise ValueError(
                f"{ckpt_path} was trained on other {kind} (digest {state[digest_key]}, now {digest}): give this run "
                f"another name or run_dir, or delete {out}"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        set_rng_state(state["rng"], generator)
        start, metrics, window = int(state["step"]), list(state["metrics"]), list(state["window"])
    else:
        atomic_write_json(out / "config.json", dict(now))

    started = time.perf_counter()
    if start < cfg.steps:
        model.train()
        bar = tqdm(total=cfg.steps, initial=start, desc=desc, disable=not cfg.progress, mininterval=2)
        tick = time.perf_counter()
        for step in range(start + 1, cfg.steps + 1):
            opt.zero_grad(set_to_none=True)
            loss = batch_loss()
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            window.append(float(loss.detach()))
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                now_t = time.perf_counter()
                row = {"step": step, "loss": sum(window) / len(window)}
                if validation_loss is not None:
                    row["val_loss"] = validation_loss()
                metrics.append({**row, "sec_per_step": (now_t - tick) / len(window)})
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                window, tick = [], now_t
                write_metrics_csv(out / "metrics.csv", metrics)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                state = {"step": step, "window": window, "config": now, digest_key: digest}
                state.update(model=model.state_dict(), opt=opt.state_dict(), rng=rng_state(generator), metrics=metrics)
                save_checkpoint(ckpt_path, state)
        bar.close()
        save_checkpoint(model_path, {**model_file(), "config": now, "step": cfg.steps, digest_key: digest})
    summary = {
        "run": str(out),
        "config": str(out / "config.json"),
        "metrics": str(out / "metrics.csv"),
        "checkpoint": str(ckpt_path),
        "model": str(model_path),
        "steps": cfg.steps,
        "resumed_from": start,
        "seconds": time.perf_counter() - started,
        "final": metrics[-1] if metrics else {},
        "schedule": list(cfg.schedule()),
    }
    atomic_write_json(out / "summary.json", summary)
    return summary
