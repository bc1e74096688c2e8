"""KTH human actions: the original `person<NN>_<action>_d<1-4>_uncomp.avi` files and `00sequences.txt`.

Videos are 160x120 at 25 fps. `00sequences.txt` lists, per video, the 1-based inclusive frame ranges of its
subsequences (the real file has CRLF line ends, tabs and stray spaces, one `*missing*` entry, lines with 3 ranges,
and ranges that overlap or leave gaps). Frames are decoded with PyAV and resized to 64x64 by a plain (aspect-changing)
resize, as SVG and SAVP do with ffmpeg: we use swscale's bicubic filter (ffmpeg's default) through PyAV, then
grayscale with the ITU-R 601 luma weights. Stored frames are uint8 [64,64,1].

Person splits, both selectable: SAVP (persons 1-16 train, 17-25 test) and SVG (1-20 train, 21-25 test). Training and
evaluation clips are 10 + 30 = 40 frames, sampled inside subsequences of at least 40 frames (`sample_clips`; a fixed
seed gives the fixed test clips).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import av
import numpy as np

from lmvid_lib.data.store import VideoSet

ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
FRAME_HW = (120, 160)
PERSON_SPLITS = {
    "savp": {"train": tuple(range(1, 17)), "test": tuple(range(17, 26))},
    "svg": {"train": tuple(range(1, 21)), "test": tuple(range(21, 26))},
}
_NAME = re.compile(r"^person(\d\d)_([a-z]+)_d([1-4])$")
_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")
_LUMA = np.array([0.299, 0.587, 0.114])


def parse_sequences(path: str | Path) -> dict[str, list[tuple[int, int]]]:
    """00sequences.txt -> {video name: [(first, last), ...]} with 1-based inclusive ranges, in file order.

    `*missing*` entries are skipped with a warning. Malformed lines raise a ValueError naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KTH: sequence file {path} not found (expected 00sequences.txt beside the videos)")
    sequences: dict[str, list[tuple[int, int]]] = {}
    missing = []
    for lineno, line in enumerate(path.read_text(errors="strict").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        name, _, rest = line.replace("\t", " ").partition(" ")
        rest = rest.strip()
        if not _NAME.match(name):
            raise ValueError(f"{path}:{lineno}: {name!r} is not a KTH video name person<NN>_<action>_d<1-4>")
        if "*missing*" in rest:
            missing.append(name)
            continue
        if not rest.startswith("frames"):
            raise ValueError(f"{path}:{lineno}: expected 'frames' and ranges after {name!r}, got {rest!r}")
        body = rest[len("frames") :]
        ranges = [(int(a), int(b)) for a, b in _RANGE.findall(body)]
        if not ranges or _RANGE.sub("", body).strip(" \t,"):
            raise ValueError(f"{path}:{lineno}: cannot read the frame ranges {body.strip()!r} of {name}")
        bad = [r for r in ranges if not 1 <= r[0] <= r[1]]
        if bad:
            raise ValueError(f"{path}:{lineno}: invalid range(s) {bad} for {name} (need 1 <= first <= last)")
        if name in sequences:
            raise ValueError(f"{path}:{lineno}: {name} is listed twice")
        sequences[name] = ranges
    if missing:
        warnings.warn(f"{path}: skipping {len(missing)} video(s) marked *missing*: {', '.join(missing)}", stacklevel=2)
    return sequences


def person_of(name: str) -> int:
    match = _NAME.match(name)
    if not match:
        raise ValueError(f"KTH: {name!r} is not a video name person<NN>_<action>_d<1-4>")
    return int(match.group(1))


def action_of(name: str) -> str:
    match = _NAME.match(name)
    if not match:
        raise ValueError(f"KTH: {name!r} is not a video name person<NN>_<action>_d<1-4>")
    return match.group(2)


def person_split(convention: str) -> dict[str, tuple[int, ...]]:
    if convention not in PERSON_SPLITS:
        raise ValueError(f"KTH split convention must be one of {list(PERSON_SPLITS)}, got {convention!r}")
    return PERSON_SPLITS[convention]


def describe_split(convention: str) -> str:
    return ", ".join(f"{split} {ids[0]}-{ids[-1]}" for split, ids in person_split(convention).items())


def video_path(root: str | Path, name: str) -> Path:
    """<root>/<name>_uncomp.avi, or <root>/<action>/<name>_uncomp.avi (the layout of the per-action zips)."""
    root = Path(root)
    candidates = [root / f"{name}_uncomp.avi", root / action_of(name) / f"{name}_uncomp.avi"]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"KTH: {name} is listed in 00sequences.txt but its video is absent "
        f"(looked for {candidates[0]} and {candidates[1]})"
    )


