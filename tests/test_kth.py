"""KTH actions: the real 00sequences.txt, PyAV decoding, person splits, clip sampling, preparation."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_real import kth_frames, write_avi, write_kth
from PIL import Image

from lmvid_lib.data import kth, store
from lmvid_lib.data.prepare import prepare_kth

# the fixture's 00sequences.txt has a *missing* entry on purpose; its warning is checked once, on the real file
pytestmark = pytest.mark.filterwarnings(r"ignore:.*skipping 1 video\(s\) marked \*missing\*")


# ------------------------------------------------------------------------------------------------- 00sequences.txt
def test_parse_the_real_sequence_file(shared_dir):
    path = shared_dir / "fixtures" / "kth" / "00sequences.txt"
    assert b"\r\n" in path.read_bytes()  # the real file's CRLF endings
    with pytest.warns(UserWarning, match="1 video.*person13_handclapping_d3"):
        seqs = kth.parse_sequences(path)
    assert len(seqs) == 599
    assert "person13_handclapping_d3" not in seqs
    # entries checked by hand against the file
    assert seqs["person01_boxing_d1"] == [(1, 95), (96, 185), (186, 245), (246, 360)]
    assert seqs["person11_boxing_d4"] == [(1, 106), (107, 194), (195, 250)]  # stray spaces, 3 ranges
    assert seqs["person22_boxing_d1"] == [(1, 92), (104, 208), (222, 302)]
    assert seqs["person07_jogging_d4"] == [(1, 64), (270, 332), (194, 264), (490, 570)]  # out of order
    assert seqs["person03_walking_d4"][2:] == [(232, 338), (338, 432)]  # overlapping
    assert seqs["person25_walking_d4"] == [(1, 100), (178, 295), (296, 398), (488, 592)]  # last line
    assert list(seqs)[:2] == ["person01_boxing_d1", "person01_boxing_d2"]  # file order
    assert sum(len(r) == 3 for r in seqs.values()) == 5
    persons = {kth.person_of(n) for n in seqs}
    assert persons == set(range(1, 26))


@pytest.mark.parametrize(
    "line,match",
    [
        ("person01_boxing_d1\t\tframes\t1-95, 96-x", "cannot read the frame ranges"),
        ("person01_boxing_d1\t\tframes\t9-5", "invalid range"),
        ("person01_boxing_d1\t\tframes\t", "cannot read the frame ranges"),
        ("someone_boxing_d1\t\tframes\t1-5", "not a KTH video name"),
    ],
)
def test_malformed_sequence_lines_name_file_and_line(tmp_path, line, match):
    path = tmp_path / "00sequences.txt"
    path.write_bytes(("\r\n" + line + "\r\n").encode())
    with pytest.raises(ValueError, match=rf"00sequences.txt:2: .*{match}"):
        kth.parse_sequences(path)


def test_a_video_listed_twice_is_named(tmp_path):
    path = tmp_path / "00sequences.txt"
    path.write_bytes(b"person01_boxing_d1\t\tframes\t1-5\r\nperson01_boxing_d1\tframes\t1-5\r\n")
    with pytest.raises(ValueError, match="00sequences.txt:2: person01_boxing_d1 is listed twice"):
        kth.parse_sequences(path)


# --------------------------------------------------------------------------------------------------------- videos
def _gray(rgb):
    return np.rint(rgb.astype(float) @ [0.299, 0.587, 0.114]).astype(np.uint8)[..., None]


def test_read_video_full_resolution_is_exact_for_lossless_avi(tmp_path):
    frames = kth_frames(12, seed=3)
    write_avi(tmp_path / "v.avi", frames, codec="rawvideo")
    np.testing.assert_array_equal(kth.read_video(tmp_path / "v.avi", size=None), _gray(frames))


def test_read_video_resizes_to_64_close_to_a_reference_resize(tmp_path):
    frames = kth_frames(12, seed=3)
    write_avi(tmp_path / "v.avi", frames, codec="mpeg4")
    small = kth.read_video(tmp_path / "v.avi", size=64)
    assert small.shape == (12, 64, 64, 1) and small.dtype == np.uint8
    reference = np.stack(
        [np.asarray(Image.fromarray(f[..., 0]).resize((64, 64), Image.Resampling.BICUBIC)) for f in _gray(frames)]
    )
    assert np.abs(small[..., 0].astype(int) - reference).mean() < 3


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong_size", "empty"])
def test_bad_videos_are_named(tmp_path, damage):
    path = tmp_path / "person01_boxing_d1_uncomp.avi"
    if damage == "wrong_size":
        write_avi(path, np.zeros((3, 64, 80, 3), np.uint8), codec="rawvideo")
    else:
        write_avi(path, kth_frames(20, seed=0), codec="rawvideo")
        data = path.read_bytes()
        path.write_bytes(
            {"truncated": data[: len(data) // 2], "garbage": data[:100] + b"\x00" * 5000 + data[5100:], "empty": b""}[
                damage
            ]
        )
    with pytest.raises(ValueError, match=str(path)):
        kth.read_video(path)


# --------------------------------------------------------------------------------------------------- preparation
VIDEOS = {
    "person01_boxing_d1": [(1, 20), (15, 48)],
    "person16_walking_d2": [(3, 44)],
    "person18_running_d3": [(5, 45), (40, 60)],  # 40-60 runs past the 50-frame video
    "person21_handwaving_d4": [(1, 50)],
}


@pytest.fixture
def kth_root(tmp_path):
    root = tmp_path / "kth"
    write_kth(root, VIDEOS, n_frames=50, missing=("person02_boxing_d1",))
    return root


@pytest.mark.parametrize("convention,train", [("savp", {1, 16}), ("svg", {1, 16, 18})])
def test_prepare_splits_by_person_and_stores_each_subsequence(kth_root, tmp_path, convention, train):
    with pytest.warns(UserWarning):
        dst = prepare_kth(kth_root, tmp_path / convention, progress=False, convention=convention)
    for split in ("train", "test"):
        videos = store.open_split(dst, split)
        assert set(videos.video_ids.tolist()) == (train if split == "train" else {1, 16, 18, 21} - train)
        assert videos.frames.shape[1:] == (64, 64, 1)
        for v, name in enumerate(videos.video_names):
            video, k = name.split("#")
            first, last = VIDEOS[video][int(k)]
            last = min(last, 50)
            assert videos.meta["ranges"][v] == [first, last]
            sl = slice(videos.video_starts[v], videos.video_starts[v + 1])
            assert videos.frame_numbers[sl].tolist() == list(range(first, last + 1))
            decoded = kth.read_video(kth.video_path(kth_root, video), 64)
            np.testing.assert_array_equal(videos.frames[sl], decoded[first - 1 : last])
            assert videos.meta["actions"][v] == kth.action_of(video)


def test_range_past_the_end_is_cut_with_a_warning(kth_root, tmp_path):
    with pytest.warns(UserWarning, match="40-60 cut to 40-50"):
        prepare_kth(kth_root, tmp_path / "d", progress=False)


def test_listed_but_absent_video_is_named(kth_root, tmp_path):
    (kth_root / "person16_walking_d2_uncomp.avi").unlink()
    with pytest.raises(FileNotFoundError, match="person16_walking_d2 is listed.*person16_walking_d2_uncomp.avi"):
        prepare_kth(kth_root, tmp_path / "d", progress=False)
    assert not (tmp_path / "d").exists()


def test_videos_in_per_action_folders_are_found(kth_root):
    (kth_root / "boxing").mkdir()
    (kth_root / "person01_boxing_d1_uncomp.avi").rename(kth_root / "boxing" / "person01_boxing_d1_uncomp.avi")
    assert kth.video_path(kth_root, "person01_boxing_d1") == kth_root / "boxing" / "person01_boxing_d1_uncomp.avi"


def test_unknown_convention_is_named(kth_root, tmp_path):
    with pytest.raises(ValueError, match="convention.*'savp', 'svg'"):
        prepare_kth(kth_root, tmp_path / "d", progress=False, convention="mine")


# -------------------------------------------------------------------------------------------------- clip sampling
def _videoset(lengths):
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return store.VideoSet(
        frames=np.zeros((starts[-1], 2, 2, 1), np.uint8),
        video_starts=starts,
        video_ids=np.arange(len(lengths)),
        frame_numbers=np.arange(starts[-1]),
    )


def test_sample_clips_stay_inside_long_enough_subsequences_and_are_seeded():
    videos = _videoset([39, 40, 10, 95])
    clips = kth.sample_clips(videos, 200, length=40, seed=5)
    assert clips.shape == (200, 40) and clips.dtype == np.int64
    owner = videos.frame_video[clips]
    assert (owner == owner[:, :1]).all()  # one video per clip
    assert set(owner[:, 0].tolist()) == {1, 3}  # only videos of >= 40 frames
    assert (np.diff(clips, axis=1) == 1).all()
    starts3 = clips[owner[:, 0] == 3, 0]  # video 3 holds frames 89..183: starts 89..144
    assert starts3.min() >= 89 and starts3.max() <= 144 and len(set(starts3.tolist())) > 20
    np.testing.assert_array_equal(clips, kth.sample_clips(videos, 200, length=40, seed=5))
    assert not np.array_equal(clips, kth.sample_clips(videos, 200, length=40, seed=6))
    with pytest.raises(ValueError, match="at least 100 frames"):
        kth.sample_clips(videos, 1, length=100)
