"""Embedded synthetic stand-ins for BBC Pose, BAIR and KTH, with ground-truth keypoints, generated deterministically.

Presets (each a config dataclass; any field may be overridden by keyword, unknown ones are a ValueError):

- ``signer`` (BBC Pose): 128x128 RGB upper body. J = 7 keypoints in BBC Pose order
  (head, right wrist, left wrist, right elbow, left elbow, right shoulder, left shoulder); "right" is the person's
  right, on the image's left. Arms are a 3D two-bone chain (inverse kinematics to a wrist target, elbow swung towards
  a down-and-out pole, orthographic projection, so limbs foreshorten) driven by signing-like keyframes: hands rest,
  sign in front of the chest, cross the body, rise to the face or out to the side, with minimum-jerk transitions of
  random length (some fast) plus filtered-noise jitter. The torso sways and leans, the head turns, nods and tilts.
  Identity = skin, hair, body size and position, and a textured static background; attire = shirt colours, texture
  and sleeve length. Sleeves are a plain darker shade of the shirt: with the shirt's own texture the arms in front of
  the torso were nearly invisible, and 1000-step cpu runs then learned no arm landmarks (elbows 13-16% within 6 px
  vs 31-36% with these sleeves). Splits: 'train' (identities x train attire), 'test' (same identities and attire, new motion),
  'val' (same identities, a held-out attire with a different hue and texture, new motion).
- ``pusher`` (BAIR): 64x64 RGB top view of a two-link arm with a gripper over a textured table, pushing 1-3 discs.
  Objects move only when the gripper disc touches them (quasi-static contact, no momentum; objects push each other
  and stop at the table edge). J = 7: shoulder, elbow, wrist, gripper, object_1..3 (absent objects are NaN).
  'train' and 'test' have disjoint scenes (video_ids).
- ``walker`` (KTH): 64x64 grayscale (C = 1) capsule-bodied person doing one of the six KTH actions. Walking, jogging
  and running cross the frame seen from the side, left or right, at increasing speed (~0.6, 1.0, 1.4 body heights per
  second at 25 fps), stride rate, leg and arm swing, elbow bend and forward lean; the hip height follows the lower
  foot, so the body bobs. The clip is centred on the crossing, so fast walkers enter and/or leave the frame: their
  keypoints are then still reported as (out-of-frame) pixel coordinates, never NaN. Boxing (side view: guard, each fist
  punching on its own random rhythm) and hand-waving / hand-clapping (front view, arms by 3D two-bone IK for clapping) stay in place. J = 14 (see
  WALKER_JOINTS). video_ids = person id: height, limb and torso proportions, and grey levels of shirt, trousers, skin
  and hair; each video adds a camera distance (+-10 %) and a static background (graded wall or sky over ground,
  texture, noise) whose brightness is opposite to the clothes so the body stays visible. The last `n_test_persons` of
  `n_persons` are the 'test' persons, the others 'train'. Video v of a split does action v mod 6 (so any 6 consecutive
  videos show all six), and 6 x (persons in the split) videos hold every (person, action) pair once. The action of
  each video is in `actions` (and the stored meta).

Randomness: one `np.random.Generator` per (seed, preset, split, identity/video) from `np.random.SeedSequence`, so a
video's content does not depend on how many other videos are generated, nor on any global RNG state.
`n_videos` is the number of 'train' videos; the other splits have `n_eval_videos` (default: half, at least one per
identity for signer).

Speed (`benchmarks/bench_synthetic.py`: every split of the cpu profile's sets, in memory, on the 2-core CPU while other
jobs kept its load at ~5; three runs): signer 12 x 300 frames at 128x128 in 12.8-20.8 s (345-563 frames/s), pusher
64 x 30 at 64x64 in 1.5-2.0 s (1430-1960 frames/s; its contact simulation is per-frame Python), walker 48 x 60 at
64x64 in 0.76-1.05 s (4110-5660 frames/s); 15.0-23.9 s in all against the 30 s target. With the machine idle, signer
took 8.8 s and pusher 1.0 s. Those runs had 6 signer identities (6 'test' and 6 'val' videos); with 12 there are 12
of each, 1.5x the signer frames, and the cpu book's whole 01_data notebook (generation, tables, figures) took 21.7 s.
"""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lmvid_lib import __version__
from lmvid_lib.config import from_dict
from lmvid_lib.data import render
from lmvid_lib.data.store import VideoSet, is_prepared, write_dataset

