# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Landmark dynamics: predicting the future pose (paper §2.4, Fig. 2, Fig. 3, appendix A)
#
# Once every frame is a set of K landmark Gaussians, a video is a sequence of small **states**: per landmark the mean
# (2 numbers) and the Cholesky factor L of its covariance Sigma = L L' (3 numbers). Any real values of L give a valid
# covariance, so a model can move freely in this space. The paper predicts the future in it with an **LSTM**
# (3 layers x 256 units and a linear layer, appendix A): at each step it reads the previous state and the previous
# change of state, and outputs the *next change*, added to the current state (§2.4). It is trained "n inputs, m
# future": each training sequence feeds n ground-truth states, then m - 1 of its own predictions, and every one of the
# n + m - 1 predictions is supervised. The frames are then rendered by the decoder of chapter 2 from the predicted
# landmarks and the appearance of one conditioning frame.
#
# This chapter trains that LSTM on the landmark sequences of every dataset model of chapter 2 (and the ablation the
# paper argues against: an LSTM that outputs the next state directly), then asks a question the paper could not
# answer on real video: **is the predicted pose right?** The `signer` stand-in has ground-truth joints on every frame,
# so predicted landmarks can be read out as joints with chapter 3's linear regression and compared with the true future
# joints, frame by frame, against simple predictors: copy the last state (a frozen pose), constant velocity in state
# space, and the mean training pose.

# %% tags=["parameters"]
profile = "cpu"
run_dir = "runs/cpu"
dataset = "signer"  # the dataset with joints whose predictions are scored (signer, or bbc with a prepared data_root)
data_root = None  # its prepared folder, for a real dataset (without keypoints its scores are skipped)
seed = 0
device = "cpu"
dynamics_datasets = ["signer", "pusher", "walker"]  # one LSTM (and its ablation) per chapter-2 dataset model
dynamics = {}  # DynamicsTrainConfig mapping shared by every dataset (steps, batch_size, lr, model, ...)
dynamics_overrides = {}  # per dataset: DynamicsTrainConfig keys replacing the shared ones (e.g. n_future)
dynamics_videos = {}  # per dataset: synthetic overrides of the training videos the LSTM learns from
horizon = {}  # HorizonConfig mapping: context, horizon, stride, threshold, crop_size
strip_every = 10  # Fig. 3: every strip_every-th frame of the prediction
tracked_landmarks = 3  # landmarks whose trajectories are drawn
neighbour_stride = 5  # the training windows of the neighbour averages start every this many frames

# %% tags=["hide-input"]
import numpy as np
import torch
from IPython.display import Markdown, display

from lmvid_lib.config import from_dict
from lmvid_lib.eval import horizon as hz
from lmvid_lib.eval import horizon_study as study_
from lmvid_lib.eval.predictors import OURS, OURS_DIRECT, OURS_SCENE
from lmvid_lib.report import dynamics_figures, figures
from lmvid_lib.report.captions import Captions
from lmvid_lib.report.claims import Claim, write_claims
from lmvid_lib.report.tables import markdown_table
from lmvid_lib.seed import seed_everything
from lmvid_lib.train import read_metrics
from lmvid_lib.train.dynamics import dataset_configs, load_dynamics_config, train_dataset_dynamics

seed_everything(seed)
captions = Captions(chapter=4)
hcfg = from_dict(hz.HorizonConfig, horizon, "04_dynamics.horizon")
configs = dataset_configs(dynamics, dynamics_overrides, dynamics_datasets, "04_dynamics.dynamics_overrides")
dataset_configs({}, dynamics_videos, dynamics_datasets, "04_dynamics.dynamics_videos")  # only checks the names
shared = load_dynamics_config({**configs.get(dataset, dynamics), "dataset": dataset}, "04_dynamics.dynamics")
display(Markdown(study_.setup_sentence(shared, hcfg, dataset, profile)))

# %% [markdown]
# ## Training
#
# One LSTM per dataset model of chapter 2 and its direct-state ablation, each in `<run_dir>/dynamics/<name>/`. The
# landmark sequences are extracted once by the dataset's pose encoder and cached beside its checkpoint; a finished LSTM
# is reused and an interrupted one resumes. Each is validated on the landmark sequences of its dataset's validation
# videos (`tune`: held out from training, never reported).

