"""Training loops: the factorization model (`train_factorization`), with checkpoints/resume and multi-process DDP."""

from lmvid_lib.train.factorization import (
    TrainConfig,
    config_from_parameters,
    load_config,
    load_trained,
    read_metrics,
    run_path,
    train_factorization,
    validate_train_config,
)

__all__ = [
    "TrainConfig",
    "config_from_parameters",
    "load_config",
    "load_trained",
    "read_metrics",
    "run_path",
    "train_factorization",
    "validate_train_config",
]
