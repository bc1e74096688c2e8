"""The built book's playground page (book/playground.md) in Debian's Chromium, headless and offline (the book served
from 127.0.0.1, onnxruntime-web from the built site).

It loads with no console error beyond those every page of the book has (the root page's, seen in the same browser);
each model's first render, read back from its canvas, equals the stored PyTorch decoding within 2/255; a synthetic
drag of one landmark's centre changes the pixels near it as PyTorch's decoder does for the same edit and leaves far
pixels within the decoder's own far-field change; the pose slider at 0 and 1 reproduces the two stored frames; the
arrow keys move the chosen landmark. Screenshots go to `_build/screenshots/playground-*.png`.

Needs a built book with its playground models (`make book`) and `chromium`; without either it skips, saying which,
unless LMVID_REQUIRE_BOOK=1 (CI), where a missing one is a failure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from chromium import chromium_executable, serving

from lmvid_lib.models.checkpoint import load_trained
from lmvid_lib.publish.notebooks import toc_entries
from lmvid_lib.publish.web import ORT_DIST, SITE_MODELS, DecoderPath

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
MODELS = HTML / SITE_MODELS
SCREENSHOTS = REPO / "_build" / "screenshots"
PAGE = "book/playground.html"
TOLERANCE = 2  # of 255: ONNX vs PyTorch (< 1e-4) plus the rounding of the stored frame and of the canvas
DRAG_PIXELS = 10  # frame pixels the drag moves the landmark by


def _missing(reason: str) -> None:
    if os.environ.get("LMVID_REQUIRE_BOOK") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _index() -> dict:
    return json.loads((MODELS / "index.json").read_text())


def _sample(key: str) -> dict:
    return json.loads((MODELS / f"{key}.json").read_text())


def _scene(text: str, sample: dict) -> np.ndarray:
    """A stored base64 image -> float32 [channels,H,W] in [0,1]: the scene the page feeds the scene decoder."""
    size, channels = sample["image_size"], sample["channels"]
    frame = np.frombuffer(base64.b64decode(text), np.uint8).reshape(size, size, channels)
    return frame.transpose(2, 0, 1).astype(np.float32) / 255


def _first(decoder: str) -> str:
    """The key of the index's first model with this decoder ('paper' or 'scene'); skips when there is none."""
    keys = [m["key"] for m in _index()["models"] if m["decoder"] == decoder]
    if not keys:
        pytest.skip(f"the book exported no {decoder}-decoder model (the profile trains none)")
    return keys[0]


def _pixels(text: str, sample: dict) -> np.ndarray:
    """A stored base64 frame -> uint8 [H,W,3] (grey frames repeated over RGB, as the page draws them)."""
    size, channels = sample["image_size"], sample["channels"]
    frame = np.frombuffer(base64.b64decode(text), np.uint8).reshape(size, size, channels)
    return np.repeat(frame, 3, axis=2) if channels == 1 else frame


def _signature(error: str) -> str:
    """An error without the URLs in it, which differ from page to page."""
    return re.sub(r"https?://[^\s:]+(:\d+)?(/\S*?)?(?=[:\s]|$)", "", error)


@pytest.fixture(scope="module")
def page():
    if not (HTML / PAGE).is_file():
        _missing(f"no built playground page at {HTML}/{PAGE}: run `make book` (or `.ci/run`) first")
    if not (MODELS / "index.json").is_file():
        _missing(f"no playground models at {MODELS}: `make book` exports them after the HTML build")
    exe = chromium_executable()
    if exe is None:
        _missing("no chromium on PATH: `apt-get install -y chromium` (Debian's; .ci/run installs it)")
    with serving(exe, HTML) as (chromium, base):
        chromium.call("Runtime.enable", session=True)
        chromium.call("Log.enable", session=True)
        chromium.open(f"{base}/{toc_entries(REPO)[0]}.html")  # the root page (index.html only redirects to it)
        # messages that arrive after the load event (the favicon's 404)
        chromium.evaluate("new Promise((done) => setTimeout(() => done(true), 1000))", await_promise=True)
        book_wide = {_signature(e) for e in chromium.errors()}  # what every page of this book logs
        chromium.events.clear()
        chromium.open(f"{base}/{PAGE}")
        chromium.evaluate("window.lmvidPlayground.ready.then(() => true)", await_promise=True)
        yield chromium, book_wide


def panel_call(chromium, dataset: str, body: str):
    """Evaluate `body` (an async function body with `p`, the dataset's panel) and return its value."""
    script = f"window.lmvidPlayground.ready.then(async (panels) => {{ const p = panels[{dataset!r}]; {body} }})"
    return chromium.evaluate(script, await_promise=True)


