"""The keypoint protocol: regression and metrics (eval.regression), coordinates, landmark extraction
(models.inference), the protocol runner (eval.keypoints) and its summaries (eval.table1)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from torch import nn

from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet
from lmvid_lib.eval import keypoints as kp
from lmvid_lib.eval import regression
from lmvid_lib.models.inference import encode_frames
from lmvid_lib.models.pose import PoseOutput
from lmvid_lib.report import table1
from lmvid_lib.report.tables import markdown_table


# ------------------------------------------------------------------------------------------------------ regression
def test_fit_recovers_a_linear_map_without_intercept_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5, 2)) * 30
    w = rng.normal(size=(10, 14))
    y = (x.reshape(40, -1) @ w).reshape(40, 7, 2)
    reg = regression.fit_regressor(x, y)
    assert reg.weights.shape == (10, 14)
    np.testing.assert_allclose(reg.weights, w, atol=1e-9)
    x_new = rng.normal(size=(6, 5, 2))
    np.testing.assert_allclose(reg.predict(x_new), (x_new.reshape(6, -1) @ w).reshape(6, 7, 2), atol=1e-9)
    # No intercept: a constant offset in the targets cannot be fitted exactly by a map through the origin.
    shifted = regression.fit_regressor(x, y + 5.0)
    assert np.abs(shifted.predict(x) - (y + 5.0)).max() > 0.1


def test_weights_flattening_order_is_x1_y1_x2_y2():
    rng = np.random.default_rng(1)
    lm = torch.from_numpy(rng.normal(size=(20, 2, 2)))  # torch input is accepted too
    target = torch.stack([lm[:, 1, 0], lm[:, 0, 1]], dim=-1)[:, None]  # keypoint = (x of landmark 1, y of landmark 0)
    w = regression.fit_regressor(lm, target).weights
    expected = np.zeros((4, 2))
    expected[2, 0] = 1.0  # row 2k + c = landmark 1, x -> column 2j + c = keypoint 0, x
    expected[1, 1] = 1.0  # landmark 0, y -> keypoint 0, y
    np.testing.assert_allclose(w, expected, atol=1e-10)


def test_bad_inputs_raise_clear_errors():
    x, y = np.zeros((5, 3, 2)), np.zeros((5, 2, 2))
    with pytest.raises(ValueError, match="landmarks has N=5 samples but keypoints has N=4"):
        regression.fit_regressor(x, y[:4])
    bad = x.copy()
    bad[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="landmarks has NaN/inf values in 1 of 5 samples"):
        regression.fit_regressor(bad, y)
    with pytest.raises(ValueError, match=r"keypoints must be \[N,P,2\]"):
        regression.fit_regressor(x, np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match=r"pred \(5, 3, 2\) and gt \(5, 2, 2\)"):
        regression.pck(x, y, 6.0)
    reg = regression.fit_regressor(np.random.default_rng(0).normal(size=(5, 3, 2)), y)
    with pytest.raises(ValueError, match="K=4 points but the regressor was fitted with K=3"):
        reg.predict(np.zeros((2, 4, 2)))


def test_fit_fits_each_joint_on_the_frames_where_it_is_known():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3, 2))
    weights = rng.normal(size=(6, 6))
    y = (x.reshape(200, -1) @ weights).reshape(200, 3, 2)
    y[::2, 1] = np.nan  # joint 1 absent in half of the frames
    y[3:, 2] = np.nan  # joint 2 known in 3 frames only: fewer than 2K = 6
    regressor = regression.fit_regressor(x, y)
    np.testing.assert_allclose(regressor.weights[:, :4], weights[:, :4], atol=1e-9)
    assert np.isnan(regressor.weights[:, 4:]).all()
    pred = regressor.predict(x)
    assert np.isnan(pred[:, 2]).all() and np.isfinite(pred[:, :2]).all()
    # Joint 1 alone, fitted on its known frames, gives the same weights: the other joints do not shape it.
    alone = regression.fit_regressor(x[1::2], y[1::2, 1:2]).weights
    np.testing.assert_allclose(regressor.weights[:, 2:4], alone, atol=1e-12)


def test_fit_with_nothing_missing_is_the_one_joint_least_squares_fit():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(50, 4, 2)) * 20, rng.normal(size=(50, 3, 2)) * 10
    expected, *_ = np.linalg.lstsq(x.reshape(50, -1), y.reshape(50, -1), rcond=None)
    np.testing.assert_array_equal(regression.fit_regressor(x, y).weights, expected)


def test_scores_leave_missing_joints_out():
    pred, gt = _hand_case()  # errors [[0, 5, 6], [6.5, 10, 1]]
    pred[1, 1] = np.nan  # a joint the read-out could not fit (the 10 px one)
    gt[0, 2, 0] = np.nan  # a joint missing in the ground truth (the 6 px one)
    errors = regression.keypoint_errors(pred, gt)
    assert np.isnan(errors[1, 1]) and np.isnan(errors[0, 2])
    assert regression.pck(pred, gt, 5.0) == pytest.approx(3 / 4)  # 0, 5, 1 of 0, 5, 6.5, 1
    np.testing.assert_allclose(regression.pck_curve(pred, gt, [1.0, 6.0, 7.0]), [2 / 4, 3 / 4, 1.0])
    np.testing.assert_allclose(regression.per_joint_pck(pred, gt, 6.0), [0.5, 1.0, 1.0])
    with pytest.raises(ValueError, match="pred has NaN/inf values in 1 of 2"):
        regression.pck(np.where(np.isnan(pred), np.inf, pred), gt, 6.0)


# --------------------------------------------------------------------------------------------------------- metrics
def _hand_case() -> tuple[np.ndarray, np.ndarray]:
    """Errors per (sample, joint): [[0, 5, 6], [6.5, 10, 1]] (3-4-5 and axis-aligned offsets)."""
    gt = np.zeros((2, 3, 2))
    pred = np.array([[[0, 0], [3, 4], [0, 6]], [[6.5, 0], [6, -8], [0, -1]]], dtype=np.float64)
    return pred, gt


def test_pck_curve_and_per_joint_on_a_hand_case():
    pred, gt = _hand_case()
    np.testing.assert_allclose(regression.keypoint_errors(pred, gt), [[0, 5, 6], [6.5, 10, 1]])
    assert regression.pck(pred, gt, 6.0) == pytest.approx(4 / 6)  # the threshold itself counts (<=)
    assert regression.pck(pred, gt, 5.99) == pytest.approx(3 / 6)
    np.testing.assert_allclose(regression.pck_curve(pred, gt, [0, 5.5, 7, 20]), [1 / 6, 3 / 6, 5 / 6, 1.0])
    np.testing.assert_allclose(regression.per_joint_pck(pred, gt, 6.0), [0.5, 0.5, 1.0])


def test_mean_pose_baseline_on_a_hand_case():
    train = np.array([[[0, 0], [10, 2]], [[2, 4], [20, 6]]], dtype=np.float64)
    pred = regression.mean_pose_baseline(train, 3)
    assert pred.shape == (3, 2, 2)
    np.testing.assert_allclose(pred, np.broadcast_to([[1, 2], [15, 4]], (3, 2, 2)))
    with pytest.raises(ValueError, match="train_keypoints is empty"):
        regression.mean_pose_baseline(np.zeros((0, 2, 2)), 3)


def test_mean_pose_is_each_joints_mean_over_the_frames_where_it_is_known():
    train = np.array([[[0, 0], [10, 2]], [[2, 4], [np.nan, np.nan]], [[4, 8], [20, 6]]], dtype=np.float64)
    np.testing.assert_allclose(regression.mean_pose_baseline(train, 2), np.broadcast_to([[2, 4], [15, 4]], (2, 2, 2)))
    train[:, 1] = np.nan  # a joint known in no frame has no mean
    pose = regression.mean_pose_baseline(train, 1)[0]
    np.testing.assert_allclose(pose[0], [2, 4])
    assert np.isnan(pose[1]).all()


# ------------------------------------------------------------------------------------------------------ extraction
def test_encode_frames_matches_the_model_and_handles_a_batch_remainder(tiny_model):
    model = tiny_model()
    model.train()
    frames = np.random.default_rng(3).integers(0, 256, size=(7, 16, 16, 3), dtype=np.uint8)
    codes = encode_frames(model, frames, batch_size=3)  # batches of 3, 3, 1
    mu, cov = codes.mu.numpy(), codes.cov.numpy()
    assert mu.shape == (7, 3, 2) and cov.shape == (7, 3, 2, 2)
    assert model.training, "encode_frames must restore the model's mode"
    with torch.no_grad():
        direct = model.encode_pose(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255)
    np.testing.assert_allclose(mu, direct.mu.numpy(), atol=1e-5)
    np.testing.assert_allclose(cov, direct.cov.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="frames must be a uint8"):
        encode_frames(model, frames.astype(np.float32))


class _DropoutPose(nn.Module):
    """Landmarks = a dropout of the mean colour: different in train mode, deterministic in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.drop = nn.Dropout(0.5)

    def encode_pose(self, x: torch.Tensor) -> PoseOutput:
        m = self.drop(x.mean(dim=(2, 3))[:, :2] * self.scale)[:, None]  # [B,1,2]
        return PoseOutput(torch.zeros(len(x), 1, 2, 2), m, torch.eye(2).expand(len(x), 1, 2, 2))


