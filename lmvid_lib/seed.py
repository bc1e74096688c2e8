"""The one seeding helper: every entry point calls it so CPU runs are deterministic."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from lmvid_lib.config import check_int


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU torch.Generator seeded with `seed`.

    With `deterministic`, torch is asked for deterministic algorithms (warn-only, since some CUDA kernels have none).
    """
    check_int(seed, "seed", 0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)
