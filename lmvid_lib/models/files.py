"""The one model-file format (`<run>/model.pt`) and its one loader, `load_model`.

A model file is a `torch.save` dict (read with weights_only=True) holding at least
    kind          one of KINDS: which model it holds, hence how to build it
    model         the model's state dict (weights and buffers)
and what that kind is built from: "config" (the run's TrainConfig as data) for a factorization model, "model_config"
(the model's config dataclass as data) for the landmark LSTM and the pixel predictor, "config" (its DetectorConfig)
with "channels", "n_keypoints" and "frame_size" for the structure detector. Trainers add what they like
beside (the run config, step, global_batch, training-data digests); the loader reads only the above.

Files written before the kind key existed still load (`_inferred_kind`): a file with "model_config" and no kind is a
landmark LSTM (the pixel predictor's files always had their kind), one with "config" and "model" only a factorization
model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from lmvid_lib.config import from_dict
from lmvid_lib.io import load_checkpoint, save_checkpoint
from lmvid_lib.models.detector import DetectorConfig, KeypointDetector
from lmvid_lib.models.dynamics import DynamicsConfig, LandmarkLSTM
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.pixel_predictor import PixelPredictor, PixelPredictorConfig
from lmvid_lib.models.run_config import TrainConfig
from lmvid_lib.paths import RunFiles

FACTORIZATION = "factorization"
LANDMARK_LSTM = "landmark lstm"
PIXEL_PREDICTOR = "pixel predictor"
STRUCTURE_DETECTOR = "structure detector"


def _factorization(payload: Mapping[str, Any], source: str) -> nn.Module:
    return FactorizationModel(from_dict(TrainConfig, payload["config"], f"{source}:config").model)


def _landmark_lstm(payload: Mapping[str, Any], source: str) -> nn.Module:
    return LandmarkLSTM(from_dict(DynamicsConfig, payload["model_config"], f"{source}:model_config"))


def _pixel_predictor(payload: Mapping[str, Any], source: str) -> nn.Module:
    return PixelPredictor(from_dict(PixelPredictorConfig, payload["model_config"], f"{source}:model_config"))


def _structure_detector(payload: Mapping[str, Any], source: str) -> nn.Module:
    cfg = from_dict(DetectorConfig, payload["config"], f"{source}:config")
    return KeypointDetector(cfg, payload["channels"], payload["n_keypoints"], tuple(payload["frame_size"]))


KINDS: dict[str, tuple[str, Callable[[Mapping[str, Any], str], nn.Module]]] = {
    FACTORIZATION: ("config", _factorization),
    LANDMARK_LSTM: ("model_config", _landmark_lstm),
    PIXEL_PREDICTOR: ("model_config", _pixel_predictor),
    STRUCTURE_DETECTOR: ("config", _structure_detector),
}
"""kind -> (the payload entry its model is built from, the builder: (payload, file name) -> untrained model)."""


class ModelFile(NamedTuple):
    """A model file as read: where it is, its kind (given or inferred) and its whole payload."""

    path: Path
    kind: str
    payload: dict[str, Any]


def model_payload(kind: str, model: nn.Module, **extra: Any) -> dict[str, Any]:
    """The dict a model file holds: {"kind", "model": state dict, **extra}, plus "model_config" (the model's config
    as data) for kinds built from it. A factorization model's TrainConfig comes in extra, as config=config_dict(..)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    payload = {"kind": kind, "model": model.state_dict(), **extra}
    needed = KINDS[kind][0]
    if needed == "model_config":
        payload["model_config"] = dict(vars(model.cfg))
    if needed not in payload:
        raise ValueError(f"a {kind!r} model file needs {needed!r}: pass {needed}= to model_payload")
    return payload


def save_model_file(path: str | Path, kind: str, model: nn.Module, **extra: Any) -> Path:
    """Write `model_payload(kind, model, **extra)` atomically to `path` (a model.pt)."""
    return save_checkpoint(path, model_payload(kind, model, **extra))


def _inferred_kind(payload: Mapping[str, Any], path: Path) -> str:
    if "kind" in payload:
        return payload["kind"]
    # Written before model files carried a kind: the landmark LSTM's had a model_config (the pixel predictor's always
    # had their kind), the structure detector's its keypoint count, the factorization trainer's only its config and
    # weights.
    if "model_config" in payload:
        return LANDMARK_LSTM
    if "n_keypoints" in payload:
        return STRUCTURE_DETECTOR
    if "config" in payload and "model" in payload:
        return FACTORIZATION
    raise ValueError(f"{path} is not a model file: it has no kind, and neither model_config nor config + model")


def read_model_file(path_or_run: str | Path, device: str | torch.device = "cpu", kind: str | None = None) -> ModelFile:
    """Read a model file (or `<run>/model.pt` of a run folder) onto `device`; with `kind`, raise naming the file
    unless it holds that kind."""
    path = Path(path_or_run)
    if path.is_dir():
        path = RunFiles(path).model
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: train the model first or check the path")
    payload = load_checkpoint(path, map_location=device)
    found = _inferred_kind(payload, path)
    if found not in KINDS:
        raise ValueError(f"{path} holds a model of unknown kind {found!r} (known: {sorted(KINDS)})")
    if kind is not None and found != kind:
        raise ValueError(f"{path} holds a {found!r} model, not a {kind!r} one")
    return ModelFile(path, found, payload)


def build_model(file: ModelFile, device: str | torch.device = "cpu") -> nn.Module:
    """The model a read model file holds, weights loaded, on `device`, in eval mode."""
    model = KINDS[file.kind][1](file.payload, str(file.path)).to(device)
    model.load_state_dict(file.payload["model"])
    return model.eval()


def load_model(path_or_run: str | Path, device: str | torch.device = "cpu", kind: str | None = None) -> nn.Module:
    """The trained model (eval mode, on `device`) of a model file or run folder, whatever its kind; with `kind`, a
    ValueError naming the file and the kind it holds unless it is that kind."""
    return build_model(read_model_file(path_or_run, device, kind), device)
