"""Your own videos -> the prepared format (`lmvid prepare video --src FILE_OR_DIR --dst DIR`).

A source is a video file PyAV can open (any container and codec its FFmpeg decodes; files are recognised by
`VIDEO_SUFFIXES`) or a folder of frame images (`IMAGE_SUFFIXES`, in name order, at `image_fps`). `--src` is one
such file or folder, or a folder holding several of them. Each frame is cropped to a box (`crop`, one for all, or
a CSV of boxes per video: `video,x0,y0,x1,y1` in source pixels; default the centred square) and resized to
`size` x `size` (PIL, bilinear with antialiasing: a well-kept resampler). `fps` keeps the frames nearest a target rate
by their timestamps (so a variable frame rate comes out regular); None keeps every frame.

Splits (train / the validation split `tune` / test, disjoint): by whole videos, in name order (the last videos are
test, the ones before them validation), or by time within each video (its first, middle and last stretches), at
`fractions`. The rule is written into the prepared set and named in captions (`data.datasets.data_label`).

Streaming: frames are decoded one at a time and written in chunks of CHUNK resized frames to the split files, so the
memory held is the decoder's few frames plus CHUNK x size x size x 3 bytes, whatever the length of the video
(measured: experiments/log.yaml#bench-video). FFmpeg shrinks each decoded frame before its RGB conversion, so a
large frame is never converted whole (`_convert`). An unreadable or truncated file is one line naming it, and
its frames are taken back out; the others are still prepared and the run ends with a count of what was skipped.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lmvid_lib.data.datasets import VALIDATION

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv", ".flv", ".wmv", ".ts")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
CHUNK = 64  # resized frames written at a time
SPLITS = ("train", VALIDATION, "test")


@dataclass
class VideoOptions:
    size: int = 64  # frame size after the crop: 64 (BAIR / KTH) or 128 (BBC Pose, appendix A)
    crop: tuple[int, ...] = ()  # x0 y0 x1 y1 (source pixels) for every video; () = the centred square
    crops: str | None = None  # CSV with a header `video,x0,y0,x1,y1`: one box per video (its name, as listed)
    fps: float | None = None  # target frame rate; None = every decoded frame
    split: str = "videos"  # "videos": whole videos per split; "time": each video cut in time
    fractions: tuple[float, ...] = (0.8, 0.1, 0.1)  # train / tune (validation) / test
    image_fps: float = 25.0  # the frame rate of a folder of frame images


@dataclass(frozen=True)
class Source:
    """One video to prepare: a file, or a folder of frame images."""

    name: str
    path: Path
    images: bool


class Unreadable(Exception):
    """A source that cannot be decoded (the message names it); the preparation skips it."""


def check_options(opts: VideoOptions) -> None:
    """ValueError naming the option when `opts` cannot work."""
    if opts.size not in (64, 128):
        raise ValueError(f"prepare video: size must be 64 or 128, got {opts.size}")
    if opts.crop and (len(opts.crop) != 4 or opts.crop[2] <= opts.crop[0] or opts.crop[3] <= opts.crop[1]):
        raise ValueError(f"prepare video: crop must be x0 y0 x1 y1 with x1 > x0 and y1 > y0, got {list(opts.crop)}")
    if opts.fps is not None and not opts.fps > 0:
        raise ValueError(f"prepare video: fps must be positive, got {opts.fps}")
    if not opts.image_fps > 0:
        raise ValueError(f"prepare video: image_fps must be positive, got {opts.image_fps}")
    if opts.split not in ("videos", "time"):
        raise ValueError(f"prepare video: split must be 'videos' or 'time', got {opts.split!r}")
    if len(opts.fractions) != 3 or min(opts.fractions) <= 0 or not math.isclose(sum(opts.fractions), 1.0):
        raise ValueError(f"prepare video: fractions must be three positive numbers summing to 1, got {opts.fractions}")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def find_sources(src: Path) -> list[Source]:
    """The videos under `src` (a video file, a folder of frame images, or a folder of either), in name order; a
    ValueError naming `src` when it holds none."""
    if src.is_file():
        return [Source(src.stem, src, False)]
    if _image_files(src):
        return [Source(src.name, src, True)]
    found = []
    for entry in sorted(src.iterdir()):
        if entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
            found.append(Source(entry.stem, entry, False))
        elif entry.is_dir() and _image_files(entry):
            found.append(Source(entry.name, entry, True))
    if not found:
        raise ValueError(
            f"prepare video: {src} holds no video file ({', '.join(VIDEO_SUFFIXES)}) and no folder of frame images "
            f"({', '.join(IMAGE_SUFFIXES)})"
        )
    names = [s.name for s in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"prepare video: {src} holds several videos named {twice} (e.g. a.mp4 and a.mov): rename them")
    return found


def read_crops(path: str | Path, sources: list[Source]) -> dict[str, tuple[int, int, int, int]]:
    """video name -> its box from the CSV `path` (header video,x0,y0,x1,y1); a ValueError naming the file and the row
    or the videos it lacks."""
    path = Path(path)
    boxes = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or set(reader.fieldnames) != {"video", "x0", "y0", "x1", "y1"}:
            raise ValueError(f"{path}: the header must be video,x0,y0,x1,y1, got {reader.fieldnames}")
        for number, row in enumerate(reader, 2):
            try:
                box = tuple(int(float(row[k])) for k in ("x0", "y0", "x1", "y1"))
            except (TypeError, ValueError):
                raise ValueError(f"{path}, line {number}: x0, y0, x1, y1 must be numbers, got {row}") from None
            if box[2] <= box[0] or box[3] <= box[1]:
                raise ValueError(f"{path}, line {number}: the box needs x1 > x0 and y1 > y0, got {box}")
            boxes[row["video"]] = box
    missing = [s.name for s in sources if s.name not in boxes]
    if missing:
        raise ValueError(f"{path} has no box for the videos {missing}")
    return boxes


def centred_square(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest square box (x0, y0, x1, y1) in the middle of a width x height frame."""
    side = min(width, height)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return x0, y0, x0 + side, y0 + side


