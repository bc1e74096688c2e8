"""Re-measure the cpu profile's adopted settings on the validation split (`tune`), never on test.

    .venv/bin/python experiments/tune_cpu.py [GROUP ...] [--run-dir runs/tune]

Each group trains the profile's setting and the alternatives it was once chosen against, with the cpu profile's
other settings unchanged (`params/cpu.yaml`), and prints one YAML list of rows (setting, split, measured values)
for `experiments/log.yaml`. Groups: signer (chapter 2's signer model: conditioning, landmark terms, edge term),
pusher (steps), walker (separation term), lstm (chapter 4's signer schedule and videos), detector (chapter 5's
learning rate and steps), pixel (chapter 5's pixel-predictor schedule on BAIR's stand-in). Runs are resumable in
the run dir.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmvid_lib.config import load_profile  # noqa: E402
from lmvid_lib.data.datasets import VALIDATION  # noqa: E402
from lmvid_lib.eval import horizon as hz  # noqa: E402
from lmvid_lib.eval.keypoints import KeypointEvalConfig, evaluate_run  # noqa: E402
from lmvid_lib.eval.prediction import speed_kept_over  # noqa: E402
from lmvid_lib.eval.predictors import COPY_LAST, MEAN_POSE  # noqa: E402
from lmvid_lib.eval.regression import fit_regressor, keypoint_errors, known_mean, mean_pose_baseline  # noqa: E402
from lmvid_lib.eval.scales import landmarks_to_crop_centred, pixels_to_crop_centred  # noqa: E402
from lmvid_lib.eval.video_prediction import protocol, real_video, score_video, video_clips  # noqa: E402
from lmvid_lib.models.checkpoint import load_trained  # noqa: E402
from lmvid_lib.models.dynamics import CopyLast  # noqa: E402
from lmvid_lib.models.files import LANDMARK_LSTM, load_model  # noqa: E402
from lmvid_lib.models.inference import encode_frames  # noqa: E402
from lmvid_lib.models.rollout import rollout  # noqa: E402
from lmvid_lib.models.run_config import config_dict, config_from_parameters, dataset_model_configs  # noqa: E402
from lmvid_lib.models.sequences import open_run_videos  # noqa: E402
from lmvid_lib.seed import seed_everything  # noqa: E402
from lmvid_lib.train import train_factorization  # noqa: E402
from lmvid_lib.train.dynamics import dataset_configs, train_dataset_dynamics  # noqa: E402
from lmvid_lib.train.pixel_predictor import train_dataset_pixel_predictor  # noqa: E402
from lmvid_lib.train.runs import training_seconds  # noqa: E402
from lmvid_lib.train.structure import train_dataset_detector  # noqa: E402

CPU = load_profile("cpu")
FACTORIZATION = CPU["02_factorization"]["factorization"]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _train_signer(run_dir: Path, name: str | None, over: dict[str, Any]) -> Path:
    mapping = _merge(FACTORIZATION, {**over, **({"name": name} if name else {})})
    cfg = config_from_parameters(mapping, dataset="signer", seed=0, device="cpu", decoder="spade", data_seed=0)
    return Path(train_factorization(cfg, run_dir)["run"])


def _train_dataset_model(run_dir: Path, dataset: str, name: str | None, over: dict[str, Any]) -> Path:
    models = _merge(CPU["02_factorization"]["dataset_models"], {dataset: {"factorization": over}})
    cfg = dataset_model_configs(FACTORIZATION, {dataset: models[dataset]}, 0, "cpu", 0)[dataset]
    if name:
        cfg = config_from_parameters({**config_dict(cfg), "name": name})
    return Path(train_factorization(cfg, run_dir)["run"])


def _beside(run: Path, out: Path) -> Path:
    """A run dir `out` whose chapter-2 model of the run's dataset is `run` (linked), so that a trainer that finds its
    factorization model by dataset (`dataset_run`) trains a variant there."""
    link = out / "factorization" / run.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(run.resolve())
    return out


def group_signer(run_dir: Path) -> list[dict[str, Any]]:
    """Chapter 3's read-out (signer, spade, 800 steps) on the tune videos: the profile and its alternatives."""
    cfg = KeypointEvalConfig(**CPU["03_keypoints"]["keypoints"])
    variants = {
        "profile (heatmaps_appearance, landmark terms, edge term)": (None, {}),
        "spade_condition heatmaps (the paper's wiring)": (
            "signer-paper-condition",
            {"model": {"spade_condition": "heatmaps"}},
        ),
        "no landmark terms (concentration 0, separation 0)": (
            "signer-no-landmark-terms",
            {"loss": {"lambda_concentration": 0.0, "lambda_separation": 0.0}},
        ),
        "no edge term (lambda_grad 0)": ("signer-no-edge", {"loss": {"lambda_grad": 0.0}}),
        "6 identities (12 videos)": ("signer-6-identities", {"synthetic": {"n_identities": 6}}),
        "textured sleeves": ("signer-textured-sleeves", {"synthetic": {"plain_sleeves": False}}),
        "lr 3e-3": ("signer-lr-3e-3", {"lr": 3.0e-3}),
    }
    rows = []
    for setting, (name, over) in variants.items():
        run = _train_signer(run_dir, name, over)
        result = evaluate_run(run, run_dir, [VALIDATION], cfg, progress=False)
        rows.append(
            {
                "setting": setting,
                "split": VALIDATION,
                "steps": 800,
                "tune": round(100 * result.splits[VALIDATION].accuracy, 1),
            }
        )
    first = _train_signer(run_dir, None, {})
    for baseline in ("untrained", "mean_pose"):
        result = evaluate_run(first, run_dir, [VALIDATION], cfg, baseline=baseline, progress=False)
        rows.append(
            {"setting": baseline, "split": VALIDATION, "tune": round(100 * result.splits[VALIDATION].accuracy, 1)}
        )
    return rows


