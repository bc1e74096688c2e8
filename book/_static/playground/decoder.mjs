// One exported decoding path (lmvid_lib/publish/web.py): (states [1,K,5], appearance [1,K,C] (, scene [1,C,H,W] in
// [0,1] for the scene decoder)) -> frame [1,C,H,W] in [0,1], run by onnxruntime-web, with re-renders coalesced so that
// at most one inference is in flight.

import { loadOrt } from "./ort-loader.mjs";

export class Decoder {
  /** @param graphUrl URL of the .onnx file; K landmarks, C appearance channels, `channels` x size x size frames. */
  static async create(graphUrl, { nLandmarks, appearanceChannels, channels, size }) {
    const ort = await loadOrt();
    const session = await ort.InferenceSession.create(graphUrl, { executionProviders: ["wasm"] });
    return new Decoder(ort, session, nLandmarks, appearanceChannels, channels, size);
  }

  constructor(ort, session, nLandmarks, appearanceChannels, channels, size) {
    Object.assign(this, { ort, session, nLandmarks, appearanceChannels, channels, size });
  }

  /** states Float32Array [K*5], appearance Float32Array [K*C] (, scene Float32Array [channels*size*size] in [0,1],
   *  planar: the scene decoder's conditioning frame) -> Float32Array [channels*size*size] in [0,1]. */
  async run(states, appearance, scene = null) {
    const { Tensor } = this.ort;
    const feeds = {
      states: new Tensor("float32", Float32Array.from(states), [1, this.nLandmarks, 5]),
      appearance: new Tensor("float32", Float32Array.from(appearance), [1, this.nLandmarks, this.appearanceChannels]),
    };
    if (scene !== null) feeds.scene = new Tensor("float32", scene, [1, this.channels, this.size, this.size]);
    const result = await this.session.run(feeds);
    return result.frame.data;
  }
}

/** uint8 [size*size*channels] row-major bytes (a stored image) -> Float32Array [channels*size*size] in [0,1], planar:
 *  the layout of the graph's scene input. */
export function planarFrame(bytes, channels, size) {
  const plane = size * size;
  const out = new Float32Array(channels * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < channels; c++) out[c * plane + i] = bytes[i * channels + c] / 255;
  return out;
}

/** Draw a decoded frame Float32Array [channels*size*size] (planar, in [0,1]) into a size x size canvas. */
export function drawFrame(canvas, frame, channels, size) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(size, size);
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = frame[(channels === 1 ? 0 : c) * plane + i];
      image.data[4 * i + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

/** Calls `work(job)` for the latest job only: while one call runs, newer jobs replace each other (pointer moves
 *  arrive faster than frames decode). `idle()` resolves once nothing is pending or running. */
export class Coalescer {
  constructor(work) {
    this.work = work;
    this.pending = null;
    this.running = false;
    this.waiters = [];
  }

  submit(job) {
    this.pending = job;
    if (!this.running) this.#drain();
  }

  idle() {
    return !this.running && this.pending === null ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }

  async #drain() {
    this.running = true;
    try {
      while (this.pending !== null) {
        const job = this.pending;
        this.pending = null;
        await this.work(job);
      }
    } finally {
      this.running = false;
      this.waiters.splice(0).forEach((resolve) => resolve());
    }
  }
}
