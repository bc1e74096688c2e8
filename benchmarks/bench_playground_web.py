"""The playground's re-render in headless Chromium (onnxruntime-web, wasm), at the cpu and paper profiles' model sizes.

One re-render is what the page does on a pointer move: `Decoder.run` of the exported graph (lmvid_lib/publish/web.py)
and `drawFrame` into the canvas (book/_static/playground/decoder.mjs), awaited one after another; the median of 50 is
printed, with the same graph in onnxruntime (Python, CPU) and the PyTorch decoder path side by side, all on one thread
(the page has one wasm thread unless it is cross-origin isolated). The issue's budget: under 30 ms at the cpu profile's
size on 2 cores. Weights are random (a profile's model config, seed 0): the time does not depend on them.

`make bench` times the cpu size (about half a minute); the paper size takes seconds per render (minutes in all):
`python -m benchmarks.bench_playground_web --paper` adds it.

Needs Debian's chromium and onnxruntime-web (`npm ci`, package-lock.json); without either it says so and skips.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from benchmarks.common import verdict
from lmvid_lib import landmarks
from lmvid_lib.config import from_dict, load_profile
from lmvid_lib.models.factorization import FactorizationModel, ModelConfig
from lmvid_lib.paths import REPO
from lmvid_lib.publish.web import ORT_DIST, ORT_FILES, SITE_ORT, DecoderPath, export_decoder
from lmvid_lib.seed import seed_everything
from tests.chromium import chromium_executable, serving

PLAYGROUND = REPO / "book" / "_static" / "playground"
RENDERS = 50
BUDGET_MS = 30.0  # cpu profile size, 2 cores (the issue)

CHUNK = 5  # renders per DevTools call: a paper-size render takes seconds, and each reply must come within 120 s

BENCH_PAGE = """<!doctype html><meta charset="utf-8"><canvas id="c"></canvas>
<script type="module">
import { Decoder, drawFrame } from "./_static/playground/decoder.mjs";
let decoder, meta, states, appearance, calls = 0;
const canvas = document.getElementById("c");
window.load = async (graph, graphMeta, graphStates, graphAppearance) => {
  [meta, states, appearance] = [graphMeta, graphStates, graphAppearance];
  decoder = await Decoder.create(graph, meta);
  canvas.width = canvas.height = meta.size;
  drawFrame(canvas, await decoder.run(states, appearance), meta.channels, meta.size);  // warm-up
  return true;
};
window.time = async (n) => {
  const times = [];
  for (let i = 0; i < n; i++, calls++) {
    const moved = Float32Array.from(states);
    moved[0] += 0.01 * Math.sin(calls);
    const start = performance.now();
    drawFrame(canvas, await decoder.run(moved, appearance), meta.channels, meta.size);
    times.push(performance.now() - start);
  }
  return times;
};
</script>"""


def profile_model(profile: str) -> FactorizationModel:
    """The factorization model of `profile`'s chapter 2 (random weights, seed 0)."""
    mapping = load_profile(profile)["02_factorization"]["factorization"]["model"]
    seed_everything(0)
    return FactorizationModel(from_dict(ModelConfig, mapping, f"params/{profile}.yaml")).eval()


def inputs(model: FactorizationModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Valid states [1,K,5] (landmarks spread over the frame) and appearance vectors [1,K,C]."""
    k, c = model.cfg.n_landmarks, model.cfg.appearance_channels
    g = torch.Generator().manual_seed(0)
    mu = torch.rand(1, k, 2, generator=g) * 1.6 - 0.8
    cov = torch.eye(2) * 0.02 + landmarks.COV_EPS * torch.eye(2)
    return landmarks.to_state(mu, cov.expand(1, k, 2, 2)), torch.randn(1, k, c, generator=g)


def median_ms(fn, n: int) -> float:
    fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def python_medians(model: FactorizationModel, graph: Path, options: onnxruntime.SessionOptions) -> list[float]:
    """Export `model`'s decoding path to `graph`; median ms of onnxruntime (Python) and of PyTorch on it."""
    export_decoder(model, graph)
    states, appearance = inputs(model)
    session = onnxruntime.InferenceSession(str(graph), options, ["CPUExecutionProvider"])
    feeds = {"states": states.numpy(), "appearance": appearance.numpy()}
    path = DecoderPath(model)
    with torch.no_grad():
        return [
            median_ms(lambda: session.run(None, feeds), RENDERS),
            median_ms(lambda: path(states, appearance), RENDERS),
        ]


def browser_median(chromium, graph_url: str, model: FactorizationModel) -> float:
    """Median ms of RENDERS re-renders of the graph at `graph_url` in the bench page."""
    cfg = model.cfg
    meta = {"nLandmarks": cfg.n_landmarks, "appearanceChannels": cfg.appearance_channels}
    meta |= {"channels": cfg.channels, "size": cfg.image_size}
    states, appearance = (x.flatten().tolist() for x in inputs(model))
    chromium.evaluate(f"window.load('{graph_url}', {json.dumps(meta)}, {states}, {appearance})", await_promise=True)
    times = []
    while len(times) < RENDERS:
        times += chromium.evaluate(f"window.time({min(CHUNK, RENDERS - len(times))})", await_promise=True)
    return float(np.median(times))


def main(profiles: tuple[str, ...] = ("cpu",)) -> None:
    exe, dist = chromium_executable(), REPO / ORT_DIST
    if exe is None or not dist.is_dir():
        print(f"skipped: needs chromium on PATH and {ORT_DIST} (`npm ci`)")
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        shutil.copytree(PLAYGROUND, site / "_static" / "playground")
        (site / SITE_ORT).mkdir(parents=True)
        for name in ORT_FILES:
            shutil.copy2(dist / name, site / SITE_ORT / name)
        (site / "bench.html").write_text(BENCH_PAGE)
        models = {profile: profile_model(profile) for profile in profiles}
        rows = [[p, m.cfg, *python_medians(m, site / f"{p}.onnx", options)] for p, m in models.items()]
        with serving(exe, site) as (chromium, base):
            chromium.open(f"{base}/bench.html")
            for row in rows:
                row.append(browser_median(chromium, f"{base}/{row[0]}.onnx", models[row[0]]))
    torch.set_num_threads(threads)
    print(f"median of {RENDERS} re-renders (ms), 1 thread; Chromium: Decoder.run + drawFrame")
    print(f"{'profile':8} {'model':34} {'browser':>8} {'ort-py':>8} {'torch':>8}  budget")
    for profile, cfg, ort_ms, torch_ms, browser_ms in rows:
        model = f"{cfg.image_size}px K={cfg.n_landmarks} C={cfg.appearance_channels} {list(cfg.decoder_widths)}"
        target = f"< {BUDGET_MS:.0f} ms {verdict(browser_ms, BUDGET_MS, higher_is_better=False)}"
        target = target if profile == "cpu" else ""
        print(f"{profile:8} {model:34} {browser_ms:8.1f} {ort_ms:8.1f} {torch_ms:8.1f}  {target}")


if __name__ == "__main__":
    main(("cpu", "paper") if "--paper" in sys.argv[1:] else ("cpu",))
