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
# # lmvid: Video Interpolation and Prediction with Unsupervised Landmarks
#
# This book re-implements, in PyTorch, *Video Interpolation and Prediction with Unsupervised Landmarks*
# (Kevin J. Shih, Aysegul Dundar, Animesh Garg, Robert Pottorf, Andrew Tao, Bryan Catanzaro; 2019,
# [arXiv:1909.02749](https://arxiv.org/abs/1909.02749)).
#
# ## What the paper does
#
# An image is factored into **pose**, K unsupervised landmarks, each a 2D Gaussian fitted to a softmax part map, and
# **appearance**, one feature vector per landmark. A decoder renders the image back from the Gaussians' heatmaps and
# the appearance vectors; the whole model learns from unlabelled video by reconstructing frames. Once a video is
# reduced to a handful of landmark trajectories, interpolating or predicting video becomes interpolating or predicting
# a few numbers per landmark: linearly, in Cholesky space, for interpolation, and with an LSTM for long-range
# prediction. The paper tests the landmarks as keypoints on BBC Pose, and the predictions on BAIR and KTH.

# %% tags=["parameters"]
profile = "cpu"
run_dir = "runs/cpu"
dataset = "signer"  # the dataset the chapters train and evaluate on
data_root = None  # folder of a prepared real dataset, or None for the embedded stand-in
seed = 0
device = "cpu"
decoders = ["spade", "concat"]  # decoder variants the chapters train; the first one draws the figure below
seeds = [0]

# %% tags=["hide-input"]
from IPython.display import Markdown, display

from lmvid_lib.config import load_profile
from lmvid_lib.data.datasets import data_label
from lmvid_lib.eval.keypoints import find_runs
from lmvid_lib.report.captions import Captions
from lmvid_lib.report.claims import claims_table, read_claims
from lmvid_lib.report.runs import chapter_data_rows, method_figure
from lmvid_lib.report.tables import markdown_table

captions = Captions(chapter=None)
source = data_label(dataset, data_root)

# %% [markdown]
# ## The method on one frame of this run
#
# One frame through the model trained in chapter 2: the pose encoder's part maps, the Gaussian landmarks fitted to
# them (drawn as their heatmaps), and the frame the decoder renders from those landmarks and the frame's own
# appearance vectors. One colour per landmark.

# %% tags=["hide-input", "full-width"]
try:
    run = find_runs(run_dir, dataset, decoders[:1], seeds[:1])[decoders[0]][0]
except FileNotFoundError:
    display(Markdown(f"*No trained model in `{run_dir}` yet: run chapter 2 with profile `{profile}` first.*"))
else:
    display(
        captions.figure(
            method_figure(run, run_dir, device),
            f"Frame -> part maps -> Gaussian landmarks -> decoded frame, drawn by {run.name} (`{dataset}`, {source}; "
            f"profile `{profile}`). Analogue of the paper's overview of its method (§2).",
            full_width=True,
        )
    )

# %% [markdown]
# ## How to read this book
#
# Each chapter follows one part of the paper and is a notebook executed by `make book PROFILE=<name>` with one
# profile of `params/`: the first code cell of a chapter lists every parameter of the run that produced the page.
# The code that carries the method (training, evaluation) is shown; plotting and display code is folded (click to
# open it). Every figure and table has a numbered caption that names its data, and the figure or table of the paper it
# reproduces. Every number in the text is computed by the run; the executed notebook of each chapter can be
# downloaded from the button at the top of its page.
#
# | profile | runs on | its numbers |
# |---|---|---|
# | `smoke` | CI, 2 CPU cores, minutes | prove that the code runs; they mean nothing |
# | `cpu` (default) | a laptop, 2 CPU cores | small models and data with meaningful results |
# | `paper` | a GPU server | the paper's settings |
#
# The paper's datasets (BBC Pose, BAIR robot pushing, KTH actions) are not redistributable, so every experiment also
# runs on an embedded synthetic stand-in with ground-truth keypoints: `signer` for BBC Pose, `pusher` for BAIR,
# `walker` for KTH (chapter 1). Numbers measured on the stand-ins are **not** the paper's numbers and are never put in
# one column with them; only a run on the real data, prepared with `lmvid prepare` and named by `data_root`, can be
# compared with the paper.

# %% tags=["hide-input"]
rows = chapter_data_rows(load_profile(profile), run_dir, dataset, data_root, decoders, seeds)
display(
    captions.table(
        markdown_table(["chapter", "data", "how"], rows),
        f"The data each chapter of this run used (profile `{profile}`).",
    )
)

# %% [markdown]
# ## What this run reproduces
#
# Each chapter writes the claims of the paper it tests, with its own measurement, next to its results; this table is
# built from those files. The paper's numbers are quoted, on its data; ours are measured on the data named in the row.

# %% tags=["hide-input"]
claims = read_claims(run_dir)
if claims:
    display(
        captions.table(
            claims_table(claims),
            f"Paper claims and this run's measurements (profile `{profile}`; data and pixel scale in each row).",
        )
    )
else:
    display(Markdown(f"*No chapter of this run has written its results yet (`{run_dir}/claims/`).*"))

# %% [markdown]
# ## Chapters
#
# ```{tableofcontents}
# ```
