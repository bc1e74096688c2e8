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
# # 1. Data: the paper's datasets and their stand-ins (paper §3)
#
# The paper trains and evaluates on three video datasets:
#
# - **BBC Pose**: sign-language interpreters, upper body, 7 annotated joints; used for unsupervised landmark quality
#   (keypoint regression from landmarks) and long-range prediction (2 -> 98 frames).
# - **BAIR robot pushing**: a robot arm pushing objects on a table, 64x64, 30-frame clips; video prediction
#   (2 -> 28 frames) and interpolation (first -> last frame).
# - **KTH actions**: 25 people walking, jogging, running, boxing, hand-waving and hand-clapping, 64x64 grayscale;
#   video prediction (10 -> 30 frames).
#
# None of them may be redistributed, and this project cannot download them. So that every chapter runs anywhere, the
# library embeds a deterministic synthetic **stand-in** for each, with ground-truth keypoints the real data does not
# always have: `signer` for BBC Pose, `pusher` for BAIR, `walker` for KTH. They keep what the method depends on
# (articulated motion, a static background per identity, appearance that changes between identities or attire,
# objects that only move when pushed) and the frame sizes and clip lengths of the originals. They are not the
# originals: numbers measured on them are never the paper's numbers. If you have the real data, prepare it once with
# `lmvid prepare` and set `data_root` (see [Real datasets](#real-datasets) below).
#
# This chapter generates the stand-ins for the profile into the run directory, where every later chapter reads them,
# and shows what they look like, how large they are, and how hard their keypoints are to guess without looking.

# %% tags=["parameters"]
profile = "cpu"
run_dir = "runs/cpu"
dataset = "signer"  # the dataset later chapters train on: signer | pusher | walker, or bbc | bair | kth with data_root
data_root = None  # folder of a prepared real dataset (`lmvid prepare ...`); None means the embedded stand-in
seed = 0
device = "cpu"
presets = ["signer", "pusher", "walker"]  # embedded stand-ins generated here
n_videos = {"signer": 12, "pusher": 64, "walker": 48}  # 'train' videos per preset (other splits: about half)
n_frames = {"signer": 300, "pusher": 30, "walker": 60}  # frames per video

# %% tags=["hide-input"]
# %matplotlib inline
import time

from IPython.display import Markdown, display

from lmvid_lib.data import datasets, prepare, synthetic
from lmvid_lib.data.store import open_split, read_index
from lmvid_lib.data.variation import variation_rows
from lmvid_lib.eval import keypoints as kp
from lmvid_lib.paths import data_dir
from lmvid_lib.report import figures
from lmvid_lib.report.captions import Captions
from lmvid_lib.report.tables import markdown_table

captions = Captions(chapter=1)

datasets.check_dataset(dataset, data_root)  # a wrong dataset / data_root fails here, naming the parameter
for preset in presets:
    if preset not in n_videos or preset not in n_frames:
        raise ValueError(f"presets: {preset!r} needs an entry in n_videos and n_frames")
print(f"profile {profile!r}, run directory {run_dir}, seed {seed}")
print(f"later chapters use dataset {dataset!r}" + (f" from {data_root}" if data_root else " (embedded)"))

# %% [markdown]
# ## Generating the stand-ins
#
# Each preset is generated once per run directory into `run_dir/data/<preset>-<hash>`, where the hash covers the seed
# and every generator setting, and is written atomically in the prepared on-disk format that real datasets use too.
# Later chapters open the same folder through `datasets.open_dataset` with the same `n_videos` / `n_frames`
# overrides, so nothing is generated twice. A video's content depends only on the seed, the preset, its split and its
# index, never on how many other videos there are.

# %%
splits = {}  # preset -> split name -> VideoSet
for preset in presets:
    start = time.perf_counter()
    folder = synthetic.cached(preset, data_dir(run_dir), seed, n_videos=n_videos[preset], n_frames=n_frames[preset])
    names = sorted(read_index(folder)["splits"], key=lambda name: (name != "train", name))  # train first
    splits[preset] = {name: open_split(folder, name) for name in names}
    print(f"{preset:7s} {folder}  ({time.perf_counter() - start:.1f} s)")

