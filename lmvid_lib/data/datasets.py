"""Resolve a dataset name to a `VideoSet`: embedded synthetic presets are generated (and cached) under the run
directory; real datasets (BBC Pose, BAIR, KTH) are read from a folder prepared once by `lmvid prepare`
(`lmvid_lib.data.prepare`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmvid_lib.data.store import VideoSet, open_split, read_index
from lmvid_lib.paths import data_dir

EMBEDDED = ("signer", "pusher", "walker")
REAL = ("bbc", "bair", "kth")


def check_dataset(dataset: str, data_root: str | Path | None) -> None:
    """Raise a ValueError/FileNotFoundError naming the parameter when `dataset`/`data_root` cannot work.

    Cheap (no data is generated or read beyond index.json), so configs can be checked before any work starts.
    """
    if dataset not in EMBEDDED + REAL:
        raise ValueError(f"dataset: unknown dataset {dataset!r}; known: embedded {list(EMBEDDED)}, real {list(REAL)}")
    if data_root is None:
        if dataset in REAL:
            raise FileNotFoundError(
                f"dataset {dataset!r} is a real dataset: set data_root to its prepared folder "
                f"(`lmvid prepare {dataset} --src RAW --dst PREPARED`), or use an embedded one {list(EMBEDDED)}"
            )
        return
    index = read_index(data_root)  # FileNotFoundError naming the folder when it is not prepared
    if index.get("dataset") != dataset:
        raise ValueError(f"data_root {data_root} holds dataset {index.get('dataset')!r}, but dataset is {dataset!r}")


def open_dataset(
    dataset: str,
    split: str,
    run_dir: str | Path,
    data_root: str | Path | None = None,
    seed: int = 0,
    **synthetic_overrides: Any,
) -> VideoSet:
    """Open `split` of `dataset`.

    With `data_root` given, that prepared folder is read (any dataset). Otherwise an embedded preset is generated once
    into `run_dir/data` by `lmvid_lib.data.synthetic.cached(dataset, ..., seed, **synthetic_overrides)`; a real dataset
    without `data_root` is an error saying how to prepare it.
    """
    check_dataset(dataset, data_root)
    if data_root is not None:
        if synthetic_overrides:
            raise ValueError(
                f"synthetic overrides {sorted(synthetic_overrides)} only apply to embedded datasets without data_root"
            )
        return open_split(data_root, split)
    from lmvid_lib.data import synthetic  # imported here: generating data is only needed for embedded presets

    folder = synthetic.cached(dataset, data_dir(run_dir), seed=seed, **synthetic_overrides)
    return open_split(folder, split)


def dataset_splits(dataset: str, data_root: str | Path | None = None) -> tuple[str, ...]:
    """The split names of `dataset`: an embedded preset's, or those listed in the index of the prepared `data_root`."""
    check_dataset(dataset, data_root)
    if data_root is not None:
        return tuple(read_index(data_root)["splits"])
    from lmvid_lib.data import synthetic

    return synthetic.splits(dataset)
