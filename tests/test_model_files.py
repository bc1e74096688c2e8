"""The one model-file format and loader (`lmvid_lib.models.files`): every kind round-trips, files written before the
kind key load with their kind inferred, and a wrong file is refused naming the file and the kind it holds."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lmvid_lib.io import load_checkpoint, save_checkpoint
from lmvid_lib.models.checkpoint import load_trained
from lmvid_lib.models.detector import DetectorConfig, KeypointDetector
from lmvid_lib.models.dynamics import DynamicsConfig, LandmarkLSTM
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.files import (
    FACTORIZATION,
    KINDS,
    LANDMARK_LSTM,
    PIXEL_PREDICTOR,
    STRUCTURE_DETECTOR,
    load_model,
    model_payload,
    read_model_file,
    save_model_file,
)
from lmvid_lib.models.pixel_predictor import PixelPredictor, PixelPredictorConfig
from lmvid_lib.models.run_config import TrainConfig, config_dict
from lmvid_lib.seed import seed_everything

pytestmark = pytest.mark.usefixtures("one_thread")


def models(tiny_model) -> dict[str, tuple[torch.nn.Module, dict]]:
    """kind -> (a seeded model of that kind, the extra payload its trainer adds)."""
    factorization = tiny_model(seed=1)
    seed_everything(2)
    lstm = LandmarkLSTM(DynamicsConfig(n_landmarks=3, hidden=8, layers=1))
    lstm.state_std.fill_(0.5)  # a buffer, saved with the weights
    pixel = PixelPredictor(PixelPredictorConfig(channels=1, image_size=16, widths=[4], embedding=8, hidden=8, layers=1))
    detector = KeypointDetector(DetectorConfig(widths=[4], context_layers=1), 1, 2, (8, 8))
    sizes = {"config": dataclasses.asdict(detector.cfg), "channels": 1, "n_keypoints": 2, "frame_size": [8, 8]}
    return {
        FACTORIZATION: (factorization, {"config": config_dict(TrainConfig(model=factorization.cfg)), "step": 3}),
        LANDMARK_LSTM: (lstm, {"config": {"steps": 5}}),
        PIXEL_PREDICTOR: (pixel, {}),
        STRUCTURE_DETECTOR: (detector, sizes),
    }


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_every_kind_round_trips_through_its_file(tmp_path, tiny_model):
    built = models(tiny_model)
    assert set(built) == set(KINDS)
    for kind, (model, extra) in built.items():
        run = tmp_path / kind.replace(" ", "-")
        save_model_file(run / "model.pt", kind, model, **extra)
        assert load_checkpoint(run / "model.pt")["kind"] == kind
        for source in (run, run / "model.pt"):  # a run folder or its model file
            loaded = load_model(source, kind=kind)
            assert type(loaded) is type(model) and not loaded.training
            assert loaded.cfg == model.cfg
            assert_same_weights(loaded, model)
        assert type(load_model(run)) is type(model)  # any kind without kind=
    trained, cfg = load_trained(tmp_path / "factorization")
    assert isinstance(trained, FactorizationModel) and config_dict(cfg) == built[FACTORIZATION][1]["config"]


def test_files_without_a_kind_load_as_the_kind_they_were_written_as(tmp_path, tiny_model):
    built = models(tiny_model)
    factorization, extra = built[FACTORIZATION]
    lstm = built[LANDMARK_LSTM][0]
    detector, sizes = built[STRUCTURE_DETECTOR]
    # what train_factorization, save_payload of models/dynamics and the detector's trainer wrote before model files
    # had a kind
    save_checkpoint(tmp_path / "f.pt", {"config": extra["config"], "model": factorization.state_dict(), "step": 3})
    save_checkpoint(tmp_path / "l.pt", {"model_config": dict(vars(lstm.cfg)), "model": lstm.state_dict()})
    save_checkpoint(tmp_path / "d.pt", {**sizes, "model": detector.state_dict(), "step": 2})
    assert read_model_file(tmp_path / "f.pt").kind == FACTORIZATION
    assert read_model_file(tmp_path / "l.pt").kind == LANDMARK_LSTM
    assert read_model_file(tmp_path / "d.pt").kind == STRUCTURE_DETECTOR
    assert_same_weights(load_model(tmp_path / "d.pt", kind=STRUCTURE_DETECTOR), detector)
    assert_same_weights(load_model(tmp_path / "f.pt", kind=FACTORIZATION), factorization)
    assert_same_weights(load_model(tmp_path / "l.pt", kind=LANDMARK_LSTM), lstm)


def test_a_wrong_file_is_refused_naming_it_and_its_kind(tmp_path, tiny_model):
    lstm = models(tiny_model)[LANDMARK_LSTM][0]
    path = save_model_file(tmp_path / "run" / "model.pt", LANDMARK_LSTM, lstm)
    with pytest.raises(ValueError, match=rf"{path} holds a 'landmark lstm' model, not a 'pixel predictor' one"):
        load_model(tmp_path / "run", kind=PIXEL_PREDICTOR)
    save_checkpoint(tmp_path / "odd.pt", {"kind": "vae", "model": {}})
    with pytest.raises(ValueError, match=r"odd.pt holds a model of unknown kind 'vae'"):
        load_model(tmp_path / "odd.pt")
    save_checkpoint(tmp_path / "last.pt", {"step": 4, "opt": {}})
    with pytest.raises(ValueError, match=r"last.pt is not a model file: it has no kind"):
        load_model(tmp_path / "last.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty/model.pt does not exist"):
        load_model(tmp_path / "empty")
    with pytest.raises(ValueError, match="kind must be one of"):
        model_payload("lstm", lstm)
    with pytest.raises(ValueError, match="'factorization' model file needs 'config'"):
        model_payload(FACTORIZATION, lstm)
