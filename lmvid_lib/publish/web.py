"""The book's browser playground (book/playground.md): each dataset model's decoding path as ONNX, with held-out frames.

For every dataset of a run folder `export_web` writes, into one folder (built beside it and renamed into place,
`io.atomic_dir`), the paper decoder's model (`checkpoint.dataset_run`: the SPADE model if any), key `<dataset>`, and the
scene decoder chapter 2 trained on its landmarks (`checkpoint.scene_run`), key `<dataset>-scene`, where there is one:

    index.json      {"format", "profile", "models": [{"key", "dataset", "decoder", "graph", "sample", "title"}]}
    <key>.onnx      (states float32 [1,K,5], appearance float32 [1,K,C] (, scene float32 [1,channels,H,W] in [0,1]:
                    the scene decoder's conditioning frame)) -> frame float32 [1,channels,H,W] in [0,1]
    <key>.json      the held-out sample, below

The graph is `render_sequence`'s path: `landmarks.from_state` -> heatmaps -> the decoder. It is exported with
`torch.onnx.export(..., dynamo=True)` (torch.export + onnxscript) at ONNX opset 18, weights inside the file; spectral
norm is folded into the conv weights first (in eval mode it is a constant rescaling), so the page runs plain convs.

The sample (`"format": "lmvid-playground-sample/1"`) holds N_FRAMES frames spread over the `test` split: per frame its
`states` [K][5] and `appearance` [K][C] (the frame's own Eq. 1 vectors) as nested lists of float32 values, and two
images as base64 of uint8 [H,W,channels] row-major bytes: `image` (the model's input frame, and the scene decoder's
scene) and `decoded` (PyTorch's decoding of those states and vectors, rounded). `scene_input` says whether the graph
reads a scene. With the dataset's landmark LSTM (chapter 4, `dynamics_run`) `rollout` holds ROLLOUT_CONTEXT true
states of the split's first video and ROLLOUT_STEPS predicted ones ([T][K][5]) with the appearance (and, as `image`,
the scene) of its first frame, and `samples`: N_SAMPLED futures ([T][K][5] each, the same context) of chapter 4b's
stochastic LSTM, latents drawn with seeds of one generator seeded 0 (an empty list without that LSTM); else
`rollout` is null.

`publish(run_dir, html_dir)` is the book build's step: the models into `<html>/_static/playground/models/`, and
onnxruntime-web's wasm build (package.json, npm) into `<html>/_static/playground/ort/`; without npm the page loads the
same pinned version from a CDN with a subresource-integrity hash (book/_static/playground/ort-loader.mjs).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lmvid_lib import landmarks
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.eval.sampling import sample_rollouts
from lmvid_lib.io import atomic_dir, atomic_write_json
from lmvid_lib.models.checkpoint import dataset_run, load_trained, read_run_config, scene_run
from lmvid_lib.models.dynamics import dynamics_run
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.files import LANDMARK_LSTM, load_model
from lmvid_lib.models.inference import Codes, decode, decode_states, encode_frames, inference
from lmvid_lib.models.rollout import rollout
from lmvid_lib.models.sequences import open_run_videos
from lmvid_lib.paths import finished_runs, runs_of
from lmvid_lib.report.runs import data_source

OPSET = 18
N_FRAMES = 16
ROLLOUT_CONTEXT = 2  # the paper's Fig. 3 conditions on 2 frames
ROLLOUT_STEPS = 30
N_SAMPLED = 3  # stored sampled futures of the stochastic LSTM per sample
SAMPLE_FORMAT = "lmvid-playground-sample/1"
INDEX_FORMAT = "lmvid-playground/1"
SITE_MODELS = Path("_static/playground/models")
SITE_ORT = Path("_static/playground/ort")
ORT_DIST = Path("node_modules/onnxruntime-web/dist")
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")


class DecoderPath(nn.Module):
    """(states [B,K,5], appearance [B,K,C], scene [B,channels,H,W] in [0,1] or None) -> frame [B,channels,H,W] in
    [0,1]: `from_state`, then `model.decode` (the scene is read by the scene decoder only)."""

    def __init__(self, model: FactorizationModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, states: torch.Tensor, appearance: torch.Tensor, scene: torch.Tensor | None = None
    ) -> torch.Tensor:
        return decode(self.model, states, appearance, scene)


def folded_model(model: FactorizationModel) -> FactorizationModel:
    """A copy of `model` (eval mode, CPU) whose decoder has its spectral norm folded into plain conv weights (the
    weights `model` uses in eval mode); its encoders are left untrained (only the decoder is exported)."""
    plain = FactorizationModel(dataclasses.replace(model.cfg, spectral_norm=False)).eval()
    weights = {}
    with torch.no_grad():
        for name, module in model.decoder.named_modules():
            for field in ("weight", "bias"):
                value = getattr(module, field, None) if isinstance(module, (nn.Conv2d, nn.InstanceNorm2d)) else None
                if value is not None:
                    weights[f"{name}.{field}"] = value.detach().float().cpu().clone()
    plain.decoder.load_state_dict(weights, strict=True)
    return plain


def export_decoder(model: FactorizationModel, path: str | Path) -> Path:
    """Write the ONNX graph of `DecoderPath(folded_model(model))` for batch 1 to `path` (one self-contained file);
    its inputs are states and appearance, and scene where the model reads one."""
    cfg = model.cfg
    states = torch.zeros(1, cfg.n_landmarks, 5)
    states[..., 2] = states[..., 4] = 0.1
    inputs = {"states": states, "appearance": torch.zeros(1, cfg.n_landmarks, cfg.appearance_channels)}
    if model.reads_scene:
        inputs["scene"] = torch.full((1, cfg.channels, cfg.image_size, cfg.image_size), 0.5)
    with inference(model):
        program = torch.onnx.export(
            DecoderPath(folded_model(model)).eval(),
            tuple(inputs.values()),
            input_names=list(inputs),
            output_names=["frame"],
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    program.save(str(path), external_data=False)
    return Path(path)


def _b64(frames: torch.Tensor) -> list[str]:
    """float [N,C,H,W] in [0,1] -> N base64 strings of uint8 [H,W,C] bytes."""
    pixels = (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return [base64.b64encode(p.tobytes()).decode("ascii") for p in pixels]


def _encode(model: FactorizationModel, frames: np.ndarray) -> Codes:
    """The codes of uint8 frames [N,H,W,C] (one batch, on the CPU, as the exported graph is checked)."""
    return encode_frames(model, frames, len(frames), appearance=True, device="cpu")


def held_out_sample(run: Path, run_dir: Path, model: FactorizationModel, n_frames: int = N_FRAMES) -> dict[str, Any]:
    """The playground sample of factorization run folder `run` (module docstring), from its dataset's test split."""
    videos = open_run_videos(run, "test", run_dir)
    total = len(videos.frames)
    if total < 1:
        raise ValueError(f"{run}: the test split of its dataset has no frames")
    indices = np.unique(np.linspace(0, total - 1, n_frames).round().astype(np.int64))
    frames = np.asarray(videos.frames[indices])
    x = frames_to_input(frames, model.cfg.image_size, "cpu")
    codes = _encode(model, frames)
    states, appearance = codes.states, codes.appearance
    decoded = decode_states(model, states, appearance, len(frames), x if model.reads_scene else None)
    frames = [
        {"index": int(i), "states": s.tolist(), "appearance": a.tolist(), "image": img, "decoded": dec}
        for i, s, a, img, dec in zip(indices, states, appearance, _b64(x), _b64(decoded))
    ]
    rollout = _rollout(run_dir, model, videos, run)
    return {"format": SAMPLE_FORMAT, "scene_input": model.reads_scene, "frames": frames, "rollout": rollout}


