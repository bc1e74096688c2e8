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
# # 7. Moving landmarks by hand
#
# The method's central claim is a factorization: the landmarks say *where* the parts of the image are, the appearance
# vectors say *what they look like*, and the decoder draws any pose with any appearance. Interpolation (chapter 6) and
# prediction (chapters 4 and 5) use that claim; the most direct way to see whether a trained model honours it is to
# take one landmark and move it. If the decoded frame moves the part that landmark stands for and leaves the rest of
# the frame alone, the landmark is a handle on the image; if the whole frame changes, or nothing does, it is not.
#
# This chapter is a tool as much as a page. In JupyterLab it is a **playground**: choose a dataset model and a
# held-out frame, pick a landmark (from a list, or by clicking near it), move it, widen or turn its Gaussian, blend
# the whole pose towards another frame's pose in Cholesky space (paper Eq. 7), or let the landmark LSTM of chapter 4
# continue the video from the pose you made. The decoded frame is drawn next to the original, every landmark on
# both. In this static book no kernel runs, so the page shows what the playground shows for a few scripted moves,
# decoded by this run's models; the next page, [the playground](playground.md), runs the same decoders in your
# browser, where you can drag the landmarks yourself.

# %% tags=["parameters"]
profile = "cpu"
run_dir = "runs/cpu"
dataset = "signer"  # the model the scripted moves below use
seed = 0
device = "cpu"
split = "test"  # held-out frames: the same people and clothes as in training, new motion
video = 0  # which video of the split the frame slider runs through
max_frames = 100  # frames of that video the playground offers
frame = 0  # the frame the scripted moves start from
sweep_steps = 24  # frames of the animation of one landmark swept across the frame
panel = 192  # pixels per panel of a playground picture
models = ["signer", "pusher", "walker"]  # the dataset models the live playground offers
live = True  # build the live playground; the book build sets false (params/*.yaml): no kernel runs on a static page
live_stochastic = False  # the live playground's rollouts: the deterministic LSTM (chapter 4), or sampled futures (4b)

# %% tags=["hide-input"]
import numpy as np
import torch
from IPython.display import Markdown, display

from lmvid_lib.paths import repo_path
from lmvid_lib.playground.core import (
    control_tour,
    landmark_influence,
    load_playground,
    local_change,
    sweep,
    update_seconds,
)
from lmvid_lib.playground.picture import GAP, playground_picture
from lmvid_lib.report import figures
from lmvid_lib.report.captions import Captions
from lmvid_lib.seed import seed_everything

seed_everything(seed)
captions = Captions(chapter=7)
run = repo_path(run_dir)
pg = load_playground(run, dataset, split, video, max_frames, device)
pg.select_frame(frame)
influence = landmark_influence(pg)
k = int(influence.argmax())
display(
    Markdown(
        f"**Model:** the `{dataset}` factorization model of chapter 2 ({pg.n_landmarks} landmarks, decoded at "
        f"{pg.model.cfg.image_size}x{pg.model.cfg.image_size}); **frames:** video {video} of the `{split}` split, "
        f"{pg.n_frames} frames, starting from frame {frame}; **rollout:** "
        + ("the residual landmark LSTM of chapter 4." if pg.rollout_model is not None else "none (chapter 4 not run).")
        + f" Profile `{profile}`."
    )
)

# %% [markdown]
# ## One landmark across the frame
#
# Which landmark to move? Each one is shifted in turn by 0.3 (normalised units, 15% of the frame's width) and the mean
# change of the decoded frame is measured; the one that changes it most is swept horizontally across the frame and
# back, everything else fixed: the pose encoder's other landmarks and the appearance of the selected frame. Left: the
# real frame with the landmarks as moved; right: what the decoder draws from them.

# %% tags=["hide-input"]
path = sweep(pg.state, k, sweep_steps)
decoded = pg.render_states(path)
original = pg.frames[pg.frame]
pictures = np.stack([playground_picture(original, f, s, k, panel) for f, s in zip(decoded, path)])
display(
    captions.figure(
        figures.animate(pictures, fps=8, panel=pictures.shape[2] / 100, frame_format="jpeg"),
        f"Landmark {k} of the `{dataset}` model swept across held-out frame {frame} (thick ellipse; one-sigma "
        f"ellipses and means of all {pg.n_landmarks} landmarks drawn). Left: the real frame; right: the frame decoded "
        f"from the moved landmarks with that frame's appearance. {sweep_steps} frames at 8 per second; profile "
        f"`{profile}`.",
    )
)

# %% tags=["hide-input"]
# How local is the change? Pixels within 0.2 of the landmark's old or new place against those farther than 0.4.
reference = pg.render()
far_step = int((path[:, k, 0] - pg.state[k, 0]).abs().argmax())
near, far = local_change(reference, decoded[far_step], path[[0, far_step], k, :2], radius=0.2)
update = update_seconds(pg, path, k, lambda: playground_picture(original, pg.render(), pg.state, k, panel))
ranked = influence.argsort(descending=True)
display(
    Markdown(
        f"Shifting one landmark by 0.3 changes the decoded frame by {255 * influence.mean():.1f} grey levels on "
        f"average (of 255): landmark {k} changes it most ({255 * influence[k]:.1f}), landmark {int(ranked[-1])} "
        f"least ({255 * influence[ranked[-1]]:.1f}). At the far end of the sweep, the decoded frame differs from the "
        f"unedited one by {255 * near:.1f} grey levels near the landmark's old and new places and by "
        f"{255 * far:.1f} elsewhere ({near / max(far, 1e-12):.1f} times as much near it). One playground update (move, "
        f"decode, draw) took a median of {1e3 * float(np.median(update)):.0f} ms on the machine that built this page."
    )
)