def read_video(path: str | Path, size: int | None = 64) -> np.ndarray:
    """Decode a KTH avi -> uint8 [T,size,size,1] grayscale (size=None: the original [T,120,160,1]).

    Raises a ValueError naming the file for undecodable or truncated files and frames that are not 160x120.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KTH: video {path} not found")
    frames, wrong_hw, expected = [], None, 0
    try:
        with av.open(str(path)) as container:
            for stream in container.streams.video[:1]:
                expected = stream.frames  # from the AVI header; 0 when unknown
                for frame in container.decode(stream):
                    if (frame.height, frame.width) != FRAME_HW:
                        wrong_hw = (frame.width, frame.height)
                        break
                    if size is not None:
                        frame = frame.reformat(width=size, height=size, format="rgb24", interpolation="BICUBIC")
                    frames.append(frame.to_ndarray(format="rgb24"))
    except Exception as exc:  # PyAV raises av.error.* (and, on some garbage, IndexError) for corrupt files
        raise ValueError(f"KTH: cannot decode {path}: {type(exc).__name__}: {exc}") from exc
    if wrong_hw:
        raise ValueError(f"KTH: {path} has {wrong_hw[0]}x{wrong_hw[1]} frames, expected 160x120")
    if not frames:
        raise ValueError(f"KTH: {path} has no decodable frames")
    if expected and len(frames) < expected:
        raise ValueError(f"KTH: {path} is truncated: its header says {expected} frames, only {len(frames)} decode")
    rgb = np.stack(frames).astype(np.float64)
    return np.clip(np.rint(rgb @ _LUMA), 0, 255).astype(np.uint8)[..., None]


def clip_ranges(ranges: list[tuple[int, int]], n_frames: int, path: str | Path = "video") -> list[tuple[int, int]]:
    """Ranges cut to the video's real length [1, n_frames] (some listed ranges run past the end), with a warning;
    ranges wholly past the end are dropped."""
    kept = []
    for first, last in ranges:
        if first > n_frames:
            warnings.warn(
                f"KTH: {path}: range {first}-{last} starts after the last frame {n_frames}; dropped", stacklevel=2
            )
            continue
        if last > n_frames:
            warnings.warn(
                f"KTH: {path}: range {first}-{last} cut to {first}-{n_frames} (video has {n_frames} frames)",
                stacklevel=2,
            )
        kept.append((first, min(last, n_frames)))
    return kept


def sample_clips(videos: VideoSet, n: int, length: int = 40, seed: int = 0) -> np.ndarray:
    """int64 [n,length]: indices into `videos.frames` of n clips of `length` consecutive frames of one stored video
    (subsequence). A video of at least `length` frames is drawn uniformly, then a start uniformly inside it; the same
    seed gives the same clips (the fixed test clips)."""
    if n < 0 or length < 1:
        raise ValueError(f"sample_clips: need n >= 0 and length >= 1, got n={n}, length={length}")
    lengths = videos.lengths
    eligible = np.flatnonzero(lengths >= length)
    if len(eligible) == 0:
        raise ValueError(f"sample_clips: no video has at least {length} frames (longest: {lengths.max(initial=0)})")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(eligible, size=n)
    offsets = rng.integers(0, lengths[chosen] - length + 1)
    starts = videos.video_starts[chosen] + offsets
    return (starts[:, None] + np.arange(length)[None, :]).astype(np.int64)
