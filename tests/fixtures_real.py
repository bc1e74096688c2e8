"""Writers of tiny fixtures in the real datasets' on-disk formats (BBC Pose .mat + jpg, BAIR tfrecords, KTH avi).

Not a test module: tests import these helpers and compare what they wrote with what the loaders read back.
"""

from __future__ import annotations

import struct
from pathlib import Path

import av
import crc32c
import numpy as np
import scipy.io
from PIL import Image
from tfrecord import example_pb2

from lmvid_lib.data import bbc

# ---------------------------------------------------------------------------------------------------------- BBC Pose
BBC_FRAME_HW = (90, 120)


def bbc_frame(video: int, frame: int, hw: tuple[int, int] = BBC_FRAME_HW) -> np.ndarray:
    """A deterministic smooth RGB frame (smooth so jpeg round trips stay close): uint8 [H,W,3]."""
    h, w = hw
    y, x = np.mgrid[0:h, 0:w]
    r = 128 + 100 * np.sin(x / 9.0 + video)
    g = 128 + 100 * np.cos(y / 11.0 + frame / 5.0)
    b = np.full_like(r, 40.0 * (video % 5))
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def bbc_joints(video: int, frame: int, hw: tuple[int, int] = BBC_FRAME_HW) -> np.ndarray:
    """0-based joints [7,2] that move with the frame number and stay inside the frame."""
    h, w = hw
    rng = np.random.default_rng(video * 1000 + frame)
    base = np.array(
        [
            [w / 2, h / 4],
            [w / 4, h / 2],
            [3 * w / 4, h / 2],
            [w / 3, h / 2.5],
            [2 * w / 3, h / 2.5],
            [w / 2.5, h / 3],
            [w / 1.7, h / 3],
        ]
    )
    return base + rng.uniform(-5, 5, size=(7, 2))


def write_bbc(
    root: Path,
    frames_per_video: dict[int, list[int]],
    test_frames: dict[int, list[int]] | None = None,
    hw: tuple[int, int] = BBC_FRAME_HW,
    drop_field: str | None = None,
) -> dict:
    """BBC Pose layout under `root`: code/bbcpose.mat (20 entries), code/results.mat, <video>/<frame>.jpg.

    `frames_per_video` gives the annotated (train_frames) frame numbers for videos 1-15; `test_frames` those of the
    test videos written into results.mat. Returns {(video, frame): joints [7,2] 0-based} of everything written.
    """
    root = Path(root)
    (root / "code").mkdir(parents=True, exist_ok=True)
    fields = [f for f in bbc.BBCPOSE_FIELDS if f != drop_field]
    table = np.zeros((1, 20), dtype=[(f, "O") for f in fields])
    truth = {}
    for vid in range(1, 21):
        frames = sorted(frames_per_video.get(vid, []))
        joints = np.stack([bbc_joints(vid, f, hw) for f in frames]) if frames else np.zeros((0, 7, 2))
        for f, j in zip(frames, joints):
            truth[(vid, f)] = j
        values = {
            "videoName": f"bbc_video_{vid}",
            "type": "train" if vid <= 10 else "val" if vid <= 15 else "test",
            "source": "bbc",
            "train_frames": np.asarray(frames, dtype=np.float64).reshape(1, -1),
            "train_joints": np.transpose(joints, (2, 1, 0)) + 1.0,  # [N,7,2] 0-based -> MATLAB [2,7,N] 1-based
            "test_frames": np.zeros((1, 0)),
            "test_joints": np.zeros((2, 7, 0)),
        }
        table[0, vid - 1] = tuple(values[f] for f in fields)
    scipy.io.savemat(root / "code" / "bbcpose.mat", {"bbcpose": table})
    rows = [(vid, f) for vid, fs in sorted((test_frames or {}).items()) for f in fs]
    gt = np.stack([bbc_joints(v, f, hw) for v, f in rows]) if rows else np.zeros((0, 7, 2))
    for (v, f), j in zip(rows, gt):
        truth[(v, f)] = j
    results = np.zeros((1, 1), dtype=[("gt", "O"), ("frame_ids", "O"), ("video_ids", "O")])
    results[0, 0] = (
        np.transpose(gt, (2, 1, 0)) + 1.0,
        np.array([[f for _, f in rows]], np.float64),
        np.array([[v for v, _ in rows]], np.float64),
    )
    scipy.io.savemat(root / "code" / "results.mat", {"results": results})
    for vid, f in truth:
        path = bbc.frame_path(root, vid, f)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(bbc_frame(vid, f, hw)).save(path, quality=95)
    return truth


