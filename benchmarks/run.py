"""`make bench`: run every benchmarks/bench_*.py (or those named on the command line) and print their tables.

Each benchmark module has `main() -> None` that measures ours and the alternative side by side in the same process and
prints ratios. Nothing here asserts a time: targets are printed next to the measured ratio as PASS/MISS.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    cuda = "yes: " + torch.cuda.get_device_name() if torch.cuda.is_available() else "no"
    print(
        f"lmvid benchmarks on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, cuda={cuda}"
    )
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"\n=== {name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        start = time.perf_counter()
        module.main()
        print(f"--- {name} took {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
