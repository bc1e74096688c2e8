"""lmvid_lib.report.figures: the artists drawn are the data given (images, keypoint offsets, ellipse geometry),
animations hold one embedded image per frame, and bad input is one ValueError naming the argument."""

from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from matplotlib.patches import Ellipse  # noqa: E402

from lmvid_lib import landmarks  # noqa: E402
from lmvid_lib.data.store import VideoSet  # noqa: E402
from lmvid_lib.report import figures  # noqa: E402


def _frames(n=5, h=24, w=32, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def _keypoints(n=5, j=4, h=24, w=32, seed=1):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(0, w - 1, (n, j)), rng.uniform(0, h - 1, (n, j))], -1)


def test_show_frames_draws_each_frame_and_its_keypoints():
    frames, kp = _frames(), _keypoints()
    kp[2, 1] = np.nan  # absent joint: left out, the others keep their colours
    fig = figures.show_frames(frames, kp, names=["a", "b", "c", "d"], ncols=2, titles=[f"t{i}" for i in range(5)])
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 5 and len(fig.axes) == 6  # 3x2 grid, the last cell empty
    colours = figures.landmark_colors(4)
    for i, ax in enumerate(panels):
        assert np.array_equal(ax.images[0].get_array(), frames[i])
        assert ax.get_title() == f"t{i}"
        (scatter,) = ax.collections
        present = ~np.isnan(kp[i]).any(-1)
        np.testing.assert_allclose(scatter.get_offsets(), kp[i][present])
        np.testing.assert_allclose(scatter.get_facecolors(), colours[present])
        # the image, not the points, sets the view (y down)
        assert ax.get_xlim() == pytest.approx((-0.5, 31.5)) and ax.get_ylim() == pytest.approx((23.5, -0.5))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b", "c", "d"]


def test_long_legend_fits_beside_the_frames():
    names = [f"joint_{j}" for j in range(14)]
    fig = figures.show_frames(_frames(n=2), _keypoints(n=2, j=14), names=names)
    fig.canvas.draw()
    box = fig.legends[0].get_window_extent()
    assert box.y0 >= 0 and box.y1 <= fig.bbox.height and box.x1 <= fig.bbox.width
    panels = [ax.get_window_extent() for ax in fig.axes]
    assert max(p.x1 for p in panels) <= box.x0


def test_show_frames_gray_and_float_frames():
    gray = _frames(n=2, c=1)
    fig = figures.show_frames(gray)
    image = fig.axes[0].images[0]
    assert image.get_cmap().name == "gray" and image.get_array().shape == (24, 32)
    assert not fig.axes[0].collections and not fig.legends
    floats = gray.astype(np.float32) / 255.0
    fig = figures.show_frames(torch.from_numpy(floats))
    assert np.array_equal(fig.axes[1].images[0].get_array(), gray[1, ..., 0])


def test_draw_landmarks_ellipses_are_the_covariances():
    fig = figures.new_figure(2, 2)
    ax = fig.add_subplot()
    figures.show_image(ax, _frames(n=1, h=64, w=64)[0])
    mu = np.array([[20.0, 30.0], [40.0, 12.0], [32.0, 50.0]])
    cov = np.array([[[9.0, 4.0], [4.0, 5.0]], [[2.0, -1.5], [-1.5, 16.0]], [[4.0, 0.0], [0.0, 4.0]]])
    ellipses = figures.draw_landmarks(ax, mu, cov, n_sigma=2.0)
    assert len(ellipses) == 3 and all(isinstance(e, Ellipse) for e in ellipses)
    colours = figures.landmark_colors(3)
    for k, ellipse in enumerate(ellipses):
        evals = np.linalg.eigvalsh(cov[k])
        assert ellipse.width == pytest.approx(2 * 2.0 * np.sqrt(evals[1]))
        assert ellipse.height == pytest.approx(2 * 2.0 * np.sqrt(evals[0]))
        np.testing.assert_allclose(ellipse.get_edgecolor(), colours[k])
        # every point of the outline is at Mahalanobis distance n_sigma: position, size and orientation all right
        angle = np.linspace(0, 2 * np.pi, 16)
        circle = np.stack([np.cos(angle), np.sin(angle)], -1)
        outline = ellipse.get_patch_transform().transform(circle) - mu[k]
        maha = np.einsum("ni,ij,nj->n", outline, np.linalg.inv(cov[k]), outline)
        np.testing.assert_allclose(maha, 4.0, rtol=1e-6)
    np.testing.assert_allclose(ax.collections[-1].get_offsets(), mu)
    assert ax.get_xlim() == pytest.approx((-0.5, 63.5))