def canvas_pixels(chromium, dataset: str, size: int) -> np.ndarray:
    """The frame canvas of a panel, read back: uint8 [H,W,3]."""
    data = panel_call(
        chromium,
        dataset,
        "await p.idle(); const c = p.frameCanvas.getContext('2d');"
        f"return Array.from(c.getImageData(0, 0, {size}, {size}).data);",
    )
    return np.asarray(data, np.uint8).reshape(size, size, 4)[..., :3]


def decode(sample: dict, states: np.ndarray, appearance: np.ndarray, scene: np.ndarray | None) -> np.ndarray:
    """PyTorch's decoding path for the page's model (scene: [channels,H,W], read by the scene decoder): float
    [H,W,3] in [0,255]."""
    model, _ = load_trained(REPO / "runs" / _index()["profile"] / "factorization" / sample["run"])
    scene = None if scene is None else torch.tensor(scene)[None]
    with torch.no_grad():
        frame = DecoderPath(model)(torch.tensor(states)[None], torch.tensor(appearance)[None], scene)[0]
    frame = frame.permute(1, 2, 0).numpy() * 255
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame


def test_page_loads_without_console_errors_and_shows_every_model(page):
    chromium, book_wide = page
    keys = [m["key"] for m in _index()["models"]]
    assert panel_call(chromium, keys[0], "return Object.keys(panels);") == keys
    errors = [e for e in chromium.errors() if _signature(e) not in book_wide]
    assert not errors, f"the playground logged console errors: {errors}"
    shown = chromium.evaluate("[...document.querySelectorAll('.lmvid-pg-panel')].map(e => e.dataset.key)")
    assert shown == keys
    chromium.screenshot(SCREENSHOTS / "playground-first-render.png")


def test_first_render_equals_the_stored_pytorch_frame(page):
    chromium, _ = page
    for entry in _index()["models"]:
        sample = _sample(entry["key"])
        drawn = canvas_pixels(chromium, entry["key"], sample["image_size"]).astype(int)
        stored = _pixels(sample["frames"][0]["decoded"], sample).astype(int)
        assert np.abs(drawn - stored).max() <= TOLERANCE, entry["key"]


def test_pose_slider_at_0_and_1_reproduces_the_two_stored_frames(page):
    chromium, _ = page
    dataset = _first("paper")  # the scene decoder keeps the chosen frame's scene: its alpha 1 is no stored frame
    sample = _sample(dataset)
    size, target = sample["image_size"], len(sample["frames"]) - 1
    for alpha, frame in ((1, target), (0, 0)):
        panel_call(
            chromium,
            dataset,
            f"p.targetSelect.value = '{target}'; p.alpha.value = '{alpha}';"
            "p.alpha.dispatchEvent(new Event('input')); await p.idle(); return true;",
        )
        drawn = canvas_pixels(chromium, dataset, size).astype(int)
        stored = _pixels(sample["frames"][frame]["decoded"], sample).astype(int)
        assert np.abs(drawn - stored).max() <= TOLERANCE, f"alpha {alpha}"


