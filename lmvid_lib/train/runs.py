"""What every resumable training run shares: RNG states in checkpoints, metrics.csv, and the resumable-config check.

The factorization trainer (`train/factorization.py`) and the landmark-dynamics trainer (`train/dynamics.py`) both
write `checkpoints/last.pt` (atomic, via `lmvid_lib.io.save_checkpoint`) holding the RNG states from `rng_state`, so a
run killed at any point resumes bit-identically; both log `metrics.csv` and refuse to resume under a changed config.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from lmvid_lib.io import atomic_write_bytes


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