# %% [markdown]
# ## Statistics
#
# One row per split. *identities* are the actors (signer: body, skin, hair, background), videos (pusher: each its own
# objects in the one bin) or persons (walker) of the split; the signer's `val` split shows the `train` identities in a
# held-out attire, its `test` split new motion of the same identities and attire; pusher objects and walker persons of
# `test` never appear in `train`. *Absent keypoints* are joints not in the scene (a pusher video with fewer than the
# most objects).

# %% tags=["hide-input", "full-width"]
rows = [
    {"preset": preset, "split": name, **figures.split_summary(videos)}
    for preset, by_split in splits.items()
    for name, videos in by_split.items()
]
display(
    captions.table(
        figures.markdown_table(rows),
        f"The embedded stand-ins of profile `{profile}` (synthetic, data seed {seed}): size of every split.",
    )
    if rows
    else Markdown("*No embedded preset in this profile.*")
)

# %% [markdown]
# ## How the stand-ins vary, against the real data
#
# A stand-in is only a fair test bed where it varies as its dataset does: a renderer that could copy a background no
# real video shares, or that never meets a moving camera, would look better here than it would on the real data. Per
# stand-in, the axes of variation of the real dataset (as its authors describe it) beside what the stand-in draws;
# where they differ, the cell says so.

# %% tags=["hide-input"]
for preset in presets:
    display(
        captions.table(
            markdown_table(["axis", datasets.dataset_info(preset).paper, f"`{preset}`"], variation_rows(preset)),
            f"Axes of variation: {datasets.dataset_info(preset).paper} (from its authors' description) and its "
            f"stand-in `{preset}` (from the generator, `lmvid_lib.data.synthetic.{preset}`).",
        )
    )

# %% [markdown]
# ## Sample frames with their ground-truth keypoints
#
# Four videos of each split, one frame each, taken at different times; the dots are the ground-truth keypoints
# (pixel coordinates of the frame, one colour per joint). The models never see these keypoints: they are only used
# to evaluate the landmarks the models discover.

# %% tags=["hide-input", "full-width"]
for preset, by_split in splits.items():
    for name, videos in by_split.items():
        frames, keypoints, titles = figures.sample_frames(videos)
        fig = figures.show_frames(
            frames, keypoints, names=videos.keypoint_names, titles=titles, suptitle=f"{preset} / {name}"
        )
        display(
            captions.figure(
                fig,
                f"`{preset}` stand-in, split `{name}` (synthetic, profile `{profile}`, data "
                f"seed {seed}): one frame of each of {len(frames)} videos with its ground-truth "
                "keypoints. No paper figure: it shows the data.",
                full_width=True,
            )
        )

# %% [markdown]
# ## Motion
#
# The first frames of the first `test` video of each preset, with its keypoints (play it with the buttons below the
# frame). The signer's hands move between signing positions with fast and slow transitions while the torso sways;
# the pusher's objects move only when the gripper touches them; the walker crosses the frame or moves in place.

# %% tags=["hide-input"]
for preset, by_split in splits.items():
    videos = by_split["test"]
    clip = slice(videos.video_starts[0], min(videos.video_starts[1], videos.video_starts[0] + 30))
    keypoints = None if videos.keypoints is None else videos.keypoints[clip]
    player = figures.animate(
        videos.frames[clip],
        keypoints,
        fps=8,
        panel=2.0,
        frame_format="jpeg",
        title=f"{preset}: {videos.video_names[0]}",
    )
    display(
        captions.figure(
            player,
            f"`{preset}` stand-in, first `test` video, {clip.stop - clip.start} frames "
            f"with keypoints (synthetic, profile `{profile}`). No paper figure: it shows "
            "the motion the models learn from.",
        )
    )

