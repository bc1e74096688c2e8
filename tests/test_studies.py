"""The chapters' studies (`eval.horizon_study`, `eval.prediction_study`, `eval.interpolation_study`) and the report
helpers the notebooks call: every sentence, table row and claim is computed from the results they are given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from test_horizon import curves

from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval import horizon_study as hs
from lmvid_lib.eval import interpolation as interp
from lmvid_lib.eval import interpolation_study as ist
from lmvid_lib.eval import prediction_study as ps
from lmvid_lib.eval.horizon import HorizonConfig, HorizonCurves, VideoStates
from lmvid_lib.eval.metrics import rank_sequences, step_stats, worst_frame_clip
from lmvid_lib.eval.predictors import (
    CHOLESKY,
    CONSTANT_VELOCITY,
    COPY_FRAME,
    COPY_LAST,
    COVARIANCE,
    CROSS_FADE,
    JOINT_LERP,
    LINEAR_FORECAST,
    MEAN_POSE,
    OURS,
    OURS_SCENE,
    PIXEL,
    REAL_FUTURE,
    REAL_LANDMARKS,
)
from lmvid_lib.eval.video_prediction import DatasetPrediction, VideoClips, VideoScores
from lmvid_lib.models.run_config import TrainConfig
from lmvid_lib.report.figures import part_maps_figure
from lmvid_lib.report.runs import budget_sentence, chapter_data_rows, keypoint_setup


def video_set(lengths: list[int]) -> VideoSet:
    """Videos of the given lengths of blank 1x1 frames: what the studies read of a split are its video boundaries."""
    m = sum(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.arange(len(lengths), dtype=np.int64)
    return VideoSet(np.zeros((m, 1, 1, 1), np.uint8), starts, ids, np.arange(m, dtype=np.int64))


# ------------------------------------------------------------------------------------------------------- chapter 4
def study(horizon: int = 30, dataset: str = "signer") -> hs.HorizonStudy:
    splits = hs.horizon_splits(dataset)
    t = np.arange(1, horizon + 1)
    results = {
        OURS: curves(10 + 0.05 * t, 0.4),
        COPY_LAST: curves(8 + 0.1 * t, 0.0),
        CONSTANT_VELOCITY: curves(5 + t, 1.0),
        MEAN_POSE: curves(np.full(horizon, 14.0), 0.0),
        LINEAR_FORECAST: curves(8 + 0.09 * t, 0.1),
    }
    cfg = HorizonConfig(context=2, horizon=horizon, stride=10, crop_size=64)
    windows = {s: (np.zeros((3, cfg.length, 2, 5)), None, None) for s in splits}
    held_out = {s: VideoStates(video_set([cfg.length] * 2), None, None) for s in splits}
    return hs.HorizonStudy(
        dataset, "a label", cfg, None, 2, None, None, {}, held_out, None, windows, {s: results for s in splits}, splits
    )


def test_chapter_4_reports_the_signer_test_videos_and_bbc_pose_held_out_frames_of_its_training_videos():
    assert hs.horizon_splits("signer") == {"test": "held-out frames", "val": "held-out attire"}
    assert hs.horizon_splits("bbc") == {"held_out_frames": "held-out frames", "val": "held-out attire"}
    real = study(30, "bbc")
    assert real.first == "held_out_frames"
    assert real.claim_fields()["dataset"] == "bbc held-out frames (a label), 3 windows of 2 videos"
    with pytest.raises(ValueError, match=r"needs true joints on held-out splits: \['signer', 'bbc'\], got 'pusher'"):
        hs.horizon_splits("pusher")


def test_horizon_study_reports_what_its_curves_say():
    s = study(30)
    assert s.horizons == (10, 30) and s.speed_span == (15, 30) and s.unit == "px, 64x64 crop"
    header, rows = s.table("test")
    assert [r[0] for r in rows] == [OURS, COPY_LAST, CONSTANT_VELOCITY, MEAN_POSE, LINEAR_FORECAST]
    assert rows[0][1] == "10.5"  # ours at t = 10
    verdicts = s.verdicts()
    assert verdicts.startswith("**held-out frames.** At t = 10 / 30 the mean joint error of ours (landmark LSTM)")
    assert "**held-out attire.**" in verdicts and "linear forecast" in verdicts
    fields = s.claim_fields()
    assert fields["ours"].startswith(f"joint error at t=30: 11.5 px ({MEAN_POSE} 14.0, {COPY_LAST} 11.0)")
    assert fields["ours"].endswith("keeps 40% of the real speed over t=15-30")
    assert fields["dataset"] == "signer held-out frames (a label), 3 windows of 2 videos"
    assert fields["claim"].endswith("(2 -> 30 frames)")  # the row says the horizon it scores
    assert s.sample_sentence() == "held-out frames: 3 windows of 2 videos; held-out attire: 3 windows of 2 videos"
    assert study(100).horizons == (10, 30, 100) and study(100).speed_span == (50, 100)


def test_the_paper_horizon_is_scored_and_said_as_2_to_98():
    default = HorizonConfig()
    assert (default.context, default.horizon) == (2, 98)  # Fig. 3: 98 frames predicted from 2
    s = study(98)
    assert s.horizons == (10, 30, 98) and s.speed_span == (50, 98)
    fields = s.claim_fields()
    assert "(2 -> 98 frames)" in fields["claim"] and fields["ours"].startswith("joint error at t=98:")
    assert "At t = 10 / 30 / 98" in s.verdicts()


def test_horizon_study_names_an_unknown_predictor_before_reading_anything(tmp_path):
    with pytest.raises(ValueError, match=r"lstm_runs: unknown predictor\(s\) \['LSTM'\]"):
        hs.horizon_study(tmp_path, "signer", HorizonConfig(), {"LSTM": tmp_path})


# ------------------------------------------------------------------------------------------------------- chapter 5
def flat(error: float, horizon: int = 4) -> HorizonCurves:
    """Structure curves with a constant detected-keypoint error (px)."""
    return HorizonCurves(np.full(horizon, error), np.zeros(horizon), np.zeros(horizon - 1))


def prediction(context: int = 2, horizon: int = 4, n: int = 3) -> DatasetPrediction:
    rng = np.random.default_rng(0)

    def scores(level: float) -> VideoScores:
        ssim = np.clip(level + 0.05 * rng.standard_normal((n, horizon)), 0, 1)
        return VideoScores(ssim, 20 + 10 * ssim, {"alex": 1 - ssim})

    length = context + horizon  # clips 0 .. n-2 come from video 0, the last clip from video 1
    videos = video_set([(n - 1) * length, length])
    clips = VideoClips(videos, np.arange(n * length, dtype=np.int64).reshape(n, length), None, context, horizon)
    named = {OURS: scores(0.6), COPY_FRAME: scores(0.8), PIXEL: scores(0.4)}
    real = torch.zeros(n, context + horizon, 3, 8, 8)
    return DatasetPrediction("pusher", Path("run"), clips, real, {}, named)


def test_metrics_are_keyed_not_parsed_from_their_labels():
    metrics = ps.metrics_shown(("alex",))
    assert [m.key for m in metrics] == ["ssim", "psnr", "alex"] and not metrics[2].higher_is_better
    result = prediction()
    curves_ = ps.metric_curves(result, metrics[2])
    lpips = result.scores[OURS].lpips["alex"]
    by_video = (lpips[:-1].mean(0) + lpips[-1]) / 2  # the clips of one video are one unit
    np.testing.assert_allclose(curves_[OURS][0], by_video)
    np.testing.assert_allclose(curves_[OURS][1], np.abs(lpips[:-1].mean(0) - lpips[-1]) / 2)  # SE of 2 video means
    ssim = result.scores[OURS].ssim
    rows = ps.mean_score_rows({"pusher": result}, metrics)
    assert rows[0][:2] == ["`pusher`", OURS] and rows[0][2] == f"{((ssim[:-1].mean(0) + ssim[-1]) / 2).mean():.3f}"
    assert len(rows) == 3 and all(len(r) == 5 for r in rows)


def test_chapter_5_sentences_picks_and_figure_numbers_come_from_the_results():
    result = prediction()
    verdict = ps.ssim_verdict("pusher", result, [PIXEL, COPY_FRAME])
    assert verdict.startswith(f"On `pusher`, the highest mean SSIM over all predicted frames is {COPY_FRAME}'s.")
    assert f"than the {PIXEL}" in verdict and f"Ours (landmark LSTM) does not end above the {COPY_FRAME}" in verdict
    assert OURS_SCENE not in verdict and ps.ours_shown(result) == [OURS]
    result.scores[OURS_SCENE] = result.scores[COPY_FRAME]  # the scene decoder's drawing, where chapter 2 trained one
    both = ps.ssim_verdict("pusher", result, [PIXEL])
    assert ps.ours_shown(result) == [OURS, OURS_SCENE]
    assert f"From frame 3 on, {OURS_SCENE} has a higher mean SSIM than the {PIXEL}." in both
    assert ps.pixel_verdict(result, None, (), ours_name=OURS_SCENE).startswith(f"{OURS_SCENE} against the {PIXEL}")
    del result.scores[OURS_SCENE]
    picks = ps.clip_picks(result, ())
    assert picks["our best clip"].clip == rank_sequences(None, result.scores[OURS].ssim).best
    assert (
        picks["our best clip"].rule.startswith("our rule: time-averaged SSIM")
        and "our fallback" in picks["our best clip"].rule
    )
    paper = picks["the worst clip by the paper's rule"]
    by_ssim = {name: s.ssim for name, s in result.scores.items()}
    assert paper.clip == worst_frame_clip(by_ssim, "SSIM").clip
    assert paper.rule.startswith("the paper's rule (Fig. 4, 15") and "SSIM (our fallback" in paper.rule
    with_lpips = ps.clip_picks(result, ("alex",))
    assert "LPIPS" in with_lpips["our worst clip"].rule and "fallback" not in with_lpips["our worst clip"].rule
    by_lpips = {name: s.lpips["alex"] for name, s in result.scores.items()}
    assert with_lpips["the worst clip by the paper's rule"].clip == worst_frame_clip(by_lpips, "LPIPS").clip
    assert ps.figure_number("pusher", "scores") == "Analogue of Fig. 5" and ps.figure_number("kth", "clips").endswith(
        "8"
    )
    assert ps.figure_number("signer", "scores") == "Predictions"
    assert ps.strip_steps(result, [1, 2, 3, 6, 9]) == ([3, 6], [1, 4])
    assert "LPIPS could not be computed" in ps.setup_sentence({"pusher": result}, {"pusher": "x"}, (), "smoke")
    assert ps.claim_fields("pusher", "x", result, None, ())["dataset"] == "pusher (x)"


def against_pixel(ours: dict[str, list[float]], pixel: dict[str, list[float]], n: int = 2) -> DatasetPrediction:
    """Results whose per-frame means are `ours` / `pixel` ({"ssim" | LPIPS backbone: [horizon]}), 2 context frames."""

    def scores(means: dict[str, list[float]]) -> VideoScores:
        every = {k: np.tile(v, (n, 1)) for k, v in means.items()}
        return VideoScores(every.pop("ssim"), np.zeros((n, len(means["ssim"]))), every)

    horizon = len(ours["ssim"])
    length = 2 + horizon  # one source video per clip
    indices = np.arange(n * length, dtype=np.int64).reshape(n, length)
    clips = VideoClips(video_set([length] * n), indices, None, 2, horizon)
    named = {OURS: scores(ours), PIXEL: scores(pixel), COPY_FRAME: scores(ours)}
    return DatasetPrediction("walker", Path("run"), clips, torch.zeros(n, 2 + horizon, 1, 8, 8), {}, named)


def test_the_claim_compares_ours_with_the_pixel_predictor_on_what_the_paper_claims():
    result = against_pixel(
        {"ssim": [0.5] * 4, "alex": [0.5, 0.5, 0.2, 0.2], "vgg": [0.1] * 4},
        {"ssim": [0.6] * 4, "alex": [0.3] * 4, "vgg": [0.3] * 4},
    )
    structure = {REAL_FUTURE: flat(2.0), OURS: flat(4.0), PIXEL: flat(9.0), COPY_FRAME: flat(1.0)}
    verdict = ps.pixel_verdict(result, structure, ("alex", "vgg"))
    assert verdict.startswith(
        f"{OURS} against the {PIXEL}: LPIPS (alex): ours lower from frame 5 on (last frame 0.200 vs"
    )
    assert "LPIPS (vgg): ours lower at every predicted frame" in verdict
    assert "SSIM: ours never higher (last frame 0.500 vs 0.600)" in verdict
    assert verdict.endswith("structure (detected-keypoint error): ours 4.0 px, theirs 9.0 px (real frames 2.0)")
    fields = ps.claim_fields("walker", "x", result, structure, ("alex", "vgg"))
    assert fields["ours"] == verdict and fields["paper"] == ps.PAPER_PREDICTION_CLAIM
    assert fields["paper"].startswith("Sec. 3.2-3.3") and "SSIM is consistently lower" in fields["paper"]
    assert "copy" not in fields["ours"]  # the opponent is the learned pixel predictor, not the copied frame

    blind = {**structure, REAL_FUTURE: flat(4.0)}
    without = ps.pixel_verdict(result, blind, ())
    assert without.startswith(f"{OURS} against the {PIXEL}: LPIPS: not computed") and "alex" not in without
    assert without.endswith("so this says nothing")
    assert ps.pixel_verdict(result, None, ()).endswith("structure: not measured (no true keypoints)")
    with pytest.raises(ValueError, match="opponent 'nobody' was not scored on walker"):
        ps.pixel_verdict(result, None, (), opponent="nobody")


def test_frame_comparison_says_where_ours_is_better():
    other = np.full(4, 0.5)
    assert ps.frame_comparison(np.array([0.6, 0.4, 0.6, 0.4]), other, "higher", 10) == (
        "ours higher at 2 of 4 predicted frames, not at the last"
    )
    assert ps.frame_comparison(np.array([0.4, 0.6, 0.6, 0.6]), other, "higher", 10) == "ours higher from frame 12 on"
    assert ps.frame_comparison(np.array([0.6] * 4), other, "lower", 10) == "ours never lower"


# ------------------------------------------------------------------------------------------------------- chapter 6
def interpolation_result(joints: bool = True) -> interp.SplitInterpolation:
    states = torch.randn(2, 5, 3, 5, generator=torch.Generator().manual_seed(0))
    states[..., 2] = states[..., 4] = 0.2
    truth = torch.rand(2, 5, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    frames = {interp.GROUND_TRUTH: truth, "cholesky": truth * 0.9, "covariance": truth * 0.8, "cross_fade": truth}
    errors = {CHOLESKY: np.full(5, 3.0), REAL_LANDMARKS: np.full(5, 2.0), JOINT_LERP: np.full(5, 1.0)}
    errors[MEAN_POSE] = np.full(5, 6.0)
    return interp.SplitInterpolation(
        "signer",
        Path("run"),
        np.zeros((2, 5), dtype=np.int64),
        states,
        frames,
        errors if joints else None,
        64,
        np.array([0, 1]),
    )


def test_chapter_6_sentences_and_claims_come_from_the_results():
    result = interpolation_result()
    ssims = ist.ssim_scores({"signer": result})
    assert set(ssims["signer"]) == {CHOLESKY, COVARIANCE, CROSS_FADE}
    assert ist.between(ssims["signer"][CROSS_FADE]) == pytest.approx(1.0)
    text = ist.ssim_sentences({"signer": result}, ssims, 2)
    assert f"{ist.between(ssims['signer'][CHOLESKY]):.3f} with ours" in text and "with the cross-fade" in text
    joints = ist.joint_sentences({"signer": result})
    assert "3.0 px from the truth" in joints and "+1.0 px against the real middle frames' landmarks (2.0 px)" in joints
    rows, columns, paths, clip = ist.strip_inputs(result, 3, 7)
    assert columns == [0, 2, 4] and clip == 1 and set(rows) == {"real", CHOLESKY, COVARIANCE, CROSS_FADE}
    torch.testing.assert_close(paths[CHOLESKY][[0, -1]], result.states[1][[0, -1]])
    assert ist.table_steps(30) == [1, 7, 15, 22, 28]
    cfg = interp.InterpolationConfig(length=5)
    (fields,) = ist.claim_fields({"signer": result}, ssims, cfg, {"signer": "x"})
    assert fields["dataset"] == "signer test (x), 2 clips of 5 frames from 2 videos"
    assert "pixel cross-fade 1.000" in fields["ours"]


def test_chapter_6_standard_errors_are_over_the_clips_source_videos():
    scores = {CHOLESKY: np.array([[0.0, 0.2, 0.4], [0.0, 0.4, 0.6], [0.0, 0.9, 1.0]])}
    videos = np.array([3, 3, 8])  # two clips of video 3, one of video 8
    mean, se = ist.curves(scores, videos)[CHOLESKY]
    np.testing.assert_allclose(mean, [0.0, (0.3 + 0.9) / 2, (0.5 + 1.0) / 2])
    np.testing.assert_allclose(se, [0.0, 0.3, 0.25])  # std (ddof 1) of two video means / sqrt(2)
    assert ist.between(scores[CHOLESKY], videos) == pytest.approx((0.3 + 0.9) / 2)
    assert ist.between(scores[CHOLESKY]) == pytest.approx(0.5)  # without groups: every clip its own unit
    _, rows = interp.score_table(scores, [1], digits=2, groups=videos)
    assert rows == [[CHOLESKY, "0.60 ± 0.30", "0.60 ± 0.30"]]
    assert step_stats(scores[CHOLESKY], videos).n_videos == 2


# -------------------------------------------------------------------------------------------------- report helpers
def test_chapter_data_rows_name_what_each_chapter_used(tmp_path):
    profile = {"01_data": {"presets": ["signer"]}, "05_prediction": {"prediction_datasets": ["pusher"]}}
    rows = chapter_data_rows(profile, tmp_path, "signer", None, ["spade"], [0])
    assert [r[0][:2] for r in rows] == ["1.", "2.", "3.", "4.", "5.", "6."]
    assert rows[0][1] == "`signer` (synthetic stand-ins)" and rows[4][1] == "`pusher`" and rows[5][1] == "-"
    assert rows[2][1] == "`signer` (embedded synthetic stand-in for BBC Pose)"
    sentence = budget_sentence(TrainConfig(steps=7))
    assert sentence.startswith("The learned landmarks come from 7 training steps of batch 16 at 64x64")


def test_part_maps_figure_has_the_frame_and_one_panel_per_map():
    maps = np.random.default_rng(0).random((3, 8, 8))
    fig = part_maps_figure(np.zeros((16, 16, 3), np.uint8), np.zeros((3, 2)), np.tile(np.eye(2), (3, 1, 1)), maps)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["frame + landmarks", "part map 0", "part map 1", "part map 2"]


def test_horizon_setup_sentence_states_the_lstm_and_the_protocol():
    from lmvid_lib.train.dynamics import load_dynamics_config

    lstm = load_dynamics_config({"dataset": "signer", "steps": 12})
    text = hs.setup_sentence(lstm, HorizonConfig(context=2, horizon=30, stride=10, crop_size=64), "signer", "smoke")
    assert "12 steps" in text and "`signer`: 10 inputs, 10 future" in text and "2 context + 30 predicted" in text


def test_keypoint_setup_names_the_data_the_scale_and_where_the_runs_are(tmp_path):
    from lmvid_lib.eval.keypoints import KeypointEvalConfig

    cfg = KeypointEvalConfig().for_dataset("signer")
    text = keypoint_setup(cfg, TrainConfig(), {"test": "held-out frames"}, ["spade"], [0, 1], tmp_path, "smoke")
    assert "embedded synthetic `signer` set (embedded synthetic stand-in for BBC Pose; data seed 0" in text
    assert f"generated under `{tmp_path / 'data'}`" in text and f"from `{tmp_path / 'factorization'}`" in text
    assert "held-out frames (`test`)" in text and "1 decoder variant(s) x 2 seed(s) [0, 1]" in text


def test_training_budgets_are_read_from_the_runs_metrics(tmp_path):
    from lmvid_lib.io import atomic_write_json
    from lmvid_lib.models.run_config import config_dict
    from lmvid_lib.report.runs import budget_sentence_pixel
    from lmvid_lib.train.runs import training_seconds, write_metrics_csv

    def run(folder: Path, rows: list[tuple[int, float]]) -> Path:
        write_metrics_csv(folder / "metrics.csv", [{"step": s, "loss": 1.0, "sec_per_step": t} for s, t in rows])
        (folder / "model.pt").write_bytes(b"")
        return folder

    factorization = run(tmp_path / "factorization" / "pusher-spade-seed0", [(10, 1.0), (20, 2.0)])
    atomic_write_json(factorization / "config.json", config_dict(TrainConfig(dataset="pusher")))
    run(tmp_path / "dynamics" / "pusher-residual-seed0", [(5, 2.0)])
    pixel = run(tmp_path / "pixel" / "pusher-seed0", [(10, 3.0)])
    assert training_seconds(factorization) == 10 * 1.0 + 10 * 2.0
    text = budget_sentence_pixel(tmp_path, "pusher", pixel)
    assert text == (
        "`pusher`: the pixel predictor trained 30 s, 75% of the landmark route's 40 s (factorization model 30 s + "
        "landmark LSTM 10 s)"
    )
