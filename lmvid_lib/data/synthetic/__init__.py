"""Embedded synthetic stand-ins for BBC Pose, BAIR and KTH, with ground-truth keypoints, generated deterministically.

Presets, one module each (each a config dataclass; any field may be overridden by keyword, unknown ones are a
ValueError): `signer` (BBC Pose, `signer.py`), `pusher` (BAIR, `pusher.py`), `walker` (KTH, `walker.py`); what they
share is in `common.py`. This module holds the registry, generation (`generate`), writing in the prepared format
(`prepare_synthetic`) and the cache keyed by seed and resolved config (`cache_key`, `cached`).

Randomness: one `np.random.Generator` per (seed, preset, split, identity/video) from `np.random.SeedSequence`, so a
video's content does not depend on how many other videos are generated, nor on any global RNG state. `n_videos` is the
number of 'train' videos; the other splits have `n_eval_videos` (default: half, at least one per identity for signer).
`tune` is the validation split (`data.datasets.VALIDATION`): new videos of the training identities, persons and scene
distribution, disjoint from every other split, on which settings are chosen. Generation speed:
`benchmarks/bench_synthetic.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmvid_lib import __version__
from lmvid_lib.config import check_int, from_dict
from lmvid_lib.data.store import is_prepared, write_dataset
from lmvid_lib.data.synthetic import pusher, signer, walker
from lmvid_lib.data.synthetic.common import SyntheticVideos
from lmvid_lib.data.synthetic.pusher import PUSHER_JOINTS, PusherConfig
from lmvid_lib.data.synthetic.signer import SIGNER_JOINTS, SignerConfig
from lmvid_lib.data.synthetic.walker import WALKER_ACTIONS, WALKER_JOINTS, WalkerConfig

__all__ = [
    "GENERATOR_VERSION",
    "PUSHER_JOINTS",
    "SIGNER_JOINTS",
    "WALKER_ACTIONS",
    "WALKER_JOINTS",
    "PusherConfig",
    "SignerConfig",
    "SyntheticVideos",
    "WalkerConfig",
    "cache_key",
    "cached",
    "generate",
    "prepare_synthetic",
    "preset_config",
    "splits",
]

# Bumped whenever the generator's output changes for the same parameters, so cached sets are regenerated.
# 4: every preset has a `tune` split (train and test unchanged); 5: the pusher's one bin, table and robot, 2-5
# objects, and the walker's four KTH scenarios
GENERATOR_VERSION = 5

_PRESETS: dict[str, tuple[type, tuple[str, ...], Callable[..., SyntheticVideos]]] = {
    "signer": (SignerConfig, ("train", "tune", "test", "val"), signer.generate_signer),
    "pusher": (PusherConfig, ("train", "tune", "test"), pusher.generate_pusher),
    "walker": (WalkerConfig, ("train", "tune", "test"), walker.generate_walker),
}


def preset_config(preset: str, **overrides: Any) -> Any:
    """The config dataclass of `preset` with `overrides` applied (ValueError naming an unknown preset or override)."""
    if preset not in _PRESETS:
        raise ValueError(f"preset: unknown synthetic preset {preset!r}; known: {sorted(_PRESETS)}")
    cfg = from_dict(_PRESETS[preset][0], overrides, f"synthetic preset {preset!r}")
    for f in dataclasses.fields(cfg):  # every field is a count or a size, or a switch
        value = getattr(cfg, f.name)
        if value is None and f.name == "n_eval_videos":  # None: the documented default
            continue
        if isinstance(f.default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"synthetic preset {preset!r}: {f.name} must be true or false, got {value!r}")
            continue
        check_int(value, f"synthetic preset {preset!r}: {f.name}")
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
    check_int(seed, "seed", 0)
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
    blob = json.dumps(
        {"seed": int(seed), "params": dataclasses.asdict(cfg), "version": GENERATOR_VERSION}, sort_keys=True
    )
    return f"{preset}-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"


def cached(preset: str, cache_root: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """`cache_root/<cache_key>`, prepared by `prepare_synthetic` unless a complete set is already there."""
    path = Path(cache_root) / cache_key(preset, seed, **overrides)
    if not is_prepared(path):
        prepare_synthetic(preset, path, seed, **overrides)
    return path