# %%
summaries = {
    (name, residual): train_dataset_dynamics(
        configs[name], name, run_dir, residual, dynamics_videos.get(name), device=device
    )
    for name in dynamics_datasets
    for residual in (True, False)
}
for (name, residual), s in summaries.items():
    print(
        f"{name} {'residual' if residual else 'direct'}: {s['steps']} steps, {s['schedule'][0]} inputs / "
        f"{s['schedule'][1]} future, loss {s['final']['loss']:.3f}, "
        f"validation {s['final'].get('val_loss', float('nan')):.3f}"
    )

# %% tags=["hide-input", "full-width"]
curves = {
    name: {
        label: read_metrics(summaries[(name, residual)]["run"])
        for label, residual in ((OURS, True), (OURS_DIRECT, False))
    }
    for name in dynamics_datasets
}
schedules = {name: summaries[(name, True)]["schedule"] for name in dynamics_datasets}
display(
    captions.figure(
        dynamics_figures.training_curves_figure(curves, schedules),
        "LSTM training curves per dataset model: mean squared error of the predicted states (normalised per "
        "coordinate) on training clips (solid) and on clips of the validation videos (dashed); residual wiring "
        f"(the paper's) and direct-state ablation. Data: {study_.sources_sentence(run_dir, dynamics_datasets)}; "
        f"profile `{profile}`.",
        full_width=True,
    )
)

# %% [markdown] tags=["needs-keypoints"]
# ## Is the predicted pose right?
#
# Every held-out `signer` video is cut into windows; each predictor sees the first frames' landmark states and rolls
# forward. Chapter 3's linear read-out, fitted here on the LSTM's training videos (landmarks -> true joints), turns
# every predicted state into joints, scored against the true joints of the same future frame. Two held-out splits, as in
# chapter 3: **held-out frames** (same people and clothes, new motion) and **held-out attire**. Beside the error, the
# share of the real joint speed each prediction keeps: a predictor that freezes or falls back to the mean pose can have
# a low error and no motion, which the error alone does not show.

# %% tags=["hide-input", "needs-keypoints"]
lstm_runs = {OURS: summaries[(dataset, True)]["run"], OURS_DIRECT: summaries[(dataset, False)]["run"]}
study = study_.horizon_study(run_dir, dataset, hcfg, lstm_runs, dynamics_videos.get(dataset), device)
for split, label in study.splits.items():
    display(
        captions.table(
            markdown_table(*study.table(split)),
            f"Pose of the predicted landmarks against the true future joints, `{dataset}` {label} ({study.source}; "
            f"{study.sample_sentence(split)}, {hcfg.context} context frames): mean over the windows of the joint error "
            f"({study.unit}), % of joints within {hcfg.threshold:g} px, and predicted / real joint speed on the step "
            f"into frame t. One deterministic prediction per window; profile `{profile}`.",
        )
    )

# %% tags=["hide-input", "full-width", "needs-keypoints"]
labels = {split: f"{dataset} {label}" for split, label in study.splits.items()}
display(
    captions.figure(
        dynamics_figures.horizon_figure(study.results, labels, study.unit),
        f"Joint error ({study.unit}) and kept joint speed (predicted / real) against the predicted frame t, for every "
        f"predictor, on `{dataset}` held-out windows ({study.source}; {study.sample_sentence()}; {hcfg.context} "
        f"context frames, one deterministic prediction each; means over the windows); the error axis is cut above "
        f"the others where constant velocity diverges. Profile `{profile}`.",
        full_width=True,
    )
)
display(Markdown(study.verdicts()))

# %% [markdown] tags=["needs-keypoints"]
# ### How much motion can an accurate prediction keep?
#
# A deterministic predictor trained on mean squared error learns the average of the futures its context leaves open,
# and averaged futures cancel each other's motion. How much motion that average keeps can be measured without any
# model: for each held-out window, average the real future joint paths of the k training windows whose two context
# poses are nearest. k = 1 copies one real future (all of its motion); the k with the lowest error estimates the
# average an LSTM is pulled toward. That k is chosen on the validation videos' windows (`tune`); the table reports the
# held-out frames.

