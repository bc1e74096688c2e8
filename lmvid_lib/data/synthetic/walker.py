"""The `walker` stand-in for KTH actions: 64x64 grayscale (C = 1) capsule-bodied person doing one of the six KTH
actions.

Walking, jogging and running cross the frame seen from the side, left or right, at increasing speed (~0.6, 1.0, 1.4
body heights per second at 25 fps), stride rate, leg and arm swing, elbow bend and forward lean; the hip height follows
the lower foot, so the body bobs. The clip is centred on the crossing, so fast walkers enter and/or leave the frame:
their keypoints are then still reported as (out-of-frame) pixel coordinates, never NaN. Boxing (side view: guard, each
fist punching on its own random rhythm) and hand-waving / hand-clapping (front view, arms by 3D two-bone IK for
clapping) stay in place. J = 14 (see WALKER_JOINTS). video_ids = person id: height, limb and torso proportions, and
grey levels of shirt, trousers, skin and hair; each video adds a camera distance (+-10 %) and a static background
(graded wall or sky over ground, texture, noise) whose brightness is opposite to the clothes so the body stays
visible. The last `n_test_persons` of `n_persons` are the 'test' persons, the others 'train'. Video v of a split does
action v mod 6 (so any 6 consecutive videos show all six), and 6 x (persons in the split) videos hold every (person,
action) pair once. The action of each video is in `actions` (and the stored meta).

KTH films every action in four scenarios (Schuldt et al., 2004): d1 outdoors, d2 outdoors with the camera zooming
in and out, d3 outdoors in other clothes, d4 indoors. Video v is in scenario (v // 6) mod `scenarios` (WALKER_SCENARIOS;
`scenarios: 1`, outdoors only, is this stand-in before they were added): d2 zooms every frame about the frame centre
(the keypoints with it), d3 shifts the person's clothes to other grey levels (same side of the background), d4 draws a
room (a wall with a door edge and a floor, lit from one side) instead of the outdoor scene.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmvid_lib.data import render
from lmvid_lib.data.synthetic.common import CHUNK, SyntheticVideos, filtered_noise, seeded_rng, two_bone_ik

WALKER_JOINTS = [
    "head",
    "neck",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_hip",
    "left_knee",
    "left_ankle",
]
WALKER_ACTIONS = ["walking", "jogging", "running", "boxing", "handwaving", "handclapping"]
WALKER_SCENARIOS = ["d1 outdoors", "d2 outdoors, zooming camera", "d3 outdoors, other clothes", "d4 indoors"]


@dataclass
class WalkerConfig:
    n_videos: int = 48
    n_frames: int = 60
    size: int = 64
    n_persons: int = 12
    n_test_persons: int = 4  # the last persons are held out for 'test'
    n_eval_videos: int | None = None  # 'test' videos; None = n_videos // 2
    scenarios: int = 4  # KTH's d1-d4 (WALKER_SCENARIOS) in turn, 6 videos each; 1: outdoors only


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
    rng = seeded_rng(seed, 3, 0, person)
    h = rng.uniform(34, 44) * size / 64.0
    leg = h * rng.uniform(0.46, 0.50)
    thigh = leg * rng.uniform(0.48, 0.53)
    torso = h * rng.uniform(0.28, 0.32)
    head = h * rng.uniform(0.06, 0.07)
    dark = bool(rng.uniform() < 0.65)
    if dark:
        shirt, trousers, skin, hair = (
            rng.uniform(0.04, 0.40),
            rng.uniform(0.04, 0.35),
            rng.uniform(0.30, 0.42),
            rng.uniform(0.02, 0.2),
        )
    else:
        shirt, trousers, skin, hair = (
            rng.uniform(0.70, 0.96),
            rng.uniform(0.65, 0.90),
            rng.uniform(0.62, 0.75),
            rng.uniform(0.1, 0.5),
        )
    return _Person(
        height=h,
        head=head,
        neck=h - 0.03 * h - leg - torso - 1.1 * head,
        torso=torso,
        shoulder=h * rng.uniform(0.10, 0.125),
        hip=h * rng.uniform(0.065, 0.08),
        upper_arm=h * rng.uniform(0.16, 0.18),
        forearm=h * rng.uniform(0.15, 0.17),
        thigh=thigh,
        shin=leg - thigh,
        bulk=h * rng.uniform(0.065, 0.09),
        shirt=shirt,
        trousers=trousers,
        skin=skin,
        hair=hair,
        dark=dark,
    )


def _walker_background(seed: int, split_code: int, video: int, size: int, person: _Person) -> np.ndarray:
    """Static grey scene [H,W,1] of one video: a wall or sky over a darker/lighter ground, graded and textured.

    Its level is drawn opposite to the person's clothes (as in KTH, where clothes contrast with the scene) so that the
    body stays visible in grayscale.
    """
    rng = seeded_rng(seed, 3, 2, split_code, video)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    level = rng.uniform(0.62, 0.88) if person.dark else rng.uniform(0.12, 0.32)
    horizon = rng.uniform(0.45, 0.7) * size
    ground = level * rng.uniform(0.8, 0.95) if person.dark else level * rng.uniform(1.0, 1.2)
    above = level + 0.08 * (xx - rng.uniform(0, size)) / size - 0.05 * yy / size
    above = above + 0.05 * render.pattern(
        xx, yy, "stripes", rng.uniform(8, 20) * size / 64, rng.uniform(0, 6), rng.uniform(-0.1, 0.1)
    )
    below = ground + 0.04 * (yy - horizon) / size
    blend = np.clip(yy - horizon + 0.5, 0.0, 1.0)  # an anti-aliased horizon
    bg = above * (1 - blend) + below * blend + 0.05 * render.smooth_noise(rng, (size, size), 1.5 * size / 64)
    return np.clip(bg, 0, 1)[..., None].astype(np.float32)


def _indoor_background(seed: int, split_code: int, video: int, size: int, person: _Person) -> np.ndarray:
    """A room [H,W,1] (scenario d4): a plain wall lit from one side, a door edge, a floor below; level opposite to
    the clothes, as outdoors."""
    rng = seeded_rng(seed, 3, 3, split_code, video)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    level = rng.uniform(0.55, 0.8) if person.dark else rng.uniform(0.15, 0.3)
    side = rng.choice([-1.0, 1.0])
    wall = level + 0.12 * side * (xx / size - 0.5)
    door = rng.uniform(0.1, 0.9) * size
    wall = wall - 0.07 * np.clip((xx - door) / (0.6 * size / 64), 0, 1) * (yy < 0.62 * size)
    floor = 0.62 * size + rng.uniform(-3, 3) * size / 64
    below = level * (0.75 if person.dark else 1.35) + 0.03 * render.smooth_noise(rng, (size, size), 3 * size / 64)
    blend = np.clip(yy - floor + 0.5, 0.0, 1.0)
    return np.clip(wall * (1 - blend) + below * blend, 0, 1)[..., None].astype(np.float32)


def _other_clothes(person: _Person, rng: np.random.Generator) -> _Person:
    """The person in other clothes (scenario d3): shirt and trousers redrawn on the same side of the background."""
    low, high = (0.04, 0.40) if person.dark else (0.65, 0.96)
    return dataclasses.replace(person, shirt=rng.uniform(low, high), trousers=rng.uniform(low, high))


def _zoom(frames: np.ndarray, keypoints: np.ndarray, rng: np.random.Generator) -> None:
    """Scenario d2, in place: frames uint8 [T,H,W,1] and keypoints [T,J,2] zoomed by z_t about the frame centre, the
    camera zooming in and back out over the clip (z from 1 up to 1.15-1.4)."""
    import torch
    import torch.nn.functional as F

    t, size = len(frames), frames.shape[1]
    peak, phase = rng.uniform(0.15, 0.4), rng.uniform(0, 2 * np.pi)
    z = 1 + peak * (1 - np.cos(2 * np.pi * np.arange(t) / max(t - 1, 1) + phase)) / 2
    theta = torch.zeros(t, 2, 3, dtype=torch.float32)
    theta[:, 0, 0] = theta[:, 1, 1] = torch.from_numpy(1 / z).float()
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    frames[:] = out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    centre = (size - 1) / 2
    keypoints[:] = centre + (keypoints - centre) * z[:, None, None].astype(np.float32)


def _on_plane(points: np.ndarray) -> np.ndarray:
    """[T,2] image points -> [T,3] on the z = 0 plane (for the 3D two-bone IK)."""
    return np.concatenate([points, np.zeros((len(points), 1))], -1)


def _grey(level: float) -> np.ndarray:
    """One grey level -> a 1-channel colour [1]."""
    return np.array([level], np.float32)


def _along(origin: np.ndarray, length: float, angle: np.ndarray, d: float) -> np.ndarray:
    """origin [T,2] + a bone of `length` at `angle` [T] from straight down, positive towards x = d (pixels)."""
    return origin + length * np.stack([d * np.sin(angle), np.cos(angle)], -1)


def _legs_on_ground(
    hip_x: np.ndarray, ground: float, p: _Person, s: float, legs: dict[str, _Leg]
) -> dict[str, np.ndarray]:
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


def _gait(
    rng: np.random.Generator, p: _Person, action: str, n: int, size: int, s: float, d: float, turn: float
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


def _stance(
    rng: np.random.Generator, p: _Person, action: str, n: int, size: int, s: float, d: float, turn: float
) -> tuple[np.ndarray, np.ndarray, dict[str, _Leg]]:
    """In place: hip x [n] (a little drift), lean [n] and legs (boxing: side-on guard stance; else facing us)."""
    t = np.arange(n, dtype=np.float64)
    hip_x = rng.uniform(0.35, 0.65) * size + 1.5 * s * filtered_noise(rng, n, 1, 10.0)[:, 0]
    lean = 0.03 * filtered_noise(rng, n, 1, 8.0)[:, 0]
    if action == "boxing":
        bob = 0.3 * np.sin(2 * np.pi * rng.uniform(0.04, 0.07) * t + rng.uniform(0, 2 * np.pi))
        legs = {
            "right": _Leg(0.25 + 0.05 * bob, 0.3 + 0.1 * bob, d, -0.4 * turn),
            "left": _Leg(-0.2 - 0.05 * bob, 0.2 + 0.1 * bob, d, 0.4 * turn),
        }
        return hip_x, lean + 0.1, legs
    shift = 0.04 * filtered_noise(rng, n, 1, 12.0)[:, 0]  # weight shifting from foot to foot
    straight = np.full(n, 0.05)
    legs = {
        "right": _Leg(0.08 + shift, straight, -1.0, -p.hip * s),
        "left": _Leg(0.08 - shift, straight, 1.0, p.hip * s),
    }
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
    j["neck"] = (j["right_hip"] + j["left_hip"]) / 2 + p.torso * s * np.stack(
        [sideways * np.sin(lean), -np.cos(lean)], -1
    )
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
            elbow3, wrist3 = two_bone_ik(
                _on_plane(shoulder), _on_plane(target), upper_arm, forearm, np.array([-d * 0.4, 1.0, 0.0])
            )
            elbow, wrist = elbow3[:, :2], wrist3[:, :2]
        else:
            shoulder = shoulder_line + [out * p.shoulder * s, 0.0]
            lag = rng.uniform(-0.3, 0.3)  # the arms wave nearly, not exactly, together
            elbow, wrist = _frontal_arm(shoulder, j["neck"], action, out, rhythm, lag, upper_arm, forearm, p.height * s)
        j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"] = shoulder, elbow, wrist
    return j


def _frontal_arm(
    shoulder: np.ndarray,
    neck: np.ndarray,
    action: str,
    out: float,
    rhythm: np.ndarray,
    lag: float,
    upper_arm: float,
    forearm: float,
    height: float,
) -> tuple[np.ndarray, np.ndarray]:
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
    elbow, wrist = two_bone_ik(_on_plane(shoulder), target, upper_arm, forearm, np.array([out, 0.8, -0.3]))
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
        canvas.paint(
            render.capsule(g[f"{side}_ankle"], g[f"{side}_ankle"] + [toe * 0.07 * h, 0.01 * h], 0.028 * h), _grey(shoes)
        )

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


def generate_walker(cfg: WalkerConfig, split: str, seed: int) -> SyntheticVideos:
    if not 1 <= cfg.scenarios <= len(WALKER_SCENARIOS):
        raise ValueError(f"synthetic preset 'walker': scenarios must be in [1, 4] (KTH's d1-d4), got {cfg.scenarios}")
    if not 1 <= cfg.n_test_persons < cfg.n_persons:
        raise ValueError(
            f"synthetic preset 'walker': n_test_persons must be in [1, n_persons - 1 = {cfg.n_persons - 1}], "
            f"got {cfg.n_test_persons}"
        )
    n_train_persons = cfg.n_persons - cfg.n_test_persons
    n = cfg.n_videos if split == "train" else (cfg.n_eval_videos or max(1, cfg.n_videos // 2))
    split_code = {"train": 0, "test": 1, "tune": 2}[split]
    # tune: new videos of the training persons (validation); test: the held-out persons (KTH's protocol)
    first, count = (n_train_persons, cfg.n_test_persons) if split == "test" else (0, n_train_persons)
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
        scenario = WALKER_SCENARIOS[(v // len(WALKER_ACTIONS)) % cfg.scenarios]
        scenario_rng = seeded_rng(seed, 3, 4, split_code, v)
        if scenario.startswith("d3"):
            person = _other_clothes(person, scenario_rng)
        scene = _indoor_background if scenario.startswith("d4") else _walker_background
        background = scene(seed, split_code, v, cfg.size, person)
        motion = _walker_motion(seeded_rng(seed, 3, 1, split_code, v), person, actions[v], cfg.n_frames, cfg.size)
        keypoints[v] = np.stack([motion[name] for name in WALKER_JOINTS], 1)
        for start in range(0, cfg.n_frames, CHUNK):
            sl = slice(start, min(start + CHUNK, cfg.n_frames))
            frames[v, sl] = _render_walker(person, background, motion, sl)
        if scenario.startswith("d2"):
            _zoom(frames[v], keypoints[v], scenario_rng)
    return SyntheticVideos(frames, keypoints, list(WALKER_JOINTS), video_ids.astype(np.int64), "walker", split, actions)