def readout_errors(run: Path, run_dir: Path, max_train: int = 1500, max_eval: int = 600) -> dict[str, Any]:
    """A linear read-out from the landmarks of `run` to each true keypoint (fitted per joint where it is known on
    `max_train` training frames), scored on `max_eval` tune frames: mean error (px of the stored frame) per joint."""
    model, _ = load_trained(run)
    sets = {s: open_run_videos(run, s, run_dir) for s in ("train", VALIDATION)}
    points = {}
    for split, cap in (("train", max_train), (VALIDATION, max_eval)):
        videos = sets[split]
        index = np.round(np.linspace(0, len(videos.frames) - 1, min(cap, len(videos.frames)))).astype(np.int64)
        side = videos.frames.shape[1]
        mu = encode_frames(model, videos.frames, indices=index, progress=False).mu.numpy()
        points[split] = (
            landmarks_to_crop_centred(mu, side),
            pixels_to_crop_centred(np.asarray(videos.keypoints)[index], side, side),
        )
    regressor = fit_regressor(*points["train"])
    truth = points[VALIDATION][1]
    errors = keypoint_errors(regressor.predict(points[VALIDATION][0]), truth)
    mean_pose = keypoint_errors(mean_pose_baseline(points["train"][1], len(truth)), truth)
    return {
        "mean_px": round(float(known_mean(errors)), 2),
        "per_joint_px": [round(float(e), 1) for e in known_mean(errors, 0)],
        "mean_pose_px": round(float(known_mean(mean_pose)), 2),
    }


