"""FLOP counting: torch.utils.flop_counter (a well-kept counter of convs, matmuls and einsums, forward and backward).

Elementwise ops (norms, activations, the optimiser update) are not counted. Needs torch alone, so the GPU check
(`benchmarks/gpu_check.py`) can use it without the data stack.
"""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of `fn()` (convs, matmuls, einsums, forward and backward; not elementwise ops)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())