def test_gaussians_to_pixels_on_hand_values():
    mu = torch.tensor([[[-0.75, 0.5], [0.0, -1.0]]])
    std = 0.1
    cov = torch.eye(2).expand(1, 2, 2, 2) * std**2
    mu_px, cov_px = landmarks.gaussians_to_pixels(mu, cov, height=16, width=8)
    # x_pix = ((x + 1) W - 1) / 2: -0.75 is the centre of pixel 0.5 of 8, y = 0.5 of pixel 11.5 of 16, -1 an edge
    np.testing.assert_allclose(mu_px, [[[0.5, 11.5], [3.5, -0.5]]], atol=1e-6)
    # a pixel is 2/W wide and 2/H high in normalised units
    np.testing.assert_allclose(np.sqrt(cov_px[0, 0].diagonal()), [std * 8 / 2, std * 16 / 2])
    with pytest.raises(ValueError, match="cov"):
        landmarks.gaussians_to_pixels(mu, cov[..., :1], 16, 8)


def test_animate_embeds_one_image_per_frame():
    frames, kp = _frames(n=6), _keypoints(n=6)
    kp[3, 0] = np.nan
    html = figures.animate(frames, kp, fps=4)
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html)) == 6
    assert re.search(r"slider_id, 250\b", html)  # 1000 / fps ms per frame
    gray = figures.animate(_frames(n=3, c=1), fps=2, frame_format="jpeg", title="x")
    assert len(re.findall(r'frames\[\d+\] = "data:image/jpeg;base64,', gray)) == 3


def test_nothing_is_left_in_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figures.show_frames(_frames(n=2))
    figures.animate(_frames(n=2))
    assert plt.get_fignums() == before


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: figures.show_frames(_frames(n=5), _keypoints(n=4)), "keypoints"),
        (lambda: figures.show_frames(_frames(n=5), _keypoints(n=5)[..., :1]), "keypoints"),
        (lambda: figures.show_frames(_frames(n=5)[0]), "frames"),
        (lambda: figures.show_frames(_frames(n=2, c=2)), "frames"),
        (lambda: figures.show_frames(_frames(n=2).astype(np.int32)), "frames"),
        (lambda: figures.show_frames(_frames(n=2), _keypoints(n=2), names=["a"]), "names"),
        (lambda: figures.show_frames(_frames(n=2), titles=["a"]), "titles"),
        (lambda: figures.show_frames(_frames(n=2), ncols=0), "ncols"),
        (lambda: figures.animate(_frames(n=3), _keypoints(n=2)), "keypoints"),
        (lambda: figures.animate(_frames(n=3), fps=0), "fps"),
        (
            lambda: figures.draw_landmarks(
                figures.new_figure(1, 1).add_subplot(), np.zeros((3, 2)), np.zeros((2, 2, 2))
            ),
            "cov_pixels",
        ),
        (
            lambda: figures.draw_keypoints(figures.new_figure(1, 1).add_subplot(), np.zeros((3, 2)), colors=["r"]),
            "colors",
        ),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_landmark_colors_are_distinct():
    for k in (1, 7, 14, 25):
        colours = figures.landmark_colors(k)
        assert colours.shape == (k, 4)
        assert len({tuple(c) for c in colours.round(4)}) == k
    with pytest.raises(ValueError, match="k must"):
        figures.landmark_colors(-1)


def test_split_summary_and_markdown_table():
    kp = _keypoints(n=6, j=3).reshape(2, 3, 3, 2).astype(np.float32)
    kp[0, 0, 2] = np.nan
    videos = VideoSet.from_clips(_frames(n=6, c=1).reshape(2, 3, 24, 32, 1), np.array([4, 4]), kp, ["a", "b", "c"])
    row = figures.split_summary(videos)
    assert row == {
        "videos": 2,
        "frames": 6,
        "frames/video": "3",
        "size": "24x32",
        "channels": 1,
        "identities": 1,
        "keypoints": 3,
        "absent keypoints": f"{1 / 18:.1%}",
    }
    table = figures.markdown_table([{"split": "train", **row}, {"split": "test", **row}])
    lines = table.splitlines()
    assert lines[0].startswith("| split | videos | frames |") and len(lines) == 4
    assert lines[1].split("|")[1:3] == ["---", "---:"]  # text left, numbers right
    with pytest.raises(ValueError, match="rows lack column"):
        figures.markdown_table([{"a": 1}], columns=["a", "b"])


