"""CPU memory allocation: glibc's malloc told to keep freed blocks for reuse, so that training steps stop faulting in
fresh pages for every activation.

A CPU training step allocates and frees the same activation-sized buffers (a few MB each) every step. glibc serves
blocks above its mmap threshold with a fresh `mmap` and returns them to the OS on `free`, so each step touches new
pages and pays a page fault per 4 KB; the profiler shows this as slow `copy_` / `fill_` and as step-to-step jitter.
`keep_freed_memory` raises the mmap threshold to its maximum (32 MB on 64-bit glibc) and the trim threshold, so freed
blocks stay in the heap and are reused. The numbers a run computes do not change, only where its buffers live.
Measured: experiments/log.yaml#malloc-reuse.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: larger values are refused
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of freed heap before giving it back
TOP_PAD = 64 << 20  # grow the heap in 64 MB steps


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse (module docstring); True if it accepted all three settings,
    False off glibc (macOS, musl, Windows), where nothing is changed. Idempotent; affects this process only."""
    try:  # the symbols already loaded into this process (libc among them): no library search, no subprocess
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    accepted = [mallopt(param, value) == 1 for param, value in settings]  # each one tried, whatever the others did
    return all(accepted)