# Bumped whenever the generator's output changes for the same parameters, so cached sets are regenerated.
GENERATOR_VERSION = 3
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
    # 12, not 6: with 6 identities a linear read-out of *random* landmarks already recovered much of each identity's
    # mean pose (untrained encoder 38.2% at 6 px vs 31.2% with 12; trained spade 57.2 / 54.4%), so the keypoint
    # probe measured identity as much as pose. Profiles with fewer train videos use one identity per video.
    n_identities: int = 12
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
    keypoints: np.ndarray  # float32 [N,T,J,2]: x, y in 0-based pixels of the rendered frame (walker: may lie outside it); NaN = absent
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
    sleeve = attire.shirt2 * 0.8
    forearm_colour = ident.skin if attire.short_sleeves else sleeve
    for side in arm_order:
        name = "right" if side == -1 else "left"
        sh, el, wr = g[f"{name}_shoulder"], g[f"{name}_elbow"], g[f"{name}_wrist"]
        canvas.paint(render.capsule(sh, el, 6.5 * k), sleeve, shade=0.4)
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


# ------------------------------------------------------------------------------------------------------------ walker
# A 2D stick-and-capsule person. Crossing actions and boxing are seen from the side (facing d = +1: to the image
# right, d = -1: left), hand-waving and hand-clapping from the front (the person's right on the image's left).
# Angles are measured from "straight down", positive towards the facing direction (side view) or outwards (front).

# action: (speed in person-heights per frame, gait cycles per frame, thigh swing, knee bend, arm swing, elbow bend,
# forward lean), all radians except the first two. At 25 fps: ~0.6, 1.0 and 1.4 body heights per second, i.e. one
# 40-px person crosses a 64-px frame in ~70, ~40 and ~30 frames.
_GAITS = {
    "walking": (0.024, 0.036, 0.42, 0.9, 0.45, 0.35, 0.05),
    "jogging": (0.040, 0.050, 0.60, 1.5, 0.60, 1.40, 0.12),
    "running": (0.056, 0.058, 0.80, 1.9, 0.80, 1.60, 0.20),
}
_SIDE_VIEW = ("walking", "jogging", "running", "boxing")


@dataclass
class _Person:
    """Body lengths in pixels (at the frame size, before the per-video camera distance) and grey levels in [0,1]."""

    height: float  # sole to head top
    head: float  # head radius
    neck: float  # neck base -> head centre
    torso: float  # neck base -> hip centre
    shoulder: float  # half shoulder width
    hip: float  # half hip width
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    bulk: float  # torso half thickness in side view
    shirt: float
    trousers: float
    skin: float
    hair: float
    dark: bool  # dark clothes (on a light background) or light clothes (on a dark one)

    def far(self, level: float) -> float:
        """The grey level of a limb on the far side: moved away from the background, so it stays visible."""
        return level * 0.78 if self.dark else level + 0.3 * (1.0 - level)

    @property
    def shoes(self) -> float:
        return self.trousers * 0.5 if self.dark else min(1.0, self.trousers * 1.1)


@dataclass
class _Leg:
    """One leg's pose: thigh angle and knee bend [T] (radians, see `_along`), their x direction, hip x offset (px)."""

    thigh: np.ndarray
    bend: np.ndarray
    direction: float
    offset: float