def test_sample_frames_picks_one_frame_per_video():
    frames = _frames(n=15, c=1).reshape(3, 5, 24, 32, 1)
    kp = _keypoints(n=15, j=2).reshape(3, 5, 2, 2)
    videos = VideoSet.from_clips(frames, np.array([7, 8, 9]), kp)
    shown, shown_kp, titles = figures.sample_frames(videos, count=2)
    times = [3, 10 % 5]  # (7 v + 3) mod 5
    assert np.array_equal(shown, frames[[0, 1], times]) and np.array_equal(
        shown_kp, kp[[0, 1], times].astype(np.float32)
    )
    assert titles == ["id 7, t=3", "id 8, t=0"]
    assert len(figures.sample_frames(videos, count=10)[0]) == 3
    no_kp = VideoSet.from_clips(frames, np.array([7, 8, 9]), meta={"actions": ["boxing", "running", "jogging"]})
    shown, shown_kp, titles = figures.sample_frames(no_kp)
    assert shown_kp is None and titles[1] == "id 8, t=0, running"


def test_gallery_draws_ground_truth_and_predictions_on_the_stored_frames():
    from lmvid_lib.eval.keypoints import KeypointEvalConfig, SplitResult

    frames = _frames(n=3, h=32, w=32)
    gt_pixels = np.array([[[4.0, 8.0], [20.0, 30.0]]] * 2)  # two scored frames, J = 2, in 32-px frame pixels
    gt = (gt_pixels - 15.5) * 4  # crop-centred at crop_size 128
    pred = gt + [[[24.0, 0.0], [0.0, 4.0]]]  # joint 0 off by 24 px in the crop (6 frame px), joint 1 by 4
    cfg = KeypointEvalConfig(crop_size=128)
    result = SplitResult(pred, gt, np.array([2, 0]), 0.5, np.zeros(2), np.array([0.0, 1.0]))
    fig = figures.plot_gallery(frames, result, ["a", "b"], cfg, n=2, ncols=2)
    first = fig.axes[0]
    np.testing.assert_array_equal(first.images[0].get_array(), frames[2])
    gt_line, pred_line = first.lines[0], first.lines[1]  # joint 0: ground truth (o), then prediction (x)
    np.testing.assert_allclose(gt_line.get_xydata(), [[4.0, 8.0]])
    np.testing.assert_allclose(pred_line.get_xydata(), [[10.0, 8.0]])
    assert first.get_title() == "frame 2: 1/2 within 6 px"
    with pytest.raises(ValueError, match="eval_scale='crop'"):
        figures.plot_gallery(frames, result, ["a", "b"], KeypointEvalConfig(eval_scale="original"))


def test_image_columns_shows_each_example_under_its_column_title():
    rgb = torch.rand(3, 3, 8, 8)
    gray = torch.rand(3, 1, 8, 8)
    fig = figures.image_columns({"target": rgb, "gray\ninput": gray})
    axes = np.array(fig.axes).reshape(3, 2)
    assert [ax.get_title() for ax in axes[0]] == ["target", "gray\ninput"]
    np.testing.assert_array_equal(axes[2, 0].images[0].get_array(), figures._frames(rgb[2].permute(1, 2, 0), "", 3))
    assert axes[1, 1].images[0].get_cmap().name == "gray"
    with pytest.raises(ValueError, match="same non-zero number"):
        figures.image_columns({"a": rgb, "b": gray[:2]})


def test_landmark_rows_draws_every_frames_landmarks():
    frames = _frames(n=3, h=24, w=24)
    mu = np.random.default_rng(0).uniform(4, 20, (3, 2, 2))
    cov = np.tile(np.diag([4.0, 1.0]), (3, 2, 1, 1))
    fig = figures.landmark_rows(
        {"test": (frames, mu, cov, ["a", "b", "c"]), "val": (frames[:2], mu[:2], cov[:2], ["d", "e"])}
    )
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes[1]] == ["d", "e", ""] and not axes[1, 2].images
    ellipses = [p for p in axes[0, 1].patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 2 and np.allclose(ellipses[1].center, mu[1, 1])
    assert ellipses[0].width == pytest.approx(4.0) and ellipses[0].height == pytest.approx(2.0)
    with pytest.raises(ValueError, match="titles"):
        figures.landmark_rows({"test": (frames, mu, cov, ["a"])})
