"""FLOPs of the factorization model's step by `lmvid_lib.models.flops.count_flops` (convs, matmuls, einsums; not
elementwise ops).

Used by `benchmarks/bench_models.py` to turn a measured step time into achieved FLOP/s.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from lmvid_lib.models.flops import count_flops


def training_step_flops(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> int:
    """FLOPs of one forward + backward of `model` on `batch` (keys pose_input, appearance_input, target; [B,C,H,W]).

    The backward is counted, not estimated; parameters' `.grad` are restored afterwards (torch.autograd.grad would
    avoid that, but FlopCounterMode's module hooks reject it). The loss is MSE: elementwise, so not counted.
    """
    missing = {"pose_input", "appearance_input", "target"} - set(batch)
    if missing:
        raise ValueError(f"training_step_flops: batch lacks {sorted(missing)}")
    params = list(model.parameters())
    saved = [p.grad for p in params]
    for p in params:
        p.grad = None

    def step() -> None:
        out = model(batch["pose_input"], batch["appearance_input"])
        F.mse_loss(out["recon"].float(), batch["target"].float()).backward()

    try:
        return count_flops(step)
    finally:
        for p, grad in zip(params, saved):
            p.grad = grad


def forward_flops(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> int:
    """FLOPs of one forward of `model(pose_input, appearance_input)` without autograd."""
    with torch.no_grad():
        return count_flops(lambda: model(batch["pose_input"], batch["appearance_input"]))
