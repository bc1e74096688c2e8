// The playground of book/playground.md: one panel per exported model (models/index.json, written by
// lmvid_lib/publish/web.py at `make book`): each dataset's paper decoder, and its scene decoder where chapter 2 trained
// one. `window.lmvidPlayground` exposes the panels, by index key, to tests and the benchmark.

import { Coalescer, Decoder, drawFrame, planarFrame } from "./decoder.mjs";
import { ellipse, fromDisplay, lerp, scaleRotate, toDisplay } from "./gaussian.mjs";

const DISPLAY = 320; // CSS pixels of each canvas
const PICK_RADIUS = 14; // display pixels within which a pointer grabs a centre or a handle
const KEY_STEP = 2; // display pixels per arrow-key press
const PLAY_FPS = 8;

const base64Bytes = (text) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** One dataset model: canvases, controls, the working landmark states and appearance vectors. */
class Panel {
  constructor(root, entry, sample, decoder, index) {
    Object.assign(this, { entry, sample, decoder, K: sample.n_landmarks, size: sample.image_size });
    this.frames = sample.frames.map((f) => ({
      index: f.index,
      states: Float32Array.from(f.states.flat()),
      appearance: Float32Array.from(f.appearance.flat()),
      decoded: base64Bytes(f.decoded),
      image: base64Bytes(f.image),
    }));
    // the scene decoder reads the chosen held-out frame (the rollout: its first frame) as its scene
    this.sceneInput = Boolean(sample.scene_input);
    this.scene = null;
    this.renderCount = 0;
    this.drag = null;
    this.playing = false;
    this.coalescer = new Coalescer((job) => this.#render(job));
    this.#build(root, index);
    this.selectFrame(0);
  }

  #build(root, index) {
    const id = `lmvid-pg-${this.entry.key}`;
    const { frames } = this;
    this.frameCanvas = element("canvas", { width: this.size, height: this.size, class: "lmvid-pg-frame" });
    this.overlay = element("canvas", {
      width: DISPLAY,
      height: DISPLAY,
      class: "lmvid-pg-overlay",
      tabindex: "0",
      role: "application",
      "aria-label": `${this.entry.dataset} landmarks: arrow keys move the chosen landmark, + and - scale it, [ and ] rotate it`,
    });
    this.inputCanvas = element("canvas", { width: this.size, height: this.size, class: "lmvid-pg-input" });
    const option = (f, i) => element("option", { value: i, text: `frame ${f.index}` });
    this.frameSelect = element("select", { id: `${id}-frame` }, ...frames.map(option));
    this.targetSelect = element("select", { id: `${id}-target` }, ...frames.map(option));
    this.targetSelect.value = String(frames.length - 1);
    this.landmarkSelect = element(
      "select",
      { id: `${id}-landmark` },
      ...Array.from({ length: this.K }, (_, k) => element("option", { value: k, text: `landmark ${k + 1}` })),
    );
    this.alpha = element("input", { id: `${id}-alpha`, type: "range", min: "0", max: "1", step: "0.05", value: "0" });
    this.alphaText = element("output", { for: `${id}-alpha`, text: "0.00" });
    this.resetButton = element("button", { type: "button", text: "Reset" });
    this.playButton = element("button", { type: "button", text: "Play rollout" });
    if (!this.sample.rollout) this.playButton.disabled = true;
    // the deterministic LSTM's rollout, or one of the stored futures of the stochastic LSTM (chapter 4b)
    const sampled = this.sample.rollout?.samples ?? [];
    this.rolloutSelect = element(
      "select",
      { id: `${id}-rollout`, "aria-label": "rollout" },
      element("option", { value: "-1", text: "LSTM" }),
      ...sampled.map((_, i) => element("option", { value: String(i), text: `sampled future ${i + 1}` })),
    );
    if (!sampled.length) this.rolloutSelect.disabled = true;
    this.status = element("span", { class: "lmvid-pg-status", "aria-live": "polite" });
    const label = (forId, text) => element("label", { for: forId, text });
    const controls = element(
      "div",
      { class: "lmvid-pg-controls" },
      element("div", {}, label(`${id}-frame`, "Frame "), this.frameSelect, " ", this.resetButton),
      element("div", {}, label(`${id}-landmark`, "Landmark "), this.landmarkSelect),
      element(
        "div",
        {},
        label(`${id}-alpha`, "Pose towards "),
        this.targetSelect,
        " ",
        this.alpha,
        " ",
        this.alphaText,
      ),
      element("div", {}, this.playButton, " ", this.rolloutSelect, " ", this.status),
    );
    const stage = element("div", { class: "lmvid-pg-stage" }, this.frameCanvas, this.overlay);
    const held = element("figure", { class: "lmvid-pg-held" }, this.inputCanvas, element("figcaption", {
      text: this.sceneInput ? "held-out input frame (also the scene decoder's scene)" : "held-out input frame",
    }));
    const caption = element("figcaption", {
      text:
        `Figure 8.${index + 1}: ${this.entry.title}, decoded in this browser by onnxruntime-web ` +
        `(${this.frames.length} held-out test frames).`,
    });
    this.root = element(
      "figure",
      { class: "lmvid-pg-panel", id, "data-dataset": this.entry.dataset, "data-key": this.entry.key },
      element("div", { class: "lmvid-pg-row" }, stage, held, controls),
      caption,
    );
    root.append(this.root);

    this.frameSelect.addEventListener("change", () => this.selectFrame(Number(this.frameSelect.value)));
    this.targetSelect.addEventListener("change", () => this.setAlpha(Number(this.alpha.value)));
    this.alpha.addEventListener("input", () => this.setAlpha(Number(this.alpha.value)));
    this.resetButton.addEventListener("click", () => this.selectFrame(Number(this.frameSelect.value)));
    this.playButton.addEventListener("click", () => (this.playing ? this.stop() : this.play()));
    this.landmarkSelect.addEventListener("change", () => this.#drawOverlay());
    this.overlay.addEventListener("pointerdown", (e) => this.#pointerDown(e));
    this.overlay.addEventListener("pointermove", (e) => this.#pointerMove(e));
    this.overlay.addEventListener("pointerup", () => (this.drag = null));
    this.overlay.addEventListener("pointercancel", () => (this.drag = null));
    this.overlay.addEventListener("keydown", (e) => this.#key(e));
  }

  /** Show stored frame i: its states and appearance, alpha 0. */
  selectFrame(i) {
    this.stop();
    const frame = this.frames[i];
    this.frameSelect.value = String(i);
    this.states = Float32Array.from(frame.states);
    this.appearance = Float32Array.from(frame.appearance);
    if (this.sceneInput) this.scene = planarFrame(frame.image, this.sample.channels, this.size);
    this.alpha.value = "0";
    this.alphaText.value = "0.00";
    const image = this.inputCanvas.getContext("2d").createImageData(this.size, this.size);
    const channels = this.sample.channels;
    for (let p = 0; p < this.size * this.size; p++) {
      for (let c = 0; c < 3; c++) image.data[4 * p + c] = frame.image[p * channels + (channels === 1 ? 0 : c)];
      image.data[4 * p + 3] = 255;
    }
    this.inputCanvas.getContext("2d").putImageData(image, 0, 0);
    this.update();
  }

  /** Pose (Cholesky states) and appearance interpolated from the chosen frame to the target frame. */
  setAlpha(alpha) {
    this.stop();
    const from = this.frames[Number(this.frameSelect.value)], to = this.frames[Number(this.targetSelect.value)];
    this.alpha.value = String(alpha);
    this.alphaText.value = alpha.toFixed(2);
    this.states = lerp(from.states, to.states, alpha);
    this.appearance = lerp(from.appearance, to.appearance, alpha);
    this.update();
  }

  /** Redraw the ellipses now and queue a re-render of the current states. */
  update(status = "") {
    this.#drawOverlay();
    const job = { states: Float32Array.from(this.states), appearance: this.appearance, scene: this.scene, status };
    this.coalescer.submit(job);
  }

  async #render({ states, appearance, scene, status }) {
    const start = performance.now();
    const frame = await this.decoder.run(states, appearance, scene);
    drawFrame(this.frameCanvas, frame, this.sample.channels, this.size);
    this.lastRenderMs = performance.now() - start;
    this.renderCount += 1;
    this.status.textContent = status || `rendered in ${this.lastRenderMs.toFixed(1)} ms`;
  }

  /** Resolves when no render is queued or running. */
  idle() {
    return this.coalescer.idle();
  }

  /** Display coordinates {x, y} of landmark k's centre and of its handle (the end of the ellipse's major axis). */
  points(k) {
    const s = this.states.subarray(5 * k, 5 * k + 5);
    const e = ellipse(s, this.sample.cov_eps, this.sample.state_l_max);
    const centre = { x: toDisplay(s[0], DISPLAY), y: toDisplay(s[1], DISPLAY) };
    const r = (e.major * DISPLAY) / 2;
    return { centre, handle: { x: centre.x + r * Math.cos(e.angle), y: centre.y + r * Math.sin(e.angle) }, ellipse: e };
  }

  #drawOverlay() {
    const context = this.overlay.getContext("2d");
    context.clearRect(0, 0, DISPLAY, DISPLAY);
    const chosen = Number(this.landmarkSelect.value);
    for (let k = 0; k < this.K; k++) {
      const { centre, handle, ellipse: e } = this.points(k);
      const colour = `hsl(${(360 * k) / this.K}, 90%, 55%)`;
      context.strokeStyle = context.fillStyle = colour;
      context.lineWidth = k === chosen ? 2.5 : 1.2;
      context.beginPath();
      context.ellipse(centre.x, centre.y, (e.major * DISPLAY) / 2, (e.minor * DISPLAY) / 2, e.angle, 0, 2 * Math.PI);
      context.stroke();
      context.beginPath();
      context.arc(centre.x, centre.y, k === chosen ? 4 : 3, 0, 2 * Math.PI);
      context.fill();
      context.fillRect(handle.x - 3, handle.y - 3, 6, 6);
    }
  }

  #pointer(event) {
    const box = this.overlay.getBoundingClientRect();
    return { x: ((event.clientX - box.left) * DISPLAY) / box.width, y: ((event.clientY - box.top) * DISPLAY) / box.height };
  }

  #pointerDown(event) {
    const p = this.#pointer(event);
    let best = null;
    for (let k = 0; k < this.K; k++) {
      const { centre, handle } = this.points(k);
      for (const [part, q] of [["handle", handle], ["centre", centre]]) {
        const d = Math.hypot(p.x - q.x, p.y - q.y);
        if (d <= PICK_RADIUS && (!best || d < best.d)) best = { k, part, d };
      }
    }
    if (!best) return;
    this.stop();
    this.drag = best;
    this.landmarkSelect.value = String(best.k);
    this.overlay.setPointerCapture?.(event.pointerId);
    event.preventDefault();
  }

