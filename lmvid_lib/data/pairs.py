"""Training batches for the factorization model: frame sampling, temporal partners, and the perturbed inputs.

A batch holds, for frames x drawn from a prepared `VideoSet`: target = x, pose_input = colour-jittered x, and
appearance_input = either a TPS warp of x or (for a `temporal_prob` fraction of the batch) another frame of the same
video whose original frame number is `temporal_min`..`temporal_max` away (paper: 3-60; the official follow-up code used
3-39). Distances use `VideoSet.frame_numbers`, so sparsely annotated videos (BBC Pose stores only some frames) pair
frames by real time, not by storage position. A frame with no such partner falls back to the TPS path.

`FrameSampler` walks the frames in a fresh random order each epoch; its `state_dict` (seed, epoch, position, partner
RNG state) lets a resumed run continue the same data order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lmvid_lib.config import check_int
from lmvid_lib.data.augment import AugmentConfig, color_jitter, tps_warp, validate_augment_config
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet


def partner_ranges(videoset: VideoSet, temporal_min: int, temporal_max: int) -> np.ndarray:
    """For every stored frame, the stored-index ranges of its valid temporal partners.

    Returns int64 [M,4]: (earlier_start, earlier_count, later_start, later_count); partners of frame i are
    earlier_start + [0, earlier_count) and later_start + [0, later_count), all in i's video with
    temporal_min <= |frame_number difference| <= temporal_max.
    """
    if not 1 <= temporal_min <= temporal_max:
        raise ValueError(f"need 1 <= temporal_min <= temporal_max, got {temporal_min}, {temporal_max}")
    out = np.zeros((len(videoset.frame_numbers), 4), dtype=np.int64)
    starts = np.asarray(videoset.video_starts)
    for v in range(videoset.n_videos):
        lo, hi = int(starts[v]), int(starts[v + 1])
        numbers = np.asarray(videoset.frame_numbers[lo:hi], dtype=np.int64)
        if np.any(np.diff(numbers) <= 0):
            raise ValueError(
                f"frame_numbers of video {videoset.video_names[v]!r} are not strictly increasing; "
                "the prepared store keeps each video in time order"
            )
        e0 = np.searchsorted(numbers, numbers - temporal_max, side="left")
        e1 = np.searchsorted(numbers, numbers - temporal_min, side="right")
        l0 = np.searchsorted(numbers, numbers + temporal_min, side="left")
        l1 = np.searchsorted(numbers, numbers + temporal_max, side="right")
        out[lo:hi] = np.stack([lo + e0, e1 - e0, lo + l0, l1 - l0], axis=1)
    return out


class FrameSampler:
    """Draws training frames (a new permutation of all frames each epoch) and, for each, a temporal partner.

    `sample(batch_size) -> (index [B], partner [B])`: int64 CPU tensors of stored-frame indices into
    `videoset.frames`; partner is uniform over the frames of the same video at frame-number distance in
    [cfg.temporal_min, cfg.temporal_max], or the frame itself when there is none.
    """

    def __init__(self, videoset: VideoSet, cfg: AugmentConfig, seed: int) -> None:
        validate_augment_config(cfg)
        if len(videoset.frames) == 0:
            raise ValueError("FrameSampler: the VideoSet has no frames")
        check_int(seed, "FrameSampler: seed", 0)
        self.n_frames = len(videoset.frames)
        self.seed = seed
        ranges = torch.from_numpy(partner_ranges(videoset, cfg.temporal_min, cfg.temporal_max))
        self._earlier_start, self._earlier_count, self._later_start, self._later_count = ranges.unbind(1)
        self._rng = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self.position = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        # Each epoch's order derives from (seed, epoch) alone, so a resumed sampler needs no stored permutation.
        epoch_seed = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1, np.uint64)[0] >> 1)
        return torch.randperm(self.n_frames, generator=torch.Generator().manual_seed(epoch_seed))

    def _next_indices(self, batch_size: int) -> torch.Tensor:
        parts, need = [], batch_size
        while need > 0:
            if self.position == self.n_frames:
                self.epoch, self.position = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
            take = min(need, self.n_frames - self.position)
            parts.append(self._order[self.position : self.position + take])
            self.position += take
            need -= take
        return torch.cat(parts)

    def partners(self, index: torch.Tensor) -> torch.Tensor:
        """A random valid partner of each frame in index [B] (itself if none) -> int64 [B]."""
        earlier, later = self._earlier_count[index], self._later_count[index]
        total = earlier + later
        pick = (torch.rand(len(index), generator=self._rng, dtype=torch.float64) * total).long()  # in [0, total)
        partner = torch.where(
            pick < earlier, self._earlier_start[index] + pick, self._later_start[index] + pick - earlier
        )
        return torch.where(total > 0, partner, index)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(index [B], partner [B]) int64 CPU tensors, see the class docstring."""
        check_int(batch_size, "FrameSampler.sample: batch_size")
        index = self._next_indices(batch_size)
        return index, self.partners(index)

    def state_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "position": self.position,
            "n_frames": self.n_frames,
            "rng": self._rng.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["n_frames"]) != self.n_frames:
            raise ValueError(
                f"FrameSampler.load_state_dict: state is for {int(state['n_frames'])} frames, "
                f"this VideoSet has {self.n_frames}"
            )
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), int(state["position"])
        self._rng.set_state(state["rng"])
        self._order = self._permutation(self.epoch)


def load_frames(
    videoset: VideoSet, index: torch.Tensor | np.ndarray, device: torch.device | str, image_size: int | None = None
) -> torch.Tensor:
    """Stored frames `index` [B] as float32 [B,C,S,S] in [0,1] on `device`, converted by
    `lmvid_lib.data.frames.frames_to_input` (S = image_size; None keeps the stored size)."""
    idx = np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index, dtype=np.int64)
    # Fancy indexing a memmap reads only the needed frames; sorted reads are sequential on disk.
    order = np.argsort(idx, kind="stable")
    frames = np.empty((len(idx), *videoset.frames.shape[1:]), dtype=np.uint8)
    frames[order] = videoset.frames[idx[order]]
    return frames_to_input(frames, image_size, device)


def make_training_batch(
    videoset: VideoSet,
    sampler: FrameSampler,
    batch_size: int,
    cfg: AugmentConfig,
    image_size: int | None,
    generator: torch.Generator,
    device: torch.device | str,
) -> dict[str, torch.Tensor]:
    """One training batch, all tensors on `device`.

    Returns target, pose_input, appearance_input: float32 [B,C,S,S] in [0,1] (S = image_size, or the stored size when
    None), is_temporal: bool [B] (appearance_input is a temporal partner rather than a TPS warp), index: int64 [B]
    (the stored-frame indices of the targets). Randomness beyond the sampler comes from `generator`.
    """
    index, partner = sampler.sample(batch_size)
    draw = torch.rand(batch_size, generator=generator, device=generator.device).cpu() < cfg.temporal_prob
    is_temporal = draw & (partner != index)
    frames = load_frames(videoset, torch.cat([index, partner[is_temporal]]), device, image_size)
    target = frames[:batch_size]
    pose_input = color_jitter(target, cfg, generator)
    temporal_dev = is_temporal.to(device)
    appearance_input = torch.empty_like(target)
    appearance_input[temporal_dev] = frames[batch_size:]
    if not bool(is_temporal.all()):
        appearance_input[~temporal_dev] = tps_warp(target[~temporal_dev], cfg, generator)
    return {
        "target": target,
        "pose_input": pose_input,
        "appearance_input": appearance_input,
        "is_temporal": temporal_dev,
        "index": index.to(device),
    }
