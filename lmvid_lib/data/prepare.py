"""Convert the original BBC Pose / BAIR / KTH files, once, into the prepared format of `lmvid_lib.data.store`.

`prepare(dataset, src, dst, **options)` (and `lmvid prepare ...`) reads the original files and writes one prepared set:

* atomic: frames are first spooled to a scratch folder beside `dst` (so a large set never has to fit in memory), then
  `store.write_dataset` writes the set into a temp folder renamed into place at the end; an interrupted or failed run
  leaves no `index.json` at `dst` and an existing prepared set at `dst` untouched.
* idempotent: if `dst` already holds this dataset prepared from the same source with the same options and tool
  version (see `index.json` provenance), it says so and returns; `force=True` rebuilds. A `dst` holding anything
  else (another prepared set, or a non-empty folder that is not a prepared set) is never replaced without `force`
  (and a non-empty folder that is not a prepared set never at all).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lmvid_lib.config import from_dict
from lmvid_lib.data import bair, bbc, kth, store, video
from lmvid_lib.data.datasets import HELD_OUT_FRAMES, VALIDATION

# Bump when the prepared content changes for the same source and options, so old sets are rebuilt, not reused.
# 2: BBC train/val cropped per frame like test, crops in crops.npy; 3: a validation split in every set (BAIR's val
# file renamed, KTH's from training videos, BBC's from the training videos' frames) and BBC's held-out frames
TOOL_VERSION = 3
# Of each BBC Pose training video, the annotated frames in time order are cut into this many equal blocks; the last
# two are held out (ours: the paper holds out frames of the training videos, appendix C, without saying which), as
# blocks so that near-identical neighbouring frames do not sit on both sides.
BBC_BLOCKS = 10
# KTH: every this-many-th training video file (all its subsequences) is the validation split (ours).
KTH_VALIDATION_EVERY = 10


# --------------------------------------------------------------------------------------------------------- options
@dataclass
class BBCOptions:
    out_size: int = 128  # crop resolution (the paper's 128x128)
    margin: float = 150.0  # every split, per frame: px from the keypoint-box centre (authors' evaluation crop)
    video_crop_splits: tuple[str, ...] = ()  # also write <split>_video, one crop per video, for training only (ours)
    video_margin: float = 60.0  # video crops: px beyond the box around all keypoints of the video
    pad: str = "zeros"  # outside the frame: "zeros" or "edge"
    splits: tuple[str, ...] = ("train", "val", "test")


@dataclass
class BAIROptions:
    camera: str = "aux1"  # SAVP/SVG use image_aux1
    val_file: str = bair.VAL_FILE  # moved from train/ to val, as SAVP does
    max_files: int | None = None  # per split, for quick partial preparations; None = all


@dataclass
class KTHOptions:
    convention: str = "savp"  # person split: "savp" (1-16 train, 17-25 test) or "svg" (1-20 train, 21-25 test)
    size: int = 64  # plain resize of 160x120 to size x size, as SVG/SAVP
    sequences: str | None = None  # path of 00sequences.txt; None = <src>/00sequences.txt


OPTIONS = {"bbc": BBCOptions, "bair": BAIROptions, "kth": KTHOptions, "video": video.VideoOptions}


# --------------------------------------------------------------------------------------------- building a split
class SplitBuilder:
    """Accumulates one split video by video; frames go to a raw file so memory stays flat. Shapes: M frames."""

    def __init__(self, folder: Path, name: str, frame_shape: tuple[int, ...] | None = None) -> None:
        self.path = folder / f"{name}.frames.raw"
        self.path.touch()
        self.frame_shape = frame_shape
        self.n_frames = 0
        self.starts: list[int] = []
        self.video_ids: list[int] = []
        self.video_names: list[str] = []
        self.frame_numbers: list[np.ndarray] = []
        self.keypoints: list[np.ndarray] = []
        self.meta: dict[str, Any] = {}

    def start_video(self, name: str, video_id: int) -> None:
        self.starts.append(self.n_frames)
        self.video_ids.append(int(video_id))
        self.video_names.append(name)

    def add_frames(self, frames: np.ndarray, frame_numbers: np.ndarray, keypoints: np.ndarray | None = None) -> None:
        """frames uint8 [n,H,W,C] of the current video, their original frame numbers [n], keypoints [n,J,2]."""
        if not self.starts:
            raise RuntimeError("SplitBuilder.add_frames before start_video")
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        if self.frame_shape is None:
            self.frame_shape = tuple(frames.shape[1:])
        if tuple(frames.shape[1:]) != tuple(self.frame_shape):
            raise ValueError(f"frame shape {frames.shape[1:]} differs from the split's {self.frame_shape}")
        if self.n_frames and (keypoints is not None) != bool(self.keypoints):
            raise ValueError("keypoints must be given for all frames of a split or for none")
        with open(self.path, "ab") as f:
            f.write(frames.tobytes())
        self.n_frames += len(frames)
        self.frame_numbers.append(np.asarray(frame_numbers, dtype=np.int64).reshape(-1))
        if keypoints is not None:
            self.keypoints.append(np.asarray(keypoints, dtype=np.float32))

    def mark(self) -> tuple[int, int, int, int]:
        """Where the split stands (frames, videos, frame-number and keypoint blocks), for `rollback`."""
        return self.n_frames, len(self.starts), len(self.frame_numbers), len(self.keypoints)

    def rollback(self, mark: tuple[int, int, int, int]) -> None:
        """Take back everything added after `mark` (a source that failed half-way): its frames and videos."""
        n_frames, n_videos, n_numbers, n_keypoints = mark
        frame_bytes = int(np.prod(self.frame_shape)) if self.frame_shape else 0
        with open(self.path, "r+b") as f:
            f.truncate(n_frames * frame_bytes)
        self.n_frames = n_frames
        del self.starts[n_videos:], self.video_ids[n_videos:], self.video_names[n_videos:]
        del self.frame_numbers[n_numbers:], self.keypoints[n_keypoints:]

    def videoset(self, keypoint_names: list[str] | None = None, crops: np.ndarray | None = None) -> store.VideoSet:
        """The split as written so far; `crops` [M,3]: where each frame was cropped from its original (store format)."""
        if self.frame_shape is None:
            raise ValueError(f"{self.path.name.split('.')[0]}: no frames were read; nothing to prepare")
        shape = (self.n_frames, *self.frame_shape)
        # an empty split (e.g. no test persons in a partial copy) cannot be memory-mapped
        frames = np.memmap(self.path, np.uint8, mode="r", shape=shape) if self.n_frames else np.zeros(shape, np.uint8)
        return store.VideoSet(
            frames=frames,
            video_starts=np.array(self.starts + [self.n_frames], dtype=np.int64),
            video_ids=np.array(self.video_ids, dtype=np.int64),
            frame_numbers=np.concatenate(self.frame_numbers) if self.frame_numbers else np.zeros(0, np.int64),
            keypoints=np.concatenate(self.keypoints) if self.keypoints else None,
            crops=crops,
            keypoint_names=list(keypoint_names or []),
            video_names=self.video_names,
            meta=self.meta,
        )


@contextlib.contextmanager
def _scratch(dst: Path) -> Iterator[Path]:
    """A scratch folder beside `dst` (same disk), always removed."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".scratch", dir=dst.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _check_destination(dataset: str, src: Path, dst: Path, options: dict[str, Any], force: bool) -> bool:
    """True if `dst` is already this exact preparation (skip); raises if `dst` must not be replaced."""
    if not dst.exists():
        return False
    if not dst.is_dir():
        raise FileExistsError(f"destination {dst} exists and is not a folder")
    if not store.is_prepared(dst):
        if any(dst.iterdir()):
            raise FileExistsError(
                f"destination {dst} is a non-empty folder that is not a prepared lmvid dataset; "
                "refusing to replace it (choose an empty or new folder)"
            )
        return False
    index = store.read_index(dst)
    prov = index.get("provenance", {})
    same = (
        index.get("dataset") == dataset
        and prov.get("source") == str(src)
        and prov.get("options") == options
        and prov.get("tool_version") == TOOL_VERSION
    )
    if force:
        return False
    if same:
        return True
    raise FileExistsError(
        f"destination {dst} already holds a prepared {index.get('dataset')!r} set from {prov.get('source')} with "
        f"options {prov.get('options')} (tool version {prov.get('tool_version')}); pass force=True (--force) to "
        "replace it"
    )


