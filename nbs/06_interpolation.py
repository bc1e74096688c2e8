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
# # 6. Interpolation between two frames (paper §2.3, Fig. 6, Fig. 13)
#
# Given only the first and the last frame of a clip, make up the frames in between. The paper does it in landmark
# space: each landmark is a Gaussian, written as a state (mu, L) with L the Cholesky factor of its covariance, and the
# states of the two end frames are interpolated linearly (Eq. 7) and decoded, here (ours: the paper names none) with the
# appearance of the first frame. On BAIR it interpolates from the first to the last frame of the 30-frame clips.
#
# We compare three ways on the same clips:
#
# - **ours**: linear interpolation of the Cholesky states (`landmarks.interpolate`), decoded with the first frame's
#   appearance;
# - **covariance space**: the same, but the means and covariances themselves are interpolated (the alternative the
#   Cholesky parametrisation replaces); the means follow the same straight lines, only the Gaussians' shapes differ;
# - **pixel cross-fade**: a blend of the two real end frames, which knows nothing about motion.
#
# The data are the embedded stand-ins: `pusher` for BAIR (64x64 robot pushing, 30-frame clips) and `signer` for BBC
# Pose, cut into clips of the same length. Both have ground-truth joints, which the paper's data lack for this task, so
# besides the per-frame SSIM of Fig. 13 we can ask how far the interpolated *poses* are from the true middle frames.

# %% tags=["parameters"]
profile = "cpu"
run_dir = "runs/cpu"
device = "cpu"
interpolation = {}  # InterpolationConfig fields (datasets, split, length, max_sequences, max_fit_frames, batch_size)
strip_columns = 6  # frames shown per Fig. 6 strip, evenly spaced from the first to the last
strip_sequence = 0  # which interpolated clip the strips show

# %% tags=["hide-input"]
import time

from IPython.display import Markdown, display

from lmvid_lib.config import from_dict
from lmvid_lib.eval import interpolation as interp
from lmvid_lib.eval import interpolation_study as study
from lmvid_lib.report import interpolation_figures as plots
from lmvid_lib.report.captions import Captions
from lmvid_lib.report.claims import Claim, write_claims
from lmvid_lib.report.tables import markdown_table

captions = Captions(chapter=6)
cfg = from_dict(interp.InterpolationConfig, interpolation, "06_interpolation.interpolation")
start = time.perf_counter()
results = {d: interp.interpolate_split(run_dir, d, cfg, device) for d in cfg.datasets}
sources = study.sources(results)
display(Markdown(study.setup_sentence(results, cfg, time.perf_counter() - start, profile)))

# %% [markdown]
# ## Interpolated clips (Fig. 6)
#
# Rows: the real clip, ours, covariance space and the cross-fade; columns: frames from the first (given) to the last
# (given). On the landmark rows each landmark's path over the whole clip is drawn as a thin line and its Gaussian at
# that frame as an ellipse (one sigma); on the real clip, the landmarks the pose encoder finds in each real frame.

# %% tags=["hide-input", "full-width"]
for dataset, result in results.items():
    rows, columns, paths, clip = study.strip_inputs(result, strip_columns, strip_sequence)
    display(
        captions.figure(
            plots.plot_interpolation_strip(rows, columns, paths),
            f"Analogue of Fig. 6: `{dataset}` ({sources[dataset]}), clip {clip} of the `{cfg.split}` split, frames "
            f"{columns[0]} -> {columns[-1]}; only the first and last frames are given. Landmark paths and one-sigma "
            f"ellipses on the landmark rows; profile `{profile}`.",
            full_width=True,
        )
    )

# %% [markdown]
# ## Per-frame SSIM (Fig. 13)
#
# The structural similarity of every interpolated frame with the real one, mean ± standard error over the clips, at
# the decoder's resolution (the real frames are resized to it as the model sees them). At the two ends the cross-fade
# *is* the real frame (SSIM 1), while the landmark methods show the decoder's reconstruction of it: that gap is the
# price of going through landmarks; the frames between the ends are the test.

