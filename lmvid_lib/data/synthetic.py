"""Embedded synthetic stand-ins for BBC Pose, BAIR and KTH, with ground-truth keypoints, generated deterministically.

Presets (each a config dataclass; any field may be overridden by keyword, unknown ones are a ValueError):

- ``signer`` (BBC Pose): 128x128 RGB upper body. J = 7 keypoints in BBC Pose order
  (head, right wrist, left wrist, right elbow, left elbow, right shoulder, left shoulder); "right" is the person's
  right, on the image's left. Arms are a 3D two-bone chain (inverse kinematics to a wrist target, elbow swung towards
  a down-and-out pole, orthographic projection, so limbs foreshorten) driven by signing-like keyframes: hands rest,
  sign in front of the chest, cross the body, rise to the face or out to the side, with minimum-jerk transitions of
  random length (some fast) plus filtered-noise jitter. The torso sways and leans, the head turns, nods and tilts.
  Identity = skin, hair, body size and position, and a textured static background; attire = shirt colours, texture
  and sleeve length. Splits: 'train' (identities x train attire), 'test' (same identities and attire, new motion),
  'val' (same identities, a held-out attire with a different hue and texture, new motion).
- ``pusher`` (BAIR): 64x64 RGB top view of a two-link arm with a gripper over a textured table, pushing 1-3 discs.
  Objects move only when the gripper disc touches them (quasi-static contact, no momentum; objects push each other
  and stop at the table edge). J = 7: shoulder, elbow, wrist, gripper, object_1..3 (absent objects are NaN).
  'train' and 'test' have disjoint scenes (video_ids).
- ``walker`` (KTH): 64x64 grayscale person doing one of the six KTH actions (walking, jogging, running across the
  frame, possibly entering/leaving it, so keypoints may lie outside the frame for those; boxing, hand-waving,
  hand-clapping in place). J = 14 (see WALKER_JOINTS). video_ids = person id (body proportions + clothing shade);
  'train' and 'test' persons are disjoint; the action of each video is in `actions` (and the stored meta).

Randomness: one `np.random.Generator` per (seed, preset, split, identity/video) from `np.random.SeedSequence`, so a
video's content does not depend on how many other videos are generated, nor on any global RNG state.
`n_videos` is the number of 'train' videos; the other splits have `n_eval_videos` (default: half, at least one per
identity for signer).
"""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lmvid_lib import __version__
from lmvid_lib.config import from_dict
from lmvid_lib.data import render
from lmvid_lib.data.store import VideoSet, is_prepared, write_dataset

# Bumped whenever the generator's output changes for the same parameters, so cached sets are regenerated.
GENERATOR_VERSION = 1
CHUNK = 100  # frames rendered at once: bounds the crop buffers' memory

SIGNER_JOINTS = ["head", "right_wrist", "left_wrist", "right_elbow", "left_elbow", "right_shoulder", "left_shoulder"]
PUSHER_JOINTS = ["shoulder", "elbow", "wrist", "gripper", "object_1", "object_2", "object_3"]
WALKER_JOINTS = [
    "head", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
]
WALKER_ACTIONS = ["walking", "jogging", "running", "boxing", "handwaving", "handclapping"]


@dataclass
class SignerConfig:
    n_videos: int = 12  # 'train' videos
    n_frames: int = 300
    size: int = 128
    n_identities: int = 6
    n_eval_videos: int | None = None  # videos in 'test' and 'val'; None = max(identities used, n_videos // 2)


@dataclass
class PusherConfig:
    n_videos: int = 64
    n_frames: int = 30
    size: int = 64
    n_eval_videos: int | None = None  # 'test' videos; None = n_videos // 2
    max_objects: int = 3


@dataclass
class WalkerConfig:
    n_videos: int = 48
    n_frames: int = 60
    size: int = 64
    n_persons: int = 12
    n_test_persons: int = 4  # the last persons are held out for 'test'
    n_eval_videos: int | None = None  # 'test' videos; None = n_videos // 2