def crop_resize(frame: np.ndarray, box: tuple[int, int, int, int] | None, size: int) -> np.ndarray:
    """An RGB frame uint8 [H,W,3] cropped to `box` (None: the centred square; outside the frame: black) and resized
    to uint8 [size,size,3]."""
    image = Image.fromarray(frame)
    image = image.crop(box or centred_square(*image.size))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))


def shrink_factor(width: int, height: int, box: tuple[int, int, int, int] | None, size: int) -> int:
    """The integer factor FFmpeg may shrink a width x height frame by before the crop: the crop box (None: the
    centred square) keeps at least 2 x `size` pixels a side, so the final resize still has pixels to average."""
    x0, y0, x1, y1 = box or centred_square(width, height)
    return max(1, min(x1 - x0, y1 - y0) // (2 * size))


def _convert(frame: Any, box: tuple[int, int, int, int] | None, size: int) -> np.ndarray:
    """A decoded PyAV frame -> uint8 [size,size,3]: FFmpeg converts it to RGB already shrunk by `shrink_factor`
    (area averaging, in C: a 1080p frame is never converted whole), then `crop_resize`."""
    k = shrink_factor(frame.width, frame.height, box, size)
    small = frame.reformat(frame.width // k, frame.height // k, "rgb24", interpolation="AREA")
    return crop_resize(small.to_ndarray(), None if box is None else tuple(round(v / k) for v in box), size)


# (time in seconds, a call giving the frame cropped and resized, uint8 [size,size,3]): converted only if kept
Frames = Iterator[tuple[float, Callable[[], np.ndarray]]]


def _file_frames(path: Path, box: tuple[int, int, int, int] | None, size: int) -> tuple[float | None, Frames]:
    """(duration in seconds or None, the frames) of a video file (`_convert`). Unreadable: the file cannot be
    opened, has no video stream, or fails while decoding."""
    import av  # PyAV: FFmpeg's demuxers, decoders and scaler

    try:
        container = av.open(str(path))
        stream = container.streams.video[0]
    except (av.error.FFmpegError, IndexError, OSError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{path}: cannot be read as a video ({type(exc).__name__}: {exc})") from None
    stream.thread_type = "AUTO"
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    rate = float(stream.average_rate or 25)

    def frames() -> Frames:
        try:
            for index, frame in enumerate(container.decode(stream)):
                time = float(frame.time) if frame.time is not None else index / rate
                yield time, lambda frame=frame: _convert(frame, box, size)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise Unreadable(f"{path}: decoding failed, the file is truncated or corrupt ({exc})") from None
        finally:
            container.close()

    return duration, frames()


def _image_frames(folder: Path, fps: float, box: tuple[int, int, int, int] | None, size: int) -> tuple[float, Frames]:
    files = _image_files(folder)

    def read(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as image:
                return crop_resize(np.asarray(image.convert("RGB")), box, size)
        except OSError as exc:
            raise Unreadable(f"{path}: cannot be read as an image ({exc})") from None

    def frames() -> Frames:
        for index, path in enumerate(files):
            yield index / fps, lambda path=path: read(path)

    return len(files) / fps, frames()


def source_frames(
    source: Source, opts: VideoOptions, box: tuple[int, int, int, int] | None = None
) -> tuple[float | None, Iterator[tuple[int, float, np.ndarray]]]:
    """(duration in seconds or None, (decoded frame number, time, frame cropped to `box` and resized, uint8
    [size,size,3]) of each frame kept) of `source`, thinned to `opts.fps` by timestamps before any conversion."""
    if source.images:
        duration, frames = _image_frames(source.path, opts.image_fps, box, opts.size)
    else:
        duration, frames = _file_frames(source.path, box, opts.size)

    def thinned() -> Iterator[tuple[int, float, np.ndarray]]:
        # the first frame of each 1/fps slot (slots from the first frame's time): regular output from a variable
        # rate; a target above the source's rate keeps every frame (none is repeated)
        start, last = None, -1
        for number, (time, convert) in enumerate(frames):
            start = time if start is None else start
            slot = number if opts.fps is None else round((time - start) * opts.fps)
            if slot > last:
                last = slot
                yield number, time, convert()

    return duration, thinned()


def check_readable(source: Source, opts: VideoOptions) -> None:
    """Unreadable naming `source` unless its first frame decodes: a cheap first pass, so whole-video splits are
    assigned among the videos that can be read."""
    _, frames = source_frames(source, opts, None)
    if next(frames, None) is None:
        raise Unreadable(f"{source.path}: no frame could be decoded")
    frames.close()


def video_splits(sources: list[Source], fractions: tuple[float, ...]) -> dict[str, str]:
    """video name -> its split when whole videos are split: in name order, the last round(test x N) (at least one)
    are test, the round(tune x N) (at least one) before them validation, the rest train; a ValueError with fewer
    than three videos."""
    n = len(sources)
    if n < 3:
        raise ValueError(
            f"prepare video: split by videos needs at least 3 videos (train, {VALIDATION}, test), found {n}: "
            "use --split time to cut each video in time"
        )
    n_test = max(1, round(fractions[2] * n))
    n_tune = max(1, round(fractions[1] * n))
    n_train = n - n_test - n_tune
    if n_train < 1:
        raise ValueError(f"prepare video: {n} videos leave none for training at fractions {fractions}")
    return {s.name: SPLITS[0 if i < n_train else 1 if i < n_train + n_tune else 2] for i, s in enumerate(sources)}


def split_rule(opts: VideoOptions, counts: dict[str, int] | None = None) -> str:
    """The split rule as the prepared set and captions state it."""
    train, tune, test = (f"{100 * f:g}%" for f in opts.fractions)
    if opts.split == "time":
        return (
            f"by time within each video: train = its first {train} of the time, {VALIDATION} (validation) = the "
            f"next {tune}, test = the last {test}"
        )
    told = f" ({', '.join(f'{k}: {v}' for k, v in counts.items())} videos)" if counts else ""
    return (
        f"by whole videos in name order{told}: test = the last {test} of the videos, {VALIDATION} (validation) = the "
        f"{tune} before them, train = the rest"
    )


def say(message: str) -> None:
    """One line to the terminal (stderr), beside the progress bar."""
    print(message, file=sys.stderr, flush=True)


def _split_of(time: float, duration: float, fractions: tuple[float, ...]) -> str:
    position = time / duration if duration > 0 else 0.0
    return SPLITS[0 if position < fractions[0] else 1 if position < fractions[0] + fractions[1] else 2]


def add_source(
    source: Source,
    video_id: int,
    opts: VideoOptions,
    box: tuple[int, int, int, int] | None,
    builders: Mapping[str, Any],
    fixed_split: str | None,
    bar: Any,
) -> int:
    """Decode `source` into `builders` (split -> `prepare.SplitBuilder`), CHUNK resized frames at a time, its frames
    in `fixed_split` or, by time, in each split's stretch; returns the frames written. Unreadable (after its frames
    are taken back out of every builder) when it cannot be decoded or gives no frame."""
    marks = {name: b.mark() for name, b in builders.items()}
    chunk: list[np.ndarray] = []
    numbers: list[int] = []
    current, written = None, 0

    def flush() -> None:
        if chunk:
            builders[current].add_frames(np.stack(chunk), np.array(numbers))
            chunk.clear(), numbers.clear()

    try:
        duration, frames = source_frames(source, opts, box)
        if fixed_split is None and not duration:
            raise Unreadable(f"{source.path}: its duration is unknown, so it cannot be split by time")
        started, first = set(), None
        for number, time, frame in frames:
            first = time if first is None else first  # a container may start its clock after 0
            split = fixed_split or _split_of(time - first, duration, opts.fractions)
            if split != current:
                flush()
                current = split
                if split not in started:
                    builders[split].start_video(source.name, video_id)
                    started.add(split)
            chunk.append(frame)
            numbers.append(number)
            written += 1
            bar.update()
            if len(chunk) == CHUNK:
                flush()
        flush()
        if written == 0:
            raise Unreadable(f"{source.path}: no frame could be decoded")
    except Unreadable:
        for name, b in builders.items():
            b.rollback(marks[name])
        raise
    return written
