"""Trainers, each running the one resumable loop `lmvid_lib.train.runs.train_loop`: the factorization model
(`train_factorization`, also multi-process DDP), the landmark LSTM (`train_dynamics`), the pixel predictor
(`train.pixel_predictor`) and the structure detector (`train.structure`).

A run's configuration lives in `lmvid_lib.models.run_config`; reading a finished run back in
`lmvid_lib.models.checkpoint`.
"""

from lmvid_lib.train.dynamics import train_dynamics
from lmvid_lib.train.factorization import train_factorization
from lmvid_lib.train.runs import read_metrics

__all__ = ["read_metrics", "train_dynamics", "train_factorization"]