@pytest.mark.parametrize("decoder", ["paper", "scene"])
def test_dragging_a_landmark_changes_pixels_near_it_as_the_decoder_does(page, decoder):
    chromium, _ = page
    dataset = _first(decoder)
    sample = _sample(dataset)
    size = sample["image_size"]
    states = np.asarray(sample["frames"][0]["states"], np.float32)
    appearance = np.asarray(sample["frames"][0]["appearance"], np.float32)
    scene = _scene(sample["frames"][0]["image"], sample) if sample["scene_input"] else None
    panel_call(chromium, dataset, "p.selectFrame(0); await p.idle(); return true;")
    # the most compact landmark whose drag stays inside the frame
    inside = np.abs(states[:, 0]) < 0.6
    k = int(np.argmin(np.where(inside, np.abs(states[:, 2] * states[:, 4]), np.inf)))
    box = panel_call(
        chromium,
        dataset,
        f"p.overlay.scrollIntoView({{block: 'center'}}); const r = p.overlay.getBoundingClientRect();"
        f"const c = p.points({k}).centre; return [r.left, r.top, r.width, c.x, c.y];",
    )
    left, top, width, cx, cy = box
    scale = width / 320  # the overlay's internal width (playground.mjs DISPLAY)
    start = (left + cx * scale, top + cy * scale)
    shift = DRAG_PIXELS * width / size
    before = canvas_pixels(chromium, dataset, size).astype(float)
    drag(chromium, [(start[0] + shift * step / 5, start[1]) for step in range(6)])
    edited = np.asarray(panel_call(chromium, dataset, "await p.idle(); return Array.from(p.states);"), np.float32)
    after = canvas_pixels(chromium, dataset, size).astype(float)
    chromium.screenshot(SCREENSHOTS / f"playground-drag-{decoder}.png")

    edited = edited.reshape(states.shape)
    moved = np.flatnonzero(np.any(edited != states, axis=1))
    assert moved.tolist() == [k], f"the drag edited landmarks {moved.tolist()}, not {k}"
    assert edited[k, 0] - states[k, 0] == pytest.approx(2 * DRAG_PIXELS / size, abs=0.02)
    np.testing.assert_array_equal(edited[k, 2:], states[k, 2:])

    expected = np.abs(decode(sample, edited, appearance, scene) - decode(sample, states, appearance, scene)).max(-1)
    expected /= 255
    seen = np.abs(after - before).max(-1) / 255
    # near: within the landmark's half-height ellipse of the path it moved along; far: more than 3 such radii away
    centres = (np.arange(size) * 2 + 1) / size - 1
    xs, ys = np.meshgrid(centres, centres)
    along = np.clip(xs, states[k, 0], edited[k, 0]) - xs
    radius = max(np.hypot(states[k, 2], np.hypot(states[k, 3], states[k, 4])), 2 / size)
    distance = np.hypot(along, ys - states[k, 1]) / radius
    near, far = distance <= 1, distance > 3
    assert near.any() and far.any()
    assert np.abs(after - decode(sample, edited, appearance, scene)).max() <= TOLERANCE
    if decoder == "scene" and expected[near].max() < 4 / 255:  # e.g. the smoke profile's 10-step scene decoder
        pytest.skip("this scene decoder hardly redraws a moved landmark (it copies its scene): no change to compare")
    assert expected[near].max() >= 4 / 255, "the decoder itself hardly changes for this edit: nothing to test"
    assert seen[near].max() >= 0.5 * expected[near].max()
    assert seen[far].max() <= expected[far].max() + TOLERANCE / 255


def test_arrow_keys_move_the_chosen_landmark(page):
    chromium, _ = page
    dataset = _first("paper")
    script = "p.selectFrame(0); p.landmarkSelect.value = '1'; p.overlay.focus(); return Array.from(p.states);"
    before = panel_call(chromium, dataset, script)
    for key in ("ArrowRight", "ArrowDown"):
        chromium.call("Input.dispatchKeyEvent", session=True, type="rawKeyDown", key=key, code=key)
        chromium.call("Input.dispatchKeyEvent", session=True, type="keyUp", key=key, code=key)
    after = panel_call(chromium, dataset, "await p.idle(); return Array.from(p.states);")
    delta = np.subtract(after, before).reshape(-1, 5)
    assert delta[1, 0] > 0 and delta[1, 1] > 0
    assert np.count_nonzero(delta) == 2


def drag(chromium, path: list[tuple[float, float]]) -> None:
    """Press the left button at path[0], move through the rest, release at the last point (page coordinates)."""
    mouse = {"button": "left", "clickCount": 1}
    chromium.call("Input.dispatchMouseEvent", session=True, type="mousePressed", x=path[0][0], y=path[0][1], **mouse)
    for x, y in path[1:]:
        chromium.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=x, y=y, buttons=1)
    chromium.call("Input.dispatchMouseEvent", session=True, type="mouseReleased", x=path[-1][0], y=path[-1][1], **mouse)