def _walker_person(seed: int, person: int, size: int) -> _Person:
    rng = _rng(seed, 3, 0, person)
    h = rng.uniform(34, 44) * size / 64.0
    leg = h * rng.uniform(0.46, 0.50)
    thigh = leg * rng.uniform(0.48, 0.53)
    torso = h * rng.uniform(0.28, 0.32)
    head = h * rng.uniform(0.06, 0.07)
    dark = bool(rng.uniform() < 0.65)
    if dark:
        shirt, trousers, skin, hair = rng.uniform(0.04, 0.40), rng.uniform(0.04, 0.35), rng.uniform(0.30, 0.42), rng.uniform(0.02, 0.2)
    else:
        shirt, trousers, skin, hair = rng.uniform(0.70, 0.96), rng.uniform(0.65, 0.90), rng.uniform(0.62, 0.75), rng.uniform(0.1, 0.5)
    return _Person(
        height=h, head=head, neck=h - 0.03 * h - leg - torso - 1.1 * head, torso=torso,
        shoulder=h * rng.uniform(0.10, 0.125), hip=h * rng.uniform(0.065, 0.08),
        upper_arm=h * rng.uniform(0.16, 0.18), forearm=h * rng.uniform(0.15, 0.17), thigh=thigh, shin=leg - thigh,
        bulk=h * rng.uniform(0.065, 0.09), shirt=shirt, trousers=trousers, skin=skin, hair=hair, dark=dark,
    )


def _walker_background(seed: int, split_code: int, video: int, size: int, person: _Person) -> np.ndarray:
    """Static grey scene [H,W,1] of one video: a wall or sky over a darker/lighter ground, graded and textured.

    Its level is drawn opposite to the person's clothes (as in KTH, where clothes contrast with the scene) so that the
    body stays visible in grayscale.
    """
    rng = _rng(seed, 3, 2, split_code, video)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    level = rng.uniform(0.62, 0.88) if person.dark else rng.uniform(0.12, 0.32)
    horizon = rng.uniform(0.45, 0.7) * size
    ground = level * rng.uniform(0.8, 0.95) if person.dark else level * rng.uniform(1.0, 1.2)
    above = level + 0.08 * (xx - rng.uniform(0, size)) / size - 0.05 * yy / size
    above = above + 0.05 * render.pattern(xx, yy, "stripes", rng.uniform(8, 20) * size / 64, rng.uniform(0, 6), rng.uniform(-0.1, 0.1))
    below = ground + 0.04 * (yy - horizon) / size
    blend = np.clip(yy - horizon + 0.5, 0.0, 1.0)  # an anti-aliased horizon
    bg = above * (1 - blend) + below * blend + 0.05 * render.smooth_noise(rng, (size, size), 1.5 * size / 64)
    return np.clip(bg, 0, 1)[..., None].astype(np.float32)


def _on_plane(points: np.ndarray) -> np.ndarray:
    """[T,2] image points -> [T,3] on the z = 0 plane (for the 3D two-bone IK)."""
    return np.concatenate([points, np.zeros((len(points), 1))], -1)


def _grey(level: float) -> np.ndarray:
    """One grey level -> a 1-channel colour [1]."""
    return np.array([level], np.float32)


def _along(origin: np.ndarray, length: float, angle: np.ndarray, d: float) -> np.ndarray:
    """origin [T,2] + a bone of `length` at `angle` [T] from straight down, positive towards x = d (pixels)."""
    return origin + length * np.stack([d * np.sin(angle), np.cos(angle)], -1)


def _legs_on_ground(hip_x: np.ndarray, ground: float, p: _Person, s: float, legs: dict[str, _Leg]) -> dict[str, np.ndarray]:
    """Hips, knees and ankles [T,2] of a body at scale `s`, its hip height set so that the lower foot is on `ground`.

    hip_x [T]: the pelvis centre; legs: side -> _Leg.
    """
    extent = [p.thigh * s * np.cos(leg.thigh) + p.shin * s * np.cos(leg.thigh - leg.bend) for leg in legs.values()]
    hip_y = ground - 0.03 * p.height * s - np.max(extent, axis=0)  # 0.03 height: ankle above the sole
    out = {}
    for side, leg in legs.items():
        hip = np.stack([hip_x + leg.offset, hip_y], -1)
        knee = _along(hip, p.thigh * s, leg.thigh, leg.direction)
        out[f"{side}_hip"], out[f"{side}_knee"] = hip, knee
        out[f"{side}_ankle"] = _along(knee, p.shin * s, leg.thigh - leg.bend, leg.direction)
    return out