# %% [markdown]
# ## The same sweep through the scene decoder
#
# Chapter 2 trains a second decoder on the same landmarks (ours): it also reads the frame being edited and blends
# what it draws with it. A decoder that copied that frame would ignore the moved landmark; the local-change measure
# above says whether it moves the part instead.

# %% tags=["hide-input", "full-width"]
try:
    scene_pg = load_playground(run, dataset, split, video, max_frames, device, scene=True)
except FileNotFoundError as missing:
    scene_pg = None
    display(Markdown(f"*No scene decoder in this run ({missing}).*"))
if scene_pg is not None:
    scene_pg.select_frame(frame)
    scene_decoded = scene_pg.render_states(path)
    scene_near, scene_far = local_change(scene_pg.render(), scene_decoded[far_step], path[[0, far_step], k, :2], 0.2)
    steps = np.linspace(0, len(path) - 1, 6).round().astype(int)
    columns = {
        f"sweep step {int(t)}": torch.stack([decoded[t], scene_decoded[t]]) for t in steps
    }  # rows: paper decoder, scene decoder
    display(
        captions.figure(
            figures.image_columns(columns),
            f"Landmark {k} swept as above, decoded by the paper's decoder (top row) and by the scene decoder (bottom "
            f"row) from the same landmarks and frame {frame}; `{dataset}`, profile `{profile}`.",
            full_width=True,
        )
    )
    display(
        Markdown(
            f"Through the scene decoder the far end of the sweep changes the frame by {255 * scene_near:.1f} grey "
            f"levels near the landmark's old and new places and by {255 * scene_far:.1f} elsewhere "
            f"({scene_near / max(scene_far, 1e-12):.1f} times as much near it; the paper's decoder: "
            f"{near / max(far, 1e-12):.1f})."
        )
    )

# %% [markdown]
# ## The other controls
#
# The same frame through the playground's other controls: the landmark's Gaussian widened and turned (its
# covariance stays a valid one: the playground edits the Cholesky factor), the whole pose halfway to another frame's
# pose in Cholesky space, and frames that the landmark LSTM predicts from the edited pose, each decoded with the
# selected frame's appearance. Only the decoded panel is shown.

# %% tags=["hide-input", "full-width"]
target = min(pg.n_frames - 1, frame + pg.n_frames // 2)
shown, titles = control_tour(pg, k, target, (float(path[far_step, k, 0]), float(path[far_step, k, 1])))
frames = [
    playground_picture(original, f, s, k, panel)[:, panel + GAP :] for f, s in zip(pg.render_states(shown), shown)
]
display(
    captions.figure(
        figures.show_frames(np.stack(frames), titles=titles, ncols=len(frames)),
        f"Held-out frame {frame} of the `{dataset}` model through the playground's controls, decoded with that "
        f"frame's appearance; landmark {k} drawn thick; profile `{profile}`.",
        full_width=True,
    )
)

# %% [markdown]
# ### Sampled futures from the edited pose
#
# Chapter 4b's stochastic LSTM (ours) gives a different future for each seed of its latents: three of them from the
# same edited pose (landmark moved as above), each decoded with the selected frame's appearance. The live playground
# has the same control (**sample seed**).

# %% tags=["hide-input", "full-width"]
try:
    sampler = load_playground(run, dataset, split, video, max_frames, device, stochastic=True)
except FileNotFoundError as missing:
    sampler = None
    display(Markdown(f"*No stochastic LSTM in this run ({missing}).*"))
if sampler is not None:
    sampler.select_frame(frame)
    sampler.select_landmark(k)
    sampler.move(k, float(path[far_step, k, 0]), float(path[far_step, k, 1]))
    seeds, every = (0, 1, 2), 5
    futures = {seed: sampler.rollout(4 * every, seed) for seed in seeds}
    columns = {
        f"frame {t} on": torch.stack([futures[s][t - 1] for s in seeds]) for t in range(every, 4 * every + 1, every)
    }
    display(
        captions.figure(
            figures.image_columns(columns),
            f"Futures sampled by the stochastic landmark LSTM (chapter 4b) from held-out frame {frame} with landmark "
            f"{k} moved, one row per latent seed ({', '.join(map(str, seeds))}), every {every}th predicted frame; "
            f"`{dataset}`, profile `{profile}`.",
            full_width=True,
        )
    )

# %% [markdown]
# ## The live playground
#
# Run `make lab` at the root of the repository (it sets up the environment if needed and opens JupyterLab on `nbs/`),
# open `07_playground.py` (it opens as a notebook) and run all cells. The cell below then shows the playground:
#
# - **model**, **frame**: the dataset model and the held-out frame (its appearance is used for every decoded frame);
# - **landmark**: the landmark to edit, or click near a landmark on either picture;
# - **x**, **y**: its mean (normalised coordinates, -1 to 1, y down); **scale**, **rotate**: its Gaussian, widened
#   and turned around its mean;
# - **to frame**, **alpha**: the whole pose blended towards another frame's pose in Cholesky space (alpha 1 is that
#   frame's pose; the next edit starts from the blend);
# - **reset**: the frame's own pose; **play rollout**: 30 frames that the landmark LSTM predicts from the pose shown,
#   carrying on the video's recent motion; **sample seed**: with `live_stochastic = True`, the rollout samples one of
#   the stochastic LSTM's futures (chapter 4b) per seed.
#
# Slider drags are applied once the slider pauses (0.15 s), so a drag costs one decode rather than one per step.

# %%
if live:
    from lmvid_lib.playground.widgets import playground_app

    app = playground_app(run, models, split, video, max_frames, device, stochastic=live_stochastic)
    display(app)
else:
    display(Markdown("*No kernel runs on this page: open the chapter in JupyterLab for the live playground.*"))