def _run(
    dataset: str,
    src: str | Path,
    dst: str | Path,
    options: Any,
    force: bool,
    progress: bool,
    build: Callable[[Path, Path, Any, bool], tuple[dict[str, store.VideoSet], dict[str, Any], list[str]]],
) -> Path:
    src, dst = Path(src).expanduser().resolve(), Path(dst).expanduser().resolve()
    if not src.exists():
        raise FileNotFoundError(f"prepare {dataset}: source {src} does not exist")
    opts = _jsonable(dataclasses.asdict(options))
    if _check_destination(dataset, src, dst, opts, force):
        print(f"{dst}: already prepared ({dataset} from {src}, same options); skipping (use --force to rebuild)")
        return dst
    with _scratch(dst) as scratch:
        splits, provenance, keypoint_names = build(src, scratch, options, progress)
        provenance = {
            "source": str(src),
            "options": opts,
            "tool": f"lmvid prepare {dataset}",
            "tool_version": TOOL_VERSION,
            "counts": {name: {"videos": int(v.n_videos), "frames": len(v.frames)} for name, v in splits.items()},
            **provenance,
        }
        store.write_dataset(dst, dataset, splits, provenance, keypoint_names)
    return dst


# ------------------------------------------------------------------------------------------------------------ BBC
def _bbc_crops(joints: np.ndarray, mode: str, opts: BBCOptions) -> bbc.CropTransform:
    """Batched crops of one video's annotated frames, joints [n,7,2]: per frame ("frame") or one per video."""
    if mode == "frame":
        return bbc.evaluation_crop(joints, opts.margin, opts.out_size)
    fixed = bbc.video_crop(joints, opts.video_margin, opts.out_size)
    return bbc.CropTransform.from_array(np.tile(fixed.as_array(), (len(joints), 1)), opts.out_size)