  #pointerMove(event) {
    if (!this.drag) return;
    const p = this.#pointer(event);
    if (this.drag.part === "centre") this.#moveTo(this.drag.k, p);
    else this.#handleTo(this.drag.k, p);
  }

  #moveTo(k, p) {
    this.states[5 * k] = fromDisplay(p.x, DISPLAY);
    this.states[5 * k + 1] = fromDisplay(p.y, DISPLAY);
    this.update();
  }

  #handleTo(k, p) {
    const { centre, handle } = this.points(k);
    const from = Math.hypot(handle.x - centre.x, handle.y - centre.y);
    const to = Math.max(Math.hypot(p.x - centre.x, p.y - centre.y), 1);
    const angle = Math.atan2(p.y - centre.y, p.x - centre.x) - Math.atan2(handle.y - centre.y, handle.x - centre.x);
    this.#scaleRotate(k, to / Math.max(from, 1e-6), angle);
  }

  #scaleRotate(k, scale, angle) {
    const s = this.states.subarray(5 * k, 5 * k + 5);
    this.states.set(scaleRotate(s, scale, angle, this.sample.cov_eps, this.sample.state_l_max), 5 * k);
    this.update();
  }

  #key(event) {
    const k = Number(this.landmarkSelect.value);
    const { centre } = this.points(k);
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key in moves) {
      const [dx, dy] = moves[event.key];
      this.#moveTo(k, { x: centre.x + dx * KEY_STEP, y: centre.y + dy * KEY_STEP });
    } else if (event.key === "+" || event.key === "=") this.#scaleRotate(k, 1.1, 0);
    else if (event.key === "-") this.#scaleRotate(k, 1 / 1.1, 0);
    else if (event.key === "[") this.#scaleRotate(k, 1, -Math.PI / 18);
    else if (event.key === "]") this.#scaleRotate(k, 1, Math.PI / 18);
    else return;
    this.stop();
    event.preventDefault();
  }

  /** Play the stored rollout chosen (true context states, then predicted ones: the LSTM's, or one sampled future of
   * the stochastic LSTM) with its appearance. */
  async play() {
    const { rollout } = this.sample;
    const choice = Number(this.rolloutSelect.value);
    const path = choice < 0 ? rollout.states : rollout.samples[choice];
    const predicted = choice < 0 ? "LSTM prediction" : `sampled future ${choice + 1}`;
    this.playing = true;
    this.playButton.textContent = "Stop";
    this.appearance = Float32Array.from(rollout.appearance.flat());
    if (this.sceneInput) this.scene = planarFrame(base64Bytes(rollout.image), this.sample.channels, this.size);
    for (let t = 0; t < path.length && this.playing; t++) {
      this.states = Float32Array.from(path[t].flat());
      const kind = t < rollout.context ? "true context" : predicted;
      this.update(`rollout step ${t + 1}/${path.length} (${kind})`);
      await Promise.all([this.idle(), new Promise((r) => setTimeout(r, 1000 / PLAY_FPS))]);
    }
    this.stop();
  }

  stop() {
    this.playing = false;
    this.playButton.textContent = "Play rollout";
  }

  /** Times of n renders (ms) of slightly different poses, each awaited: the benchmark's measurement. */
  async benchmark(n) {
    await this.idle();
    const times = [];
    const base = Float32Array.from(this.states);
    for (let i = 0; i < n; i++) {
      const states = Float32Array.from(base);
      states[0] += 0.01 * Math.sin(i);
      const start = performance.now();
      const frame = await this.decoder.run(states, this.appearance, this.scene);
      drawFrame(this.frameCanvas, frame, this.sample.channels, this.size);
      times.push(performance.now() - start);
    }
    return times;
  }
}

async function main(root) {
  const models = new URL(root.dataset.models, document.baseURI);
  const index = await (await fetch(models)).json();
  const panels = {};
  for (const [i, entry] of index.models.entries()) {
    const sample = await (await fetch(new URL(entry.sample, models))).json();
    const decoder = await Decoder.create(new URL(entry.graph, models).href, {
      nLandmarks: sample.n_landmarks,
      appearanceChannels: sample.appearance_channels,
      channels: sample.channels,
      size: sample.image_size,
    });
    panels[entry.key] = new Panel(root, entry, sample, decoder, i);
  }
  await Promise.all(Object.values(panels).map((p) => p.idle()));
  return panels;
}

const root = document.getElementById("lmvid-playground");
const ready = main(root).catch((error) => {
  root.append(element("p", { class: "lmvid-pg-error", text: `The playground could not start: ${error.message}` }));
  throw error;
});
window.lmvidPlayground = { ready };
