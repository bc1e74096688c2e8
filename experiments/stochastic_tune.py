"""Stochastic landmark dynamics of the cpu profile, chosen on the validation windows (`tune`), never on test.

    .venv/bin/python experiments/stochastic_tune.py [--run-dir runs/cpu] [--latent 8 ...] [--kl 0.01 ...]

Needs chapters 2 and 4 of the cpu profile in the run dir (the signer model and its deterministic LSTM). For every
(latent size, KL weight) it trains the stochastic LSTM with chapter 4b's settings (run `signer-stochastic-l<latent>-
kl<weight>-seed0`, reused when finished) and prints one YAML row: energy score, best-of-N error and kept speed on the
signer's validation windows, with 20 samples, beside the deterministic LSTM, copy-last, the mean pose and the
random-training-pose sampler.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmvid_lib.config import from_dict, notebook_parameters  # noqa: E402
from lmvid_lib.data.datasets import VALIDATION  # noqa: E402
from lmvid_lib.eval import horizon as hz  # noqa: E402
from lmvid_lib.eval import sampling_study  # noqa: E402
from lmvid_lib.eval.prediction import speed_kept_over  # noqa: E402
from lmvid_lib.models.dynamics import dynamics_run  # noqa: E402
from lmvid_lib.train.dynamics import dataset_configs, stochastic_mapping, train_dataset_dynamics  # noqa: E402
from lmvid_lib.train.runs import training_seconds  # noqa: E402

STEM = "04b_stochastic"


def scores_row(study: sampling_study.SamplingStudy) -> dict[str, Any]:
    rows = {}
    for name, s in study.scores.items():
        rows[name] = {
            "energy_mean": round(float(np.nanmean(s.energy)), 2),
            "energy_t": [round(float(s.energy[t - 1]), 2) for t in study.cfg.horizons],
            "best_of_n_t": [round(float(s.best[t - 1]), 2) for t in study.cfg.horizons],
            "speed_kept": round(speed_kept_over(s.speed_kept, *study.cfg.speed_span), 3),
            "nearest_pose_ratio": round(s.nearest_training_pose / study.real_nearest_pose, 3),
        }
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default="runs/cpu")
    parser.add_argument("--latent", type=int, nargs="+", default=[8])
    parser.add_argument("--kl", type=float, nargs="+", default=[1e-2])
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args(argv)
    params = notebook_parameters("cpu", STEM)
    dataset = params["dataset"]
    shared = dataset_configs(params["dynamics"], params.get("dynamics_overrides", {}), [dataset])[dataset]
    hcfg = from_dict(hz.HorizonConfig, params["horizon"], "horizon")
    scfg = from_dict(sampling_study.SamplingConfig, params.get("sampling", {}), "sampling")
    videos = params.get("dynamics_videos", {}).get(dataset)
    for latent in args.latent:
        for kl in args.kl:
            over = {
                "model": {"latent": latent},
                "kl_weight": kl,
                "name": f"{dataset}-stochastic-l{latent}-kl{kl:g}-seed0",
            }
            if args.steps:
                over["steps"] = args.steps
                over["name"] += f"-{args.steps}"
            mapping = stochastic_mapping(shared, over)
            summary = train_dataset_dynamics(mapping, dataset, args.run_dir, True, videos)
            study = sampling_study.sampling_study(
                args.run_dir,
                dataset,
                VALIDATION,
                hcfg,
                scfg,
                summary["run"],
                dynamics_run(args.run_dir, dataset),
                videos,
            )
            row = {"latent": latent, "kl_weight": kl, "steps": summary["steps"], "split": VALIDATION}
            row["seconds"] = round(training_seconds(summary["run"]), 1)
            row["scores"] = scores_row(study)
            print(yaml.safe_dump([row], sort_keys=False, width=120), flush=True)


if __name__ == "__main__":
    main()
