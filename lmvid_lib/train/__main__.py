"""Train the factorization model from the command line (one process, or many under torchrun).

    python -m lmvid_lib.train --profile cpu                     # every decoder x seed of params/cpu.yaml
    python -m lmvid_lib.train --config run.yaml --run-dir runs/x   # one TrainConfig mapping (yaml or json)
    torchrun --nproc_per_node=8 -m lmvid_lib.train --profile paper

With --profile, the runs are those notebook 02_factorization trains, one after the other: its `factorization` section
for every decoder in `common: decoders` and every training seed in `common: seeds`, on the data of `common: seed`; then
one SPADE model (the first seed) per entry of its `dataset_models`
(`lmvid_lib.models.run_config.dataset_model_configs`). The configuration stays data: these flags only say where it is
and where the runs go.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from lmvid_lib.config import notebook_parameters, profile_path
from lmvid_lib.models.run_config import TrainConfig, config_from_parameters, dataset_model_configs, load_config
from lmvid_lib.paths import default_run_dir, repo_path
from lmvid_lib.train.distributed import shutdown_distributed
from lmvid_lib.train.factorization import train_factorization

NOTEBOOK = "02_factorization"


def read_config(path: Path) -> TrainConfig:
    if not path.is_file():
        raise FileNotFoundError(f"--config: no file {path}")
    text = path.read_text()
    mapping = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(mapping, dict):
        raise ValueError(f"{path}: expected a mapping of TrainConfig parameters")
    return load_config(mapping, name=str(path))


def profile_configs(profile: str) -> list[TrainConfig]:
    """The profile's runs in notebook 02_factorization's order: one TrainConfig per (decoder, seed), decoders
    outermost, then one per dataset model."""
    params = notebook_parameters(profile, NOTEBOOK)
    if "factorization" not in params:
        raise ValueError(f"{profile_path(profile)}: no '{NOTEBOOK}: factorization:' section")
    for key in ("decoders", "seeds"):
        if not isinstance(params.get(key), list) or not params[key]:
            raise ValueError(
                f"{profile_path(profile)}: common: {key} must be a non-empty list, got {params.get(key)!r}"
            )
    main = [
        config_from_parameters(
            params["factorization"],
            dataset=params.get("dataset"),
            data_root=params.get("data_root"),
            seed=seed,
            device=params.get("device"),
            decoder=decoder,
            data_seed=params.get("seed"),
        )
        for decoder in params["decoders"]
        for seed in params["seeds"]
    ]
    others = dataset_model_configs(
        params["factorization"],
        params.get("dataset_models"),
        params["seeds"][0],
        params.get("device"),
        params.get("seed"),
        main[0].dataset,
    )
    return main + list(others.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--profile", help="params/<profile>.yaml (or a path to one): its decoders x seeds")
    source.add_argument("--config", type=Path, help="yaml/json file holding a TrainConfig mapping")
    parser.add_argument("--run-dir", type=Path, help="run directory (default with --profile: runs/<profile>)")
    args = parser.parse_args(argv)
    if args.config is not None and args.run_dir is None:
        parser.error("--config needs --run-dir")
    configs = [read_config(args.config)] if args.config is not None else profile_configs(args.profile)
    run_dir = args.run_dir or repo_path(default_run_dir(Path(args.profile).stem))
    try:
        summaries = [train_factorization(cfg, run_dir) for cfg in configs]
    finally:
        shutdown_distributed()
    print(json.dumps(summaries[0] if args.config is not None else summaries, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
