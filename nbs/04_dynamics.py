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
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from lmvid_lib.config import from_dict
from lmvid_lib.eval import horizon as hz
from lmvid_lib.eval import predictability
from lmvid_lib.eval.prediction import horizon_table, speed_kept_over
from lmvid_lib.models.checkpoint import dataset_run, load_trained
from lmvid_lib.models.dynamics import ConstantVelocity, CopyLast
from lmvid_lib.models.files import LANDMARK_LSTM, load_model
from lmvid_lib.report import dynamics_figures, figures
from lmvid_lib.report.captions import Captions
from lmvid_lib.report.claims import Claim, write_claims
from lmvid_lib.report.tables import markdown_table
from lmvid_lib.seed import seed_everything
from lmvid_lib.train import read_metrics
from lmvid_lib.train.dynamics import dataset_configs, load_dynamics_config, train_dataset_dynamics

seed_everything(seed)
captions = Captions(chapter=4)
LINEAR = "linear forecast (diagnostic)"
hcfg = from_dict(hz.HorizonConfig, horizon, "04_dynamics.horizon")
horizons = tuple(t for t in (10, 30, 100) if t <= hcfg.horizon)  # scored horizons this profile reaches
speed_span = (min(50, hcfg.horizon // 2), min(100, hcfg.horizon))  # where the kept motion is measured
configs = dataset_configs(dynamics, dynamics_overrides, dynamics_datasets, "04_dynamics.dynamics_overrides")
dataset_configs({}, dynamics_videos, dynamics_datasets, "04_dynamics.dynamics_videos")  # only checks the names
shared = load_dynamics_config({**configs.get(dataset, dynamics), "dataset": dataset}, "04_dynamics.dynamics")
n_inputs, n_future = shared.schedule()
display(
    Markdown(
        f"**LSTM:** {shared.model.layers} x {shared.model.hidden} units + a linear layer, {shared.steps} steps of "
        f"batch {shared.batch_size} at learning rate {shared.lr:g} (Adam), seed {shared.seed}; schedule on "
        f"`{dataset}`: {n_inputs} inputs, {n_future} future. **Scored:** `{dataset}` held-out videos cut into "
        f"windows of {hcfg.context} context + {hcfg.horizon} predicted frames every {hcfg.stride} frames; joints in "
        f"pixels of the {hcfg.crop_size}x{hcfg.crop_size} crop, accuracy within {hcfg.threshold:g} px. "
        f"Profile `{profile}`."
    )
)

# %% [markdown]
# ## Training
#
# One LSTM per dataset model of chapter 2 and its direct-state ablation, each in `<run_dir>/dynamics/<name>/`. The
# landmark sequences are extracted once by the dataset's pose encoder and cached beside its checkpoint; a finished LSTM
# is reused and an interrupted one resumes. Each is validated on the landmark sequences of its dataset's held-out
# test videos.

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
        f"{s['schedule'][1]} future, loss {s['final']['loss']:.3f}, held-out {s['final']['val_loss']:.3f}"
    )

# %% tags=["hide-input", "full-width"]
fig, axes = plt.subplots(1, len(dynamics_datasets), figsize=(4.6 * len(dynamics_datasets), 3.6), squeeze=False)
for ax, name in zip(axes[0], dynamics_datasets):
    runs = {
        "residual (ours)" if residual else "direct": read_metrics(summaries[(name, residual)]["run"])
        for residual in (True, False)
    }
    n, m = summaries[(name, True)]["schedule"]
    dynamics_figures.plot_training_curves(ax, runs, f"{name}: {n} inputs, {m} future")
fig.tight_layout()
display(
    captions.figure(
        fig,
        "LSTM training curves per dataset model: mean squared error of the predicted states (normalised per "
        "coordinate) on training clips (solid) and on clips of the held-out test videos (dashed); residual wiring "
        f"(the paper's) and direct-state ablation. Synthetic stand-ins; profile `{profile}`.",
        full_width=True,
    )
)

# %% [markdown]
# ## Is the predicted pose right?
#
# Every held-out `signer` video is cut into windows; each predictor sees the first frames' landmark states and rolls
# forward. Chapter 3's linear read-out, fitted here on the LSTM's training videos (landmarks -> true joints), turns
# every predicted state into joints, scored against the true joints of the same future frame. Two held-out splits, as in
# chapter 3: **held-out frames** (same people and clothes, new motion) and **held-out attire**. Beside the error, the
# share of the real joint speed each prediction keeps: a predictor that freezes or falls back to the mean pose can have
# a low error and no motion, which the error alone does not show.

# %% tags=["hide-input"]
run = dataset_run(run_dir, dataset)
model, factor_cfg = load_trained(run, device)
train = hz.video_states(run, "train", run_dir, hcfg, device, **(dynamics_videos.get(dataset) or {}))
regressor = hz.fit_state_regressor(train.states, train.joints, hcfg.crop_size)
predictors = {
    "LSTM (ours)": load_model(summaries[(dataset, True)]["run"], kind=LANDMARK_LSTM),
    "LSTM without residual": load_model(summaries[(dataset, False)]["run"], kind=LANDMARK_LSTM),
    "copy-last": CopyLast(),
    "constant velocity": ConstantVelocity(),
}
forecasts = {LINEAR: hz.fit_linear_forecast(train.windows(hcfg)[0], hcfg)}
splits = {"test": "held-out frames", "val": "held-out attire"}
held_out = {split: hz.video_states(run, split, run_dir, hcfg, device) for split in splits}
windows = {split: held_out[split].windows(hcfg) for split in splits}
results = {
    split: hz.evaluate_predictors(predictors, regressor, *windows[split][:2], train.joints, hcfg, forecasts)
    for split in splits
}
unit = f"px, {hcfg.crop_size}x{hcfg.crop_size} crop"
for split, label in splits.items():
    header, rows = horizon_table({k: v.as_tuple() for k, v in results[split].items()}, horizons)
    display(
        captions.table(
            markdown_table(header, rows),
            f"Pose of the predicted landmarks against the true future joints, `{dataset}` {label} (synthetic "
            f"stand-in; {len(windows[split][0])} windows, {hcfg.context} context frames): mean joint error ({unit}), "
            f"% of joints within {hcfg.threshold:g} px, and predicted / real joint speed on the step into frame t. "
            f"One deterministic prediction per window; profile `{profile}`.",
        )
    )

# %% tags=["hide-input", "full-width"]
fig, axes = plt.subplots(len(splits), 2, figsize=(11, 3.6 * len(splits)), squeeze=False)
for row, (split, label) in zip(axes, splits.items()):
    dynamics_figures.plot_horizon_curves(row[0], row[1], results[split], f"{dataset} {label}", unit)
fig.tight_layout()
display(
    captions.figure(
        fig,
        f"Joint error ({unit}) and kept joint speed (predicted / real) against the predicted frame t, for every "
        f"predictor, on `{dataset}` held-out windows (synthetic stand-in; {hcfg.context} context frames, one "
        f"deterministic prediction each); the error axis is cut above the others where constant velocity diverges. "
        f"Profile `{profile}`.",
        full_width=True,
    )
)
verdicts = {split: hz.horizon_summary(results[split], "LSTM (ours)", horizons, speed_span) for split in splits}
display(Markdown("\n\n".join(f"**{label}.** {verdicts[split]}" for split, label in splits.items())))
display(Markdown(hz.predictability_note(results["test"], "LSTM (ours)", LINEAR, horizons, speed_span)))

# %% [markdown]
# ### How much motion can an accurate prediction keep?
#
# A deterministic predictor trained on mean squared error learns the average of the futures its context leaves open,
# and averaged futures cancel each other's motion. How much motion that average keeps can be measured without any
# model: for each held-out window, average the real future joint paths of the k training windows whose two context
# poses are nearest. k = 1 copies one real future (all of its motion); the k with the lowest error estimates the
# average an LSTM is pulled toward.

# %% tags=["hide-input"]
neighbours = predictability.neighbour_curves(
    hz.windows(train.joints, hcfg.length, neighbour_stride), windows["test"][1], hcfg.context, hcfg.threshold
)
display(
    captions.table(
        markdown_table(*predictability.tradeoff_rows(neighbours, horizons, speed_span)),
        f"Averages of the real futures of the k nearest training windows (true joints of `{dataset}`, "
        f"{len(train.joints)} training videos, windows every {neighbour_stride} frames; neighbours by the last "
        f"context pose and its change) on the held-out-frames windows: mean joint error ({unit}) and predicted / real "
        f"joint speed over frames {speed_span[0]}-{speed_span[1]}. Synthetic stand-in; profile `{profile}`.",
    )
)
display(
    Markdown(
        predictability.tradeoff_note(
            neighbours,
            results["test"]["LSTM (ours)"],
            "LSTM (ours)",
            results["test"]["copy-last"],
            horizons,
            speed_span,
        )
    )
)

# %% [markdown]
# ## Predicted video (Fig. 3)
#
# The paper's Fig. 3 conditions on 2 frames of BBC Pose and predicts 98. Here: one held-out window per split, every
# `strip_every`-th frame, the real video above the frames decoded from the LSTM's landmarks, drawn with the appearance
# of the second conditioning frame (as the paper does for BBC, §3.1).


# %% tags=["hide-input", "full-width"]
shown = np.arange(strip_every, hcfg.length + 1, strip_every)
videos_shown = {}
for split, label in splits.items():
    states, _, frame_index = windows[split]
    real, decoded, path = hz.decoded_prediction(
        model, predictors["LSTM (ours)"], states[0], held_out[split].videos.frames[frame_index[0]], hcfg
    )
    videos_shown[split] = (real, decoded, path)
    fig = dynamics_figures.prediction_strip(
        {"real": real[shown - 1].permute(0, 2, 3, 1), "LSTM (ours)": decoded[shown - 1].permute(0, 2, 3, 1)},
        shown.tolist(),
    )
    display(
        captions.figure(
            fig,
            f"Analogue of Fig. 3 on `{dataset}` {label} (synthetic stand-in): frames 1-{hcfg.context} condition the "
            f"prediction, every {strip_every}th frame of {hcfg.horizon} predicted shown (titles: frame numbers), "
            f"real video above, frames decoded from the LSTM's landmarks below; profile `{profile}`.",
            full_width=True,
        )
    )

# %% [markdown]
# Where the landmarks go: the paths of a few landmarks over the predicted frames, real (extracted from the real
# frames) against predicted, drawn over the conditioning frame.

# %% tags=["hide-input"]
real, decoded, path = videos_shown["test"]
states = windows["test"][0][0, : hcfg.length]
chosen = hz.most_moving_landmarks(states, tracked_landmarks)
fig, ax = plt.subplots(figsize=(4.2, 4.2))
dynamics_figures.plot_trajectories(
    ax,
    real[hcfg.context - 1].permute(1, 2, 0),
    {"real": states, "LSTM (ours)": path.numpy()},
    chosen,
    factor_cfg.model.n_landmarks,
    f"{dataset} held-out frames: {tracked_landmarks} most-moving landmarks",
)
display(
    captions.figure(
        fig,
        f"Paths of the {tracked_landmarks} landmarks that move most in this window over {hcfg.length} frames (dot: "
        f"start): extracted from the real frames (solid) and predicted by the LSTM from {hcfg.context} frames "
        f"(dashed), on the conditioning frame; `{dataset}` synthetic stand-in, profile `{profile}`.",
    )
)

# %% [markdown]
# The same window as a video: real frames (left) and frames decoded from the LSTM's prediction (right).

# %% tags=["hide-input"]
side_by_side = torch.cat([real, decoded], -1).permute(0, 2, 3, 1)
display(
    captions.figure(
        figures.animate(side_by_side, fps=10, panel=4.0, frame_format="jpeg", title="real | LSTM (ours)"),
        f"`{dataset}` held-out frames, {hcfg.context} conditioning frames then {hcfg.horizon} predicted ones, "
        f"10 frames per second (synthetic stand-in; profile `{profile}`).",
    )
)

# %% tags=["remove-cell"]
headline = results["test"]
t_far = horizons[-1]
lstm_far, mean_far = headline["LSTM (ours)"].errors[t_far - 1], headline["mean pose"].errors[t_far - 1]
write_claims(
    run_dir,
    "04_dynamics",
    [
        Claim(
            claim="A landmark LSTM predicts long-range pose (2 -> 98 frames)",
            paper="qualitative (Fig. 3: BBC Pose predictions that keep moving)",
            ours=(
                f"joint error at t={t_far}: {lstm_far:.1f} px (mean pose {mean_far:.1f}, copy-last "
                f"{headline['copy-last'].errors[t_far - 1]:.1f}); keeps "
                f"{100 * speed_kept_over(headline['LSTM (ours)'].speed_kept, *speed_span):.0f}% of the real speed over "
                f"t={speed_span[0]}-{speed_span[1]}"
            ),
            dataset=f"{dataset} held-out frames (synthetic stand-in)",
            profile=profile,
            chapter="4",
        )
    ],
)
