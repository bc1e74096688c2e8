"""The `signer` stand-in for BBC Pose: 128x128 RGB upper body, J = 7 keypoints in BBC Pose order
(head, right wrist, left wrist, right elbow, left elbow, right shoulder, left shoulder); "right" is the person's right,
on the image's left.

Arms are a 3D two-bone chain (inverse kinematics to a wrist target, elbow swung towards a down-and-out pole,
orthographic projection, so limbs foreshorten) driven by signing-like keyframes: hands rest, sign in front of the
chest, cross the body, rise to the face or out to the side, with minimum-jerk transitions of random length (some fast)
plus filtered-noise jitter. The torso sways and leans, the head turns, nods and tilts. Identity = skin, hair, body size
and position, and a textured static background; attire = shirt colours, texture and sleeve length. Sleeves are a plain
darker shade of the shirt, so that arms in front of the torso stay visible (measured: see experiments/log.yaml).
Splits: 'train' (identities x train attire), 'test' (same identities and attire, new motion), 'val' (same identities,
a held-out attire with a different hue and texture, new motion).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmvid_lib.data import render
from lmvid_lib.data.bbc import JOINT_NAMES
from lmvid_lib.data.synthetic.common import (
    CHUNK,
    PATTERN_KINDS,
    SyntheticVideos,
    filtered_noise,
    hsv,
    min_jerk,
    rotate,
    seeded_rng,
    textured_shader,
    two_bone_ik,
)

SIGNER_JOINTS = list(JOINT_NAMES)  # BBC Pose's joints in its order, so BBC code and tables apply to the stand-in


@dataclass
class SignerConfig:
    n_videos: int = 12  # 'train' videos
    n_frames: int = 300
    size: int = 128
    # Fewer identities let a linear read-out of random landmarks recover each identity's mean pose, so the keypoint
    # probe would measure identity rather than pose (measured: see experiments/log.yaml). Fewer train videos than
    # identities: one identity per video.
    n_identities: int = 12
    n_eval_videos: int | None = None  # videos in 'test' and 'val'; None = max(identities used, n_videos // 2)
    # False: sleeves in the shirt's own texture, the alternative measured in experiments/log.yaml#signer-settings-tune
    plain_sleeves: bool = True


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


_SKINS = [
    (0.07, 0.35, 0.95),
    (0.06, 0.45, 0.80),
    (0.07, 0.55, 0.62),
    (0.06, 0.60, 0.42),
    (0.08, 0.30, 0.88),
    (0.05, 0.50, 0.55),
]


def _signer_identity(seed: int, ident: int, size: int) -> _Identity:
    rng = seeded_rng(seed, 1, 0, ident)
    k = size / 128.0
    scale = float(rng.uniform(0.88, 1.12))
    skin = hsv(*_SKINS[ident % len(_SKINS)]) * np.float32(rng.uniform(0.93, 1.05))
    hair = hsv(rng.uniform(0.0, 0.12), rng.uniform(0.2, 0.7), rng.uniform(0.08, 0.55))
    # Background: a lit wall (gradient + band-limited noise) with panels and a frame, all static for the identity.
    base = hsv(rng.uniform(), rng.uniform(0.1, 0.45), rng.uniform(0.35, 0.8))
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
        bg[inside] = bg[inside] * 0.5 + 0.5 * hsv(rng.uniform(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.9))
    centre = np.array([64 + rng.uniform(-9, 9), 68 + rng.uniform(-6, 6)]) * k
    return _Identity(
        centre=centre,
        scale=scale * k,
        half_width=22 * scale * k * rng.uniform(0.92, 1.08),
        upper_arm=29 * scale * k,
        forearm=26 * scale * k,
        skin=skin,
        hair=hair,
        background=np.clip(bg, 0, 1).astype(np.float32),
    )


def _signer_attire(seed: int, ident: int, attire: int) -> _Attire:
    rng = seeded_rng(seed, 1, 1, ident)  # one stream per identity: the val attire is drawn relative to the train one
    hues = rng.uniform(size=1)[0] + np.array([0.0, rng.uniform(0.3, 0.7)])
    kinds = rng.permutation(len(PATTERN_KINDS))
    draws = [
        (rng.uniform(0.35, 0.9), rng.uniform(0.3, 0.9), rng.uniform(5, 12), rng.uniform(0, np.pi), rng.uniform() < 0.35)
        for _ in range(2)
    ]
    sat, val, period, angle, short = draws[attire]
    hue = hues[attire]
    return _Attire(
        shirt=hsv(hue, sat, val),
        shirt2=hsv(hue + 0.08, sat * 0.7, val * 0.55),
        kind=PATTERN_KINDS[kinds[attire]],
        period=float(period),
        angle=float(angle),
        short_sleeves=bool(short),
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
    sway = filtered_noise(rng, n, 3, rng.uniform(15, 35))
    sway = 1.5 * np.tanh(sway / 1.5)  # bounded, so the body stays in frame
    neck = ident.centre + np.stack([7.0 * sway[:, 0], 3.0 * sway[:, 1]], -1) * k
    lean = 0.07 * sway[:, 2]
    yaw, nod, roll = (filtered_noise(rng, n, 3, rng.uniform(6, 16)) * [0.5, 0.45, 0.12]).T
    hw = ident.half_width
    shoulders = {side: neck + rotate(lean, np.array([side * hw, 3.0 * k])) for side in (-1, 1)}
    head_centre = neck + rotate(lean + roll, np.array([0.0, -30.0 * k]))
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
    path = min_jerk(np.array(keys), np.array(times), n) + 1.5 * filtered_noise(rng, n, 6, 3.0)

    joints = {"head": face}
    for side, name in ((-1, "right"), (1, "left")):
        body = path[:, :3] if side == -1 else path[:, 3:]
        # Keep the hands inside the frame (BBC Pose keypoints always are); elbows then follow from the IK.
        size = ident.background.shape[1]
        target2d = np.clip(neck + rotate(lean, body[:, :2] * k), 7.0 * k, size - 1 - 7.0 * k)
        target = np.concatenate([target2d, body[:, 2:] * k], -1)
        shoulder3 = np.concatenate([shoulders[side], np.zeros((n, 1))], -1)
        pole = np.array([side * 0.45, 1.0, -0.3])
        elbow, wrist = two_bone_ik(shoulder3, target, ident.upper_arm, ident.forearm, pole)
        joints[f"{name}_shoulder"] = shoulders[side]
        # A raised arm near the frame edge could put the elbow outside; pull it in (a different foreshortening).
        joints[f"{name}_elbow"] = np.clip(elbow[:, :2], 2.0 * k, size - 1 - 2.0 * k)
        joints[f"{name}_wrist"] = wrist[:, :2]
        joints[f"{name}_wrist_z"] = wrist[:, 2]
    joints.update(head_centre=head_centre, neck=neck, lean=lean, yaw=yaw, nod=nod, roll=roll)
    return joints


def _render_signer(
    ident: _Identity,
    attire: _Attire,
    m: dict[str, np.ndarray],
    sl: slice,
    arm_order: tuple[int, int],
    plain_sleeves: bool = True,
) -> np.ndarray:
    """Render frames `sl` of one video -> uint8 [B,H,W,3]."""
    k = ident.scale
    g = {name: value[sl] for name, value in m.items()}
    b = len(g["neck"])
    canvas = render.Canvas(ident.background, b)
    shirt = textured_shader(attire.shirt, attire.shirt2, attire.kind, attire.period * k, attire.angle)
    hw = ident.half_width
    down = rotate(g["lean"], np.array([0.0, 1.0]))
    canvas.paint(
        render.ellipse(g["neck"] + down * 46 * k, np.full((b, 2), [hw + 7 * k, 50 * k]), g["lean"]), shirt, shade=0.25
    )
    canvas.paint(
        render.capsule(g["neck"] + down * 2 * k, g["head_centre"] + down * 8 * k, 6.0 * k), ident.skin * 0.85, shade=0.2
    )
    canvas.paint(render.capsule(g["right_shoulder"], g["left_shoulder"], 9.0 * k), shirt, shade=0.3)
    # Head: hair behind, the face ellipse shifted by yaw/nod over it, eyes and mouth following the face.
    turn = np.stack([g["yaw"], g["nod"]], -1) * k
    tilt = g["roll"] + g["lean"]
    canvas.paint(
        render.ellipse(
            g["head_centre"] - turn * 2.0 + rotate(tilt, np.array([0.0, -2.0 * k])),
            np.full((b, 2), [14.5 * k, 16.5 * k]),
            tilt,
        ),
        ident.hair,
        shade=0.3,
    )
    canvas.paint(render.ellipse(g["head"], np.full((b, 2), [11.5 * k, 14.5 * k]), tilt), ident.skin, shade=0.15)
    for eye in (-1, 1):
        canvas.paint(
            render.disc(g["head"] + rotate(tilt, np.array([eye * 4.5 * k, -2.0 * k])) + turn * 1.5, 1.7 * k),
            np.array([0.1, 0.08, 0.08]),
        )
    mouth = g["head"] + rotate(tilt, np.array([0.0, 7.0 * k])) + turn * 1.5
    side_vec = rotate(tilt, np.array([3.0 * k, 0.0]))
    canvas.paint(render.capsule(mouth - side_vec, mouth + side_vec, 1.0 * k), np.array([0.55, 0.2, 0.2]))
    sleeve = attire.shirt2 * 0.8 if plain_sleeves else shirt
    forearm_colour = ident.skin if attire.short_sleeves else sleeve
    for side in arm_order:
        name = "right" if side == -1 else "left"
        sh, el, wr = g[f"{name}_shoulder"], g[f"{name}_elbow"], g[f"{name}_wrist"]
        canvas.paint(render.capsule(sh, el, 6.5 * k), sleeve, shade=0.4)
        canvas.paint(render.capsule(el, wr, 5.0 * k), forearm_colour, shade=0.4)
        direction = wr - el
        direction = direction / np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-6)
        canvas.paint(
            render.ellipse(
                wr + direction * 4.0 * k,
                np.full((b, 2), [6.5 * k, 5.0 * k]),
                np.arctan2(direction[:, 1], direction[:, 0]),
            ),
            ident.skin,
            shade=0.3,
        )
    return canvas.to_uint8()


def generate_signer(cfg: SignerConfig, split: str, seed: int) -> SyntheticVideos:
    n_ids = min(cfg.n_identities, cfg.n_videos)
    n = cfg.n_videos if split == "train" else (cfg.n_eval_videos or max(n_ids, cfg.n_videos // 2))
    split_code = {"train": 0, "test": 1, "val": 2, "tune": 3}[split]
    attire_index = 1 if split == "val" else 0
    idents = [_signer_identity(seed, i, cfg.size) for i in range(n_ids)]
    attires = [_signer_attire(seed, i, attire_index) for i in range(n_ids)]
    frames = np.empty((n, cfg.n_frames, cfg.size, cfg.size, 3), np.uint8)
    keypoints = np.empty((n, cfg.n_frames, len(SIGNER_JOINTS), 2), np.float32)
    video_ids = np.arange(n) % n_ids
    for v in range(n):
        rng = seeded_rng(seed, 1, 2, split_code, v)
        ident = idents[video_ids[v]]
        motion = _signer_motion(rng, ident, cfg.n_frames)
        order = (-1, 1) if rng.uniform() < 0.5 else (1, -1)
        keypoints[v] = np.stack([motion[j] for j in SIGNER_JOINTS], 1)
        for start in range(0, cfg.n_frames, CHUNK):
            sl = slice(start, min(start + CHUNK, cfg.n_frames))
            frames[v, sl] = _render_signer(ident, attires[video_ids[v]], motion, sl, order, cfg.plain_sleeves)
    return SyntheticVideos(frames, keypoints, list(SIGNER_JOINTS), video_ids.astype(np.int64), "signer", split)