def test_encode_frames_runs_in_eval_mode_and_resizes_like_training():
    frames = np.random.default_rng(4).integers(0, 256, size=(5, 24, 24, 3), dtype=np.uint8)
    mu = encode_frames(_DropoutPose(), frames, batch_size=2, image_size=16, appearance=False).mu.numpy()
    x = frames_to_input(frames, 16, "cpu")
    np.testing.assert_allclose(mu[:, 0], x.mean(dim=(2, 3))[:, :2].numpy(), atol=1e-6)


# -------------------------------------------------------------------------------------------------------- protocol
def _videoset(rng: np.random.Generator, n: int) -> VideoSet:
    frames = rng.integers(0, 256, size=(1, n, 32, 32, 3), dtype=np.uint8)
    keypoints = rng.uniform(2, 30, size=(1, n, 4, 2)).astype(np.float32)
    return VideoSet.from_clips(frames, np.zeros(1), keypoints, ["a", "b", "c", "d"])


def test_evaluate_landmarks_protocol_and_baseline():
    rng = np.random.default_rng(5)
    train, test = _videoset(rng, 30), _videoset(rng, 12)
    train.keypoints[3, 1] = np.nan  # unannotated frames are skipped, not fitted
    cfg = kp.KeypointEvalConfig(crop_size=64, max_test_frames=8)
    idx = {"train": kp.annotated_frames(train, None, "train"), "test": kp.annotated_frames(test, 8, "test")}
    assert 3 not in idx["train"] and len(idx["train"]) == 29
    np.testing.assert_array_equal(idx["test"], [0, 2, 3, 5, 6, 8, 9, 11])  # evenly spaced, ends included

    # Landmarks that are an invertible linear function of the keypoints: the regression is exact.
    mix = rng.normal(size=(8, 8))

    def lm(v: VideoSet, i: np.ndarray) -> np.ndarray:
        return (((v.keypoints[i] - 15.5) / 16).reshape(len(i), 8) @ mix).reshape(len(i), 4, 2)

    result = kp.evaluate_landmarks(
        {"train": lm(train, idx["train"]), "test": lm(test, idx["test"])}, train, {"test": test}, cfg
    )
    s = result.splits["test"]
    assert s.accuracy == 1.0 and s.pred.shape == (8, 4, 2)
    np.testing.assert_allclose(s.pred, s.gt, atol=1e-6)
    np.testing.assert_allclose(s.gt, (test.keypoints[idx["test"]] - 15.5) * 2)  # 32 px frame -> 64 px crop
    assert s.curve[1] == 1.0 and s.per_joint.tolist() == [1.0] * 4  # curve[1]: within 0.5 px

    base = kp.evaluate_mean_pose(train, {"test": test}, cfg)
    mean = (train.keypoints[idx["train"]] - 15.5).mean(axis=0) * 2
    errors = np.linalg.norm(mean - s.gt, axis=-1)
    assert base.splits["test"].accuracy == pytest.approx(np.mean(errors <= 6.0))
    with pytest.raises(ValueError, match="landmarks mapping has no entry 'test'"):
        kp.evaluate_landmarks({"train": lm(train, idx["train"])}, train, {"test": test}, cfg)
    with pytest.raises(ValueError, match=r"landmarks\['test'\] has N=3 but the split has 8 scored frames"):
        kp.evaluate_landmarks(
            {"train": lm(train, idx["train"]), "test": lm(test, idx["test"][:3])}, train, {"test": test}, cfg
        )