# %% tags=["hide-input", "needs-keypoints"]
neighbours = study_.neighbour_study(study, neighbour_stride)
span = study.speed_span
display(
    captions.table(
        markdown_table(neighbours.header, neighbours.rows),
        f"Averages of the real futures of the k nearest training windows (true joints of `{dataset}`, "
        f"{len(study.train.joints)} training videos, windows every {neighbour_stride} frames; neighbours by the last "
        f"context pose and its change) on the held-out-frames windows ({study.sample_sentence('test')}): mean joint "
        f"error ({study.unit}) and predicted / real joint speed over frames {span[0]}-{span[1]}. {study.source}; "
        f"profile `{profile}`.",
    )
)
display(Markdown(study_.neighbour_note(study, neighbours)))

# %% [markdown] tags=["needs-keypoints"]
# ## Predicted video (Fig. 3)
#
# The paper's Fig. 3 conditions on 2 frames of BBC Pose and predicts 98. Here: one held-out window per split, every
# `strip_every`-th frame, the real video above the frames decoded from the LSTM's landmarks, drawn with the appearance
# of the last conditioning frame.


# %% tags=["hide-input", "full-width", "needs-keypoints"]
shown = np.arange(strip_every, hcfg.length + 1, strip_every)
videos_shown = {split: study_.decoded_window(study, split) for split in study.splits}
has_scene = study.scene_model is not None  # chapter 2's scene decoder draws the same landmarks too
for split, label in study.splits.items():
    real, decoded, _ = videos_shown[split]
    rows = {"real": real[shown - 1].permute(0, 2, 3, 1), OURS: decoded[shown - 1].permute(0, 2, 3, 1)}
    if has_scene:
        rows[OURS_SCENE] = study_.decoded_window(study, split, scene=True)[1][shown - 1].permute(0, 2, 3, 1)
    display(
        captions.figure(
            dynamics_figures.prediction_strip(rows, shown.tolist()),
            f"Analogue of Fig. 3 on `{dataset}` {label} ({study.source}): frames 1-{hcfg.context} condition the "
            f"prediction, every {strip_every}th frame of {hcfg.horizon} predicted shown (titles: frame numbers), "
            "real video above, frames decoded from the LSTM's landmarks below"
            + (" by the paper's decoder, then by the scene decoder (ours)" if has_scene else "")
            + f"; profile `{profile}`.",
            full_width=True,
        )
    )

# %% [markdown] tags=["needs-keypoints"]
# Where the landmarks go: the paths of a few landmarks over the predicted frames, real (extracted from the real
# frames) against predicted, drawn over the conditioning frame.

# %% tags=["hide-input", "needs-keypoints"]
real, decoded, path = videos_shown[study.first]
states = study.windows[study.first][0][0, : hcfg.length]
chosen = hz.most_moving_landmarks(states, tracked_landmarks)
frame = real[hcfg.context - 1].permute(1, 2, 0)
title = f"{dataset} held-out frames: {tracked_landmarks} most-moving landmarks"
display(
    captions.figure(
        dynamics_figures.trajectories_figure(
            frame, {"real": states, OURS: path.numpy()}, chosen, study.n_landmarks, title
        ),
        f"Paths of the {tracked_landmarks} landmarks that move most in this window over {hcfg.length} frames (dot: "
        f"start): extracted from the real frames (solid) and predicted by the LSTM from {hcfg.context} frames "
        f"(dashed), on the conditioning frame; `{dataset}` ({study.source}), profile `{profile}`.",
    )
)

# %% [markdown] tags=["needs-keypoints"]
# The same window as a video: real frames (left) and frames decoded from the LSTM's prediction (right).

# %% tags=["hide-input", "needs-keypoints"]
side_by_side = torch.cat([real, decoded], -1).permute(0, 2, 3, 1)
display(
    captions.figure(
        figures.animate(side_by_side, fps=10, panel=4.0, frame_format="jpeg", title=f"real | {OURS}"),
        f"`{dataset}` held-out frames, {hcfg.context} conditioning frames then {hcfg.horizon} predicted ones, "
        f"10 frames per second ({study.source}; profile `{profile}`).",
    )
)

# %% tags=["remove-cell", "needs-keypoints"]
write_claims(run_dir, "04_dynamics", [Claim(**study.claim_fields(), profile=profile, chapter="4")])