def _rollout(run_dir: Path, model: FactorizationModel, videos: Any, run: Path) -> dict[str, Any] | None:
    try:
        lstm = load_model(dynamics_run(run_dir, read_run_config(run).dataset), kind=LANDMARK_LSTM)
    except FileNotFoundError:
        return None  # chapter 4 did not train this dataset's LSTM: the page shows no play button for it
    start = int(videos.video_starts[0])
    frames = np.asarray(videos.frames[start : start + ROLLOUT_CONTEXT])
    codes = _encode(model, frames)
    context, appearance = codes.states, codes.appearance
    future = rollout(lstm, context[None], ROLLOUT_STEPS)[0]
    states = torch.cat([context, future.to(context)])
    image = _b64(frames_to_input(frames[:1], model.cfg.image_size, "cpu"))[0]
    samples = []
    try:
        sampler = load_model(dynamics_run(run_dir, read_run_config(run).dataset, stochastic=True), kind=LANDMARK_LSTM)
    except FileNotFoundError:
        sampler = None  # chapter 4b did not run: the page offers the deterministic rollout only
    if sampler is not None:
        sampled = sample_rollouts(sampler, context[None], ROLLOUT_STEPS, N_SAMPLED, seed=0)[:, 0]
        samples = [torch.cat([context, s.to(context)]).tolist() for s in sampled]
    return {
        "context": len(context),
        "states": states.tolist(),
        "samples": samples,
        "appearance": appearance[0].tolist(),
        "image": image,
    }


