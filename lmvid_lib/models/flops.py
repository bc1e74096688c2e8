"""FLOP counting: torch.utils.flop_counter (a well-kept counter of convs, matmuls and einsums, forward and backward).

Elementwise ops (norms, activations, the optimiser update) are not counted. Needs torch alone, so the GPU check
(`benchmarks/gpu_check.py`) can use it without the data stack.

The counter has no formula for the fused RNN kernels an LSTM runs as (oneDNN's mkldnn_rnn_layer on CPU, cuDNN's
_cudnn_rnn on CUDA), so it would count an LSTM as 0 FLOPs; `count_flops` adds theirs: a layer's gate matmuls,
2 T B (4H I + 4H H) forward, twice that backward (the input's and the weights' gradients).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten


def _steps(input_shape: Sequence[int]) -> int:
    """T x B of an RNN input [T,B,I] or [B,T,I] (either order: the product)."""
    return math.prod(input_shape[:-1])


def _matrices(weights: Sequence[Any]) -> int:
    """Entries of the 2-D weight matrices among `weights` (shapes; biases are 1-D)."""
    return sum(math.prod(w) for w in weights if w is not None and len(w) == 2)


def _mkldnn_rnn_layer(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    return 2 * _steps(input_shape) * _matrices([w_ih, w_hh])


def _mkldnn_rnn_layer_backward(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    return 2 * _mkldnn_rnn_layer(input_shape, w_ih, w_hh)


def _cudnn_rnn(input_shape, weights, *args, out_shape=None, **kwargs) -> int:
    return 2 * _steps(input_shape) * _matrices(weights)


def _cudnn_rnn_backward(input_shape, weights, *args, out_shape=None, **kwargs) -> int:
    return 2 * _cudnn_rnn(input_shape, weights)


RNN_FORMULAS = {
    aten.mkldnn_rnn_layer: _mkldnn_rnn_layer,
    aten.mkldnn_rnn_layer_backward: _mkldnn_rnn_layer_backward,
    aten._cudnn_rnn: _cudnn_rnn,
    aten._cudnn_rnn_backward: _cudnn_rnn_backward,
}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of `fn()` (convs, matmuls, einsums and LSTMs, forward and backward; not elementwise ops)."""
    with FlopCounterMode(display=False, custom_mapping=RNN_FORMULAS) as counter:
        fn()
    return int(counter.get_total_flops())
