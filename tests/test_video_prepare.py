"""`lmvid prepare video`: clips written by PyAV in several containers and codecs, odd sizes, a variable frame rate, a
folder of PNGs, corrupt and truncated files, both split rules, the frame-rate and crop options, and the CLI."""

from __future__ import annotations

import fractions
import os
import shutil

import av
import numpy as np
import pytest
from PIL import Image

from lmvid_lib import cli
from lmvid_lib.data import prepare, store, video
from lmvid_lib.data.datasets import data_label, open_dataset

# name -> (codec, frames, width, height, variable frame rate)
CLIPS = {
    "a.mp4": ("h264", 50, 98, 70, False),
    "b.avi": ("mpeg4", 40, 80, 60, False),
    "c.mkv": ("h264", 60, 64, 48, True),
    "d.webm": ("libvpx", 30, 64, 64, False),
    "e.mov": ("mpeg4", 20, 160, 120, False),
}
PNG_FRAMES, PNG_SIZE = 12, (97, 71)  # an odd size


def _frame(i: int, w: int, h: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    x = (i * 3) % (w - 10)
    img[h // 3 : h // 3 + 10, x : x + 10] = 255
    return img


def write_clip(path, codec: str, n: int, w: int, h: int, vfr: bool = False) -> None:
    """A clip of a white square moving right; vfr: frames 20 and 40 ms apart in turn."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if vfr:
            stream.time_base = fractions.Fraction(1, 1000)
        pts = 0
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(_frame(i, w, h), format="rgb24")
            if vfr:
                frame.pts, frame.time_base = pts, stream.time_base
                pts += 40 if i % 2 else 20
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    for name, (codec, n, w, h, vfr) in CLIPS.items():
        write_clip(folder / name, codec, n, w, h, vfr)
    (folder / "pngs").mkdir()
    for i in range(PNG_FRAMES):
        Image.fromarray(_frame(i, *PNG_SIZE)).save(folder / "pngs" / f"{i:04d}.png")
    return folder


def _total(dst) -> int:
    return sum(s["n_frames"] for s in store.read_index(dst)["splits"].values())


def _frames_by_video(dst) -> dict[str, int]:
    counts: dict[str, int] = {}
    for split in store.read_index(dst)["splits"]:
        videos = store.open_split(dst, split)
        for name, (a, b) in zip(videos.video_names, zip(videos.video_starts[:-1], videos.video_starts[1:])):
            counts[name] = counts.get(name, 0) + int(b - a)
    return counts


def test_every_container_codec_odd_size_and_png_folder_is_prepared_frame_for_frame(clips, tmp_path):
    dst = prepare.prepare("video", clips, tmp_path / "out", progress=False)
    expected = {name.split(".")[0]: spec[1] for name, spec in CLIPS.items()} | {"pngs": PNG_FRAMES}
    assert _frames_by_video(dst) == expected
    index = store.read_index(dst)
    assert {s["frame_shape"][0] for s in index["splits"].values()} == {64}
    assert set(index["splits"]) == {"train", "tune", "test"}
    assert "by whole videos in name order" in index["provenance"]["split_rule"]
    train = open_dataset("video", "train", tmp_path / "run", data_root=dst)
    assert train.frames.shape[1:] == (64, 64, 3) and train.keypoints is None
    assert data_label("video", dst).startswith("your own videos (prepared by lmvid prepare video, split by whole")


def test_a_corrupt_and_a_truncated_file_are_one_line_each_and_the_others_are_prepared(clips, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(clips, src)
    (src / "broken.mp4").write_bytes(os.urandom(4000))
    data = (clips / "a.mp4").read_bytes()
    (src / "half.mp4").write_bytes(data[: len(data) // 2])
    dst = prepare.prepare("video", src, tmp_path / "out", progress=False)
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if line.startswith("skipped: ")]
    assert len(skipped) == 2 and str(src / "broken.mp4") in skipped[0] and str(src / "half.mp4") in skipped[1]
    assert f"prepared {len(CLIPS) + 1} of {len(CLIPS) + 3} video(s); skipped 2" in err
    assert store.read_index(dst)["provenance"]["skipped"] == ["broken", "half"]
    assert "broken" not in _frames_by_video(dst) and "half" not in _frames_by_video(dst)


def test_a_folder_with_nothing_usable_is_one_error_and_writes_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "notes.txt").write_text("no video here")
    with pytest.raises(ValueError, match="holds no video file"):
        prepare.prepare("video", src, tmp_path / "out", progress=False)
    for i in range(3):
        (src / f"bad{i}.mp4").write_bytes(os.urandom(1000))
    with pytest.raises(ValueError, match=r"none of its 3 source\(s\) can be read"):
        prepare.prepare("video", src, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["src"]  # no scratch left


def test_split_by_time_cuts_one_video_into_disjoint_stretches_in_order(clips, tmp_path):
    dst = prepare.prepare("video", clips / "a.mp4", tmp_path / "out", progress=False, split="time")
    numbers = {split: store.open_split(dst, split).frame_numbers for split in ("train", "tune", "test")}
    assert numbers["train"].max() < numbers["tune"].min() and numbers["tune"].max() < numbers["test"].min()
    assert sum(len(v) for v in numbers.values()) == CLIPS["a.mp4"][1]
    assert len(numbers["train"]) == pytest.approx(0.8 * CLIPS["a.mp4"][1], abs=2)
    assert "by time within each video" in store.read_index(dst)["provenance"]["split_rule"]


def test_split_by_videos_needs_three_videos(clips, tmp_path):
    with pytest.raises(ValueError, match="needs at least 3 videos .* use --split time"):
        prepare.prepare("video", clips / "a.mp4", tmp_path / "out", progress=False)


def test_a_target_frame_rate_thins_by_timestamps_and_evens_out_a_variable_rate(clips, tmp_path):
    dst = prepare.prepare("video", clips / "c.mkv", tmp_path / "out", progress=False, split="time", fps=10.0)
    numbers = np.sort(np.concatenate([store.open_split(dst, s).frame_numbers for s in ("train", "tune", "test")]))
    # frames 20 / 40 ms apart in turn (a pair every 60 ms): 60 frames span 1.8 s, so about 18 frames at 10 fps
    assert 16 <= len(numbers) <= 20
    times = np.cumsum([0] + [40 if i % 2 else 20 for i in range(59)])[numbers] / 1000
    # every kept frame 0.1 s after the last, as near as frames 20 / 40 ms apart allow, and 0.1 s on average
    assert np.all(np.abs(np.diff(times) - 0.1) <= 0.041) and np.diff(times).mean() == pytest.approx(0.1, abs=0.01)


def test_a_crop_box_per_video_from_a_csv(clips, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.mp4", "b.avi", "d.webm"):
        shutil.copy(clips / name, src / name)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("video,x0,y0,x1,y1\na,0,0,98,70\nb,0,0,40,40\n")
    with pytest.raises(ValueError, match=r"boxes.csv has no box for the videos \['d'\]"):
        prepare.prepare("video", src, tmp_path / "out", progress=False, crops=str(boxes))
    boxes.write_text("video,x0,y0,x1,y1\na,0,0,98,70\nb,0,0,40,40\nd,0,21,64,43\n")  # d: the square's band
    dst = prepare.prepare("video", src, tmp_path / "out", progress=False, crops=str(boxes))
    videos = {v: store.open_split(dst, s) for s, v in (("train", "a"), ("tune", "b"), ("test", "d"))}
    band = videos["d"].frames[0].mean()
    prepare.prepare("video", src, tmp_path / "plain", progress=False)  # the centred square: d's whole frame
    plain = store.open_split(tmp_path / "plain", "test").frames[0].mean()
    assert band > 2 * plain  # the box around the square's band fills the frame with it


def test_a_source_that_fails_half_way_is_taken_back_out(clips, tmp_path, monkeypatch):
    builders = {name: prepare.SplitBuilder(tmp_path, name, (64, 64, 3)) for name in video.SPLITS}
    opts = video.VideoOptions()
    good = video.Source("a", clips / "a.mp4", False)
    video.add_source(good, 0, opts, None, builders, "train", _Bar())
    before = builders["train"].mark()

    def failing(source, options, box=None):
        def frames():
            yield 0, 0.0, _frame(0, 64, 64)
            yield 1, 0.04, _frame(1, 64, 64)
            raise video.Unreadable("x.mp4: decoding failed")

        return 1.0, frames()

    monkeypatch.setattr(video, "source_frames", failing)
    with pytest.raises(video.Unreadable):
        video.add_source(video.Source("x", tmp_path / "x.mp4", False), 1, opts, None, builders, "train", _Bar())
    assert builders["train"].mark() == before
    assert (tmp_path / "train.frames.raw").stat().st_size == CLIPS["a.mp4"][1] * 64 * 64 * 3


class _Bar:
    def update(self, n: int = 1) -> None:
        pass


@pytest.mark.parametrize(
    "options, message",
    [
        ({"size": 96}, "size must be 64 or 128"),
        ({"crop": (10, 10, 5, 20)}, "crop must be x0 y0 x1 y1"),
        ({"fractions": (0.5, 0.5)}, "fractions must be three positive numbers"),
        ({"split": "random"}, "split must be 'videos' or 'time'"),
        ({"fps": 0.0}, "fps must be positive"),
    ],
)
def test_bad_options_are_one_error_naming_the_option(clips, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        prepare.prepare("video", clips, tmp_path / "out", progress=False, **options)


def test_the_cli_prepares_and_describes(clips, tmp_path, capsys):
    dst = tmp_path / "out"
    args = ["prepare", "video", "--src", str(clips / "a.mp4"), "--dst", str(dst), "--split", "time"]
    assert cli.main([*args, "--size", "128", "--fractions", "0.6", "0.2", "0.2", "--no-progress"]) == 0
    assert cli.main(["describe", "video", str(dst)]) == 0
    out = capsys.readouterr().out
    assert "| train | 1 | 30 | 128x128x3 | no |" in out and "train = its first 60% of the time" in out


def test_chapters_drop_their_keypoint_cells_for_data_without_keypoints_and_say_so(clips, tmp_path):
    from lmvid_lib.data.datasets import has_keypoints
    from lmvid_lib.paths import REPO
    from lmvid_lib.publish import notebooks

    dst = prepare.prepare("video", clips, tmp_path / "out", progress=False)
    assert not has_keypoints("video", dst) and has_keypoints("signer")
    source = REPO / "nbs" / "03_keypoints.py"
    full = notebooks._kernel_notebook(source, {"dataset": "signer", "data_root": None})
    cut = notebooks._kernel_notebook(source, {"dataset": "video", "data_root": str(dst)})
    tagged = [c for c in full.cells if notebooks.NEEDS_KEYPOINTS in c.metadata.get("tags", [])]
    assert tagged and len(cut.cells) == len(full.cells) - len(tagged) + 1
    said = [c for c in cut.cells if "has no ground-truth keypoints" in c.source]
    assert len(said) == 1 and "your own videos (prepared by lmvid prepare video" in said[0].source
    assert not any(notebooks.NEEDS_KEYPOINTS in c.metadata.get("tags", []) for c in cut.cells)
    # a notebook without tagged cells is left whole, whatever its data
    playground = REPO / "nbs" / "07_playground.py"
    assert len(notebooks._kernel_notebook(playground, {"dataset": "video"}).cells) == len(
        notebooks._kernel_notebook(playground).cells
    )


def test_frames_shrunk_by_ffmpeg_before_the_crop_match_a_full_size_crop(tmp_path):
    assert video.shrink_factor(1920, 1080, None, 64) == 8 and video.shrink_factor(1920, 1080, (0, 0, 300, 300), 64) == 2
    assert video.shrink_factor(98, 70, None, 64) == 1
    clip = tmp_path / "big.mp4"
    write_clip(clip, "h264", 3, 512, 384)
    box = (64, 0, 448, 384)
    with av.open(str(clip)) as container:
        full = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    _, frames = video.source_frames(video.Source("big", clip, False), video.VideoOptions(), box)
    ours = [frame for _, _, frame in frames]
    assert len(ours) == 3 and ours[0].shape == (64, 64, 3)
    direct = [video.crop_resize(f, box, 64) for f in full]
    assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(ours, direct)) < 3
