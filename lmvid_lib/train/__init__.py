"""Training loops: the factorization model (`train_factorization`), with checkpoints/resume and multi-process DDP,
and the landmark LSTM (`train_dynamics`).

A run's configuration lives in `lmvid_lib.run_config`; reading a finished run back in `lmvid_lib.models.checkpoint`.
"""

from lmvid_lib.train.dynamics import train_dynamics
from lmvid_lib.train.factorization import train_factorization
from lmvid_lib.train.runs import read_metrics

__all__ = ["read_metrics", "train_dynamics", "train_factorization"]