def test_dragging_the_handle_scales_and_rotates_the_covariance(page):
    chromium, _ = page
    dataset = _first("paper")
    geometry = panel_call(
        chromium,
        dataset,
        "p.selectFrame(0); await p.idle(); p.overlay.scrollIntoView({block: 'center'});"
        "const r = p.overlay.getBoundingClientRect(); const all = [...Array(p.K).keys()].map((k) => p.points(k));"
        "const reach = (k) => Math.min(...all.flatMap((q, j) => [j === k ? Infinity : q.handle, q.centre])"
        "  .map((o) => (o === Infinity ? o : Math.hypot(o.x - all[k].handle.x, o.y - all[k].handle.y))));"
        "const to = ({centre: c, handle: h}) => [c.x + 1.5 * (Math.cos(Math.PI / 6) * (h.x - c.x)"
        "  - Math.sin(Math.PI / 6) * (h.y - c.y)), c.y + 1.5 * (Math.sin(Math.PI / 6) * (h.x - c.x)"
        "  + Math.cos(Math.PI / 6) * (h.y - c.y))];"
        "const inside = (k) => [all[k].handle.x, all[k].handle.y, ...to(all[k])].every((v) => v > 20 && v < 300);"
        "const k = [...all.keys()].filter(inside).reduce((a, b) => (reach(b) > reach(a) ? b : a));"
        "const {centre, handle} = all[k];"
        "return [k, r.left, r.top, r.width / 320, centre.x, centre.y, handle.x, handle.y, Array.from(p.states)];",
    )
    # k: of the landmarks whose handle, and the point it is dragged to (1.5x, turned 30 degrees about the centre), lie
    # well inside the canvas (a drag past its edge stops there), the one whose handle is farthest from the others
    k, left, top, scale, cx, cy, hx, hy, before = geometry
    before = np.asarray(before, np.float64).reshape(-1, 5)
    scaling, turn = 1.5, np.pi / 6
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    target = np.array([cx, cy]) + scaling * rotation @ np.array([hx - cx, hy - cy])
    path = [(left + hx * scale, top + hy * scale)]
    path += [(left + x * scale, top + y * scale) for x, y in np.linspace([hx, hy], target, 6)[1:]]
    drag(chromium, path)
    after = np.asarray(panel_call(chromium, dataset, "await p.idle(); return Array.from(p.states);")).reshape(-1, 5)

    def moment(s):  # L L' of one state
        return np.array([[s[2] ** 2, s[2] * s[3]], [s[2] * s[3], s[3] ** 2 + s[4] ** 2]])

    expected = scaling**2 * rotation @ moment(before[k]) @ rotation.T
    np.testing.assert_allclose(moment(after[k]), expected, rtol=0.03, atol=1e-4)
    np.testing.assert_array_equal(after[k, :2], before[k, :2].astype(np.float32))
    np.testing.assert_array_equal(np.delete(after, k, 0), np.delete(before, k, 0).astype(np.float32))


def test_play_decodes_the_stored_rollout(page):
    chromium, _ = page
    dataset = _first("paper")
    rollout = _sample(dataset)["rollout"]
    if rollout is None:
        _missing(f"{dataset}'s sample has no landmark-LSTM rollout: chapter 4 trained no LSTM for it")
    count, status, states = panel_call(
        chromium,
        dataset,
        "const before = p.renderCount; await p.play(); await p.idle();"
        "return [p.renderCount - before, p.status.textContent, Array.from(p.states)];",
    )
    assert count == len(rollout["states"])
    assert status.startswith(f"rollout step {len(rollout['states'])}/") and "LSTM prediction" in status
    np.testing.assert_array_equal(states, np.asarray(rollout["states"][-1], np.float32).ravel())


def test_the_cdn_fallback_pins_the_npm_version_and_its_integrity_hash():
    loader = (REPO / "book" / "_static" / "playground" / "ort-loader.mjs").read_text()
    version = re.search(r'ORT_VERSION = "([^"]+)"', loader).group(1)
    integrity = re.search(r'ORT_INTEGRITY = "sha384-([^"]+)"', loader).group(1)
    assert json.loads((REPO / "package.json").read_text())["dependencies"]["onnxruntime-web"] == version
    lock = json.loads((REPO / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == version
    script = REPO / ORT_DIST / "ort.wasm.min.js"
    if not script.is_file():
        pytest.skip(f"no {script.relative_to(REPO)} (npm ci) to hash")
    assert base64.b64encode(hashlib.sha384(script.read_bytes()).digest()).decode() == integrity


def test_a_stored_sampled_future_plays_when_chosen(page):
    chromium, _ = page
    dataset = _first("paper")
    rollout = _sample(dataset)["rollout"]
    if rollout is None or not rollout.get("samples"):
        _missing(f"{dataset}'s sample has no sampled futures: chapter 4b trained no stochastic LSTM for it")
    last = rollout["samples"][1]
    count, status, states = panel_call(
        chromium,
        dataset,
        "p.rolloutSelect.value = '1'; const before = p.renderCount; await p.play(); await p.idle();"
        "const out = [p.renderCount - before, p.status.textContent, Array.from(p.states)];"
        "p.rolloutSelect.value = '-1'; return out;",
    )
    assert count == len(last) and "sampled future 2" in status
    np.testing.assert_array_equal(states, np.asarray(last[-1], np.float32).ravel())
    assert not np.allclose(last[-1], rollout["states"][-1])  # another future than the deterministic LSTM's
