"""lmvid_lib.eval.views (figures of notebook 02_factorization) and lmvid_lib.data.datasets.dataset_splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lmvid_lib import landmarks
from lmvid_lib.data.augment import AugmentConfig
from lmvid_lib.data.datasets import dataset_splits, reported_splits
from lmvid_lib.data.pairs import load_frames
from lmvid_lib.data.store import VideoSet, write_dataset
from lmvid_lib.eval.views import frame_landmarks, landmark_strip, training_views
from lmvid_lib.models.inference import encode_frames

AUGMENT = AugmentConfig(temporal_min=2, temporal_max=4)


def moving_squares(size: int = 32, n_videos: int = 2, n_frames: int = 8) -> VideoSet:
    rng = np.random.default_rng(0)
    frames = np.full((n_videos, n_frames, size, size, 3), 80, dtype=np.uint8)
    for v in range(n_videos):
        colour = rng.integers(120, 255, 3)
        for t in range(n_frames):
            x, y = 2 + 2 * t, 4 + t
            frames[v, t, y : y + 8, x : x + 8] = colour
    return VideoSet.from_clips(frames, video_ids=np.arange(n_videos))


pytestmark = pytest.mark.usefixtures("one_thread")


def test_training_views_shows_the_trainers_inputs_and_reconstructions(tiny_model):
    videos, model = moving_squares(), tiny_model()
    model.train()
    views = training_views(model, videos, AUGMENT, count=5, seed=3)
    assert model.training  # mode restored
    for name in ("target", "pose_input", "warped", "partner", "recon_warped", "recon_partner"):
        image = getattr(views, name)
        assert image.shape == (5, 3, 16, 16), name
        assert float(image.min()) >= 0 and float(image.max()) <= 1, name
    assert torch.equal(views.target, load_frames(videos, views.index, "cpu", 16))
    assert torch.equal(views.partner, load_frames(videos, views.partner_index, "cpu", 16))
    # Partners come from the same video, temporal_min..temporal_max frames away.
    video_of = np.searchsorted(np.asarray(videos.video_starts), np.arange(len(videos.frames)), side="right") - 1
    assert np.array_equal(video_of[views.index], video_of[views.partner_index])
    distance = np.abs(
        np.asarray(videos.frame_numbers)[views.partner_index] - np.asarray(videos.frame_numbers)[views.index]
    )
    assert np.all((distance >= 2) & (distance <= 4))
    # The perturbations really perturb, and the reconstructions are the model's own output.
    assert not torch.allclose(views.pose_input, views.target)
    assert not torch.allclose(views.warped, views.target)
    with torch.no_grad():
        expected = model.eval()(views.pose_input, views.warped)["recon"]
    assert torch.allclose(views.recon_warped, expected, atol=1e-6)
    again = training_views(model, videos, AUGMENT, count=5, seed=3)
    assert torch.equal(again.warped, views.warped) and np.array_equal(again.index, views.index)
    with pytest.raises(ValueError, match="count"):
        training_views(model, videos, AUGMENT, count=0, seed=3)


def test_frame_landmarks_are_the_encoders_landmarks_in_frame_pixels(tiny_model):
    videos, model = moving_squares(size=32), tiny_model(image_size=16)
    frames = np.array(videos.frames[:6])
    lm = frame_landmarks(model, frames)
    codes = encode_frames(model, frames)
    mu_norm, cov_norm = codes.mu.numpy(), codes.cov.numpy()
    assert lm.mu.shape == (6, 3, 2) and lm.cov.shape == (6, 3, 2, 2) and lm.part_maps.shape == (6, 3, 8, 8)
    # Pixel centres of a 32-wide frame: x_pix = ((x + 1) * 32 - 1) / 2; covariances scale by (32 / 2)^2.
    np.testing.assert_allclose(lm.mu, ((mu_norm + 1) * 32 - 1) / 2, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(lm.cov, cov_norm * 16.0**2, rtol=1e-4, atol=1e-6)
    # The part maps are the distributions the means were fitted to: probabilities whose mean is mu.
    np.testing.assert_allclose(lm.part_maps.sum(axis=(2, 3)), 1.0, rtol=1e-5)
    centres = landmarks.pixel_centres(8).numpy()
    mean_x = (lm.part_maps.sum(axis=2) * centres).sum(-1)
    mean_y = (lm.part_maps.sum(axis=3) * centres).sum(-1)
    np.testing.assert_allclose(np.stack([mean_x, mean_y], -1), mu_norm, atol=1e-4)
    with pytest.raises(ValueError, match="uint8"):
        frame_landmarks(model, frames.astype(np.float32))


def test_dataset_splits(tmp_path: Path):
    assert dataset_splits("signer") == ("train", "tune", "test", "val")
    assert reported_splits("signer") == ("test", "val") and reported_splits("walker", train_split="tune") == (
        "train",
        "test",
    )
    assert "train" in dataset_splits("pusher") and "test" in dataset_splits("pusher")
    root = write_dataset(
        tmp_path / "bair",
        "bair",
        {"train": moving_squares(), "test": moving_squares()},
        provenance={"source": "test fixture"},
    )
    assert sorted(dataset_splits("bair", root)) == ["test", "train"]
    with pytest.raises(ValueError, match="dataset"):
        dataset_splits("nope")


def test_landmark_strip_spans_one_video_and_views_keep_their_column_order(tiny_model):
    videos, model = moving_squares(size=32, n_videos=3, n_frames=8), tiny_model(image_size=16)
    frames, mu, cov, numbers = landmark_strip(model, videos, 4, video=1)
    assert numbers.tolist() == [0, 2, 5, 7]  # first to last frame of the video, evenly spaced
    np.testing.assert_array_equal(frames, np.asarray(videos.frames)[8 + numbers])
    lm = frame_landmarks(model, frames)
    np.testing.assert_array_equal(mu, lm.mu)
    np.testing.assert_array_equal(cov, lm.cov)
    for bad in ({"video": 3}, {"count": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            landmark_strip(model, videos, **{"count": 4, **bad})
    views = training_views(model, videos, AUGMENT, count=2, seed=0)
    columns = views.columns()
    assert [title.split("\n")[0] for title in columns] == [
        "frame",
        "pose input",
        "appearance input",
        "appearance input",
        "reconstruction",
        "reconstruction",
    ]
    assert columns["reconstruction\n(pose + partner)"] is views.recon_partner
