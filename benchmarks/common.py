"""Timing and memory helpers shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def best_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Best wall time of `repeat` calls (seconds), after `warmup` calls; syncs CUDA if used."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def verdict(value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "PASS" if ok else "MISS"


def peak_cpu_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated during `fn()` on CPU, counting each allocation and free once.

    The profiler's `cpu_memory_usage` of an op includes its child ops, so summing it over nested events (einsum calls
    bmm, a backward node calls its kernels) counts the same bytes twice or more; `self_cpu_memory_usage` does not.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    peak = current = 0
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start)
    for e in events:
        current += e.self_cpu_memory_usage
        peak = max(peak, current)
    return peak
