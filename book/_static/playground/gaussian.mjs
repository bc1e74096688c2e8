// Landmark math of the page, the browser twin of lmvid_lib/landmarks.py: a state is (mu_x, mu_y, l11, l21, l22) in
// normalised coordinates (x right, y down, [-1, 1]); its covariance is L L' + covEps * I (from_state).

const CHOLESKY_FLOOR_FACTOR = 1e-4; // landmarks._CHOLESKY_FLOOR = COV_EPS * 1e-4

/** Raw second moment L L' of one state [5] -> [a, b, c] of [[a, b], [b, c]] (no covEps: what the handles edit). */
export function moment(state, lMax) {
  const clamp = (v) => Math.min(lMax, Math.max(-lMax, v));
  const l11 = clamp(state[2]), l21 = clamp(state[3]), l22 = clamp(state[4]);
  return [l11 * l11, l11 * l21, l21 * l21 + l22 * l22];
}

/** Closed-form Cholesky of [[a, b], [b, c]] -> [l11, l21, l22], squared diagonal floored as landmarks.to_state. */
export function cholesky([a, b, c], covEps) {
  const floor = covEps * CHOLESKY_FLOOR_FACTOR;
  const l11 = Math.sqrt(Math.max(a, floor));
  const l21 = b / l11;
  return [l11, l21, Math.sqrt(Math.max(c - l21 * l21, floor))];
}

/** Ellipse of the covariance L L' + covEps I where the heatmap 1 / (1 + d' S^-1 d) is one half (Mahalanobis 1):
 *  {major, minor (normalised lengths), angle (radians, of the major axis, y down)}. */
export function ellipse(state, covEps, lMax) {
  const [a0, b, c0] = moment(state, lMax);
  const a = a0 + covEps, c = c0 + covEps;
  const mid = (a + c) / 2, radius = Math.hypot((a - c) / 2, b);
  return { major: Math.sqrt(mid + radius), minor: Math.sqrt(Math.max(mid - radius, 0)), angle: 0.5 * Math.atan2(2 * b, a - c) };
}

/** The state with its covariance scaled by `scale` along every axis and rotated by `angle` radians: L -> chol(s^2 R L L' R'). */
export function scaleRotate(state, scale, angle, covEps, lMax) {
  const [a, b, c] = moment(state, lMax);
  const cos = Math.cos(angle), sin = Math.sin(angle), s2 = scale * scale;
  // R M R' for M = [[a, b], [b, c]], R = [[cos, -sin], [sin, cos]]
  const ra = cos * cos * a - 2 * sin * cos * b + sin * sin * c;
  const rb = sin * cos * (a - c) + (cos * cos - sin * sin) * b;
  const rc = sin * sin * a + 2 * sin * cos * b + cos * cos * c;
  return [state[0], state[1], ...cholesky([s2 * ra, s2 * rb, s2 * rc], covEps)];
}

/** (1 - alpha) x + alpha y elementwise over equal-length arrays (paper Eq. 7 for states), as a Float32Array. */
export function lerp(x, y, alpha) {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = alpha === 1 ? y[i] : x[i] + alpha * (y[i] - x[i]);
  return out;
}

/** Normalised coordinate -> display coordinate on a canvas `size` display pixels wide (pixel centres line up). */
export const toDisplay = (v, size) => ((v + 1) * size) / 2;
export const fromDisplay = (p, size) => (2 * p) / size - 1;