def run_datasets(run_dir: str | Path) -> list[str]:
    """The datasets with a finished factorization run in `run_dir`, sorted; a clear error when there is none."""
    root = runs_of(run_dir, "factorization")
    if not root.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no factorization/): run `make book` first")
    datasets = sorted({read_run_config(run).dataset for run in finished_runs(run_dir, "factorization")})
    if not datasets:
        raise FileNotFoundError(f"{root} holds no finished factorization run (no */model.pt): run chapter 2 first")
    return datasets


def export_web(run_dir: str | Path, out: str | Path, profile: str | None = None) -> Path:
    """Write every dataset model of `run_dir` (graph + sample + index.json, module docstring) into folder `out`,
    replacing it atomically. Returns `out`."""
    run_dir, out = Path(run_dir), Path(out)
    entries = []
    with atomic_dir(out) as tmp:
        for dataset in run_datasets(run_dir):
            scene = scene_run(run_dir, dataset)
            for key, run in ((dataset, dataset_run(run_dir, dataset)), (f"{dataset}-scene", scene)):
                if run is not None:
                    entries.append(_export_model(tmp, key, run, run_dir))
        atomic_write_json(tmp / "index.json", {"format": INDEX_FORMAT, "profile": profile, "models": entries})
        for path in (tmp, *tmp.iterdir()):  # temp files are private; a web server must read these
            path.chmod(0o755 if path.is_dir() else 0o644)
    return out


def _export_model(folder: Path, key: str, run: Path, run_dir: Path) -> dict[str, Any]:
    """Write `<key>.onnx` and `<key>.json` of factorization run `run` into `folder`; its index.json entry."""
    model, cfg = load_trained(run, "cpu")
    export_decoder(model, folder / f"{key}.onnx")
    m = cfg.model
    sample = {
        "dataset": cfg.dataset,
        "run": run.name,
        "data": data_source(cfg),
        "image_size": m.image_size,
        "channels": m.channels,
        "n_landmarks": m.n_landmarks,
        "appearance_channels": m.appearance_channels,
        "cov_eps": landmarks.COV_EPS,
        "state_l_max": landmarks.STATE_L_MAX,
        **held_out_sample(run, run_dir, model),
    }
    atomic_write_json(folder / f"{key}.json", sample)
    decoder = "scene" if model.reads_scene else "paper"
    what = "scene decoder (ours), reading the input frame as its scene" if model.reads_scene else "paper decoder"
    title = f"{cfg.dataset}: {sample['data']}, {run.name}, {what} ({m.n_landmarks} landmarks, {m.image_size} px)"
    files = {"graph": f"{key}.onnx", "sample": f"{key}.json"}
    return {"key": key, "dataset": cfg.dataset, "decoder": decoder, **files, "title": title}


def copy_onnxruntime(root: str | Path, site: str | Path) -> bool:
    """Copy onnxruntime-web's wasm build from `<root>/node_modules` (`npm ci` first when npm exists and it is absent)
    into `<site>/_static/playground/ort/`. False when it cannot (no npm): the page then uses the pinned CDN copy."""
    root, dist = Path(root), Path(root) / ORT_DIST
    if not dist.is_dir() and shutil.which("npm") and (root / "package-lock.json").is_file():
        npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=root)
        if npm.returncode:  # e.g. no registry: the book still builds, the page falls back to the CDN
            print(f"[playground] `npm ci` failed (exit {npm.returncode}); the page will use the CDN copy")
    if not dist.is_dir():
        return False
    with atomic_dir(Path(site) / SITE_ORT) as tmp:
        for name in ORT_FILES:
            shutil.copy2(dist / name, tmp / name)
    return True


def publish(run_dir: str | Path, site: str | Path, root: str | Path, profile: str | None = None) -> None:
    """The book build's last step: models of `run_dir` and onnxruntime-web into the built site `site` (_build/html)."""
    export_web(Path(root) / run_dir, Path(site) / SITE_MODELS, profile)
    local = copy_onnxruntime(root, site)
    print(f"[playground] models of {run_dir} exported; onnxruntime-web {'copied' if local else 'from the CDN'}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `lmvid export-web --run-dir DIR --out DIR [--profile NAME]`."""
    parser.add_argument("--run-dir", required=True, help="run folder (runs/<profile>) holding factorization/")
    parser.add_argument("--out", required=True, help="folder to write (replaced atomically)")
    parser.add_argument("--profile", default=None, help="profile name recorded in index.json")


def run(args: argparse.Namespace) -> int:
    """The `export-web` command: 0 on success, 1 with one line on stderr for a bad run folder."""
    try:
        out = export_web(args.run_dir, args.out, args.profile)
    except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: an unreadable model file (load_checkpoint)
        print(f"lmvid export-web: error: {exc}", file=sys.stderr)
        return 1
    models = json.loads((out / "index.json").read_text())["models"]
    print(f"exported {', '.join(m['key'] for m in models)} into {out}")
    return 0