def _gait(rng: np.random.Generator, p: _Person, action: str, n: int, size: int, s: float, d: float, turn: float
          ) -> tuple[np.ndarray, np.ndarray, dict[str, _Leg], dict[str, tuple[np.ndarray, float, float]]]:
    """A crossing: hip x [n], lean [n], legs, and arms side -> (upper-arm angle [n], elbow bend, shoulder x offset)."""
    speed, freq, thigh_amp, knee_amp, arm_amp, elbow, lean = _GAITS[action]
    jitter = rng.uniform(0.85, 1.15, 5)  # per video: speed, cadence, knee bend, leg and arm swing
    t = np.arange(n, dtype=np.float64)
    phase = 2 * np.pi * freq * jitter[1] * t + rng.uniform(0, 2 * np.pi)
    x_mid = rng.uniform(0.3, 0.7) * size  # where the hip is half-way through the clip
    hip_x = x_mid + d * speed * p.height * s * jitter[0] * (t - (n - 1) / 2)
    legs, arms = {}, {}
    for side, offset, sign in (("right", 0.0, -1), ("left", np.pi, 1)):
        phi = phase + offset
        bend = 0.1 + knee_amp * jitter[2] * np.maximum(0.0, np.cos(phi + 0.2)) ** 1.5  # most bent early in the swing
        legs[side] = _Leg(thigh_amp * jitter[3] * np.sin(phi), bend, d, sign * 0.4 * turn)
        arms[side] = (-arm_amp * jitter[4] * np.sin(phi) - 0.05, elbow, sign * turn)  # opposite to the same-side leg
    return hip_x, lean + 0.02 * np.sin(2 * phase), legs, arms


def _stance(rng: np.random.Generator, p: _Person, action: str, n: int, size: int, s: float, d: float, turn: float
            ) -> tuple[np.ndarray, np.ndarray, dict[str, _Leg]]:
    """In place: hip x [n] (a little drift), lean [n] and legs (boxing: side-on guard stance; else facing us)."""
    t = np.arange(n, dtype=np.float64)
    hip_x = rng.uniform(0.35, 0.65) * size + 1.5 * s * _filtered_noise(rng, n, 1, 10.0)[:, 0]
    lean = 0.03 * _filtered_noise(rng, n, 1, 8.0)[:, 0]
    if action == "boxing":
        bob = 0.3 * np.sin(2 * np.pi * rng.uniform(0.04, 0.07) * t + rng.uniform(0, 2 * np.pi))
        legs = {"right": _Leg(0.25 + 0.05 * bob, 0.3 + 0.1 * bob, d, -0.4 * turn),
                "left": _Leg(-0.2 - 0.05 * bob, 0.2 + 0.1 * bob, d, 0.4 * turn)}
        return hip_x, lean + 0.1, legs
    shift = 0.04 * _filtered_noise(rng, n, 1, 12.0)[:, 0]  # weight shifting from foot to foot
    straight = np.full(n, 0.05)
    legs = {"right": _Leg(0.08 + shift, straight, -1.0, -p.hip * s), "left": _Leg(0.08 - shift, straight, 1.0, p.hip * s)}
    return hip_x, lean, legs


def _punches(rng: np.random.Generator, n: int, first: float) -> np.ndarray:
    """Extension [n] in [0,1] of one fist: punches of 5-9 frames out and back, 4-14 frames apart, from frame ~first."""
    t = np.arange(n, dtype=np.float64)
    extension, time = np.zeros(n), first
    while time < n:
        time += rng.uniform(4, 14)
        length = rng.uniform(5, 9)
        tau = np.clip((t - time) / length, 0.0, 1.0)
        extension = np.maximum(extension, np.sin(np.pi * tau) ** 2)
        time += length
    return extension


