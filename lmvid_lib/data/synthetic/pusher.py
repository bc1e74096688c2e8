"""The `pusher` stand-in for BAIR robot pushing: 64x64 RGB top view of a two-link arm with a gripper in a bin on a
textured table, pushing 2-5 discs.

As in BAIR, the camera, the bin, the table and the robot are the same in every video of every split (`shared_scene`;
False: each video draws its own table, arm colour and base, as this stand-in did before); the objects differ per
video in number, size, colour and texture.

Objects move only when the gripper disc touches them (quasi-static contact, no momentum; objects push each other and
stop at the table edge). J = 7: shoulder, elbow, wrist, gripper, object_1..3 (absent objects are NaN). 'train' and
'test' have disjoint scenes (video_ids).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lmvid_lib.data import render
from lmvid_lib.data.synthetic.common import PATTERN_KINDS, SyntheticVideos, hsv, seeded_rng, textured_shader

PUSHER_JOINTS = ["shoulder", "elbow", "wrist", "gripper", "object_1", "object_2", "object_3"]


@dataclass
class PusherConfig:
    n_videos: int = 64
    n_frames: int = 30
    size: int = 64
    n_eval_videos: int | None = None  # 'test' videos; None = n_videos // 2
    max_objects: int = 5
    min_objects: int = 2
    shared_scene: bool = True  # one bin, table and robot for every video (BAIR); False: drawn per video

    def __post_init__(self) -> None:
        low, high = self.min_objects, self.max_objects
        if isinstance(low, int) and isinstance(high, int) and not 1 <= low <= high:
            raise ValueError(f"synthetic preset 'pusher': need 1 <= min_objects <= max_objects, got {low}, {high}")


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


def _pusher_table(rng: np.random.Generator, cfg: PusherConfig) -> dict[str, Any]:
    """Table texture (inside the bin's rim when the scene is shared, as in BAIR), arm colour and base of a scene."""
    size, k = cfg.size, cfg.size / 64.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    wood = hsv(rng.uniform(0.02, 0.16), rng.uniform(0.2, 0.6), rng.uniform(0.45, 0.85))
    grain = render.pattern(
        xx + 3 * render.smooth_noise(rng, (size, size), 4 * k),
        yy,
        "stripes",
        rng.uniform(3, 8) * k,
        rng.uniform(0, 6),
        rng.uniform(0, np.pi),
    )
    table = (
        wood[None, None] * (0.85 + 0.15 * grain[..., None])
        + 0.06 * render.smooth_noise(rng, (size, size), 2 * k)[..., None]
    )
    if cfg.shared_scene:  # the bin: a darker rim with a lit inner edge
        edge = np.minimum(np.minimum(xx, size - 1 - xx), np.minimum(yy, size - 1 - yy))
        rim = np.clip((3.5 * k - edge) / (1.0 * k), 0, 1)[..., None]
        table = table * (1 - 0.55 * rim) + 0.12 * np.exp(-((edge - 4 * k) ** 2) / (2 * k * k))[..., None]
    return {
        "table": np.clip(table, 0, 1).astype(np.float32),
        "base": np.array([32 + rng.uniform(-6, 6), 12.0, 16.0]) * k,
        "arm_colour": hsv(rng.uniform(), rng.uniform(0, 0.3), rng.uniform(0.55, 0.9)),
    }


def _pusher_scene(rng: np.random.Generator, cfg: PusherConfig, table: dict[str, Any] | None) -> dict[str, Any]:
    """Table texture, arm geometry and objects of one video (the scene); `table`: the shared one, or None."""
    k = cfg.size / 64.0
    table = _pusher_table(rng, cfg) if table is None else table
    n_obj = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    radii = rng.uniform(3.0, 6.5, n_obj) * k
    return {
        **table,
        "links": (30.0 * k, 30.0 * k),
        "grip_r": 3.5 * k,
        "radii": radii,
        "colours": [hsv(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0)) for _ in range(n_obj)],
        "kinds": [PATTERN_KINDS[i] for i in rng.integers(0, len(PATTERN_KINDS), n_obj)],
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
                plan = [
                    workspace(pos[i] - direction * (radii[i] + grip_r + 3 * k)),
                    workspace(pos[i] + direction * rng.uniform(6, 14) * k),
                ]
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
        "shoulder": _project(np.broadcast_to(base, (n, 3))),
        "elbow": _project(elbow),
        "wrist": _project(wrist),
        "gripper": _project(g3),
        "objects": objects,
    }


def _render_pusher(scene: dict[str, Any], m: dict[str, np.ndarray]) -> np.ndarray:
    """All frames of one video -> uint8 [T,H,W,3]."""
    k = scene["grip_r"] / 3.5
    n = len(m["gripper"])
    canvas = render.Canvas(scene["table"], n)
    for i, (r, colour, kind) in enumerate(zip(scene["radii"], scene["colours"], scene["kinds"])):
        c = m["objects"][:, i]
        canvas.paint(render.disc(c + [0.8 * k, 0.8 * k], r + 0.5 * k), np.zeros(3), opacity=0.35)  # contact shadow
        canvas.paint(render.disc(c, r), textured_shader(colour, colour * 0.5, kind, 2.5 * k, i), shade=0.35)
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


def shared_table(cfg: PusherConfig, seed: int) -> dict[str, Any] | None:
    """The one bin, table and robot of every video of data seed `seed` (None without `shared_scene`)."""
    return _pusher_table(seeded_rng(seed, 2, 99), cfg) if cfg.shared_scene else None


def video_scene(cfg: PusherConfig, seed: int, split_code: int, video: int) -> dict[str, Any]:
    """The scene of one video (table, arm, objects), as `generate_pusher` draws it before its motion."""
    return _pusher_scene(seeded_rng(seed, 2, split_code, video), cfg, shared_table(cfg, seed))


def generate_pusher(cfg: PusherConfig, split: str, seed: int) -> SyntheticVideos:
    n = cfg.n_videos if split == "train" else (cfg.n_eval_videos or max(1, cfg.n_videos // 2))
    split_code = {"train": 0, "test": 1, "tune": 2}[split]
    frames = np.empty((n, cfg.n_frames, cfg.size, cfg.size, 3), np.uint8)
    keypoints = np.full((n, cfg.n_frames, 4 + cfg.max_objects, 2), np.nan, np.float32)
    # one bin, table and robot for every split (BAIR's test videos are filmed in the same bin as its training ones)
    table = shared_table(cfg, seed)
    for v in range(n):
        rng = seeded_rng(seed, 2, split_code, v)
        scene = _pusher_scene(rng, cfg, table)
        motion = _pusher_motion(rng, scene, cfg)
        keypoints[v, :, :4] = np.stack([motion[j] for j in PUSHER_JOINTS[:4]], 1)
        keypoints[v, :, 4 : 4 + len(scene["radii"])] = motion["objects"]
        frames[v] = _render_pusher(scene, motion)
    # Objects (and without shared_scene the table) are unique per video; test ids follow train ids, tune ids follow
    # test ids, so no two splits share one.
    n_test = cfg.n_eval_videos or max(1, cfg.n_videos // 2)
    offset = {"train": 0, "test": cfg.n_videos, "tune": cfg.n_videos + n_test}[split]
    names = PUSHER_JOINTS[:4] + [f"object_{i + 1}" for i in range(cfg.max_objects)]
    return SyntheticVideos(frames, keypoints, names, np.arange(offset, offset + n, dtype=np.int64), "pusher", split)
