"""The one dataset registry, and resolving a dataset name to a `VideoSet`.

`DATASETS` holds every fact the book needs about a dataset name: the paper's dataset it is or stands for, whether it is
an embedded stand-in (generated and cached under the run directory) or a real dataset read from a folder prepared once
by `lmvid prepare` (`lmvid_lib.data.prepare`), its twin (stand-in <-> real), the landmark LSTM's training schedule
(appendix A), the video-prediction protocol (§3.2-3.3) and the paper's figures of it. `data_label` is the caption text
every chapter uses, so a chapter run on prepared real data says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmvid_lib.data.store import VideoSet, open_split, read_index
from lmvid_lib.paths import data_dir


@dataclass(frozen=True)
class Dataset:
    """One dataset name of the book."""

    name: str
    paper: str  # the paper's dataset it is, or stands for
    embedded: bool  # an embedded synthetic stand-in (else a real dataset, read from a prepared folder)
    twin: str  # the real dataset an embedded one stands for; the stand-in of a real one
    schedule: tuple[int, int]  # the landmark LSTM's (n inputs, m future) training schedule, appendix A
    protocol: tuple[int, int] | None = None  # video prediction: (context, predicted) frames, §3.2 BAIR / §3.3 KTH
    figures: tuple[int, int] | None = None  # the paper's figures of its predictions: (per-frame scores, clips)
    # The pixel predictor's (n inputs, m future): SVG's training schedules (edenton/svg: BAIR 2 past / 10 future, KTH
    # 10 / 10; ours for BBC Pose), so that it trains with its own frames fed back (m > 0) as SVG and SAVP do.
    pixel_schedule: tuple[int, int] = (10, 10)
    # Chapter 4's reported splits, first the held-out frames (the training people in new motion), then held-out attire:
    # the signer's test / val videos; on real BBC Pose the paper's held-out frames of the training videos (appendix C)
    # and its val videos. Empty: chapter 4 scores no pose read-out on this dataset.
    held_out: tuple[tuple[str, str], ...] = ()


VIDEO_PAPER = "your own videos"  # what the `video` dataset "is" in captions: no dataset of the paper
# The prepared BBC Pose split of held-out frames of the training videos (`data.prepare`), chapter 4's first split.
HELD_OUT_FRAMES = "held_out_frames"
_SIGNER_HELD_OUT = (("test", "held-out frames"), ("val", "held-out attire"))
_BBC_HELD_OUT = ((HELD_OUT_FRAMES, "held-out frames"), ("val", "held-out attire"))
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("signer", "BBC Pose", True, "bbc", (10, 10), held_out=_SIGNER_HELD_OUT),
        Dataset("pusher", "BAIR", True, "bair", (10, 0), (2, 28), (5, 4), (2, 10)),
        Dataset("walker", "KTH", True, "kth", (10, 10), (10, 30), (7, 8)),
        Dataset("bbc", "BBC Pose", False, "signer", (10, 10), held_out=_BBC_HELD_OUT),
        Dataset("bair", "BAIR", False, "pusher", (10, 0), (2, 28), (5, 4), (2, 10)),
        Dataset("kth", "KTH", False, "walker", (10, 10), (10, 30), (7, 8)),
        # your own videos (`lmvid prepare video`): no stand-in, no keypoints; KTH's schedules and 10 -> 30 protocol
        Dataset("video", VIDEO_PAPER, False, "", (10, 10), (10, 30)),
    )
}
EMBEDDED = tuple(name for name, d in DATASETS.items() if d.embedded)
# The validation split: videos of the training distribution held out from training, on which every setting is chosen.
# Named apart from BBC Pose's `val` videos (the held-out attire split the book reports) and from `test`.
VALIDATION = "tune"
REAL = tuple(name for name, d in DATASETS.items() if not d.embedded)


def dataset_info(name: str) -> Dataset:
    """The registry entry of `name`; a ValueError naming the known datasets otherwise."""
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; known: embedded {list(EMBEDDED)}, real {list(REAL)}")
    return DATASETS[name]


def data_label(dataset: str, data_root: str | Path | None = None) -> str:
    """What a run's data is, for a caption: "embedded synthetic stand-in for BAIR" or "prepared real KTH data, split
    persons train 1-16, test 17-25 (SAVP convention)" (the prepared set's split rule, when it can be read)."""
    paper = dataset_info(dataset).paper
    if paper == VIDEO_PAPER:
        rule = None if data_root is None else split_rule(data_root)
        return f"your own videos (prepared by lmvid prepare video, split {rule})" if rule else "your own videos"
    if data_root is None:
        return f"embedded synthetic stand-in for {paper}"
    rule = split_rule(data_root)
    return f"prepared real {paper} data, split {rule}" if rule else f"prepared real {paper} data"


def split_rule(data_root: str | Path) -> str | None:
    """The first clause of a prepared set's split rule ("persons train 1-16, test 17-25 (SAVP convention)"), so a
    caption names the convention the test set follows; None when the set cannot be read (moved since training)."""
    try:
        rule = read_index(data_root).get("provenance", {}).get("split_rule")
    except (OSError, ValueError):
        return None
    return rule.split(";")[0].strip() if rule else None


def check_dataset(dataset: str, data_root: str | Path | None) -> None:
    """Raise a ValueError/FileNotFoundError naming the parameter when `dataset`/`data_root` cannot work.

    Cheap (no data is generated or read beyond index.json), so configs can be checked before any work starts.
    """
    dataset_info(dataset)
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


def has_keypoints(dataset: str, data_root: str | Path | None = None) -> bool:
    """Whether `dataset`'s data has ground-truth keypoints: every embedded stand-in does; a prepared set when its
    index lists keypoint names (BBC Pose; not BAIR, KTH or your own videos)."""
    check_dataset(dataset, data_root)
    return data_root is None or bool(read_index(data_root).get("keypoint_names"))


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


def has_validation(dataset: str, data_root: str | Path | None = None) -> bool:
    """Whether `dataset` has the validation split (every embedded stand-in; a prepared real set not yet)."""
    return VALIDATION in dataset_splits(dataset, data_root)


def reported_splits(dataset: str, data_root: str | Path | None = None, train_split: str = "train") -> tuple[str, ...]:
    """The held-out splits a chapter reports: every split of `dataset` but the one it trains on and the validation
    split (`VALIDATION`, only ever used to choose settings)."""
    return tuple(s for s in dataset_splits(dataset, data_root) if s not in (train_split, VALIDATION))
