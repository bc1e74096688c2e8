"""Train the factorization model from the command line (one process, or many under torchrun).

    python -m lmvid_lib.train --profile cpu                     # params/cpu.yaml, section 02_factorization
    python -m lmvid_lib.train --config run.yaml --run-dir runs/x   # a TrainConfig mapping (yaml or json)
    torchrun --nproc_per_node=8 -m lmvid_lib.train --profile paper

The configuration stays data: these flags only say where it is and where the run goes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from lmvid_lib.config import notebook_parameters
from lmvid_lib.train.distributed import shutdown_distributed
from lmvid_lib.train.factorization import TrainConfig, config_from_parameters, load_config, train_factorization

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "02_factorization"


def read_config(path: Path) -> TrainConfig:
    if not path.is_file():
        raise FileNotFoundError(f"--config: no file {path}")
    text = path.read_text()
    mapping = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(mapping, dict):
        raise ValueError(f"{path}: expected a mapping of TrainConfig parameters")
    return load_config(mapping, name=str(path))


def profile_config(profile: str) -> TrainConfig:
    params = notebook_parameters(profile, NOTEBOOK)
    if "factorization" not in params:
        raise ValueError(f"profile {profile!r} has no '{NOTEBOOK}: factorization:' section")
    return config_from_parameters(
        params["factorization"], dataset=params.get("dataset"), data_root=params.get("data_root"),
        seed=params.get("seed"), device=params.get("device"), decoder=params.get("decoder"),
        data_seed=params.get("seed"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--profile", help="params/<profile>.yaml (or a path to one): its 02_factorization section")
    source.add_argument("--config", type=Path, help="yaml/json file holding a TrainConfig mapping")
    parser.add_argument("--run-dir", type=Path, help="run directory (default with --profile: runs/<profile>)")
    args = parser.parse_args(argv)
    if args.config is not None and args.run_dir is None:
        parser.error("--config needs --run-dir")
    cfg = read_config(args.config) if args.config is not None else profile_config(args.profile)
    run_dir = args.run_dir or ROOT / "runs" / Path(args.profile).stem
    try:
        summary = train_factorization(cfg, run_dir)
    finally:
        shutdown_distributed()
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