def _walker_motion(rng: np.random.Generator, p: _Person, action: str, n: int, size: int) -> dict[str, Any]:
    """Joint positions [n,2] in pixels (outside the frame when a crossing person is), plus side_view, facing, scale."""
    s = rng.uniform(0.9, 1.1)  # camera distance
    ground = rng.uniform(0.86, 0.94) * size
    d = 1.0 if rng.uniform() < 0.5 else -1.0
    side_view = action in _SIDE_VIEW
    j: dict[str, Any] = {"side_view": side_view, "facing": d, "scale": s}
    turn = 0.2 * p.shoulder * s  # the body turned a little towards us: right shoulder and hip show left of the left
    if action in _GAITS:
        hip_x, lean, legs, swings = _gait(rng, p, action, n, size, s, d, turn)
    else:
        hip_x, lean, legs = _stance(rng, p, action, n, size, s, d, turn)
    j.update(_legs_on_ground(hip_x, ground, p, s, legs))
    sideways = d if side_view else 0.0  # the lean tips the torso forward, seen only from the side
    j["neck"] = (j["right_hip"] + j["left_hip"]) / 2 + p.torso * s * np.stack([sideways * np.sin(lean), -np.cos(lean)], -1)
    j["head"] = j["neck"] + p.neck * s * np.stack([sideways * np.sin(lean + 0.1), -np.cos(lean)], -1)
    shoulder_line = j["neck"] + [0.0, 0.04 * p.height * s]
    upper_arm, forearm = p.upper_arm * s, p.forearm * s
    rhythm = 2 * np.pi * rng.uniform(0.04, 0.06) * np.arange(n) + rng.uniform(0, 2 * np.pi)  # ~1-1.5 Hz at 25 fps
    for side, out in (("right", -1.0), ("left", 1.0)):
        if action in _GAITS:
            angle, bend, offset = swings[side]
            shoulder = shoulder_line + [offset, 0.0]
            elbow = _along(shoulder, upper_arm, angle, d)
            wrist = _along(elbow, forearm, angle + bend, d)
        elif action == "boxing":  # fists in a guard by the chin, punching straight forward, each on its own rhythm
            shoulder = shoulder_line + [out * turn, 0.0]
            reach = upper_arm + forearm
            guard = shoulder + np.array([d * 0.35 * reach, -0.25 * upper_arm])
            punch = shoulder + np.array([d * 0.97, -0.05]) * reach
            target = guard + _punches(rng, n, -(out + 1) * rng.uniform(1.5, 4))[:, None] * (punch - guard)
            elbow3, wrist3 = _two_bone_ik(_on_plane(shoulder), _on_plane(target), upper_arm, forearm, np.array([-d * 0.4, 1.0, 0.0]))
            elbow, wrist = elbow3[:, :2], wrist3[:, :2]
        else:
            shoulder = shoulder_line + [out * p.shoulder * s, 0.0]
            lag = rng.uniform(-0.3, 0.3)  # the arms wave nearly, not exactly, together
            elbow, wrist = _frontal_arm(shoulder, j["neck"], action, out, rhythm, lag, upper_arm, forearm, p.height * s)
        j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"] = shoulder, elbow, wrist
    return j


