"""BAIR robot pushing: TFRecord framing + tf.train.Example parsing without TensorFlow, splits, preparation."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from fixtures_real import bair_example, bair_sequence, write_bair, write_tfrecord

from lmvid_lib.data import bair, store
from lmvid_lib.data.prepare import prepare_bair

FILES = {
    "train/traj_0_to_255.tfrecords": 2,
    "train/traj_256_to_511.tfrecords": 1,
    "train/traj_512_to_767.tfrecords": 1,
    "test/traj_0_to_255.tfrecords": 2,
}


@pytest.fixture
def bair_root(tmp_path):
    root = tmp_path / "softmotion30_44k"
    return root, write_bair(root, FILES, n_steps=5)


@pytest.mark.parametrize("camera", ["aux1", "main"])
def test_read_tfrecord_returns_the_written_images(bair_root, camera):
    root, written = bair_root
    images = bair.read_tfrecord(root / "train/traj_0_to_255.tfrecords", camera=camera)
    assert images.shape == (2, 5, 64, 64, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, np.stack([s[camera] for s in written["train/traj_0_to_255.tfrecords"]]))


def test_full_length_sequence_of_30_steps(tmp_path):
    seq = bair_sequence(7, n_steps=30)
    write_tfrecord(tmp_path / "traj_0_to_255.tfrecords", [bair_example(seq)])
    images = bair.read_tfrecord(tmp_path / "traj_0_to_255.tfrecords")
    assert images.shape == (1, 30, 64, 64, 3)
    np.testing.assert_array_equal(images[0], seq["aux1"])


def test_split_convention_moves_256_to_511_to_val(bair_root):
    root, _ = bair_root
    files = bair.split_files(root.parent)  # the parent of softmotion30_44k works too
    assert {k: [p.name for p in v] for k, v in files.items()} == {
        "train": ["traj_0_to_255.tfrecords", "traj_512_to_767.tfrecords"],
        "val": ["traj_256_to_511.tfrecords"],
        "test": ["traj_0_to_255.tfrecords"],
    }


def test_prepare_then_open_split_gives_the_written_sequences(bair_root, tmp_path):
    root, written = bair_root
    dst = prepare_bair(root, tmp_path / "prepared", progress=False)
    expect = {
        "train": ["train/traj_0_to_255.tfrecords", "train/traj_512_to_767.tfrecords"],
        "tune": [
            "train/traj_256_to_511.tfrecords"
        ],  # SAVP's val file: the validation split, named apart from BBC's val
        "test": ["test/traj_0_to_255.tfrecords"],
    }
    for split, rels in expect.items():
        videos = store.open_split(dst, split)
        clips, keypoints = videos.as_clips()
        assert keypoints is None
        np.testing.assert_array_equal(clips, np.stack([s["aux1"] for rel in rels for s in written[rel]]))
        firsts = [bair.first_trajectory(rel) for rel in rels]
        assert videos.video_ids.tolist() == [a + i for a, rel in zip(firsts, rels) for i in range(len(written[rel]))]
        assert videos.frame_numbers[:5].tolist() == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------------------------------------------- bad input
def _records(path):
    """Byte offsets of each record of a tfrecord file."""
    data, offsets, pos = path.read_bytes(), [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += 16 + struct.unpack("<Q", data[pos : pos + 8])[0]
    return data, offsets


def test_corrupt_record_names_file_and_record(bair_root):
    root, _ = bair_root
    path = root / "train/traj_0_to_255.tfrecords"
    data, offsets = _records(path)
    broken = bytearray(data)
    broken[offsets[1] + 500] ^= 0xFF  # one flipped byte in record 1's data
    path.write_bytes(bytes(broken))
    with pytest.raises(ValueError, match=rf"{path} record 1: data CRC"):
        bair.read_tfrecord(path)
    broken = bytearray(data)
    broken[offsets[1] + 2] ^= 0x01  # record 1's length field
    path.write_bytes(bytes(broken))
    with pytest.raises(ValueError, match=rf"{path} record 1: length CRC"):
        bair.read_tfrecord(path)


@pytest.mark.parametrize("cut", [5, 40, -2])
def test_truncated_file_names_file_and_record(bair_root, cut):
    root, _ = bair_root
    path = root / "train/traj_0_to_255.tfrecords"
    data, offsets = _records(path)
    path.write_bytes(data[: offsets[1] + cut] if cut > 0 else data[:cut])
    with pytest.raises(ValueError, match=rf"{path} is truncated .*record 1"):
        bair.read_tfrecord(path)


def test_wrong_image_size_and_missing_camera(tmp_path):
    seq = bair_sequence(0, n_steps=2)
    seq["aux1"] = np.zeros((2, 32, 32, 3), np.uint8)  # 3072 bytes, not 12288
    path = tmp_path / "traj_0_to_255.tfrecords"
    write_tfrecord(path, [bair_example(bair_sequence(1, 2)), bair_example(seq)])
    with pytest.raises(ValueError, match=rf"{path} record 1 '0/image_aux1/encoded'.*12288.*3072"):
        bair.read_tfrecord(path)
    write_tfrecord(path, [b"\x0a\x00"])  # an empty Example
    with pytest.raises(ValueError, match=rf"{path} record 0 has no '0/image_aux1/encoded'"):
        bair.read_tfrecord(path)
    with pytest.raises(ValueError, match="camera"):
        bair.read_tfrecord(path, camera="aux2")


def test_wrong_layout_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bair.split_files(tmp_path / "nope")
    write_bair(tmp_path / "a", {"train/traj_0_to_255.tfrecords": 1}, n_steps=1)
    with pytest.raises(FileNotFoundError, match=r"no folder .*test"):
        bair.split_files(tmp_path / "a")
    write_bair(tmp_path / "b", {"train/traj_0_to_255.tfrecords": 1, "test/traj_0_to_255.tfrecords": 1}, n_steps=1)
    with pytest.raises(FileNotFoundError, match="traj_256_to_511.tfrecords"):
        prepare_bair(tmp_path / "b", tmp_path / "dst", progress=False)
    write_bair(tmp_path / "c", {"train/traj_256_to_511.tfrecords": 1, "test/batch1.tfrecords": 1}, n_steps=1)
    with pytest.raises(ValueError, match="batch1.tfrecords is not named traj_<a>_to_<b>"):
        bair.split_files(tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="missing tfrecord"):
        bair.read_tfrecord(tmp_path / "none.tfrecords")
