"""The stochastic landmark LSTM (`DynamicsConfig.latent > 0`) and the scores of sampled futures (`eval.sampling`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_dynamics import K, config, lstm, waves
from test_train import assert_killed_sequence_run_resumes_bit_identically

from lmvid_lib.eval import sampling
from lmvid_lib.eval.horizon import HorizonConfig
from lmvid_lib.eval.predictors import COPY_LAST, MEAN_POSE, OURS, OURS_STOCHASTIC, RANDOM_POSE, REAL_FUTURE
from lmvid_lib.eval.sampling_study import (
    DecodedSamples,
    SampledScores,
    SamplingConfig,
    SamplingStudy,
    compare,
    decoded_sentences,
    decoded_structure,
)
from lmvid_lib.models.dynamics import LatentSource, dynamics_run, gaussian_kl
from lmvid_lib.models.files import LANDMARK_LSTM, load_model
from lmvid_lib.models.rollout import rollout
from lmvid_lib.report.sampling_figures import decoded_figure
from lmvid_lib.train import dynamics as train_module
from lmvid_lib.train import train_dynamics
from lmvid_lib.train.dynamics import prediction_loss, stochastic_mapping

pytestmark = pytest.mark.usefixtures("one_thread")


def stochastic(**overrides) -> torch.nn.Module:
    model = lstm(latent=4, latent_hidden=8, **overrides)
    model.fit_normalisation(waves(8, 20, seed=1))
    return model


def test_samples_are_reproducible_from_a_seed_and_differ_between_seeds():
    model, context = stochastic(), waves(3, 4)

    def draw(seed: int) -> torch.Tensor:
        return rollout(model, context, 12, model.start(LatentSource(torch.Generator().manual_seed(seed))))

    first, again, other = draw(5), draw(5), draw(6)
    assert first.shape == (3, 12, K, 5) and torch.equal(first, again)
    assert (first - other).abs().max() > 1e-3
    # the one rollout draws prior samples with the global generator when no start state is given
    torch.manual_seed(0)
    a = rollout(model, context, 5)
    torch.manual_seed(0)
    assert torch.equal(a, rollout(model, context, 5))


def test_sample_rollouts_batch_the_samples_as_separate_draws():
    model, context = stochastic(), waves(2, 3)
    samples = sampling.sample_rollouts(model, context, 6, 5, seed=3)
    assert samples.shape == (5, 2, 6, K, 5)
    assert torch.equal(samples, sampling.sample_rollouts(model, context, 6, 5, seed=3))
    assert (samples[0] - samples[1]).abs().max() > 1e-4  # two samples of one window differ


def test_the_deterministic_lstm_keeps_its_weights_and_refuses_latents():
    plain = lstm()
    assert not any(k.startswith(("prior", "posterior")) for k in plain.state_dict())
    assert plain.lstm.input_size == 2 * K * 5
    assert stochastic().lstm.input_size == 2 * K * 5 + 4
    with pytest.raises(ValueError, match="latent is 0"):
        plain.start(LatentSource())


def test_given_latents_are_consumed_in_order_and_their_priors_kept():
    model, clips = stochastic(), waves(2, 6)
    z = torch.zeros(2, 5, 4)
    source = LatentSource(given=z)
    rollout(model, clips[:, :3], 3, model.start(source))
    assert source.used == 5
    mu, logvar = source.prior_statistics()
    assert mu.shape == logvar.shape == (2, 5, 4)
    with pytest.raises(ValueError, match="5 given latents, step 6"):
        rollout(model, clips[:, :3], 4, model.start(LatentSource(given=z)))


def test_kl_of_diagonal_gaussians_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    q_mu, p_mu, q_lv, p_lv = (torch.randn(7, 3, generator=g) for _ in range(4))
    q = torch.distributions.Normal(q_mu, (0.5 * q_lv).exp())
    p = torch.distributions.Normal(p_mu, (0.5 * p_lv).exp())
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(gaussian_kl(q_mu, q_lv, p_mu, p_lv), expected, atol=1e-5)


def test_the_stochastic_loss_adds_the_weighted_kl():
    model, clips = stochastic(), waves(4, 8)
    losses = [prediction_loss(model, clips, 3, w, torch.Generator().manual_seed(2)) for w in (0.0, 1.0, 3.0)]
    kl = losses[1] - losses[0]
    assert kl > 0 and torch.allclose(losses[2] - losses[0], 3 * kl, rtol=1e-4)
    losses[1].backward()
    assert model.posterior.weight_ih_l0.grad.abs().sum() > 0 and model.prior.weight_ih_l0.grad.abs().sum() > 0


def branching(n: int, t: int, seed: int) -> torch.Tensor:
    """States [n,t,1,5]: two still frames, then the landmark moves left or right (a coin per sequence): the context
    cannot tell which, so the future has two modes."""
    g = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    steps = torch.clamp(torch.arange(t, dtype=torch.float32) - 1, min=0) * 0.06
    states = torch.zeros(n, t, 1, 5)
    states[..., 0, 0] = sign[:, None] * steps
    states[..., 0, 2] = states[..., 0, 4] = 0.1
    return states + 0.002 * torch.randn(n, t, 1, 5, generator=g)


def test_on_a_two_mode_future_the_samples_find_both_modes_and_beat_the_mean_in_energy_score(tmp_path):
    train, held = branching(256, 12, 0), branching(64, 12, 1)
    common = {"n_landmarks": 1, "hidden": 32, "layers": 1}
    base = {**config(steps=400, lr=3e-3, n_inputs=2, n_future=9, batch_size=32, log_every=100, checkpoint_every=400)}
    det = train_dynamics({**base, "model": common}, train, tmp_path)
    sto = train_dynamics(
        {**base, "model": {**common, "latent": 2, "latent_hidden": 16}, "kl_weight": 0.1}, train, tmp_path
    )
    assert det["run"] != sto["run"] and sto["run"].endswith("signer-stochastic-seed0")
    as_joints = lambda s: s[..., :2].numpy().astype(np.float64) * 100  # noqa: E731  (landmark means as 1 "joint")
    true = as_joints(held[:, 2:])
    deterministic = as_joints(rollout(load_model(det["run"], kind=LANDMARK_LSTM), held[:, :2], 10))[None]
    samples = as_joints(sampling.sample_rollouts(load_model(sto["run"], kind=LANDMARK_LSTM), held[:, :2], 10, 16, 0))
    late = slice(6, 10)
    assert (
        sampling.energy_score(samples, true)[late].mean()
        < 0.8 * sampling.energy_score(deterministic, true)[late].mean()
    )
    assert sampling.best_of_n(samples, true)[late].mean() < 0.5 * sampling.best_of_n(deterministic, true)[late].mean()
    final_x = samples[:, :, -1, 0, 0]
    assert (final_x > 20).mean() > 0.2 and (final_x < -20).mean() > 0.2  # both modes are sampled


def test_a_killed_stochastic_training_resumes_bit_identically(tmp_path, monkeypatch):
    states = waves(16, 20)
    cfg = config(model={"n_landmarks": K, "hidden": 16, "layers": 2, "latent": 3, "latent_hidden": 8})
    assert_killed_sequence_run_resumes_bit_identically(
        lambda run_dir: train_dynamics(cfg, states, run_dir), train_module, tmp_path, monkeypatch
    )


def test_the_stochastic_mapping_is_chapter_4s_with_a_latent():
    shared = {"steps": 300, "n_future": 60, "model": {"hidden": 64}}
    merged = stochastic_mapping(shared, {"model": {"latent": 8}, "kl_weight": 0.1})
    assert merged == {"steps": 300, "n_future": 60, "kl_weight": 0.1, "model": {"hidden": 64, "latent": 8}}
    with pytest.raises(ValueError, match="ch.stochastic.model.latent must be a positive latent size"):
        stochastic_mapping(shared, {"kl_weight": 0.1}, "ch.stochastic")


def test_energy_score_of_one_sample_is_its_error_and_of_a_hand_case():
    g = np.random.default_rng(0)
    true = g.normal(size=(5, 4, 3, 2))
    pred = g.normal(size=(1, 5, 4, 3, 2))
    error = np.linalg.norm(pred[0] - true, axis=-1).mean((0, 2))
    assert np.allclose(sampling.energy_score(pred, true), error)
    assert np.allclose(sampling.best_of_n(pred, true), error) and np.allclose(sampling.mean_of_n(pred, true), error)
    # one joint, truth at 0, samples at -1 and +1: E d(X,y) = 1, E d(X,X') = 2, so ES = 0; spread 2
    two = np.array([[-1.0, 0.0], [1.0, 0.0]]).reshape(2, 1, 1, 1, 2)
    zero = np.zeros((1, 1, 1, 2))
    assert np.allclose(sampling.energy_score(two, zero), 0.0) and np.allclose(sampling.spread(two), 2.0)
    assert np.allclose(sampling.best_of_n(two, zero), 1.0)


def test_energy_score_prefers_the_data_distribution_to_a_collapsed_or_an_overdispersed_one():
    g = np.random.default_rng(1)
    true = g.normal(size=(400, 1, 2, 2))
    score = {
        scale: sampling.energy_score(g.normal(size=(30, 400, 1, 2, 2)) * scale, true).mean()
        for scale in (0.0, 0.5, 1.0, 2.0)
    }
    assert score[1.0] < min(score[0.0], score[0.5], score[2.0])


def test_missing_joints_are_left_out_of_every_distance():
    true = np.zeros((1, 2, 2, 2))
    true[0, 0, 1] = np.nan  # joint 1 unknown at frame 1
    pred = np.ones((1, 1, 2, 2, 2))
    pred[..., 1, :] = 10.0
    errors = sampling.sample_errors(pred, true)[0, 0]
    assert np.isclose(errors[0], np.sqrt(2)) and np.isclose(errors[1], (np.sqrt(2) + np.sqrt(200)) / 2)


def test_kept_speed_of_frozen_and_of_true_samples():
    true = np.cumsum(np.ones((3, 6, 2, 2)), 1)
    assert np.allclose(sampling.kept_speed(np.stack([true, true]), true), 1.0)
    assert np.allclose(sampling.kept_speed(np.broadcast_to(true[:, :1], (2, 3, 6, 2, 2)), true), 0.0)


def test_nearest_pose_distance_and_plausibility():
    reference = np.array([[[0.0, 0.0]], [[10.0, 0.0]]])
    poses = np.array([[[1.0, 0.0]], [[7.0, 0.0]], [[5.0, 0.0]]])
    assert np.allclose(sampling.nearest_pose_distance(poses, reference, chunk=2), [1.0, 3.0, 5.0])
    assert np.isclose(sampling.plausibility(poses, np.concatenate([reference, reference * np.nan])), 3.0)
    with pytest.raises(ValueError, match="no complete pose"):
        sampling.plausibility(poses, reference * np.nan)


def test_random_training_futures_are_training_paths():
    paths = np.arange(4 * 3 * 1 * 2, dtype=float).reshape(4, 3, 1, 2)
    drawn = sampling.random_training_futures(paths, 5, 7, seed=0)
    assert drawn.shape == (7, 5, 3, 1, 2)
    assert all(any(np.array_equal(d, p) for p in paths) for d in drawn.reshape(-1, 3, 1, 2))
    assert np.array_equal(drawn, sampling.random_training_futures(paths, 5, 7, seed=0))


def scores(energy: float, speed: float, near: float, n: int = 1, t: int = 12) -> SampledScores:
    curve = np.full(t, energy) + np.linspace(0, 1, t)
    return SampledScores(curve, curve - 1, curve + 1, np.full(t, 2.0), np.full(t - 1, speed), near, n)


def test_the_table_and_verdict_say_what_the_scores_say():
    cfg = HorizonConfig(context=2, horizon=12)
    results = {
        OURS_STOCHASTIC: scores(5.0, 0.9, 6.0, n=20),
        OURS: scores(7.0, 0.1, 4.0),
        COPY_LAST: scores(8.0, 0.0, 3.0),
        MEAN_POSE: scores(6.0, 0.0, 2.0),
        RANDOM_POSE: scores(4.5, 1.0, 3.0, n=20),
    }
    study = SamplingStudy("signer", "stand-in", "test", cfg, SamplingConfig(), 10, 2, results, 3.0, *([None] * 7))
    header, rows = study.table()
    assert header[:3] == ["predictor", "N", "energy score t=10"] and rows[0][:3] == [OURS_STOCHASTIC, "20", "5.8"]
    assert rows[-1][0] == "real futures" and rows[-1][-1] == "3.0" and len(rows[-1]) == len(header)
    text = study.verdict()
    assert f"lower than {OURS}'s at every predicted frame (by 2 px on average)" in text
    assert f"higher than {RANDOM_POSE}'s at every predicted frame (by 0.5 px on average)" in text
    assert "keep 90% of the real joint speed over frames 6-12" in text and f"({OURS}: 10%)" in text
    assert "6.0 px from the nearest training pose, 2.00x the real futures' 3.0 px" in text


def test_the_stochastic_run_is_found_where_training_puts_it(tmp_path):
    cfg = config(steps=2, model={"n_landmarks": K, "hidden": 8, "latent": 2})
    summary = train_dynamics(cfg, waves(8, 20), tmp_path)
    assert summary["run"] == str(dynamics_run(tmp_path, "signer", stochastic=True))
    with pytest.raises(FileNotFoundError, match=r"pusher-stochastic-seed0 has no model.pt: run chapter 4b \(04b_"):
        dynamics_run(tmp_path, "pusher", stochastic=True)


def test_compare_says_where_one_curve_is_better():
    ours, other = np.array([1.0, 2.0, 5.0]), np.array([2.0, 3.0, 4.0])
    assert compare(ours, other, "x") == (
        "lower than x's at 2 of 3 predicted frames (the first where not: t = 3), +0.333 px on average (positive: lower)"
    )
    assert compare(other + 1, other, "x", "", lower_is_better=False).startswith("higher than x's at every")


def structure_of(found, deterministic, real, true, train=None):
    cfg = HorizonConfig(context=2, horizon=true.shape[1])
    train = np.stack([true[0] + 3 * np.array([1.0, 0.0])] * 4) if train is None else train
    return decoded_structure(found, deterministic, real, true, train, cfg, SamplingConfig(pose_every=1))


def test_the_structure_of_decoded_samples_is_scored_as_the_joints_beside_the_deterministic_one_and_random_poses():
    true = np.zeros((2, 4, 2, 2))  # N=2 clips, T=4 frames, J=2 keypoints
    true[1, :, 1] = np.nan  # a keypoint never known in the second clip: left out
    shift = np.array([1.0, 0.0])
    found = np.stack([true, true + 4 * shift])  # one sample on the truth, one 4 px off
    st = structure_of(found, true + 2 * shift, true + shift, true)
    ours, det, random = (st.scores[k] for k in (OURS_STOCHASTIC, OURS, RANDOM_POSE))
    assert np.allclose(ours.best, 0) and np.allclose(ours.mean, 2) and np.allclose(det.mean, 2)
    assert np.allclose(ours.energy, 2 - 0.5 * 4)  # E d(X, y) - 1/2 E d(X, X')
    assert np.allclose(random.energy, 3) and random.n_samples == 2  # every random training path is 3 px off
    assert np.allclose(st.real, 1) and st.real_nearest_pose == pytest.approx(2)  # real keypoints 2 px from training
    assert st.share_better == 0.5  # the exact sample beats the deterministic prediction on both clips, the other not
    unknown = true.copy()
    unknown[1] = np.nan  # no keypoint of the second clip known in any frame: its pairs are left out of the share
    assert structure_of(found, unknown + 2 * shift, unknown + shift, unknown).share_better == 0.5
    said = st.sentence()
    assert "its error on the real future frames is 1.0 px on average" in said
    assert f"lower than {OURS}'s at every predicted frame (by 2 px on average)" in said
    assert said.endswith(
        "50% of the decoded samples keep the structure better than the deterministic prediction of "
        "their clip (mean error over the predicted frames)."
    )
    header, rows = st.table()
    assert [r[0] for r in rows] == [OURS_STOCHASTIC, OURS, RANDOM_POSE, "real futures"] and len(rows[0]) == len(header)


def test_the_decoded_samples_sentence_and_figure_show_the_structure_where_measured():
    curve = np.linspace(0.5, 0.7, 5)
    structure = structure_of(
        np.ones((3, 2, 5, 1, 2)), np.zeros((2, 5, 1, 2)), np.zeros((2, 5, 1, 2)), np.zeros((2, 5, 1, 2))
    )
    with_structure = DecodedSamples("pusher", 2, 3, curve + 0.1, curve, curve, curve, structure)
    without = DecodedSamples(
        "walker", 2, 3, curve - 0.1, curve, curve, curve, None, {"alex": curve}, {"alex": curve + 1}
    )
    both = {"pusher": with_structure, "walker": without}
    assert decoded_sentences(both, ()).count("LPIPS: not measured") == 1  # said once, not per dataset
    assert "LPIPS: not" not in decoded_sentences(both, ("alex",)) and "LPIPS" not in with_structure.sentence()
    assert (
        "Best-of-N LPIPS (alex) is lower than ours (landmark LSTM)'s at every predicted frame (by 1"
        in without.sentence()
    )
    assert "higher than" in with_structure.sentence() and "Structure (chapter 5's detector" in with_structure.sentence()
    assert "lower than" in without.sentence() and "Structure" not in without.sentence()
    fig = decoded_figure({"pusher": with_structure, "walker": without})
    axes = fig.get_axes()
    assert len(axes) == 4 and not axes[3].axison  # walker has no structure panel
    labels = [line.get_label() for line in axes[2].get_lines()]
    assert labels[-1] == REAL_FUTURE and labels[0] == f"{OURS_STOCHASTIC} (N=3)"
    assert decoded_figure({"walker": without}).get_axes()[0].get_ylabel().startswith("SSIM")