def group_pusher(run_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for steps in (400, 800):
        run = _train_dataset_model(run_dir, "pusher", None if steps == 400 else "pusher-800", {"steps": steps})
        rows.append({"setting": f"{steps} steps", "split": VALIDATION, "steps": steps, **readout_errors(run, run_dir)})
    return rows


def group_walker(run_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for sep in (0.0, 0.2):
        name = None if sep == 0.0 else "walker-separation-0.2"
        run = _train_dataset_model(run_dir, "walker", name, {"loss": {"lambda_separation": sep}})
        rows.append(
            {"setting": f"lambda_separation {sep}", "split": VALIDATION, "steps": 400, **readout_errors(run, run_dir)}
        )
    return rows


def group_lstm(run_dir: Path) -> list[dict[str, Any]]:
    """Chapter 4's signer LSTM, trained on the profile's signer model, scored on the tune videos' windows."""
    _train_signer(run_dir, None, {})
    dyn = CPU["04_dynamics"]
    cfg = hz.HorizonConfig(**dyn["horizon"])
    base = dataset_configs(dyn["dynamics"], dyn["dynamics_overrides"], ["signer"])["signer"]
    variants = {
        "48 videos, 10 in / 60 future (profile)": ({}, {"n_videos": 48}),
        "48 videos, 10 in / 10 future (the paper's)": ({"n_future": 10}, {"n_videos": 48}),
        "12 videos, 10 in / 60 future": ({}, {}),
    }
    run = run_dir / "factorization" / "signer-spade-seed0"
    train = hz.video_states(run, "train", run_dir, cfg, n_videos=48)
    regressor = hz.fit_state_regressor(train.states, train.joints, cfg.crop_size)
    tune = hz.video_states(run, VALIDATION, run_dir, cfg)
    states, joints, _ = tune.windows(cfg)
    rows, shown = [], [10, 30, cfg.horizon]
    for i, (setting, (over, videos)) in enumerate(variants.items()):
        out = _beside(run, run_dir / f"lstm-{i}")
        summary = train_dataset_dynamics({**base, **over}, "signer", out, videos=videos)
        lstm = load_model(summary["run"], "cpu", LANDMARK_LSTM)
        results = hz.evaluate_predictors(
            {"lstm": lstm, COPY_LAST: CopyLast()}, regressor, states, joints, train.joints, cfg
        )
        rows.append(_horizon_row(setting, results["lstm"], shown, cfg))
        if i == 0:
            baselines = [_horizon_row(n, results[n], shown, cfg) for n in (COPY_LAST, MEAN_POSE)]
    return rows + baselines


def _horizon_row(setting: str, curves: Any, shown: list[int], cfg: Any) -> dict[str, Any]:
    row = {"setting": setting, "split": VALIDATION, "tune": [round(float(curves.errors[t - 1]), 1) for t in shown]}
    row["tune_speed"] = round(speed_kept_over(curves.speed_kept, 50, cfg.horizon), 2)
    return row


def group_detector(run_dir: Path) -> list[dict[str, Any]]:
    threshold = CPU["05_prediction"].get("structure_threshold", 3.0)
    rows = []
    for dataset in ("pusher", "walker"):
        run = _train_dataset_model(run_dir, dataset, None, {})
        train, tune = (open_run_videos(run, s, run_dir) for s in ("train", VALIDATION))
        for lr, steps in ((5e-4, 400), (2e-3, 400), (5e-4, 1000)):
            out = run_dir / (f"detector-lr{lr:g}" if steps == 400 else f"detector-lr{lr:g}-{steps}")
            cfg = {**CPU["05_prediction"]["detector"], "lr": lr, "steps": steps}
            _, _, acc = train_dataset_detector(cfg, dataset, train, tune, threshold, out)
            rows.append(
                {
                    "setting": f"{dataset}, lr {lr:g}, {steps} steps",
                    "split": VALIDATION,
                    "error_px": round(acc["error_px"], 2),
                    "within_3px": round(acc["accuracy"], 2),
                }
            )
    return rows


def group_pixel(run_dir: Path) -> list[dict[str, Any]]:
    """Chapter 5's pixel predictor on the pusher (BAIR) stand-in, schedules scored on the tune clips (2 -> 28)."""
    run = _train_dataset_model(run_dir, "pusher", None, {})
    context, horizon = protocol("pusher")
    clips = video_clips(run, open_run_videos(run, VALIDATION, run_dir), context, horizon, None, "cpu")
    real = real_video(clips, 64)
    rows = []
    # 2 / 10 at 500 steps: about the FLOPs of 10 / 10 at 300 (12 against 20 frames a clip), for an equal budget
    for n_in, n_future, steps in ((2, 10, 300), (10, 10, 300), (2, 26, 300), (2, 10, 500)):
        out = _beside(
            run, run_dir / (f"pixel-{n_in}-{n_future}" if steps == 300 else f"pixel-{n_in}-{n_future}-{steps}")
        )
        summary = train_dataset_pixel_predictor(
            {**CPU["05_prediction"]["pixel"], "n_inputs": n_in, "n_future": n_future, "steps": steps}, "pusher", out
        )
        model = load_model(summary["run"], "cpu")
        pred = rollout(model, real[:, :context], horizon)
        scores = score_video(pred, real[:, context:])
        rows.append(
            {
                "setting": f"{n_in} in / {n_future} future",
                "split": VALIDATION,
                "steps": steps,
                "seconds": round(training_seconds(summary["run"])),
                "ssim": round(float(scores.ssim.mean()), 3),
                "psnr": round(float(scores.psnr.mean()), 2),
            }
        )
    return rows


GROUPS = {
    f.__name__[6:]: f for f in (group_pusher, group_detector, group_walker, group_pixel, group_signer, group_lstm)
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"any of {list(GROUPS)} (default: all)")
    parser.add_argument("--run-dir", default="runs/tune")
    args = parser.parse_args()
    unknown = sorted(set(args.groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {unknown}; known: {list(GROUPS)}")
    seed_everything(0)
    run_dir = Path(args.run_dir)
    for name in args.groups or list(GROUPS):
        rows = GROUPS[name](run_dir)
        print(f"# {name}\n" + yaml.safe_dump(rows, sort_keys=False, width=200), flush=True)


if __name__ == "__main__":
    main()
