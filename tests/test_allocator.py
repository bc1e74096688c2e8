"""lmvid_lib.allocator: after keep_freed_memory, glibc serves activation-sized buffers from its heap, not from fresh
mmaps (the reuse that saves the page faults), and the setting is idempotent."""

from __future__ import annotations

import ctypes
import ctypes.util

import pytest
import torch

from lmvid_lib.train.allocator import MMAP_THRESHOLD, keep_freed_memory


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


def _mmapped_bytes() -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("no glibc mallinfo2 (glibc >= 2.33) to inspect the heap")
    libc.mallinfo2.restype = _MallInfo2
    return libc.mallinfo2().hblkhd


def test_activation_sized_buffers_come_from_the_heap_after_keep_freed_memory():
    _mmapped_bytes()  # skips off glibc
    assert keep_freed_memory() is True  # Linux CI runs glibc
    assert keep_freed_memory() is True
    size = MMAP_THRESHOLD // 2  # 16 MB: above glibc's default threshold (128 KB, adapting), below ours
    before = _mmapped_bytes()
    buffer = torch.empty(size // 4, dtype=torch.float32)
    buffer.fill_(1.0)
    during = _mmapped_bytes()
    assert during - before < size, "the buffer was served by a fresh mmap"
    del buffer
