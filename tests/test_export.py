"""The browser playground's export (lmvid_lib/publish/web.py): the ONNX decoding path, run by onnxruntime on the CPU,
matches the PyTorch decoder; `lmvid export-web` writes graphs, held-out samples and the index; bad runs fail clearly."""

from __future__ import annotations

import base64
import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from test_sequences import clips

from lmvid_lib import cli, landmarks
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet, write_dataset
from lmvid_lib.eval.sampling import sample_rollouts
from lmvid_lib.io import atomic_write_json, save_checkpoint
from lmvid_lib.models.dynamics import DynamicsConfig, LandmarkLSTM
from lmvid_lib.models.files import LANDMARK_LSTM, save_model_file
from lmvid_lib.models.rollout import rollout
from lmvid_lib.models.run_config import TrainConfig, config_dict, load_config
from lmvid_lib.models.sequences import render_sequence
from lmvid_lib.publish import web

pytestmark = pytest.mark.usefixtures("one_thread")
TOLERANCE = 1e-4


def random_states(n: int, k: int, seed: int) -> torch.Tensor:
    """Valid states [n,1,k,5]: means anywhere in the frame, covariances from tiny to a quarter of the frame."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.rand(n, 1, k, 2, generator=g) * 2 - 1
    a = torch.randn(n, 1, k, 2, 2, generator=g) * 0.25
    return landmarks.to_state(mu, a @ a.transpose(-1, -2) + 1e-3 * torch.eye(2) + landmarks.COV_EPS * torch.eye(2))


def ort_session(path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_graph(session, states: torch.Tensor, appearance: torch.Tensor, scene: torch.Tensor | None = None) -> np.ndarray:
    feeds = {"states": states.numpy(), "appearance": appearance.numpy()}
    return session.run(None, feeds if scene is None else {**feeds, "scene": scene.numpy()})[0]


@pytest.mark.parametrize(
    "overrides",
    [{}, {"spade_condition": "heatmaps", "channels": 1}, {"decoder": "concat"}, {"decoder": "scene", "scene_width": 4}],
    ids=["spade", "spade-paper-wiring-grey", "concat", "scene"],
)
def test_graph_matches_the_pytorch_decoder_on_random_valid_states(tmp_path, tiny_model, overrides):
    model = tiny_model(seed=1, **overrides).eval()
    cfg = model.cfg
    path = web.export_decoder(model, tmp_path / "decoder.onnx")
    graph = onnx.load(path)
    assert [o.version for o in graph.opset_import if o.domain == ""] == [web.OPSET]
    values = [*graph.graph.input, *graph.graph.output]
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}
    k, c, size = cfg.n_landmarks, cfg.appearance_channels, cfg.image_size
    frame = [1, cfg.channels, size, size]
    expected = {"states": [1, k, 5], "appearance": [1, k, c], **({"scene": frame} if model.reads_scene else {})}
    assert shapes == {**expected, "frame": frame}
    assert [v.name for v in graph.graph.input] == list(expected)

    session = ort_session(path)
    states = random_states(32, k, seed=2)
    appearance = torch.randn(32, 1, k, c, generator=torch.Generator().manual_seed(3))
    scenes = torch.rand(32, 1, cfg.channels, size, size, generator=torch.Generator().manual_seed(4))
    scenes = scenes if model.reads_scene else [None] * 32
    ours = np.stack([run_graph(session, s, a, f) for s, a, f in zip(states, appearance, scenes)])[:, 0]
    with torch.no_grad():
        scene = scenes[:, 0] if model.reads_scene else None
        reference = web.DecoderPath(model)(states[:, 0], appearance[:, 0], scene).numpy()
    assert np.abs(ours - reference).max() < TOLERANCE
    assert ours.min() >= 0 and ours.max() <= 1
    assert np.abs(ours[0] - ours[1]).max() > 1e-3  # the frames depend on the inputs: the match above is not vacuous
    if model.reads_scene:  # and on the scene: the same pose with another scene draws another frame
        other = run_graph(session, states[0], appearance[0], scenes[1])[0]
        assert np.abs(other - ours[0]).max() > 1e-3


@pytest.fixture
def run_dir(tmp_path, tiny_model):
    """A run folder with one finished factorization run (pusher on a prepared set) and its landmark LSTM."""
    model = tiny_model(seed=0)
    splits = {
        "train": VideoSet.from_clips(clips(2, 10, seed=1), np.arange(2)),
        "test": VideoSet.from_clips(clips(3, 10, seed=2), np.arange(3)),
    }
    data = write_dataset(tmp_path / "data", "pusher", splits, {"test": True})
    cfg = load_config({"model": config_dict(TrainConfig(model=model.cfg))["model"], "dataset": "pusher"})
    cfg.data_root = str(data)
    run = tmp_path / "runs" / "factorization" / "pusher-spade-seed0"
    atomic_write_json(run / "config.json", config_dict(cfg))
    save_checkpoint(run / "model.pt", {"config": config_dict(cfg), "model": model.state_dict()})
    torch.manual_seed(4)
    lstm = LandmarkLSTM(DynamicsConfig(n_landmarks=model.cfg.n_landmarks, layers=1, hidden=8))
    save_model_file(tmp_path / "runs" / "dynamics" / "pusher-residual-seed0" / "model.pt", LANDMARK_LSTM, lstm)
    return tmp_path / "runs", model, lstm, splits["test"]


def pixels(text: str, size: int, channels: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.uint8).reshape(size, size, channels)


def test_export_web_writes_graph_samples_and_rollout_that_onnxruntime_reproduces(run_dir, tmp_path, capsys):
    runs, model, lstm, test = run_dir
    out = tmp_path / "site" / "models"
    assert cli.main(["export-web", "--run-dir", str(runs), "--out", str(out), "--profile", "smoke"]) == 0
    assert "pusher" in capsys.readouterr().out
    index = json.loads((out / "index.json").read_text())
    assert index["profile"] == "smoke" and [m["key"] for m in index["models"]] == ["pusher"]
    entry = index["models"][0]
    assert (entry["dataset"], entry["decoder"], entry["graph"]) == ("pusher", "paper", "pusher.onnx")
    sample = json.loads((out / entry["sample"]).read_text())
    assert sample["scene_input"] is False
    k, size = model.cfg.n_landmarks, model.cfg.image_size
    assert sample["format"] == web.SAMPLE_FORMAT and sample["run"] == "pusher-spade-seed0"
    assert (sample["n_landmarks"], sample["image_size"], sample["channels"]) == (k, size, 3)

    indices = [f["index"] for f in sample["frames"]]
    assert indices == np.linspace(0, 29, web.N_FRAMES).round().astype(int).tolist()
    states = torch.tensor([f["states"] for f in sample["frames"]])  # [16,K,5]
    appearance = torch.tensor([f["appearance"] for f in sample["frames"]])
    frames = test.frames[indices]
    with torch.no_grad():
        pose = model.encode_pose(frames_to_input(frames, size, "cpu"))
    torch.testing.assert_close(states, landmarks.to_state(pose.mu, pose.cov))
    # PyTorch's path from the stored states with the appearance of the frame itself: what the page must show
    expected = render_sequence(model, states[:, None], frames)[:, 0].numpy()  # [16,3,S,S]
    session = ort_session(out / entry["graph"])
    ours = np.stack([run_graph(session, s[None], a[None])[0] for s, a in zip(states, appearance)])
    assert np.abs(ours - expected).max() < TOLERANCE
    for frame, reference, source in zip(sample["frames"], expected, frames):
        stored = pixels(frame["decoded"], size, 3).astype(int)
        assert np.abs(stored - reference.transpose(1, 2, 0) * 255).max() <= 0.5 + 1e-3
        assert np.array_equal(pixels(frame["image"], size, 3), source)  # the frames are already at the model's size

    context = torch.tensor(sample["rollout"]["states"][: web.ROLLOUT_CONTEXT])
    assert sample["rollout"]["context"] == web.ROLLOUT_CONTEXT
    assert len(sample["rollout"]["states"]) == web.ROLLOUT_CONTEXT + web.ROLLOUT_STEPS
    torch.testing.assert_close(context[0], states[0])  # video 0 starts at frame 0, the first sample frame
    predicted = torch.tensor(sample["rollout"]["states"][web.ROLLOUT_CONTEXT :])
    torch.testing.assert_close(predicted, rollout(lstm, context[None], web.ROLLOUT_STEPS)[0])
    assert np.array_equal(pixels(sample["rollout"]["image"], size, 3), test.frames[0])  # video 0's first frame
    assert sample["rollout"]["samples"] == []  # no stochastic LSTM in this run


def test_export_web_stores_futures_of_the_stochastic_lstm_from_the_same_context(run_dir, tmp_path):
    runs, model, _, _ = run_dir
    torch.manual_seed(1)
    sampler = LandmarkLSTM(DynamicsConfig(n_landmarks=model.cfg.n_landmarks, hidden=8, layers=1, latent=2))
    save_model_file(runs / "dynamics" / "pusher-stochastic-seed0" / "model.pt", LANDMARK_LSTM, sampler)
    out = tmp_path / "models"
    web.export_web(runs, out)
    stored = json.loads((out / "pusher.json").read_text())["rollout"]
    samples = torch.tensor(stored["samples"])
    assert samples.shape == (web.N_SAMPLED, web.ROLLOUT_CONTEXT + web.ROLLOUT_STEPS, model.cfg.n_landmarks, 5)
    context = torch.tensor(stored["states"][: web.ROLLOUT_CONTEXT])
    assert all(torch.equal(s[: web.ROLLOUT_CONTEXT], context) for s in samples)
    expected = sample_rollouts(sampler, context[None], web.ROLLOUT_STEPS, web.N_SAMPLED, seed=0)[:, 0]
    torch.testing.assert_close(samples[:, web.ROLLOUT_CONTEXT :], expected)
    assert (samples[0] - samples[1]).abs().max() > 1e-4


def test_export_web_adds_the_scene_decoder_with_its_conditioning_frame_as_an_input(run_dir, tmp_path, tiny_model):
    runs, model, _, test = run_dir
    scene_model = tiny_model(seed=5, decoder="scene", scene_width=4)
    paper = runs / "factorization" / "pusher-spade-seed0"
    cfg = json.loads((paper / "config.json").read_text())
    cfg.update(model={**cfg["model"], "decoder": "scene", "scene_width": 4}, landmarks_from=paper.name)
    run = runs / "factorization" / "pusher-scene-seed0"
    atomic_write_json(run / "config.json", cfg)
    save_checkpoint(run / "model.pt", {"config": cfg, "model": scene_model.state_dict()})

    out = web.export_web(runs, tmp_path / "models")
    index = json.loads((out / "index.json").read_text())
    assert [(m["key"], m["decoder"]) for m in index["models"]] == [("pusher", "paper"), ("pusher-scene", "scene")]
    entry = index["models"][1]
    assert "scene decoder" in entry["title"] and entry["graph"] == "pusher-scene.onnx"
    sample = json.loads((out / entry["sample"]).read_text())
    assert sample["scene_input"] is True and sample["run"] == run.name
    size = model.cfg.image_size
    indices = [f["index"] for f in sample["frames"]]
    frames = test.frames[indices]
    states = torch.tensor([f["states"] for f in sample["frames"]])
    appearance = torch.tensor([f["appearance"] for f in sample["frames"]])
    # what the page draws: each held-out frame decoded with its own image as the scene, as render_sequence does
    expected = render_sequence(scene_model, states[:, None], frames)[:, 0].numpy()
    session = ort_session(out / entry["graph"])
    scenes = frames_to_input(
        frames, size, "cpu"
    )  # the stored images (already at the model's size), as the page feeds them
    ours = np.stack([run_graph(session, s[None], a[None], f[None])[0] for s, a, f in zip(states, appearance, scenes)])
    assert np.abs(ours - expected).max() < TOLERANCE
    for frame, reference in zip(sample["frames"], expected):
        stored = pixels(frame["decoded"], size, 3).astype(int)
        assert np.abs(stored - reference.transpose(1, 2, 0) * 255).max() <= 0.5 + 1e-3
    assert np.array_equal(pixels(sample["rollout"]["image"], size, 3), test.frames[0])


def test_sample_without_a_landmark_lstm_has_no_rollout(run_dir, tmp_path):
    runs, *_ = run_dir
    (runs / "dynamics" / "pusher-residual-seed0" / "model.pt").unlink()
    out = web.export_web(runs, tmp_path / "models")
    assert json.loads((out / "pusher.json").read_text())["rollout"] is None


def test_bad_run_folders_fail_clearly_and_keep_the_previous_export(tmp_path, capsys):
    out = tmp_path / "models"
    out.mkdir()
    (out / "index.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no factorization/"):
        web.export_web(tmp_path / "nowhere", out)
    unfinished = tmp_path / "runs" / "factorization" / "pusher-spade-seed0"
    atomic_write_json(unfinished / "config.json", config_dict(TrainConfig(dataset="pusher")))
    with pytest.raises(FileNotFoundError, match="no finished factorization run"):
        web.export_web(tmp_path / "runs", out)
    assert cli.main(["export-web", "--run-dir", str(tmp_path / "runs"), "--out", str(out)]) == 1
    assert "no finished factorization run" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["index.json"] and (out / "index.json").read_text() == "{}"