# %% [markdown]
# ## The mean-pose baseline
#
# Chapter 3 regresses keypoints from the discovered landmarks and reports the fraction of joints predicted within
# 6 pixels, the paper's BBC Pose threshold. The signer stand-in's native frame is the 128x128 crop, so its pixels are
# those of that crop. A landmark model is only useful if it beats the regressor that ignores the image and always
# answers the mean training pose: chapter 3's baseline (a), computed here on every annotated frame of each evaluation
# split (chapter 3 scores an evenly spaced subset of frames, so its number can differ slightly).

# %% tags=["hide-input"]
mean_pose = kp.KeypointEvalConfig()  # chapter 3's baseline (a) and pixel scale, on every annotated frame
column = f"accuracy of the mean train pose at {mean_pose.threshold:g} {mean_pose.unit}"
baseline = [
    {
        "preset": preset,
        "split": name,
        column: f"{kp.evaluate_mean_pose(by_split['train'], {name: by_split[name]}, mean_pose).splits[name].accuracy:.1%}",  # noqa: E501
    }
    for preset, by_split in splits.items()
    if preset in kp.EVAL_SPLITS
    for name in kp.eval_splits(preset)
]
display(
    captions.table(
        figures.markdown_table(baseline),
        f"Mean-pose baseline (chapter 3's baseline (a)) on the "
        f"evaluation splits of the stand-ins (synthetic, profile `{profile}`), every annotated frame: "
        f"keypoints within {mean_pose.threshold:g} {mean_pose.unit}.",
    )
    if baseline
    else Markdown("*No preset with keypoints in this profile.*")
)

# %% [markdown]
# (real-datasets)=
# ## Real datasets
#
# The real datasets are read from a folder prepared once, outside the book, by `lmvid prepare` (the notebook never
# converts raw files itself):
#
# ```bash
# .venv/bin/lmvid prepare bbc --src /data/bbcpose --dst /data/lmvid/bbc           # BBC Pose
# .venv/bin/lmvid prepare bair --src /data/softmotion30_44k --dst /data/lmvid/bair # BAIR action-free pushing
# .venv/bin/lmvid prepare kth --src /data/kth --dst /data/lmvid/kth                # KTH actions
# ```
#
# then `common: {dataset: bbc, data_root: /data/lmvid/bbc}` in a profile. When this run has `data_root` set, the
# prepared set is described and shown below; otherwise the cell says which stand-in each chapter uses instead.

# %% tags=["hide-input"]
STAND_INS = {"bbc": ("signer", "BBC Pose"), "bair": ("pusher", "BAIR robot pushing"), "kth": ("walker", "KTH actions")}
if data_root is None:
    stand_in_rows = [
        [
            f"{title} (`{real}`)",
            f"`{stand_in}`",
            (f"not redistributable, not downloadable here; prepare it with `lmvid prepare {real}` and set `data_root`"),
        ]
        for real, (stand_in, title) in STAND_INS.items()
    ]
    display(
        captions.table(
            markdown_table(["real dataset", "stand-in", "why"], stand_in_rows),
            "No `data_root` is set, so this run uses the embedded stand-ins.",
        )
    )
else:
    display(Markdown(prepare.describe(dataset, data_root)))
    names = sorted(read_index(data_root)["splits"], key=lambda name: (name != "train", name))
    real = {name: open_split(data_root, name) for name in names}
    for name, videos in real.items():
        if videos.n_videos:
            frames, keypoints, titles = figures.sample_frames(videos)
            fig = figures.show_frames(
                frames, keypoints, names=videos.keypoint_names or None, titles=titles, suptitle=f"{dataset} / {name}"
            )
            display(
                captions.figure(
                    fig,
                    f"Prepared real `{dataset}` data, split `{name}` (profile `{profile}`), "
                    "with its annotated keypoints.",
                    full_width=True,
                )
            )
    if dataset in kp.EVAL_SPLITS:
        real_cfg = kp.KeypointEvalConfig(eval_scale="auto").for_dataset(dataset)
        for name in kp.eval_splits(dataset):
            accuracy = kp.evaluate_mean_pose(real["train"], {name: real[name]}, real_cfg).splits[name].accuracy
            print(f"mean-pose baseline, {dataset} {name}: {accuracy:.1%} within {real_cfg.threshold:g} {real_cfg.unit}")
