"""Chapter 5's protocol: clips, decoded landmark predictions, the copy-last-frame baseline, scores, overtaking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_sequences import clips, save_run

from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval import metrics
from lmvid_lib.eval.video_prediction import (
    copy_last_frame,
    landmark_video,
    lpips_backbones,
    overtaking_step,
    protocol,
    real_video,
    score_video,
    strip_frames,
    video_clips,
)
from lmvid_lib.models.dynamics import CopyLast

pytestmark = pytest.mark.usefixtures("one_thread")


def test_protocols_are_the_papers_and_overrides_are_checked():
    assert protocol("pusher") == protocol("bair") == (2, 28)
    assert protocol("walker") == protocol("kth") == (10, 30)
    assert protocol("walker", horizon=5) == (10, 5)
    with pytest.raises(ValueError, match="no prediction protocol"):
        protocol("signer")
    with pytest.raises(ValueError, match="horizon must be a positive int"):
        protocol("pusher", horizon=0)


def test_decoded_copy_last_state_is_the_reconstruction_of_the_last_context_frame(tmp_path, tiny_model):
    videos = VideoSet.from_clips(clips(n_videos=3, n_frames=10), np.arange(3))
    model = tiny_model(seed=0)
    run = save_run(tmp_path / "run", model)
    data = video_clips(run, videos, context=2, horizon=3, device="cpu")
    assert data.indices.shape == (6, 5) and data.states.shape == (6, 5, 3, 5)
    real = real_video(data, model.cfg.image_size)
    assert real.shape == (6, 5, 3, 16, 16) and 0 <= real.min() and real.max() <= 1
    decoded = landmark_video(model, CopyLast(), data)
    assert decoded.shape == (6, 3, 3, 16, 16)
    # A frozen pose decodes to the same frame at every step, drawn with the last context frame's appearance.
    torch.testing.assert_close(decoded[:, 0], decoded[:, 2])
    with torch.no_grad():
        x = real[:, 1]
        pose = model.encode_pose(x)
        expected = model.decode(pose.mu, pose.cov, model.encode_appearance(x, pose.part_logits))
    torch.testing.assert_close(decoded[:, 0], expected, atol=2e-3, rtol=0)  # through the float32 state round trip
    assert video_clips(run, videos, 2, 3, max_clips=2).indices.shape == (2, 5)


def test_copy_last_frame_and_strip_rows():
    real = torch.rand(2, 5, 1, 4, 4)
    copied = copy_last_frame(real, context=2, horizon=3)
    assert copied.shape == (2, 3, 1, 4, 4)
    assert torch.equal(copied[:, 2], real[:, 1])
    rows = strip_frames({"copy": copied}, clip=1, steps=[1, 3])
    assert rows["copy"].shape == (2, 4, 4, 1) and torch.equal(rows["copy"][1], real[1, 1].permute(1, 2, 0))


def test_scores_leave_out_lpips_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = torch.rand(2, 3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    scores = score_video(target.clone(), target, lpips_nets=("alex",))
    assert scores.lpips == {}
    assert np.isinf(scores.psnr).all() and np.allclose(scores.ssim, 1.0)
    noisy = (target + 0.1).clamp(0, 1)
    np.testing.assert_allclose(score_video(noisy, target).ssim, metrics.ssim(noisy, target).numpy())


def test_the_paper_profile_refuses_chapter_5_without_both_lpips_backbones(tmp_path, monkeypatch):
    from lmvid_lib.config import load_profile, notebook_parameters

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert lpips_backbones() == ()
    with pytest.raises(metrics.LPIPSWeightsUnavailable) as info:
        lpips_backbones(required=True)
    folder = tmp_path / "hub" / "checkpoints"
    assert f"alexnet-owt-7be5be79.pth, vgg16-397923af.pth: place them in {folder}" in str(info.value)
    assert "require_lpips" in str(info.value) and list(tmp_path.rglob("*")) == []  # nothing downloaded
    folder.mkdir(parents=True)
    (folder / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    assert lpips_backbones() == ("alex",)
    with pytest.raises(metrics.LPIPSWeightsUnavailable, match=r"lacks vgg16-397923af\.pth: place"):
        lpips_backbones(required=True)
    (folder / "vgg16-397923af.pth").write_bytes(b"")
    assert lpips_backbones(required=True) == ("alex", "vgg")
    assert notebook_parameters("paper", "05_prediction")["require_lpips"] is True
    assert not any(load_profile(p).get("05_prediction", {}).get("require_lpips") for p in ("cpu", "smoke"))


def test_overtaking_step_is_where_ours_stays_ahead():
    ours = np.array([0.5, 0.6, 0.8, 0.9])
    other = np.array([0.7, 0.7, 0.7, 0.7])
    assert overtaking_step(ours, other) == 3
    assert overtaking_step(ours, np.zeros(4)) == 1
    assert overtaking_step(np.array([0.9, 0.1]), np.array([0.5, 0.5])) is None
    assert overtaking_step(np.array([3.0, 1.0]), np.array([2.0, 2.0]), higher_is_better=False) == 2


def test_predict_dataset_scores_every_predictor_on_the_papers_protocol(tmp_path, tiny_model):
    from lmvid_lib.data.store import write_dataset
    from lmvid_lib.eval.video_prediction import COPY_FRAME, LANDMARK_PREDICTORS, predict_dataset
    from lmvid_lib.io import atomic_write_json, save_checkpoint
    from lmvid_lib.models.run_config import TrainConfig, config_dict, load_config
    from lmvid_lib.train.dynamics import train_dynamics

    model = tiny_model(seed=0)
    splits = {s: VideoSet.from_clips(clips(3, 30, seed=i), np.arange(3)) for i, s in enumerate(("train", "test"))}
    data = write_dataset(tmp_path / "data", "pusher", splits, {"test": True}, None)
    cfg = load_config({"model": config_dict(TrainConfig(model=model.cfg))["model"], "dataset": "pusher"})
    cfg.data_root = str(data)
    run = tmp_path / "runs" / "factorization" / "pusher-spade-seed0"
    atomic_write_json(run / "config.json", config_dict(cfg))
    save_checkpoint(run / "model.pt", {"config": config_dict(cfg), "model": model.state_dict()})
    states = torch.randn(4, 12, 3, 5, generator=torch.Generator().manual_seed(0))
    for residual in (True, False):
        lstm = {"n_landmarks": 3, "hidden": 8, "layers": 1, "predict_residual": residual}
        train_dynamics({"dataset": "pusher", "steps": 1, "progress": False, "model": lstm}, states, tmp_path / "runs")

    def blank(context: torch.Tensor, horizon: int) -> torch.Tensor:
        return torch.zeros(len(context), horizon, *context.shape[2:])

    result = predict_dataset(tmp_path / "runs", "pusher", max_clips=2, pixel_predictors={"blank": blank})
    assert (result.clips.context, result.clips.horizon) == (2, 28) and result.real.shape == (2, 30, 3, 16, 16)
    assert set(result.predictions) == {*LANDMARK_PREDICTORS, COPY_FRAME, "blank"}
    for name, frames in result.predictions.items():
        assert frames.shape == (2, 28, 3, 16, 16), name
        assert result.scores[name].ssim.shape == result.scores[name].psnr.shape == (2, 28)
    assert result.scores[COPY_FRAME].psnr.mean() > result.scores["blank"].psnr.mean() + 3  # a grey scene, not black


def test_structure_sentence_names_the_best_and_says_when_the_detector_cannot_tell():
    from lmvid_lib.eval.horizon import HorizonCurves
    from lmvid_lib.eval.video_prediction import REAL_FUTURE, structure_sentence

    def c(error: float) -> HorizonCurves:
        return HorizonCurves(np.full(3, error), np.zeros(3), np.zeros(2))

    text = structure_sentence("walker", {REAL_FUTURE: c(3.0), "ours": c(8.4), "pixel": c(11.0)}, ["ours", "pixel"])
    assert "ours keeps the structure best" in text and "ours 8.4, pixel 11.0" in text and "real frames 3.0" in text
    blind = structure_sentence("pusher", {REAL_FUTURE: c(10.7), "ours": c(10.7)}, ["ours"])
    assert "says nothing" in blind and "10.7 px on the real frames" in blind