# -------------------------------------------------------------------------------------------------------------- BAIR
def _masked_crc(data: bytes) -> bytes:
    crc = crc32c.crc32c(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def bair_sequence(seed: int, n_steps: int = 30) -> dict[str, np.ndarray]:
    """One trajectory: images of both cameras uint8 [T,64,64,3], actions [T,4], end effector [T,3]."""
    rng = np.random.default_rng(seed)
    return {
        "aux1": rng.integers(0, 256, size=(n_steps, 64, 64, 3), dtype=np.uint8),
        "main": rng.integers(0, 256, size=(n_steps, 64, 64, 3), dtype=np.uint8),
        "action": rng.normal(size=(n_steps, 4)).astype(np.float32),
        "endeffector_pos": rng.normal(size=(n_steps, 3)).astype(np.float32),
    }


def bair_example(seq: dict[str, np.ndarray]) -> bytes:
    """A serialized tf.train.Example with the softmotion30_44k feature keys."""
    feature = {}
    for i in range(len(seq["aux1"])):
        for cam in ("aux1", "main"):
            feature[f"{i}/image_{cam}/encoded"] = example_pb2.Feature(
                bytes_list=example_pb2.BytesList(value=[seq[cam][i].tobytes()])
            )
        feature[f"{i}/action"] = example_pb2.Feature(float_list=example_pb2.FloatList(value=seq["action"][i]))
        feature[f"{i}/endeffector_pos"] = example_pb2.Feature(
            float_list=example_pb2.FloatList(value=seq["endeffector_pos"][i])
        )
    return example_pb2.Example(features=example_pb2.Features(feature=feature)).SerializeToString()


def write_tfrecord(path: Path, records: list[bytes]) -> None:
    """Real TFRecord framing: uint64 length, masked crc32c(length), data, masked crc32c(data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for data in records:
            length = struct.pack("<Q", len(data))
            f.write(length + _masked_crc(length) + data + _masked_crc(data))


def write_bair(root: Path, files: dict[str, int], n_steps: int = 30) -> dict[str, list[dict[str, np.ndarray]]]:
    """softmotion30_44k layout under `root`: {"train/traj_0_to_255.tfrecords": n_records, ...}.

    Returns {relative path: [sequence dicts]} so tests can compare. Trajectory seeds are unique per file and record.
    """
    written = {}
    for k, (rel, n) in enumerate(sorted(files.items())):
        seqs = [bair_sequence(1000 * k + i, n_steps) for i in range(n)]
        write_tfrecord(Path(root) / rel, [bair_example(s) for s in seqs])
        written[rel] = seqs
    return written


# --------------------------------------------------------------------------------------------------------------- KTH
def kth_frames(n: int, seed: int, hw: tuple[int, int] = (120, 160)) -> np.ndarray:
    """uint8 [n,H,W,3]: a bright square moving over a dark background (grey, so colour conversion is exact)."""
    h, w = hw
    frames = np.full((n, h, w, 3), 30, np.uint8)
    rng = np.random.default_rng(seed)
    x0, y0 = rng.integers(10, w - 40), rng.integers(10, h - 40)
    for t in range(n):
        x, y = (x0 + 2 * t) % (w - 30), (y0 + t) % (h - 30)
        frames[t, y : y + 30, x : x + 30] = 220
    return frames


def write_avi(path: Path, frames: np.ndarray, codec: str = "mpeg4", fps: int = 25) -> None:
    """Write uint8 [T,H,W,3] RGB frames to an .avi with PyAV (mpeg4 at high quality, or rawvideo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        if codec == "mpeg4":
            stream.pix_fmt = "yuv420p"
            stream.options = {"qscale": "1"}
        else:
            stream.pix_fmt = "bgr24"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_kth(
    root: Path,
    videos: dict[str, list[tuple[int, int]]],
    n_frames: int = 50,
    missing: tuple[str, ...] = (),
    codec: str = "mpeg4",
) -> dict[str, np.ndarray]:
    """KTH layout: <root>/<name>_uncomp.avi for each video, and a 00sequences.txt in the real file's style
    (CRLF, tabs, ", " between ranges, a `*missing*` entry for each name in `missing`). Returns {name: RGB frames}."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lines, written = [], {}
    for k, (name, ranges) in enumerate(videos.items()):
        lines.append(f"{name}\t\tframes\t" + ", ".join(f"{a}-{b}" for a, b in ranges))
        written[name] = kth_frames(n_frames, seed=k)
        write_avi(root / f"{name}_uncomp.avi", written[name], codec)
    lines += [f"{name}\t*missing*" for name in missing]
    (root / "00sequences.txt").write_bytes(("\r\n".join(lines) + "\r\n\r\n").encode())
    return written