def _frontal_arm(shoulder: np.ndarray, neck: np.ndarray, action: str, out: float, rhythm: np.ndarray, lag: float,
                 upper_arm: float, forearm: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """Elbow, wrist [T,2] of one arm facing us (out = -1: the person's right, on the image's left).

    rhythm [T]: the action's phase (radians), shared by both arms so that clapping hands meet.
    """
    if action == "handwaving":  # the arm swings from the side up over the head and back
        angle = 2.2 + 0.75 * np.sin(rhythm + lag)
        elbow = _along(shoulder, upper_arm, angle, out)
        return elbow, _along(elbow, forearm, angle + 0.3 + 0.25 * np.sin(rhythm + lag + 1.0), out)
    # Hand-clapping: the hands meet and part in front of the chest; the elbows follow by 3D IK, pointing out and down.
    gap = height * (0.02 + 0.12 * (0.5 + 0.5 * np.cos(1.6 * rhythm)))
    hand = neck + np.stack([out * gap, np.full_like(gap, 0.16 * height)], -1)
    target = np.concatenate([hand, np.full((len(gap), 1), 0.18 * height)], -1)
    elbow, wrist = _two_bone_ik(_on_plane(shoulder), target, upper_arm, forearm, np.array([out, 0.8, -0.3]))
    return elbow[:, :2], wrist[:, :2]


def _render_walker(p: _Person, background: np.ndarray, m: dict[str, Any], sl: slice) -> np.ndarray:
    """Render frames `sl` of one video -> uint8 [B,H,W,1]."""
    g = {name: value[sl] for name, value in m.items() if isinstance(value, np.ndarray)}
    b = len(g["neck"])
    h = p.height * m["scale"]
    canvas = render.Canvas(background, b)
    d = m["facing"]

    def arm(side: str, far: bool) -> None:
        shirt, skin = (p.far(p.shirt), p.far(p.skin)) if far else (p.shirt, p.skin)
        canvas.paint(render.capsule(g[f"{side}_shoulder"], g[f"{side}_elbow"], 0.036 * h), _grey(shirt), shade=0.35)
        canvas.paint(render.capsule(g[f"{side}_elbow"], g[f"{side}_wrist"], 0.03 * h), _grey(shirt), shade=0.35)
        direction = g[f"{side}_wrist"] - g[f"{side}_elbow"]
        direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-6)
        canvas.paint(render.disc(g[f"{side}_wrist"] + direction * 0.025 * h, 0.036 * h), _grey(skin), shade=0.2)

    def leg(side: str, far: bool, toe: float) -> None:
        trousers, shoes = (p.far(p.trousers), p.far(p.shoes)) if far else (p.trousers, p.shoes)
        canvas.paint(render.capsule(g[f"{side}_hip"], g[f"{side}_knee"], 0.05 * h), _grey(trousers), shade=0.35)
        canvas.paint(render.capsule(g[f"{side}_knee"], g[f"{side}_ankle"], 0.04 * h), _grey(trousers), shade=0.35)
        canvas.paint(render.capsule(g[f"{side}_ankle"], g[f"{side}_ankle"] + [toe * 0.07 * h, 0.01 * h], 0.028 * h), _grey(shoes))

    hip_c = (g["right_hip"] + g["left_hip"]) / 2
    axis = hip_c - g["neck"]
    torso_angle = np.arctan2(axis[:, 1], axis[:, 0])
    half_len = np.linalg.norm(axis, axis=-1) / 2 + 0.05 * h
    # Back to front. From the side: far limbs, torso, near leg, head, near arm. From the front: legs, body, head, arms.
    if m["side_view"]:
        near, far = ("right", "left") if d > 0 else ("left", "right")  # facing right shows the right side
        arm(far, True)
        leg(far, True, d)
        torso = np.stack([half_len, np.full(b, p.bulk * h / p.height)], -1)
        canvas.paint(render.ellipse((g["neck"] + hip_c) / 2, torso, torso_angle), _grey(p.shirt), shade=0.3)
        leg(near, False, d)
    else:
        for side, out in (("right", -1.0), ("left", 1.0)):
            leg(side, False, out * 0.5)
        canvas.paint(render.capsule(g["right_hip"], g["left_hip"], 0.055 * h), _grey(p.trousers), shade=0.3)
        torso = np.stack([half_len, np.full(b, 0.85 * p.shoulder * h / p.height)], -1)
        canvas.paint(render.ellipse((g["neck"] + hip_c) / 2, torso, torso_angle), _grey(p.shirt), shade=0.3)
        canvas.paint(render.capsule(g["right_shoulder"], g["left_shoulder"], 0.045 * h), _grey(p.shirt), shade=0.3)
    canvas.paint(render.capsule(g["neck"], g["head"], 0.03 * h), _grey(p.skin * 0.85))
    face = np.full((b, 2), [0.85, 1.0]) * p.head * h / p.height
    back = np.array([-d * 0.15 if m["side_view"] else 0.0, -0.2]) * p.head * h / p.height
    canvas.paint(render.ellipse(g["head"] + back, face * 1.05), _grey(p.hair), shade=0.2)
    canvas.paint(render.ellipse(g["head"] - back * 0.5, face * 0.85), _grey(p.skin), shade=0.25)
    if m["side_view"]:
        arm(near, False)
    else:
        for side in ("right", "left"):
            arm(side, False)
    return canvas.to_uint8()