# %% tags=["hide-input", "full-width"]
ssims = study.ssim_scores(results)
xlabel = "frame t (0 and T-1: the given end frames)"
titles = {d: f"{d} ({len(r.frame_indices)} clips of {r.n_videos} videos)" for d, r in results.items()}
panels = {titles[d]: (study.curves(s, results[d].clip_videos), "SSIM", 0) for d, s in ssims.items()}
display(
    captions.figure(
        plots.step_curves_figure(panels, xlabel),
        f"Analogue of Fig. 13: SSIM of each interpolated frame against the real one, mean ± standard error (band) over "
        f"the source videos of each `{cfg.split}` split (each video's clips averaged first; "
        f"{', '.join(f'`{d}`, {sources[d]}' for d in results)}); profile `{profile}`.",
        full_width=True,
    )
)

# %% tags=["hide-input"]
steps = study.table_steps(cfg.length)
for dataset, scores in ssims.items():
    display(
        captions.table(
            markdown_table(*interp.score_table(scores, steps, groups=results[dataset].clip_videos)),
            f"SSIM on `{dataset}` ({sources[dataset]}), mean ± standard error over {results[dataset].n_videos} videos "
            f"({len(results[dataset].frame_indices)} clips of {cfg.length} frames; each video's clips averaged first); "
            f"the last column averages each clip's frames between the given ends. Profile `{profile}`.",
        )
    )
display(Markdown(study.ssim_sentences(results, ssims, cfg.length // 2)))

# %% [markdown]
# ## Are the interpolated poses the true middle poses?
#
# The stand-ins know where every joint is in every frame. As in chapter 3, a linear map without intercept is fitted
# from the landmark means to the true joints on training frames (each joint on the frames where it exists: a pusher
# video has 2-5 objects); it then reads joints off the interpolated landmarks. Three references frame the result: the
# same read-out on the landmarks of the *real* middle frames (the read-out's own error on real poses), the
# straight-line interpolation of the true joints themselves (the best any first->last interpolation can do with
# straight lines: what is left is motion that does not go straight), and the mean training pose (no interpolation at
# all). Errors are Euclidean, in pixels of the stored frame. The covariance path has the same means as ours, hence the
# same joints, and is not repeated.

# %% tags=["hide-input", "full-width"]
scored = {d: r for d, r in results.items() if r.joint_errors is not None}
ylabels = {d: f"mean joint error (px of the {r.frame_size}x{r.frame_size} frame)" for d, r in scored.items()}
panels = {d: ({label: (e, None) for label, e in r.joint_errors.items()}, ylabels[d], 0) for d, r in scored.items()}
if scored:
    display(
        captions.figure(
            plots.step_curves_figure(panels, xlabel),
            "Mean joint error of the interpolated poses against the true joints of each frame, pixels of the stored "
            f"frame ({', '.join(f'`{d}` {r.frame_size}x{r.frame_size}, {sources[d]}' for d, r in scored.items())}); "
            f"profile `{profile}`.",
            full_width=True,
        )
    )
else:
    display(Markdown("*None of these datasets has ground-truth joints: the pose comparison is skipped.*"))

# %% tags=["hide-input"]
for dataset, result in scored.items():
    display(
        captions.table(
            markdown_table(*interp.step_table(result.joint_errors, steps)),
            f"Mean joint error on `{dataset}` ({sources[dataset]}) in pixels of the {result.frame_size}x"
            f"{result.frame_size} frame, over {len(result.frame_indices)} clips; the last column averages the "
            f"frames between the given ends. Profile `{profile}`.",
        )
    )
if scored:
    display(Markdown(study.joint_sentences(scored)))

# %% [markdown]
# ## Reading the numbers
#
# - Interpolation is only as good as the two end frames' landmarks and the decoder: at the ends the landmark methods
#   show a reconstruction, not the real frame, so their SSIM there is the decoder's, and the cross-fade wins by
#   construction. The question is the middle.
# - Ours and the covariance path move every landmark mean along the same straight line; they differ only in how a
#   Gaussian turns and stretches between its two shapes, which changes the drawn limbs and hence the SSIM, not the
#   joints read off the means.
# - Straight lines are a model of motion too: the gap between the true-joint interpolation and zero is the motion
#   between the ends that is not a straight line (a pushed object that starts and stops, an arm that goes and comes
#   back), which no first->last interpolation of this kind can recover.
# - The smoke profile trains its models for a few steps only: its numbers prove that the chapter runs, nothing more.

# %% tags=["remove-cell"]
# The claim this chapter tests, with this run's numbers, for the reproduction table of the introduction.
fields = study.claim_fields(results, ssims, cfg, sources)
write_claims(run_dir, "06_interpolation", [Claim(**f, profile=profile, chapter="6") for f in fields])