def test_evaluate_with_a_model_and_cached_results(tmp_path, tiny_model):
    rng = np.random.default_rng(6)
    train, test = _videoset(rng, 20), _videoset(rng, 6)
    model = tiny_model()
    cfg = kp.KeypointEvalConfig(crop_size=128, batch_size=8)
    calls = []

    def compute() -> kp.KeypointResult:
        calls.append(1)
        return kp.evaluate_landmarks(model, train, {"test": test}, cfg, method="tiny", progress=False)

    first = kp.cached_result(tmp_path / "r.json", {"run": "a"}, compute)
    again = kp.cached_result(tmp_path / "r.json", {"run": "a"}, compute)
    assert len(calls) == 1
    np.testing.assert_allclose(again.splits["test"].pred, first.splits["test"].pred)
    np.testing.assert_allclose(again.regressor.weights, first.regressor.weights)
    assert again.splits["test"].accuracy == first.splits["test"].accuracy
    kp.cached_result(tmp_path / "r.json", {"run": "b"}, compute)  # another key recomputes
    assert len(calls) == 2
    # The model's landmarks reproduce what encode_frames gives for the same frames.
    mu = encode_frames(model, test.frames, image_size=16).mu.numpy()
    np.testing.assert_allclose(first.splits["test"].pred, first.regressor.predict(mu * 64), atol=1e-6)