def _generate_walker(cfg: WalkerConfig, split: str, seed: int) -> SyntheticVideos:
    if not 1 <= cfg.n_test_persons < cfg.n_persons:
        raise ValueError(f"synthetic preset 'walker': n_test_persons must be in [1, n_persons - 1 = {cfg.n_persons - 1}], got {cfg.n_test_persons}")
    n_train_persons = cfg.n_persons - cfg.n_test_persons
    n = cfg.n_videos if split == "train" else (cfg.n_eval_videos or max(1, cfg.n_videos // 2))
    split_code = {"train": 0, "test": 1}[split]
    first, count = (0, n_train_persons) if split == "train" else (n_train_persons, cfg.n_test_persons)
    frames = np.empty((n, cfg.n_frames, cfg.size, cfg.size, 1), np.uint8)
    keypoints = np.empty((n, cfg.n_frames, len(WALKER_JOINTS), 2), np.float32)
    # Actions cycle with the video index and persons with it too, shifted by one after each lcm(6, count) videos
    # (where the pairs would repeat), so 6 x count videos hold every (person, action) pair exactly once.
    video = np.arange(n)
    period = math.lcm(len(WALKER_ACTIONS), count)
    video_ids = first + (video + video // period) % count
    actions = [WALKER_ACTIONS[v % len(WALKER_ACTIONS)] for v in range(n)]
    persons = {i: _walker_person(seed, int(i), cfg.size) for i in np.unique(video_ids)}
    for v in range(n):
        person = persons[video_ids[v]]
        background = _walker_background(seed, split_code, v, cfg.size, person)
        motion = _walker_motion(_rng(seed, 3, 1, split_code, v), person, actions[v], cfg.n_frames, cfg.size)
        keypoints[v] = np.stack([motion[name] for name in WALKER_JOINTS], 1)
        for start in range(0, cfg.n_frames, CHUNK):
            sl = slice(start, min(start + CHUNK, cfg.n_frames))
            frames[v, sl] = _render_walker(person, background, motion, sl)
    return SyntheticVideos(frames, keypoints, list(WALKER_JOINTS), video_ids.astype(np.int64), "walker", split, actions)


# ------------------------------------------------------------------------------------------------------- public API

_PRESETS: dict[str, tuple[type, tuple[str, ...], Callable[..., SyntheticVideos]]] = {
    "signer": (SignerConfig, ("train", "test", "val"), _generate_signer),
    "pusher": (PusherConfig, ("train", "test"), _generate_pusher),
    "walker": (WalkerConfig, ("train", "test"), _generate_walker),
}


def preset_config(preset: str, **overrides: Any) -> Any:
    """The config dataclass of `preset` with `overrides` applied (ValueError naming an unknown preset or override)."""
    if preset not in _PRESETS:
        raise ValueError(f"preset: unknown synthetic preset {preset!r}; known: {sorted(_PRESETS)}")
    cfg = from_dict(_PRESETS[preset][0], overrides, f"synthetic preset {preset!r}")
    for f in dataclasses.fields(cfg):  # every field is a count or a size
        value = getattr(cfg, f.name)
        if value is None and f.name == "n_eval_videos":  # None: the documented default
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"synthetic preset {preset!r}: {f.name} must be a positive int, got {value!r}")
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
