"""Renderer experiments of the cpu profile, measured on the validation split (`tune`), never on test.

    .venv/bin/python experiments/render_cpu.py [DATASET ...] [--run-dir runs/tune] [--scene-steps N ...]

For each dataset model of chapter 2 (signer, pusher, walker: the cpu profile's settings) it trains the paper decoder's
model (or reuses it from the run dir) and scene decoders on its frozen landmarks (`landmarks_from`), for each of the
given step counts, and prints one YAML list of rows per dataset: self and cross reconstruction SSIM / PSNR of 128
tune pairs (gap 10-30) beside the mean-frame and copy references, and the seconds each run trained.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tune_cpu  # noqa: E402

from lmvid_lib.data.datasets import VALIDATION  # noqa: E402
from lmvid_lib.eval import rendering  # noqa: E402
from lmvid_lib.models.checkpoint import load_trained  # noqa: E402
from lmvid_lib.models.run_config import config_dict, config_from_parameters, dataset_model_configs  # noqa: E402
from lmvid_lib.models.sequences import open_run_videos  # noqa: E402
from lmvid_lib.seed import seed_everything  # noqa: E402
from lmvid_lib.train import train_factorization  # noqa: E402
from lmvid_lib.train.runs import training_seconds  # noqa: E402


def paper_run(run_dir: Path, dataset: str, over: dict[str, Any], synthetic: dict[str, Any], name: str | None) -> Path:
    """The paper-decoder model of `dataset` with the cpu profile's settings, `over` (factorization overrides) and
    `synthetic` (stand-in overrides) on top, in run `name` (None: the profile's run name)."""
    if dataset == "signer":
        return tune_cpu._train_signer(run_dir, name, {**over, **({"synthetic": synthetic} if synthetic else {})})
    entry = tune_cpu._merge(tune_cpu.CPU["02_factorization"]["dataset_models"][dataset], {"factorization": over})
    entry["synthetic"] = {**entry.get("synthetic", {}), **synthetic}
    cfg = dataset_model_configs(tune_cpu.FACTORIZATION, {dataset: entry}, 0, "cpu", 0)[dataset]
    if name:
        cfg = config_from_parameters({**config_dict(cfg), "name": name})
    return Path(train_factorization(cfg, run_dir)["run"])


def scene_run(run_dir: Path, paper: Path, steps: int, over: dict[str, Any], tag: str = "") -> Path:
    cfg = config_dict(load_trained(paper)[1])
    model = {**cfg["model"], "decoder": "scene", **over.get("model", {})}
    name = f"{paper.name.replace('-spade-', '-scene-')}-{steps}{tag}"
    mapping = {**cfg, **{k: v for k, v in over.items() if k != "model"}}
    mapping.update(model=model, name=name, steps=steps, landmarks_from=paper.name)
    return Path(train_factorization(config_from_parameters(mapping), run_dir)["run"])


def study_row(setting: str, run: Path, run_dir: Path, readout: bool = False) -> dict[str, Any]:
    model, _ = load_trained(run)
    videos = open_run_videos(run, VALIDATION, run_dir)
    pairs = rendering.render_pairs(videos, 128, seed=0)
    study = rendering.render_study(run.name, model, videos, pairs)
    scores = {k: {m: round(v, 4) for m, v in s.items()} for k, s in study.scores.items()}
    row = {"setting": setting, "split": VALIDATION, "seconds": round(training_seconds(run), 1), **scores}
    if readout:  # keypoint accuracy of the landmarks (a scene run shares its paper run's)
        row["readout"] = {k: v for k, v in tune_cpu.readout_errors(run, run_dir).items() if k != "per_joint_px"}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=["pusher", "walker", "signer"])
    parser.add_argument("--run-dir", default="runs/tune")
    parser.add_argument("--scene-steps", type=int, nargs="*", default=[400])
    parser.add_argument("--scene", default="{}", help="YAML mapping of TrainConfig overrides of the scene runs")
    parser.add_argument("--tag", default="", help="suffix of the scene runs' names")
    parser.add_argument("--paper", default="{}", help="YAML mapping of factorization overrides of the paper run")
    parser.add_argument("--synthetic", default="{}", help="YAML mapping of stand-in overrides")
    parser.add_argument("--paper-name", default=None, help="run name of the paper run (default: the profile's)")
    args = parser.parse_args()
    seed_everything(0)
    run_dir = Path(args.run_dir)
    over = yaml.safe_load(args.scene)
    for dataset in args.datasets:
        paper = paper_run(run_dir, dataset, yaml.safe_load(args.paper), yaml.safe_load(args.synthetic), args.paper_name)
        rows = [study_row(f"paper decoder {args.paper} {args.synthetic}", paper, run_dir, readout=True)]
        for steps in args.scene_steps:
            run = scene_run(run_dir, paper, steps, over, args.tag)
            rows.append(study_row(f"scene decoder, {steps} steps {args.scene}", run, run_dir))
        print(f"# {dataset}\n" + yaml.safe_dump(rows, sort_keys=False, width=200), flush=True)


if __name__ == "__main__":
    main()