def _check_bbc_options(opts: BBCOptions) -> None:
    unknown = set(opts.splits) - set(bbc.SPLIT_VIDEOS)
    if unknown or not opts.splits:
        raise ValueError(f"BBCOptions.splits must be a non-empty subset of {list(bbc.SPLIT_VIDEOS)}, got {opts.splits}")
    if not set(opts.video_crop_splits) <= set(opts.splits) - {"test"}:
        raise ValueError(
            f"BBCOptions.video_crop_splits must name training splits among splits {list(opts.splits)} "
            f"(not test), got {opts.video_crop_splits}"
        )


def bbc_video_parts(split: str, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Stored split -> the rows (sorted by frame number) of one BBC Pose video of `split` it holds: a training
    video gives its first BBC_BLOCKS - 2 blocks to `train`, the next to `HELD_OUT_FRAMES` and the last to the
    validation split; any other video stays whole in its split. Empty parts are left out."""
    if split != "train":
        return {split: rows}
    blocks = np.array_split(rows, BBC_BLOCKS)
    parts = {"train": np.concatenate(blocks[:-2]), HELD_OUT_FRAMES: blocks[-2], VALIDATION: blocks[-1]}
    return {name: part for name, part in parts.items() if len(part)}


def _bbc_modes(split: str, opts: BBCOptions) -> dict[str, str]:
    """Stored split -> its crop mode for the parts of `split`: per-frame crops, and a video crop of the training part
    where asked for."""
    parts = ("train", HELD_OUT_FRAMES, VALIDATION) if split == "train" else (split,)
    modes = {part: "frame" for part in parts}
    if split in opts.video_crop_splits:
        modes[split + bbc.VIDEO_CROP_SUFFIX] = "video"
    return modes


def _build_bbc(src: Path, scratch: Path, opts: BBCOptions, progress: bool):
    _check_bbc_options(opts)
    annotations = {split: bbc.load_annotations(src, split) for split in opts.splits}  # all .mat errors before any jpg
    frame_hw: tuple[int, int] | None = None
    splits = {}
    for split, ann in annotations.items():
        modes = _bbc_modes(split, opts)  # stored split -> its crop; every frame is read once and cropped for each
        builders = {name: SplitBuilder(scratch, name, (opts.out_size, opts.out_size, 3)) for name in modes}
        boxes: dict[str, list[np.ndarray]] = {name: [] for name in modes}
        bar = tqdm(total=len(ann), desc=f"bbc {split}", unit="frame", disable=not progress)
        for vid, video_rows in ann.videos():
            for part, rows in bbc_video_parts(split, video_rows).items():
                names = [part] + [n for n, mode in modes.items() if mode == "video" and part == split]
                joints = ann.joints[rows]
                crops = {name: _bbc_crops(joints, modes[name], opts) for name in names}
                for name in names:
                    builders[name].start_video(f"video{vid}", vid)
                    boxes[name].append(crops[name].as_array())
                for k, row in enumerate(rows):
                    frame = bbc.read_frame(bbc.frame_path(src, vid, ann.frame_ids[row]), frame_hw)
                    frame_hw = frame.shape[:2]
                    for name in names:
                        crop = crops[name][k]
                        builders[name].add_frames(
                            crop.crop_image(frame, opts.pad)[None],
                            ann.frame_ids[row : row + 1],
                            crop.to_crop_pixels(joints[k])[None],
                        )
                    bar.update()
        bar.close()
        for name, mode in modes.items():
            if builders[name].n_frames == 0 and name in (HELD_OUT_FRAMES, VALIDATION):
                continue  # videos too short to hold frames out (a partial copy): no such split
            builders[name].meta = {
                "crop_mode": mode,
                "crop_margin": opts.margin if mode == "frame" else opts.video_margin,
                "crop_out_size": opts.out_size,
                "source_frame_hw": list(frame_hw) if frame_hw else None,
            }
            splits[name] = builders[name].videoset(bbc.JOINT_NAMES, np.concatenate(boxes[name] or [np.zeros((0, 3))]))
    rule = (
        f"train = bbcpose.mat train_frames of videos 1-10 but the last two of {BBC_BLOCKS} blocks of each video in "
        f"time, {HELD_OUT_FRAMES} = the first of those (the paper's held-out frames of the training videos), "
        f"{VALIDATION} = the last (validation, where settings are chosen), val = videos 11-15 (held-out attire), "
        "test = results.mat ground truth (videos 16-20); frames are the annotated frames only, each cropped around its "
        f"own keypoints ({opts.margin:g} px from the centre of their box)"
    )
    if opts.video_crop_splits:
        rule += (
            f"; <split>{bbc.VIDEO_CROP_SUFFIX} = the same frames with one crop per video "
            f"({opts.video_margin:g} px beyond the box of all its keypoints), for training only"
        )
    return splits, {"split_rule": rule, "frame_size_source": list(frame_hw) if frame_hw else None}, bbc.JOINT_NAMES


def prepare_bbc(src: str | Path, dst: str | Path, force: bool = False, progress: bool = True, **options: Any) -> Path:
    """Prepare BBC Pose from `src` (the BBC Pose root) into `dst`; options: see `BBCOptions`."""
    return _run("bbc", src, dst, from_dict(BBCOptions, options, "prepare bbc"), force, progress, _build_bbc)


# ----------------------------------------------------------------------------------------------------------- BAIR
def _build_bair(src: Path, scratch: Path, opts: BAIROptions, progress: bool):
    # SAVP's val file is the validation split, stored as VALIDATION: BBC Pose's `val` is a reported split
    files = {
        VALIDATION if name == "val" else name: paths for name, paths in bair.split_files(src, opts.val_file).items()
    }
    splits = {}
    for split, paths in files.items():
        paths = paths if opts.max_files is None else paths[: opts.max_files]
        builder = SplitBuilder(scratch, split, (64, 64, 3))
        for path in tqdm(paths, desc=f"bair {split}", unit="file", disable=not progress):
            first = bair.first_trajectory(path)
            for i, seq in enumerate(bair.iter_tfrecord(path, opts.camera)):
                builder.start_video(f"{split}/traj_{first + i}", first + i)
                builder.add_frames(seq, np.arange(len(seq)))
        builder.meta = {"files": [p.relative_to(src).as_posix() for p in paths], "camera": opts.camera}
        splits[split] = builder.videoset()
    rule = (
        f"train = softmotion30_44k/train except {opts.val_file} ({VALIDATION}: validation, SAVP's val file), "
        "test = softmotion30_44k/test; "
        "video_ids are trajectory numbers from the file names"
    )
    return splits, {"split_rule": rule}, []


def prepare_bair(src: str | Path, dst: str | Path, force: bool = False, progress: bool = True, **options: Any) -> Path:
    """Prepare BAIR action-free robot pushing from `src` (softmotion30_44k) into `dst`; options: see `BAIROptions`."""
    return _run("bair", src, dst, from_dict(BAIROptions, options, "prepare bair"), force, progress, _build_bair)


# ------------------------------------------------------------------------------------------------------------ KTH
def _build_kth(src: Path, scratch: Path, opts: KTHOptions, progress: bool):
    persons = kth.person_split(opts.convention)
    seq_path = Path(opts.sequences) if opts.sequences else src / "00sequences.txt"
    sequences = kth.parse_sequences(seq_path)
    by_split = {name: [v for v in sequences if kth.person_of(v) in ids] for name, ids in persons.items()}
    # validation: every KTH_VALIDATION_EVERY-th training video file, so the training persons in other recordings
    held_out = set(by_split["train"][KTH_VALIDATION_EVERY - 1 :: KTH_VALIDATION_EVERY])
    by_split[VALIDATION] = [v for v in by_split["train"] if v in held_out]
    by_split["train"] = [v for v in by_split["train"] if v not in held_out]
    by_split = {name: videos for name, videos in by_split.items() if videos or name != VALIDATION}  # a partial copy
    # Every listed video of the chosen persons must exist before anything is decoded.
    paths = {v: kth.video_path(src, v) for vids in by_split.values() for v in vids}
    splits = {}
    for split, videos in by_split.items():
        builder = SplitBuilder(scratch, split, (opts.size, opts.size, 1))
        ranges_meta = []
        for name in tqdm(videos, desc=f"kth {split}", unit="video", disable=not progress):
            frames = kth.read_video(paths[name], opts.size)
            for k, (first, last) in enumerate(kth.clip_ranges(sequences[name], len(frames), paths[name])):
                builder.start_video(f"{name}#{k}", kth.person_of(name))
                builder.add_frames(frames[first - 1 : last], np.arange(first, last + 1))
                ranges_meta.append([first, last])
        builder.meta = {"ranges": ranges_meta, "actions": [kth.action_of(n.split("#")[0]) for n in builder.video_names]}
        splits[split] = builder.videoset()
    rule = (
        f"persons {kth.describe_split(opts.convention)} ({opts.convention.upper()} convention), {VALIDATION} = one in "
        f"every {KTH_VALIDATION_EVERY} training video files (validation); one stored video "
        "per 00sequences.txt subsequence (1-based inclusive ranges), grayscale, plain resize"
    )
    return splits, {"split_rule": rule, "sequences_file": str(seq_path.resolve())}, []


def prepare_kth(src: str | Path, dst: str | Path, force: bool = False, progress: bool = True, **options: Any) -> Path:
    """Prepare KTH actions from `src` (the folder of *_uncomp.avi files) into `dst`; options: see `KTHOptions`."""
    return _run("kth", src, dst, from_dict(KTHOptions, options, "prepare kth"), force, progress, _build_kth)


# ---------------------------------------------------------------------------------------------- your own video
def _build_video(src: Path, scratch: Path, opts: video.VideoOptions, progress: bool):
    video.check_options(opts)
    sources = video.find_sources(src)
    boxes = video.read_crops(opts.crops, sources) if opts.crops else {}
    skipped = []
    for source in sources:
        try:
            video.check_readable(source, opts)
        except video.Unreadable as exc:
            skipped.append(source.name)
            video.say(f"skipped: {exc}")
    readable = [s for s in sources if s.name not in skipped]
    if not readable:
        raise ValueError(f"prepare video: {src}: none of its {len(sources)} source(s) can be read")
    fixed = video.video_splits(readable, opts.fractions) if opts.split == "videos" else {}
    builders = {name: SplitBuilder(scratch, name, (opts.size, opts.size, 3)) for name in video.SPLITS}
    with tqdm(desc="video frames", unit="frame", disable=not progress) as bar:
        for video_id, source in enumerate(readable):
            box = boxes.get(source.name) or (tuple(opts.crop) if opts.crop else None)
            try:
                video.add_source(source, video_id, opts, box, builders, fixed.get(source.name), bar)
            except video.Unreadable as exc:
                skipped.append(source.name)
                video.say(f"skipped: {exc}")
    empty = [name for name, b in builders.items() if b.n_frames == 0]
    if empty:
        raise ValueError(
            f"prepare video: {src}: no usable frames for the split(s) {empty} ({len(skipped)} of {len(sources)} "
            "source(s) unreadable)"
        )
    video.say(f"prepared {len(sources) - len(skipped)} of {len(sources)} video(s); skipped {len(skipped)}")
    splits = {name: b.videoset() for name, b in builders.items()}
    counts = {name: v.n_videos for name, v in splits.items()}
    provenance = {"split_rule": video.split_rule(opts, counts if opts.split == "videos" else None), "skipped": skipped}
    return splits, provenance, []


def prepare_video(src: str | Path, dst: str | Path, force: bool = False, progress: bool = True, **options: Any) -> Path:
    """Prepare your own videos (a video file, a folder of frame images, or a folder of them) into `dst`; options: see
    `video.VideoOptions`."""
    return _run(
        "video", src, dst, from_dict(video.VideoOptions, options, "prepare video"), force, progress, _build_video
    )


PREPARERS = {"bbc": prepare_bbc, "bair": prepare_bair, "kth": prepare_kth, "video": prepare_video}


def prepare(
    dataset: str, src: str | Path, dst: str | Path, force: bool = False, progress: bool = True, **options: Any
) -> Path:
    """Prepare `dataset` ('bbc', 'bair', 'kth' or 'video': your own) from its original files at `src` into `dst`."""
    if dataset not in PREPARERS:
        raise ValueError(f"dataset must be one of {list(PREPARERS)}, got {dataset!r}")
    return PREPARERS[dataset](src, dst, force=force, progress=progress, **options)


# ------------------------------------------------------------------------------------------------------- reading
def describe(dataset: str, data_root: str | Path) -> str:
    """Markdown summary of a prepared set: counts and frame size per split, provenance."""
    index = store.read_index(data_root)
    if index.get("dataset") != dataset:
        raise ValueError(f"{data_root} holds a prepared {index.get('dataset')!r} set, not {dataset!r}")
    prov = index.get("provenance", {})
    lines = [
        f"**{dataset}** prepared at `{data_root}`",
        "",
        "| split | videos | frames | frame shape | keypoints | crop |",
        "|---|---:|---:|---|---|---|",
    ]
    for name, s in index["splits"].items():
        shape = "x".join(str(v) for v in s["frame_shape"])
        keypoints, crop = "yes" if s["has_keypoints"] else "no", s.get("crop_mode") or "-"
        lines.append(f"| {name} | {s['n_videos']} | {s['n_frames']} | {shape} | {keypoints} | {crop} |")
    lines += [
        "",
        f"- source: `{prov.get('source')}`",
        f"- split rule: {prov.get('split_rule')}",
        f"- options: `{json.dumps(prov.get('options'), sort_keys=True)}`",
        (f"- tool: {prov.get('tool')} (tool version {prov.get('tool_version')}, lmvid {index.get('lmvid_version')})"),
    ]
    if index.get("keypoint_names"):
        lines.append(f"- keypoints: {', '.join(index['keypoint_names'])}")
    if prov.get("skipped"):
        lines.append(f"- skipped (unreadable): {', '.join(prov['skipped'])}")
    return "\n".join(lines)
