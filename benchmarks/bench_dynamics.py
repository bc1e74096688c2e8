"""Landmark LSTM rollout: ours (one nn.LSTM call per step, carried (h, c)) vs a per-step loop over nn.LSTMCell layers.

The issue's budget: 256 sequences x 100 predicted frames, K = 30, the paper's 3 x 256 LSTM, float32 on CPU, in under
a second. Ours (`lmvid_lib.models.rollout.rollout`) feeds the 2-frame context in one call and then calls the
multi-layer nn.LSTM once per step on all sequences; the alternative is the textbook loop: for every step, for every
layer, an nn.LSTMCell (same weights), then the linear layer. Both are checked to agree before timing.
The rollout is matrix-multiply bound (about 0.83 GFLOP per step, 84 GFLOP in all), so the table also times the bare
gate matrix products of the same sizes: the budget needs about 84 GFLOP/s sustained from the CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.common import best_time, verdict
from lmvid_lib.models.dynamics import DynamicsConfig, LandmarkLSTM, residuals
from lmvid_lib.models.rollout import rollout

SEQUENCES, CONTEXT, FUTURE, LANDMARKS = 256, 2, 100, 30
TIME_TARGET = 1.0  # seconds for our rollout


def lstm_cells(model: LandmarkLSTM) -> list[nn.LSTMCell]:
    """The layers of model.lstm as nn.LSTMCell modules with the same weights."""
    cells = []
    for layer in range(model.cfg.layers):
        cell = nn.LSTMCell(model.lstm.input_size if layer == 0 else model.cfg.hidden, model.cfg.hidden)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data.copy_(getattr(model.lstm, f"{name}_l{layer}"))
        cells.append(cell)
    return cells


def cell_rollout(model: LandmarkLSTM, cells: list[nn.LSTMCell], context: torch.Tensor, n_future: int) -> torch.Tensor:
    """The same prediction as `rollout(model, context, n_future)`, one nn.LSTMCell call per layer and step."""
    n = context.shape[0]
    state = [(context.new_zeros(n, model.cfg.hidden), context.new_zeros(n, model.cfg.hidden)) for _ in cells]
    inputs, deltas = list(context.unbind(1)), list(residuals(context, None).unbind(1))
    future = []
    with torch.no_grad():
        for step in range(context.shape[1] - 1 + n_future):
            current = inputs[step]
            x = torch.cat(
                [
                    (current - model.state_mean) / model.state_std,
                    (deltas[step] - model.residual_mean) / model.residual_std,
                ],
                -1,
            ).flatten(1)
            for layer, cell in enumerate(cells):
                state[layer] = cell(x, state[layer])
                x = state[layer][0]
            following = current + model.head(x).view_as(current) * model.residual_std + model.residual_mean
            if step >= context.shape[1] - 1:
                future.append(following)
                inputs.append(following)
                deltas.append(following - current)
    return torch.stack(future, 1)


def gate_products(model: LandmarkLSTM, steps: int) -> tuple[float, object]:
    """(FLOPs of the LSTM's gate matrix products over `steps` steps, a function doing just those products)."""
    sizes = [
        (model.lstm.input_size if layer == 0 else model.cfg.hidden) + model.cfg.hidden
        for layer in range(model.cfg.layers)
    ]
    weights = [torch.randn(size, 4 * model.cfg.hidden) for size in sizes]
    inputs = [torch.randn(SEQUENCES, size) for size in sizes]

    def run() -> None:
        for _ in range(steps):
            for x, w in zip(inputs, weights):
                x @ w

    return float(sum(2 * SEQUENCES * w.numel() for w in weights) * steps), run


def main() -> None:
    torch.manual_seed(0)
    model = LandmarkLSTM(DynamicsConfig(n_landmarks=LANDMARKS, layers=3, hidden=256)).eval()
    context = torch.randn(SEQUENCES, CONTEXT, LANDMARKS, 5) * 0.3
    cells = lstm_cells(model)
    ours = rollout(model, context, FUTURE)
    theirs = cell_rollout(model, cells, context, FUTURE)
    error = (ours - theirs).abs().max().item()
    assert error < 1e-3, f"rollouts disagree by {error}"
    t_ours = best_time(lambda: rollout(model, context, FUTURE), repeat=3)
    t_cells = best_time(lambda: cell_rollout(model, cells, context, FUTURE), repeat=3)
    flops, products = gate_products(model, CONTEXT - 1 + FUTURE)
    t_products = best_time(products, repeat=3)
    print(f"rollout {SEQUENCES} sequences x {FUTURE} frames, K={LANDMARKS}, LSTM 3x256, max |difference| {error:.1e}")
    print(
        f"  ours (nn.LSTM per step)     {t_ours * 1e3:8.1f} ms   target < {TIME_TARGET:.1f} s: "
        f"{verdict(t_ours, TIME_TARGET, higher_is_better=False)}"
    )
    print(f"  nn.LSTMCell loop per layer  {t_cells * 1e3:8.1f} ms   ratio loop / ours {t_cells / t_ours:.2f}x")
    print(
        f"  bare gate products (bound)  {t_products * 1e3:8.1f} ms   {flops / 1e9:.0f} GFLOP: ours at "
        f"{flops / t_ours / 1e9:.0f} GFLOP/s, the products at {flops / t_products / 1e9:.0f} GFLOP/s"
    )