@dataclass
class SyntheticVideos:
    """One split of a preset. N videos of T frames, J keypoints."""

    frames: np.ndarray  # uint8 [N,T,H,W,C]
    keypoints: np.ndarray  # float32 [N,T,J,2]: x, y in 0-based pixels of the rendered frame; NaN = absent
    keypoint_names: list[str]
    video_ids: np.ndarray  # int64 [N]: identity (signer), scene (pusher) or person (walker)
    preset: str = ""
    split: str = ""
    actions: list[str] | None = None  # walker: the action of each video
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def video_names(self) -> list[str]:
        if self.actions is not None:
            return [f"{self.preset}_{self.split}_{i:04d}_person{p:02d}_{a}" for i, (p, a) in enumerate(zip(self.video_ids, self.actions))]
        return [f"{self.preset}_{self.split}_{i:04d}_id{p:03d}" for i, p in enumerate(self.video_ids)]

    def to_videoset(self) -> VideoSet:
        meta = {"preset": self.preset, "split": self.split, **self.meta}
        if self.actions is not None:
            meta["actions"] = list(self.actions)
        return VideoSet.from_clips(
            self.frames, self.video_ids, self.keypoints, self.keypoint_names, self.video_names, meta
        )


# ----------------------------------------------------------------------------------------------------------- helpers


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _filtered_noise(rng: np.random.Generator, n: int, dims: int, smooth: float) -> np.ndarray:
    """[n,dims] smooth random signal, unit std per dim: white noise low-passed with a Gaussian of `smooth` frames."""
    from scipy.ndimage import gaussian_filter1d

    pad = int(4 * smooth) + 1
    x = gaussian_filter1d(rng.standard_normal((n + 2 * pad, dims)), smooth, axis=0)[pad : pad + n]
    return x / (x.std(axis=0, keepdims=True) + 1e-8) if n > 1 else x


def _min_jerk(keys: np.ndarray, times: np.ndarray, n: int) -> np.ndarray:
    """Piecewise minimum-jerk path through `keys` [K,D] reached at frames `times` [K] (rising), sampled at 0..n-1."""
    t = np.arange(n, dtype=np.float64)
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    t0, t1 = times[seg], times[seg + 1]
    tau = np.clip((t - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)[:, None]
    s = tau**3 * (10 - 15 * tau + 6 * tau**2)
    return keys[seg] + (keys[seg + 1] - keys[seg]) * s


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _rot(angle: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Rotate 2D vectors `vec` [...,2] by `angle` [...] (radians; y down, so positive turns clockwise on screen)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * vec[..., 0] - s * vec[..., 1], s * vec[..., 0] + c * vec[..., 1]], axis=-1)


def _textured(c1: np.ndarray, c2: np.ndarray, kind: str, period: float, angle: float, phase: float = 0.0) -> render.Shader:
    """A shader blending colours c1 -> c2 [C] with a procedural pattern in the shape's own coordinates."""
    c1 = c1.astype(np.float32)
    dc = (c2 - c1).astype(np.float32)

    def shader(u: np.ndarray, v: np.ndarray, dist: np.ndarray) -> np.ndarray:
        return c1 + dc * render.pattern(u, v, kind, period, phase, angle)[..., None]

    return shader