def test_config_and_tables():
    with pytest.raises(ValueError, match="eval_scale must be one of"):
        kp.KeypointEvalConfig(eval_scale="full")
    s = table1.summarize_seeds([0.70, 0.80, 0.75])
    assert (s.mean, s.best, s.n) == (pytest.approx(0.75), 0.80, 3)
    assert s.std == pytest.approx(0.05)  # sample std (ddof=1)
    assert s.format() == "75.0 ± 5.0 (best 80.0, 3 seeds)"
    assert table1.summarize_seeds([0.5]).format() == "50.0 (1 seed)"
    table = markdown_table(["a", "b"], [[1, "x|y"]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | x\\|y |"]
    with pytest.raises(ValueError, match="has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [[1]])
    paper = table1.paper_bbc_table()
    assert "75.0 ± 0.9 (best 76.1)" in paper and "74.2 ± 1.6 (best 75.7)" in paper


def _tiny_bbc(tmp_path: Path, model: dict) -> tuple[dict[str, VideoSet], dict]:
    """A tiny prepared 'bbc' dataset and a TrainConfig mapping that trains on it in a second."""
    from lmvid_lib.data.store import write_dataset

    rng = np.random.default_rng(7)
    splits = {name: _videoset(rng, n) for name, n in (("train", 24), ("test", 8))}
    root = write_dataset(tmp_path / "bbc", "bbc", splits, provenance={"source": "test"}, keypoint_names=list("abcd"))
    train_cfg = tiny_config(root, model=model, dataset="bbc", steps=2)
    return splits, train_cfg


def test_evaluate_run_on_a_tiny_training_run(tmp_path, tiny_model_config):
    from lmvid_lib.models.checkpoint import load_trained, read_run_config
    from lmvid_lib.train import train_factorization

    splits, train_cfg = _tiny_bbc(tmp_path, tiny_model_config)
    run_dir = tmp_path / "runs"
    run = Path(train_factorization(train_cfg, run_dir)["run"])
    cfg = kp.KeypointEvalConfig(crop_size=128, max_train_frames=20)
    trained = kp.evaluate_run(run, run_dir, ["test"], cfg, progress=False)
    model, run_cfg = load_trained(run)
    assert read_run_config(run) == run_cfg  # config.json and model.pt hold the same TrainConfig
    direct = kp.evaluate_landmarks(model, splits["train"], {"test": splits["test"]}, cfg, progress=False)
    np.testing.assert_allclose(trained.splits["test"].pred, direct.splits["test"].pred, atol=1e-6)
    assert len(trained.splits["test"].frame_index) == 8 and trained.method == "bbc-spade-seed0"

    untrained = kp.evaluate_run(run, run_dir, ["test"], cfg, baseline="untrained", progress=False)
    assert np.abs(untrained.splits["test"].pred - trained.splits["test"].pred).max() > 1e-6
    mean = kp.evaluate_run(run, run_dir, ["test"], cfg, baseline="mean_pose")
    expected = kp.evaluate_mean_pose(splits["train"], {"test": splits["test"]}, cfg)
    assert mean.splits["test"].accuracy == expected.splits["test"].accuracy
    assert sorted(p.name for p in (run_dir / "keypoints").iterdir()) == [
        "bbc-spade-seed0-mean_pose.json",
        "bbc-spade-seed0-untrained.json",
        "bbc-spade-seed0.json",
    ]
    with pytest.raises(ValueError, match="baseline must be None or one of"):
        kp.evaluate_run(run, run_dir, ["test"], cfg, baseline="random")


# --------------------------------------------------------------------------------------------------------- Table 1
def _result(
    method: str,
    accuracy: float,
    curve: list[float],
    per_joint: list[float],
    split: str = "test",
    thresholds: list[float] = (0.0, 6.0),
) -> kp.KeypointResult:
    """A hand-made result: only the scores matter for tables and margins."""
    s = kp.SplitResult(
        np.zeros((1, len(per_joint), 2)),
        np.zeros((1, len(per_joint), 2)),
        np.zeros(1, np.int64),
        accuracy,
        np.asarray(curve, dtype=np.float64),
        np.asarray(per_joint, dtype=np.float64),
    )
    return kp.KeypointResult(method, {split: s}, np.asarray(thresholds, dtype=np.float64))


def test_eval_splits_and_find_runs(tmp_path):
    assert kp.eval_splits("signer") == {"test": "held-out frames", "val": "held-out attire"}
    assert list(kp.eval_splits("bbc")) == ["test"]
    with pytest.raises(ValueError, match="dataset: keypoint regression is evaluated on"):
        kp.eval_splits("pusher")
    root = tmp_path / "factorization"
    for name in ("signer-spade-seed0", "signer-spade-seed2", "signer-concat-seed2"):
        (root / name).mkdir(parents=True)
        (root / name / "model.pt").write_bytes(b"")
    (root / "signer-concat-seed0").mkdir()  # started but unfinished: no model.pt
    with pytest.raises(FileNotFoundError, match="Run notebook 02_factorization first") as info:
        kp.find_runs(tmp_path, "signer", ["spade", "concat"], [2, 0])
    assert str(root / "signer-concat-seed0") in str(info.value) and "2 factorization run(s)" not in str(info.value)
    assert "1 factorization run(s)" in str(info.value) and "spade-seed0," not in str(info.value)
    runs = kp.find_runs(tmp_path, "signer", ["spade"], [2, 0])
    assert runs == {"spade": [root / "signer-spade-seed2", root / "signer-spade-seed0"]}  # in `seeds` order
    with pytest.raises(ValueError, match="decoders and seeds must be non-empty"):
        kp.find_runs(tmp_path, "signer", ["spade"], [])


def test_margin_uses_seed_means_and_states_the_measured_margin():
    results = {
        "A": [_result("A", 0.90, [0, 0.9], [0.9]), _result("A", 0.10, [0, 0.1], [0.1])],  # best seed, worse mean
        "B": [_result("B", 0.60, [0, 0.6], [0.6]), _result("B", 0.62, [0, 0.62], [0.62])],
        "(a)": [_result("(a)", 0.30, [0, 0.3], [0.3])] * 2,
        "(b)": [_result("(b)", 0.35, [0, 0.35], [0.35]), _result("(b)", 0.45, [0, 0.45], [0.45])],
    }
    m = table1.margin_over_baselines(results, ["A", "B"], ["(a)", "(b)"], "test", "signer held-out frames")
    assert (m.learned, m.baseline, m.n_seeds) == ("B", "(b)", 2)
    assert m.learned_accuracy == pytest.approx(0.61) and m.baseline_accuracy == pytest.approx(0.40)
    assert m.points == pytest.approx(21.0)
    cfg = kp.KeypointEvalConfig()
    sentence = m.sentence(cfg)
    assert "61.0%" in sentence and "40.0%" in sentence and "+21.0 points" in sentence and "target" not in sentence
    assert cfg.unit in sentence
    with pytest.raises(ValueError, match="no results for method 'C'"):
        table1.margin_over_baselines(results, ["A", "C"], ["(a)"], "test")


def test_seed_mean_curves_and_per_joint_table():
    results = {
        "A": [_result("A", 0.5, [0.0, 0.4], [0.2, 0.8]), _result("A", 0.7, [0.2, 0.6], [0.6, 0.8])],
        "(a)": [_result("(a)", 0.25, [0.0, 0.25], [0.0, 0.5])],
    }
    curves = table1.seed_mean_curves(results, "test")
    assert list(curves) == ["A (2 seeds)", "(a) (1 seed)"]
    np.testing.assert_allclose(curves["A (2 seeds)"][0], [0, 6])
    np.testing.assert_allclose(curves["A (2 seeds)"][1], [0.1, 0.5])
    cfg = kp.KeypointEvalConfig()
    rows = table1.per_joint_table(results, "test", ["head", "wrist"], cfg).splitlines()
    assert rows[0] == "| Method | head | wrist | all joints (accuracy at 6 px in the 128x128 crop, %) |"
    assert rows[2] == "| A | 40.0 | 80.0 | 60.0 |" and rows[3] == "| (a) | 0.0 | 50.0 | 25.0 |"
    single = table1.per_joint_table({"A": results["A"][0]}, "test", ["head", "wrist"], cfg).splitlines()
    assert single[2] == "| A | 20.0 | 80.0 | 50.0 |"  # one result (no seed list) is accepted too
    results["A"].append(_result("A", 0.5, [0, 0, 0], [0.5, 0.5], thresholds=[0, 3, 6]))
    with pytest.raises(ValueError, match="'A': its results were scored at different thresholds"):
        table1.seed_mean_curves(results, "test")


def test_evaluate_table1_rows_and_baselines_shared_by_decoders(tmp_path, tiny_model_config):
    from lmvid_lib.train import train_factorization

    _, train_cfg = _tiny_bbc(tmp_path, tiny_model_config)
    run_dir = tmp_path / "runs"
    for decoder in ("concat", "spade"):
        train_factorization(
            {**train_cfg, "steps": 1, "seed": 3, "model": {**train_cfg["model"], "decoder": decoder}}, run_dir
        )
    runs = kp.find_runs(run_dir, "bbc", ["concat", "spade"], [3])
    cfg = kp.KeypointEvalConfig(max_train_frames=16)
    results = kp.evaluate_table1(runs, run_dir, ["test"], cfg, progress=False)
    assert list(results) == [
        "concat decoder (Lorenz-style)",
        "SPADE decoder",
        "(a) mean training pose",
        "(b) untrained pose encoder + regression",
    ]
    assert [r.method for r in results["SPADE decoder"]] == ["bbc-spade-seed3"]
    untrained = results["(b) untrained pose encoder + regression"]
    assert [r.method for r in untrained] == ["untrained concat encoder, seed 3"]
    # Baseline (b) is evaluated once per seed: the decoder variant must not change the pose encoder's initial weights.
    other = kp.evaluate_run(runs["spade"][0], run_dir, ["test"], cfg, baseline="untrained", progress=False)
    np.testing.assert_allclose(other.splits["test"].pred, untrained[0].splits["test"].pred, atol=1e-9)
    trained = results["SPADE decoder"][0].splits["test"].pred
    assert np.abs(trained - untrained[0].splits["test"].pred).max() > 1e-6
    table = table1.accuracy_table(results, {"test": "bbc test"}, cfg).splitlines()
    assert len(table) == 2 + 4 and table[3].startswith("| SPADE decoder | ") and table[3].endswith(" (1 seed) |")


# --------------------------------------------------------------------------------------- per-identity diagnostic
def _two_identity_landmarks(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Landmarks [n,3,2] that are a different invertible linear map of the keypoints [n,3,2] for identity 0 and 1,
    as when a landmark marks one body part in one identity and another part in the other."""
    maps = {0: np.eye(6), 1: np.eye(6)[[2, 3, 4, 5, 0, 1]] * 0.5}  # identity 1: the parts rotated, half the scale
    ids = np.arange(n) % 2
    keypoints = rng.uniform(-60, 60, size=(n, 3, 2))
    lm = np.stack([keypoints[i].reshape(6) @ maps[ids[i]] for i in range(n)]).reshape(n, 3, 2)
    return lm, keypoints, ids


def test_per_identity_predictions_recover_identity_specific_maps_that_one_map_cannot():
    rng = np.random.default_rng(11)
    lm, keypoints, ids = _two_identity_landmarks(rng, 60)
    test_lm, test_kp, test_ids = _two_identity_landmarks(rng, 20)
    pred = regression.per_identity_predictions(lm, keypoints, ids, test_lm, test_ids)
    np.testing.assert_allclose(pred, test_kp, atol=1e-8)
    one_map = regression.fit_regressor(lm, keypoints).predict(test_lm)
    assert regression.pck(one_map, test_kp, 6.0) < 0.5
    # An identity with fewer than 2K = 6 training frames (or none) has no per-identity fit: the diagnostic is off.
    assert regression.per_identity_predictions(lm[:9], keypoints[:9], ids[:9], test_lm, test_ids) is None
    assert regression.per_identity_predictions(lm, keypoints, ids, test_lm, test_ids + 1) is None
    with pytest.raises(ValueError, match="ids \\(19,\\) must hold one identity per landmarks sample \\(M=20\\)"):
        regression.per_identity_predictions(lm, keypoints, ids, test_lm, test_ids[:19])
    with pytest.raises(ValueError, match="train_ids \\(59,\\) must describe the same N frames"):
        regression.per_identity_predictions(lm, keypoints, ids[:59], test_lm, test_ids)


def test_evaluate_landmarks_scores_the_per_identity_diagnostic_and_caches_it(tmp_path):
    rng = np.random.default_rng(12)

    def videoset(n: int) -> tuple[VideoSet, np.ndarray]:
        lm, keypoints, ids = _two_identity_landmarks(rng, 2 * n)
        order = np.argsort(ids, kind="stable")  # video 0 = identity 0, video 1 = identity 1
        frames = np.zeros((2, n, 32, 32, 3), np.uint8)
        pixels = (keypoints[order] / 4 + 15.5).reshape(2, n, 3, 2)  # crop-centred at 128 -> 32 px frame
        return VideoSet.from_clips(frames, np.array([7, 9]), pixels, ["a", "b", "c"]), lm[order] / 64

    (train, train_lm), (test, test_lm) = videoset(40), videoset(10)
    cfg = kp.KeypointEvalConfig()
    result = kp.evaluate_landmarks({"train": train_lm, "test": test_lm}, train, {"test": test}, cfg)
    s = result.splits["test"]
    assert s.per_identity_accuracy == 1.0 and s.per_identity_per_joint.tolist() == [1.0] * 3 and s.accuracy < 0.5
    stored = kp.cached_result(tmp_path / "r.json", {"k": 1}, lambda: result)
    again = kp.cached_result(tmp_path / "r.json", {"k": 1}, lambda: None)
    assert again.splits["test"].per_identity_accuracy == 1.0
    np.testing.assert_array_equal(
        again.splits["test"].per_identity_per_joint, stored.splits["test"].per_identity_per_joint
    )
    off = kp.evaluate_landmarks(
        {"train": train_lm, "test": test_lm}, train, {"test": test}, kp.KeypointEvalConfig(per_identity=False)
    )
    assert off.splits["test"].per_identity_accuracy is None and off.splits["test"].accuracy == s.accuracy

    joints = ["a", "b", "c"]
    base = kp.evaluate_landmarks({"train": train_lm[:, ::-1], "test": test_lm[:, ::-1]}, train, {"test": test}, cfg)
    text = table1.identity_diagnosis(
        {"L": [result], "B": [base]}, "L", "B", "test", "signer held-out frames", joints, cfg
    )
    # The numbers it carries: both accuracies, the points the refit gains, the baseline's shift; no weak joint.
    b = base.splits["test"]
    for number in (
        "100.0%",
        f"{100 * s.accuracy:.1f}%",
        f"{100 * (1 - s.accuracy):.1f} points",
        f"{100 * (b.per_identity_accuracy - b.accuracy):+.1f} points",
    ):
        assert number in text, number
    assert not re.search(r"\b[abc] \d+%", text)  # no joint named: every one is tracked once refitted per identity
    same = kp.SplitResult(s.pred, s.gt, s.frame_index, 0.5, s.curve, s.per_joint, 0.51, np.array([0.6, 0.5, 0.43]))
    text = table1.identity_diagnosis(
        {"L": [kp.KeypointResult("L", {"test": same}, cfg.thresholds)]}, "L", "B", "test", "x", joints, cfg
    )
    # A gain under 2 points reports no loss; only the joint below 50% is named, with its accuracy.
    assert "51.0%" in text and "50.0%" in text and "1.0 points" not in text
    assert "c 43%" in text and "a 60%" not in text and "b 50%" not in text
    weak = kp.SplitResult(s.pred, s.gt, s.frame_index, 0.3, s.curve, s.per_joint, 0.4, np.array([0.9, 0.2, 0.1]))
    text = table1.identity_diagnosis(
        {"L": [kp.KeypointResult("L", {"test": weak}, cfg.thresholds)]}, "L", "B", "test", "x", joints, cfg
    )
    assert "b 20%, c 10%" in text and "a 90%" not in text and "B by" not in text  # no baseline result: no shift
    assert table1.identity_diagnosis({"L": [off]}, "L", "B", "test", "x", joints, cfg) == ""
