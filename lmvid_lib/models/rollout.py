"""The one rollout of every sequence predictor (the landmark LSTM and its baselines, the pixel predictor).

A `SequencePredictor` is a module called as `predictor(inputs [N,T,...], state=None) -> (predictions of step t + 1
[N,T,...] for each t, state)`: `state` is whatever the predictor carries from one call to the next (an LSTM's (h, c),
its previous input, skip features), opaque to the caller; None starts a sequence. `unroll` feeds the context in one
call, then each prediction back, one call per further step, vectorised over the N sequences.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn

from lmvid_lib.config import check_int
from lmvid_lib.models.inference import inference

State = Any  # what a predictor carries from one call to the next; None at the start of a sequence


class SequencePredictor(nn.Module, abc.ABC):
    """A module predicting step t + 1 of a sequence from steps ..t (see the module docstring for the call)."""

    @abc.abstractmethod
    def check_inputs(self, inputs: object, name: str) -> None:
        """Raise naming `name` unless `inputs` is a sequence [N,T,...] with T >= 1 that this predictor reads."""

    @abc.abstractmethod
    def forward(self, inputs: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """inputs [N,T,...], state (None: start of a sequence) -> (predictions of steps 1..T [N,T,...], state)."""


def unroll(model: SequencePredictor, context: torch.Tensor, n_future: int, state: State = None) -> torch.Tensor:
    """Predictions of steps 1 .. Tc-1+n_future from context [N,Tc,...] (Tc >= 1): [N,Tc-1+n_future,...].

    The context is fed as given (one call, from `state`: None starts a sequence, a stochastic predictor's start
    state chooses where its latents come from); then each prediction is fed back (one call per further step). Autograd
    stays on: training unrolls its "n inputs, m future" clips through here (`lmvid_lib.train.dynamics`,
    `lmvid_lib.train.pixel_predictor`).
    """
    model.check_inputs(context, "context")
    check_int(n_future, "n_future")
    predicted, state = model(context, state)
    current, outputs = predicted[:, -1:], [predicted]
    for _ in range(n_future - 1):
        current, state = model(current, state)
        outputs.append(current)
    return torch.cat(outputs, 1)


def rollout(model: SequencePredictor, context: torch.Tensor, n_future: int, state: State = None) -> torch.Tensor:
    """Predict n_future steps after the context: context [N,Tc,...] (Tc >= 1) -> [N,n_future,...], starting from
    `state` (as `unroll`).

    Under `inference(model)` (eval mode, no autograd, the mode restored after), on the context's device and dtype.
    """
    with inference(model):
        return unroll(model, context, n_future, state)[:, context.shape[1] - 1 :]