def _two_bone_ik(shoulder: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3D two-bone IK. shoulder, target [T,3]; pole [3] (direction the elbow bends to). -> elbow, wrist [T,3].

    An unreachable target is pulled onto the reachable shell along the shoulder->target line.
    """
    d = target - shoulder
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    reach = np.clip(dist, abs(l1 - l2) + 1e-3, l1 + l2 - 1e-3)
    axis = d / np.maximum(dist, 1e-6)
    wrist = shoulder + axis * reach
    along = (l1**2 - l2**2 + reach**2) / (2 * reach)
    radius = np.sqrt(np.maximum(l1**2 - along**2, 0.0))
    perp = pole - axis * np.sum(axis * pole, axis=-1, keepdims=True)
    perp /= np.maximum(np.linalg.norm(perp, axis=-1, keepdims=True), 1e-6)
    return shoulder + axis * along + perp * radius, wrist


# ------------------------------------------------------------------------------------------------------------ signer


@dataclass
class _Identity:
    centre: np.ndarray  # [2] neck base in pixels
    scale: float
    half_width: float
    upper_arm: float
    forearm: float
    skin: np.ndarray
    hair: np.ndarray
    background: np.ndarray  # [H,W,3]


@dataclass
class _Attire:
    shirt: np.ndarray
    shirt2: np.ndarray
    kind: str
    period: float
    angle: float
    short_sleeves: bool


_SKINS = [(0.07, 0.35, 0.95), (0.06, 0.45, 0.80), (0.07, 0.55, 0.62), (0.06, 0.60, 0.42), (0.08, 0.30, 0.88), (0.05, 0.50, 0.55)]
_KINDS = ["stripes", "checks", "waves", "plain"]


def _signer_identity(seed: int, ident: int, size: int) -> _Identity:
    rng = _rng(seed, 1, 0, ident)
    k = size / 128.0
    scale = float(rng.uniform(0.88, 1.12))
    skin = _hsv(*_SKINS[ident % len(_SKINS)]) * np.float32(rng.uniform(0.93, 1.05))
    hair = _hsv(rng.uniform(0.0, 0.12), rng.uniform(0.2, 0.7), rng.uniform(0.08, 0.55))
    # Background: a lit wall (gradient + band-limited noise) with panels and a frame, all static for the identity.
    base = _hsv(rng.uniform(), rng.uniform(0.1, 0.45), rng.uniform(0.35, 0.8))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    light = 1.0 + 0.25 * ((xx - rng.uniform(0, size)) / size) - 0.15 * (yy / size)
    bg = base[None, None] * light[..., None]
    bg = bg + 0.09 * render.smooth_noise(rng, (size, size), 3.0 * k)[..., None]
    panels = render.pattern(xx, yy, "stripes", rng.uniform(18, 40) * k, rng.uniform(0, 6), rng.uniform(-0.2, 0.2))
    bg = bg * (0.9 + 0.12 * panels[..., None])
    for _ in range(2):
        x0, y0 = rng.uniform(0, size * 0.8, 2)
        w, h = rng.uniform(0.1, 0.3, 2) * size
        inside = (xx >= x0) & (xx < x0 + w) & (yy >= y0) & (yy < y0 + h)
        bg[inside] = bg[inside] * 0.5 + 0.5 * _hsv(rng.uniform(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.9))
    centre = np.array([64 + rng.uniform(-9, 9), 68 + rng.uniform(-6, 6)]) * k
    return _Identity(
        centre=centre, scale=scale * k, half_width=22 * scale * k * rng.uniform(0.92, 1.08),
        upper_arm=29 * scale * k, forearm=26 * scale * k, skin=skin, hair=hair,
        background=np.clip(bg, 0, 1).astype(np.float32),
    )


def _signer_attire(seed: int, ident: int, attire: int) -> _Attire:
    rng = _rng(seed, 1, 1, ident)  # one stream per identity: the val attire is drawn relative to the train one
    hues = rng.uniform(size=1)[0] + np.array([0.0, rng.uniform(0.3, 0.7)])
    kinds = rng.permutation(len(_KINDS))
    draws = [(rng.uniform(0.35, 0.9), rng.uniform(0.3, 0.9), rng.uniform(5, 12), rng.uniform(0, np.pi), rng.uniform() < 0.35) for _ in range(2)]
    sat, val, period, angle, short = draws[attire]
    hue = hues[attire]
    return _Attire(
        shirt=_hsv(hue, sat, val), shirt2=_hsv(hue + 0.08, sat * 0.7, val * 0.55),
        kind=_KINDS[kinds[attire]], period=float(period), angle=float(angle), short_sleeves=bool(short),
    )


# Wrist target regions in body coordinates (x to the person's outside for side=+1, y down, z toward the camera),
# in 128-px units relative to the neck base: (probability, x range, y range, z range).
_REGIONS = {
    "rest": (0.15, (6, 22), (38, 50), (4, 14)),
    "chest": (0.33, (-18, 14), (4, 34), (14, 26)),
    "face": (0.15, (-12, 2), (-32, -18), (12, 20)),
    "cross": (0.17, (-30, -12), (0, 34), (16, 26)),
    "side": (0.20, (22, 36), (-26, 12), (0, 14)),
}


def _signer_motion(rng: np.random.Generator, ident: _Identity, n: int) -> dict[str, np.ndarray]:
    """Joint positions [n,2] (pixels) of one video, plus head pose and torso lean."""
    k = ident.scale
    sway = _filtered_noise(rng, n, 3, rng.uniform(15, 35))
    sway = 1.5 * np.tanh(sway / 1.5)  # bounded, so the body stays in frame
    neck = ident.centre + np.stack([7.0 * sway[:, 0], 3.0 * sway[:, 1]], -1) * k
    lean = 0.07 * sway[:, 2]
    yaw, nod, roll = (_filtered_noise(rng, n, 3, rng.uniform(6, 16)) * [0.5, 0.45, 0.12]).T
    hw = ident.half_width
    shoulders = {side: neck + _rot(lean, np.array([side * hw, 3.0 * k])) for side in (-1, 1)}
    head_centre = neck + _rot(lean + roll, np.array([0.0, -30.0 * k]))
    face = head_centre + np.stack([yaw * 5.0, nod * 4.0], -1) * k

    # Keyframes shared by both arms (so two-handed signs line up); each arm may keep its previous target.
    times, keys = [0.0], []
    names = list(_REGIONS)
    probs = np.array([_REGIONS[r][0] for r in names])

    def sample(side: int) -> np.ndarray:
        _, xr, yr, zr = _REGIONS[names[rng.choice(len(names), p=probs)]]
        return np.array([side * rng.uniform(*xr), rng.uniform(*yr), rng.uniform(*zr)])

    prev = {-1: sample(-1), 1: sample(1)}
    keys.append(np.concatenate([prev[-1], prev[1]]))
    while times[-1] < n + 20:
        move = rng.uniform(2, 5) if rng.uniform() < 0.2 else rng.uniform(6, 18)
        hold = rng.uniform(0, 10)
        for side in (-1, 1):
            if rng.uniform() > 0.25:
                prev[side] = sample(side)
        if rng.uniform() < 0.2:  # two-handed sign: hands meet in front of the chest or face
            prev[1] = prev[-1] * np.array([-1, 1, 1]) + np.array([rng.uniform(4, 10), rng.uniform(-4, 4), 0])
        key = np.concatenate([prev[-1], prev[1]])
        times += [times[-1] + move, times[-1] + move + hold]
        keys += [key, key]
    path = _min_jerk(np.array(keys), np.array(times), n) + 1.5 * _filtered_noise(rng, n, 6, 3.0)

    joints = {"head": face}
    for side, name in ((-1, "right"), (1, "left")):
        body = path[:, :3] if side == -1 else path[:, 3:]
        # Keep the hands inside the frame (BBC Pose keypoints always are); elbows then follow from the IK.
        size = ident.background.shape[1]
        target2d = np.clip(neck + _rot(lean, body[:, :2] * k), 7.0 * k, size - 1 - 7.0 * k)
        target = np.concatenate([target2d, body[:, 2:] * k], -1)
        shoulder3 = np.concatenate([shoulders[side], np.zeros((n, 1))], -1)
        pole = np.array([side * 0.45, 1.0, -0.3])
        elbow, wrist = _two_bone_ik(shoulder3, target, ident.upper_arm, ident.forearm, pole)
        joints[f"{name}_shoulder"] = shoulders[side]
        # A raised arm near the frame edge could put the elbow outside; pull it in (a different foreshortening).
        joints[f"{name}_elbow"] = np.clip(elbow[:, :2], 2.0 * k, size - 1 - 2.0 * k)
        joints[f"{name}_wrist"] = wrist[:, :2]
        joints[f"{name}_wrist_z"] = wrist[:, 2]
    joints.update(head_centre=head_centre, neck=neck, lean=lean, yaw=yaw, nod=nod, roll=roll)
    return joints


def _render_signer(ident: _Identity, attire: _Attire, m: dict[str, np.ndarray], sl: slice, arm_order: tuple[int, int]) -> np.ndarray:
    """Render frames `sl` of one video -> uint8 [B,H,W,3]."""
    k = ident.scale
    g = {name: value[sl] for name, value in m.items()}
    b = len(g["neck"])
    canvas = render.Canvas(ident.background, b)
    shirt = _textured(attire.shirt, attire.shirt2, attire.kind, attire.period * k, attire.angle)
    hw = ident.half_width
    down = _rot(g["lean"], np.array([0.0, 1.0]))
    canvas.paint(render.ellipse(g["neck"] + down * 46 * k, np.full((b, 2), [hw + 7 * k, 50 * k]), g["lean"]), shirt, shade=0.25)
    canvas.paint(render.capsule(g["neck"] + down * 2 * k, g["head_centre"] + down * 8 * k, 6.0 * k), ident.skin * 0.85, shade=0.2)
    canvas.paint(render.capsule(g["right_shoulder"], g["left_shoulder"], 9.0 * k), shirt, shade=0.3)
    # Head: hair behind, the face ellipse shifted by yaw/nod over it, eyes and mouth following the face.
    turn = np.stack([g["yaw"], g["nod"]], -1) * k
    tilt = g["roll"] + g["lean"]
    canvas.paint(render.ellipse(g["head_centre"] - turn * 2.0 + _rot(tilt, np.array([0.0, -2.0 * k])), np.full((b, 2), [14.5 * k, 16.5 * k]), tilt), ident.hair, shade=0.3)
    canvas.paint(render.ellipse(g["head"], np.full((b, 2), [11.5 * k, 14.5 * k]), tilt), ident.skin, shade=0.15)
    for eye in (-1, 1):
        canvas.paint(render.disc(g["head"] + _rot(tilt, np.array([eye * 4.5 * k, -2.0 * k])) + turn * 1.5, 1.7 * k), np.array([0.1, 0.08, 0.08]))
    mouth = g["head"] + _rot(tilt, np.array([0.0, 7.0 * k])) + turn * 1.5
    side_vec = _rot(tilt, np.array([3.0 * k, 0.0]))
    canvas.paint(render.capsule(mouth - side_vec, mouth + side_vec, 1.0 * k), np.array([0.55, 0.2, 0.2]))
    forearm_colour = ident.skin if attire.short_sleeves else shirt
    for side in arm_order:
        name = "right" if side == -1 else "left"
        sh, el, wr = g[f"{name}_shoulder"], g[f"{name}_elbow"], g[f"{name}_wrist"]
        canvas.paint(render.capsule(sh, el, 6.5 * k), shirt, shade=0.4)
        canvas.paint(render.capsule(el, wr, 5.0 * k), forearm_colour, shade=0.4)
        direction = wr - el
        direction = direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-6)
        canvas.paint(render.ellipse(wr + direction * 4.0 * k, np.full((b, 2), [6.5 * k, 5.0 * k]), np.arctan2(direction[:, 1], direction[:, 0])), ident.skin, shade=0.3)
    return canvas.to_uint8()


def _generate_signer(cfg: SignerConfig, split: str, seed: int) -> SyntheticVideos:
    n_ids = min(cfg.n_identities, cfg.n_videos)
    n = cfg.n_videos if split == "train" else (cfg.n_eval_videos or max(n_ids, cfg.n_videos // 2))
    split_code = {"train": 0, "test": 1, "val": 2}[split]
    attire_index = 1 if split == "val" else 0
    idents = [_signer_identity(seed, i, cfg.size) for i in range(n_ids)]
    attires = [_signer_attire(seed, i, attire_index) for i in range(n_ids)]
    frames = np.empty((n, cfg.n_frames, cfg.size, cfg.size, 3), np.uint8)
    keypoints = np.empty((n, cfg.n_frames, len(SIGNER_JOINTS), 2), np.float32)
    video_ids = np.arange(n) % n_ids
    for v in range(n):
        rng = _rng(seed, 1, 2, split_code, v)
        ident = idents[video_ids[v]]
        motion = _signer_motion(rng, ident, cfg.n_frames)
        order = (-1, 1) if rng.uniform() < 0.5 else (1, -1)
        keypoints[v] = np.stack([motion[j] for j in SIGNER_JOINTS], 1)
        for start in range(0, cfg.n_frames, CHUNK):
            sl = slice(start, min(start + CHUNK, cfg.n_frames))
            frames[v, sl] = _render_signer(ident, attires[video_ids[v]], motion, sl, order)
    return SyntheticVideos(frames, keypoints, list(SIGNER_JOINTS), video_ids.astype(np.int64), "signer", split)


# ------------------------------------------------------------------------------------------------------------ pusher
# A top view, slightly oblique (height z lifts a point up the image by _TILT * z), of a robot arm whose shoulder turns
# about the vertical and whose elbow bends in the vertical plane (like BAIR's Sawyer): so the projected arm never flips.
_TILT = 0.3
_SUBSTEPS = 6  # contact resolution steps per frame, so a fast gripper cannot tunnel through an object


def _project(p: np.ndarray) -> np.ndarray:
    """[...,3] ground x, y and height z (pixels) -> [...,2] image x, y."""
    return np.stack([p[..., 0], p[..., 1] - _TILT * p[..., 2]], -1)


def _resolve_contacts(gripper: np.ndarray, grip_r: float, pos: np.ndarray, radii: np.ndarray, size: float) -> None:
    """One quasi-static contact step, in place: the gripper disc and the objects push each other out of overlap.

    gripper [2]; pos [O,2] (present objects only); radii [O]. Objects never move unless something overlaps them.
    """
    d = pos - gripper
    dist = np.linalg.norm(d, axis=1)
    touch = dist < grip_r + radii
    if touch.any():
        safe = np.where(dist[touch, None] > 1e-6, d[touch] / np.maximum(dist[touch, None], 1e-6), np.array([0.0, 1.0]))
        pos[touch] = gripper + safe * (grip_r + radii[touch])[:, None]
    for i in range(len(pos)):
        for j in range(i + 1, len(pos)):
            d = pos[j] - pos[i]
            dist = float(np.linalg.norm(d))
            overlap = radii[i] + radii[j] - dist
            if overlap > 0:
                n = d / dist if dist > 1e-6 else np.array([1.0, 0.0])
                pos[i] -= n * overlap / 2
                pos[j] += n * overlap / 2
    np.clip(pos, radii[:, None], size - 1 - radii[:, None], out=pos)


def _pusher_scene(rng: np.random.Generator, cfg: PusherConfig) -> dict[str, Any]:
    """Table texture, arm geometry and objects of one video (the scene)."""
    size, k = cfg.size, cfg.size / 64.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    wood = _hsv(rng.uniform(0.02, 0.16), rng.uniform(0.2, 0.6), rng.uniform(0.45, 0.85))
    grain = render.pattern(xx + 3 * render.smooth_noise(rng, (size, size), 4 * k), yy, "stripes", rng.uniform(3, 8) * k, rng.uniform(0, 6), rng.uniform(0, np.pi))
    table = wood[None, None] * (0.85 + 0.15 * grain[..., None]) + 0.06 * render.smooth_noise(rng, (size, size), 2 * k)[..., None]
    n_obj = int(rng.integers(1, cfg.max_objects + 1))
    radii = rng.uniform(3.5, 5.5, n_obj) * k
    return {
        "table": np.clip(table, 0, 1).astype(np.float32),
        "base": np.array([32 + rng.uniform(-6, 6), 12.0, 16.0]) * k,
        "links": (30.0 * k, 30.0 * k),
        "arm_colour": _hsv(rng.uniform(), rng.uniform(0, 0.3), rng.uniform(0.55, 0.9)),
        "grip_r": 3.5 * k,
        "radii": radii,
        "colours": [_hsv(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0)) for _ in range(n_obj)],
        "kinds": [_KINDS[i] for i in rng.integers(0, len(_KINDS), n_obj)],
    }


def _pusher_motion(rng: np.random.Generator, scene: dict[str, Any], cfg: PusherConfig) -> dict[str, np.ndarray]:
    """Simulate one video: gripper path (waypoints: approach an object, push through it, or wander) and objects."""
    size, k, n = cfg.size, cfg.size / 64.0, cfg.n_frames
    base, (l1, l2), grip_r, radii = scene["base"], scene["links"], scene["grip_r"], scene["radii"]
    reach = np.sqrt((l1 + l2 - 2 * k) ** 2 - base[2] ** 2)

    def workspace(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, [5 * k, 22 * k], [size - 6 * k, size - 6 * k])
        d = p - base[:2]
        r = np.linalg.norm(d)
        return base[:2] + d * np.clip(r, 12 * k, reach) / max(r, 1e-6)

    pos = np.empty((len(radii), 2))
    for i in range(len(radii)):  # rejection-sample non-overlapping objects inside the workspace
        for _ in range(100):
            pos[i] = workspace(rng.uniform([8 * k, 26 * k], [size - 9 * k, size - 9 * k]))
            if all(np.linalg.norm(pos[i] - pos[j]) > radii[i] + radii[j] + 2 for j in range(i)):
                break
    grip = workspace(rng.uniform([8 * k, 22 * k], [size - 9 * k, size - 9 * k]))
    while np.any(np.linalg.norm(pos - grip, axis=1) < radii + grip_r + 2):  # start clear of the objects
        grip = workspace(rng.uniform([8 * k, 22 * k], [size - 9 * k, size - 9 * k]))
    speed = rng.uniform(1.5, 3.0) * k
    plan: list[np.ndarray] = []
    vel = np.zeros(2)
    grips, objects = np.empty((n, 2)), np.empty((n, len(radii), 2))
    for t in range(n):
        if not plan:
            if rng.uniform() < 0.75:  # push an object: line up behind it, then push through
                i = int(rng.integers(len(radii)))
                direction = rng.normal(size=2)
                direction /= np.linalg.norm(direction)
                plan = [workspace(pos[i] - direction * (radii[i] + grip_r + 3 * k)), workspace(pos[i] + direction * rng.uniform(6, 14) * k)]
            else:
                plan = [workspace(rng.uniform([5 * k, 22 * k], [size - 6 * k, size - 6 * k]))]
        if t > 0:
            to_go = plan[0] - grip
            dist = np.linalg.norm(to_go)
            vel = 0.5 * vel + 0.5 * to_go * min(1.0, speed / max(dist, 1e-6))
            new = workspace(grip + vel)
            for s in range(1, _SUBSTEPS + 1):
                _resolve_contacts(grip + (new - grip) * s / _SUBSTEPS, grip_r, pos, radii, size)
            grip = new
            if dist < 1.0 * k:
                plan.pop(0)
        grips[t], objects[t] = grip, pos

    # Arm: shoulder turns towards the gripper; the elbow solves the two-bone chain in that vertical plane.
    g3 = np.concatenate([grips, np.full((n, 1), 3.0 * k)], 1)
    d = g3 - base
    horiz = np.linalg.norm(d[:, :2], axis=1, keepdims=True)
    dist = np.linalg.norm(d, axis=1, keepdims=True)
    along = (l1**2 - l2**2 + dist**2) / (2 * dist)
    lift = np.sqrt(np.maximum(l1**2 - along**2, 0.0))
    axis = d / dist
    up = np.concatenate([-axis[:, 2:] * d[:, :2] / np.maximum(horiz, 1e-6), horiz / dist], 1)  # in-plane, upward
    elbow = base + axis * along + up * lift
    wrist = elbow + (g3 - elbow) * (l2 - 5.0 * k) / l2
    return {
        "shoulder": _project(np.broadcast_to(base, (n, 3))), "elbow": _project(elbow), "wrist": _project(wrist),
        "gripper": _project(g3), "objects": objects,
    }


def _render_pusher(scene: dict[str, Any], m: dict[str, np.ndarray]) -> np.ndarray:
    """All frames of one video -> uint8 [T,H,W,3]."""
    k = scene["grip_r"] / 3.5
    n = len(m["gripper"])
    canvas = render.Canvas(scene["table"], n)
    for i, (r, colour, kind) in enumerate(zip(scene["radii"], scene["colours"], scene["kinds"])):
        c = m["objects"][:, i]
        canvas.paint(render.disc(c + [0.8 * k, 0.8 * k], r + 0.5 * k), np.zeros(3), opacity=0.35)  # contact shadow
        canvas.paint(render.disc(c, r), _textured(colour, colour * 0.5, kind, 2.5 * k, i), shade=0.35)
    arm = scene["arm_colour"]
    canvas.paint(render.capsule(m["shoulder"], m["elbow"], 3.5 * k), arm, shade=0.45)
    canvas.paint(render.disc(m["shoulder"], 4.5 * k), arm * 0.6, shade=0.3)
    canvas.paint(render.capsule(m["elbow"], m["wrist"], 3.0 * k), arm * 0.9, shade=0.45)
    direction = m["gripper"] - m["wrist"]
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-6)
    across = np.stack([-direction[:, 1], direction[:, 0]], 1)
    for side in (-1, 1):
        tip = m["gripper"] + direction * 2.5 * k + across * side * 2.2 * k
        canvas.paint(render.capsule(m["gripper"] + across * side * 2.2 * k, tip, 1.0 * k), np.full(3, 0.15))
    canvas.paint(render.capsule(m["wrist"], m["gripper"], 2.6 * k), np.full(3, 0.25), shade=0.3)
    return canvas.to_uint8()


def _generate_pusher(cfg: PusherConfig, split: str, seed: int) -> SyntheticVideos:
    n = cfg.n_videos if split == "train" else (cfg.n_eval_videos or max(1, cfg.n_videos // 2))
    split_code = {"train": 0, "test": 1}[split]
    frames = np.empty((n, cfg.n_frames, cfg.size, cfg.size, 3), np.uint8)
    keypoints = np.full((n, cfg.n_frames, 4 + cfg.max_objects, 2), np.nan, np.float32)
    for v in range(n):
        rng = _rng(seed, 2, split_code, v)
        scene = _pusher_scene(rng, cfg)
        motion = _pusher_motion(rng, scene, cfg)
        keypoints[v, :, :4] = np.stack([motion[j] for j in PUSHER_JOINTS[:4]], 1)
        keypoints[v, :, 4 : 4 + len(scene["radii"])] = motion["objects"]
        frames[v] = _render_pusher(scene, motion)
    # Scenes are unique per video; test ids follow train ids so the splits never share one.
    offset = 0 if split == "train" else cfg.n_videos
    names = PUSHER_JOINTS[:4] + [f"object_{i + 1}" for i in range(cfg.max_objects)]
    return SyntheticVideos(frames, keypoints, names, np.arange(offset, offset + n, dtype=np.int64), "pusher", split)


# ------------------------------------------------------------------------------------------------------- public API

_PRESETS: dict[str, tuple[type, tuple[str, ...], Callable[..., SyntheticVideos]]] = {
    "signer": (SignerConfig, ("train", "test", "val"), _generate_signer),
    "pusher": (PusherConfig, ("train", "test"), _generate_pusher),
}


def preset_config(preset: str, **overrides: Any) -> Any:
    """The config dataclass of `preset` with `overrides` applied (ValueError naming an unknown preset or override)."""
    if preset not in _PRESETS:
        raise ValueError(f"preset: unknown synthetic preset {preset!r}; known: {sorted(_PRESETS)}")
    cfg = from_dict(_PRESETS[preset][0], overrides, f"synthetic preset {preset!r}")
    for name in ("n_videos", "n_frames", "size"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"synthetic preset {preset!r}: {name} must be a positive int, got {value!r}")
    if cfg.size < 32:
        raise ValueError(f"synthetic preset {preset!r}: size must be >= 32 pixels, got {cfg.size}")
    return cfg


def splits(preset: str) -> tuple[str, ...]:
    """The split names of `preset`."""
    preset_config(preset)
    return _PRESETS[preset][1]


def generate(preset: str, split: str, seed: int = 0, **overrides: Any) -> SyntheticVideos:
    """Generate one split of a preset. Same (preset, split, seed, overrides) -> identical arrays."""
    cfg = preset_config(preset, **overrides)
    if split not in _PRESETS[preset][1]:
        raise ValueError(f"split: preset {preset!r} has no split {split!r}; known: {list(_PRESETS[preset][1])}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    videos = _PRESETS[preset][2](cfg, split, int(seed))
    videos.meta = {"seed": int(seed), "params": dataclasses.asdict(cfg), "generator_version": GENERATOR_VERSION}
    return videos


def prepare_synthetic(preset: str, root: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """Generate every split of `preset` and write them atomically to `root` in the prepared format."""
    cfg = preset_config(preset, **overrides)
    sets = {split: generate(preset, split, seed, **overrides) for split in _PRESETS[preset][1]}
    provenance = {
        "generator": "lmvid_lib.data.synthetic",
        "generator_version": GENERATOR_VERSION,
        "preset": preset,
        "seed": int(seed),
        "params": dataclasses.asdict(cfg),
        "lmvid_version": __version__,
    }
    names = next(iter(sets.values())).keypoint_names
    return write_dataset(root, preset, {s: v.to_videoset() for s, v in sets.items()}, provenance, names)


def cache_key(preset: str, seed: int = 0, **overrides: Any) -> str:
    """`<preset>-<10 hex digits>`: a hash of the seed and the full resolved config (defaults included)."""
    cfg = preset_config(preset, **overrides)
    blob = json.dumps({"seed": int(seed), "params": dataclasses.asdict(cfg), "version": GENERATOR_VERSION}, sort_keys=True)
    return f"{preset}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def cached(preset: str, cache_root: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """`cache_root/<cache_key>`, prepared by `prepare_synthetic` unless a complete set is already there."""
    path = Path(cache_root) / cache_key(preset, seed, **overrides)
    if not is_prepared(path):
        prepare_synthetic(preset, path, seed, **overrides)
    return path


def _keypoint_array(videos: Any) -> tuple[np.ndarray, int]:
    """(keypoints [M,J,2], frame width) of a SyntheticVideos or a store.VideoSet."""
    if videos.keypoints is None:
        raise ValueError("mean_pose_baseline needs keypoints; this set has none")
    kp = np.asarray(videos.keypoints, np.float64)
    return kp.reshape(-1, kp.shape[-2], 2), int(videos.frames.shape[-2])


def mean_pose_baseline(train: Any, test: Any, threshold: float = 6.0) -> float:
    """Fraction of `test` keypoints within `threshold` px (at 128x128) of the mean training pose.

    train, test: SyntheticVideos or store.VideoSet with keypoints. The mean pose is each joint's mean position over
    all train frames; distances are rescaled to a 128-px wide frame. Absent (NaN) keypoints are ignored.
    """
    kp_train, width_train = _keypoint_array(train)
    kp_test, width_test = _keypoint_array(test)
    if kp_train.shape[1] != kp_test.shape[1]:
        raise ValueError(f"train has {kp_train.shape[1]} keypoints, test has {kp_test.shape[1]}")
    if width_train != width_test:
        raise ValueError(f"train frames are {width_train} px wide, test frames {width_test} px")
    mean = np.nanmean(kp_train, axis=0)
    dist = np.linalg.norm(kp_test - mean, axis=-1) * (128.0 / width_test)
    valid = ~np.isnan(dist)
    if not valid.any():
        raise ValueError("mean_pose_baseline: no test keypoints present")
    return float(np.mean(dist[valid] <= threshold))
