"""BAIR action-free robot pushing (softmotion30_44k) read straight from its TFRecord files, without TensorFlow.

Source layout::

    softmotion30_44k/train/traj_<a>_to_<b>.tfrecords   trajectories a..b, one tf.train.Example each
    softmotion30_44k/test/traj_<a>_to_<b>.tfrecords    the test set (256 sequences in the real data)

Each Example holds, for i = 0..29, `'{i}/image_aux1/encoded'` and `'{i}/image_main/encoded'` (one bytes value each: raw
uint8 RGB 64x64x3 = 12288 bytes, not JPEG), `'{i}/action'` (4 floats) and `'{i}/endeffector_pos'` (3 floats).
SAVP and SVG use the `image_aux1` camera.

Split convention (SAVP): `train/traj_256_to_511.tfrecords` is moved to val; train = the other train files;
test = the test folder.

TFRecord framing: uint64 length, uint32 masked crc32c of the length bytes, data, uint32 masked crc32c of the data (all
little endian). We parse the framing ourselves so that both CRCs are checked (the `tfrecord` package's reader checks
neither) and a corrupt or truncated file fails naming the file and the record; the Example protobuf is decoded with
the `tfrecord` package's bundled `example_pb2`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path

import crc32c
import numpy as np
from tfrecord import example_pb2

VAL_FILE = "traj_256_to_511.tfrecords"
IMAGE_SHAPE = (64, 64, 3)
CAMERAS = ("aux1", "main")
_NAME = re.compile(r"^traj_(\d+)_to_(\d+)\.tfrecords$")


def _masked_crc(data: bytes | memoryview) -> int:
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def iter_records(path: str | Path) -> Iterator[bytes]:
    """The data of each record of a TFRecord file, CRCs checked; errors name the file and record index."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"BAIR: missing tfrecord file {path}")
    with open(path, "rb") as f:
        index = 0
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise ValueError(f"BAIR: {path} is truncated in the header of record {index}")
            length, length_crc = struct.unpack("<QI", header)
            if _masked_crc(header[:8]) != length_crc:
                raise ValueError(f"BAIR: {path} record {index}: length CRC mismatch (corrupt file, or not a tfrecord)")
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                raise ValueError(f"BAIR: {path} is truncated in record {index} (expected {length} data bytes + CRC)")
            if _masked_crc(data) != struct.unpack("<I", footer)[0]:
                raise ValueError(f"BAIR: {path} record {index}: data CRC mismatch (corrupt file)")
            yield data
            index += 1


def parse_example(data: bytes, camera: str = "aux1", where: str = "record") -> np.ndarray:
    """One serialized Example -> uint8 [T,64,64,3] images of `camera`; `where` names the record in errors."""
    if camera not in CAMERAS:
        raise ValueError(f"BAIR camera must be one of {CAMERAS}, got {camera!r}")
    example = example_pb2.Example()
    try:
        example.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        raise ValueError(f"BAIR: {where} is not a tf.train.Example: {exc}") from exc
    feature = example.features.feature
    n_steps = 0
    while f"{n_steps}/image_{camera}/encoded" in feature:
        n_steps += 1
    if n_steps == 0:
        raise ValueError(f"BAIR: {where} has no '0/image_{camera}/encoded' feature (keys: {sorted(feature)[:6]}...)")
    images = np.empty((n_steps, *IMAGE_SHAPE), np.uint8)
    size = int(np.prod(IMAGE_SHAPE))
    for i in range(n_steps):
        values = feature[f"{i}/image_{camera}/encoded"].bytes_list.value
        if len(values) != 1 or len(values[0]) != size:
            got = [len(v) for v in values]
            raise ValueError(
                f"BAIR: {where} '{i}/image_{camera}/encoded' must be one raw 64x64x3 image of {size} "
                f"bytes, got byte lengths {got}"
            )
        images[i] = np.frombuffer(values[0], np.uint8).reshape(IMAGE_SHAPE)
    return images


def iter_tfrecord(path: str | Path, camera: str = "aux1") -> Iterator[np.ndarray]:
    """uint8 [T,64,64,3] per trajectory of one file, in file order."""
    for index, data in enumerate(iter_records(path)):
        yield parse_example(data, camera, f"{path} record {index}")


def read_tfrecord(path: str | Path, camera: str = "aux1") -> np.ndarray:
    """All trajectories of one file: uint8 [N,T,64,64,3] (T = 30 in the real data)."""
    seqs = list(iter_tfrecord(path, camera))
    if not seqs:
        return np.zeros((0, 30, *IMAGE_SHAPE), np.uint8)
    lengths = {len(s) for s in seqs}
    if len(lengths) != 1:
        raise ValueError(f"BAIR: {path} mixes trajectory lengths {sorted(lengths)}")
    return np.stack(seqs)


def first_trajectory(path: str | Path) -> int:
    """a of traj_<a>_to_<b>.tfrecords: the number of the file's first trajectory."""
    match = _NAME.match(Path(path).name)
    if not match:
        raise ValueError(f"BAIR: {path} is not named traj_<a>_to_<b>.tfrecords")
    return int(match.group(1))


def split_files(root: str | Path, val_file: str = VAL_FILE) -> dict[str, list[Path]]:
    """{'train', 'val', 'test'} -> tfrecord files, sorted by first trajectory.

    `root` is softmotion30_44k or its parent.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"BAIR root {root} does not exist")
    if not (root / "train").is_dir() and (root / "softmotion30_44k").is_dir():
        root = root / "softmotion30_44k"
    found = {}
    for folder in ("train", "test"):
        if not (root / folder).is_dir():
            raise FileNotFoundError(f"BAIR: no folder {root / folder} (expected softmotion30_44k/{{train,test}}/)")
        files = list((root / folder).glob("*.tfrecords"))
        if not files:
            raise FileNotFoundError(f"BAIR: no *.tfrecords files in {root / folder}")
        found[folder] = sorted(files, key=first_trajectory)
    val = [p for p in found["train"] if p.name == val_file]
    if not val:
        raise FileNotFoundError(f"BAIR: validation file {root / 'train' / val_file} not found (SAVP's val split)")
    return {"train": [p for p in found["train"] if p.name != val_file], "val": val, "test": found["test"]}
