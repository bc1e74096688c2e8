"""Frame sampling, temporal partners and training batches of lmvid_lib.data.pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmvid_lib.data.augment import AugmentConfig
from lmvid_lib.data.pairs import FrameSampler, load_frames, make_training_batch, partner_ranges
from lmvid_lib.data.store import VideoSet


def sparse_videoset(h: int = 24, w: int = 24) -> VideoSet:
    """BBC-like: unevenly spaced annotated frame numbers, one video too short for any partner."""
    rng = np.random.default_rng(0)
    numbers = [
        np.sort(rng.choice(400, size=40, replace=False)),  # sparse, uneven gaps
        np.array([10, 11]),  # no partner at distance >= 3
        np.arange(0, 150, 7),  # regular but spaced
        np.array([0, 100, 200]),  # gaps too large for temporal_max
    ]
    starts = np.cumsum([0] + [len(n) for n in numbers])
    m = int(starts[-1])
    return VideoSet(
        frames=rng.integers(0, 256, size=(m, h, w, 3), dtype=np.uint8),
        video_starts=starts,
        video_ids=np.arange(len(numbers)),
        frame_numbers=np.concatenate(numbers).astype(np.int64),
    )


def brute_force_partners(vs: VideoSet, lo: int, hi: int) -> list[set[int]]:
    video = vs.frame_video
    return [
        {
            j
            for j in range(len(video))
            if video[j] == video[i] and lo <= abs(vs.frame_numbers[j] - vs.frame_numbers[i]) <= hi
        }
        for i in range(len(video))
    ]


def test_partner_ranges_match_brute_force():
    vs = sparse_videoset()
    ranges = partner_ranges(vs, 3, 60)
    expected = brute_force_partners(vs, 3, 60)
    for i, (e0, en, l0, ln) in enumerate(ranges):
        assert set(range(e0, e0 + en)) | set(range(l0, l0 + ln)) == expected[i]


def test_sampled_partners_are_valid_and_cover_the_ranges():
    vs = sparse_videoset()
    cfg = AugmentConfig(temporal_min=3, temporal_max=60)
    sampler = FrameSampler(vs, cfg, seed=0)
    expected = brute_force_partners(vs, 3, 60)
    seen: list[set[int]] = [set() for _ in expected]
    for _ in range(40):
        index, partner = sampler.sample(16)
        assert index.dtype == partner.dtype == torch.int64
        for i, p in zip(index.tolist(), partner.tolist()):
            if expected[i]:
                assert p in expected[i]
            else:  # fallback for frames without a partner (short video, big gaps): the frame itself
                assert p == i
            seen[i].add(p)
    # Partners are drawn from the whole valid set, earlier and later, not a fixed one.
    rich = [i for i, e in enumerate(expected) if len(e) >= 4]
    assert sum(len(seen[i]) > 1 for i in rich) > len(rich) // 2


def test_every_epoch_visits_every_frame_once():
    vs = sparse_videoset()
    m = len(vs.frames)
    sampler = FrameSampler(vs, AugmentConfig(), seed=3)
    drawn = torch.cat([sampler.sample(7)[0] for _ in range(-(-2 * m // 7))])
    assert sorted(drawn[:m].tolist()) == list(range(m))
    assert sorted(drawn[m : 2 * m].tolist()) == list(range(m))
    assert not torch.equal(drawn[:m], drawn[m : 2 * m])  # a fresh order each epoch


def test_state_dict_round_trip_continues_the_sequence():
    vs = sparse_videoset()
    cfg = AugmentConfig()
    sampler = FrameSampler(vs, cfg, seed=1)
    for _ in range(9):  # past the first epoch boundary (68 frames)
        sampler.sample(10)
    state = sampler.state_dict()
    expected = [sampler.sample(10) for _ in range(10)]
    resumed = FrameSampler(vs, cfg, seed=99)
    resumed.load_state_dict(state)
    for (i0, p0), (i1, p1) in zip(expected, (resumed.sample(10) for _ in range(10))):
        assert torch.equal(i0, i1) and torch.equal(p0, p1)
    other = FrameSampler(vs, cfg, seed=2)
    assert not torch.equal(other.sample(10)[0], FrameSampler(vs, cfg, seed=1).sample(10)[0])


def test_sampler_errors():
    vs = sparse_videoset()
    sampler = FrameSampler(vs, AugmentConfig(), seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        sampler.sample(0)
    state = sampler.state_dict()
    state["n_frames"] = 5
    with pytest.raises(ValueError, match="5 frames"):
        sampler.load_state_dict(state)
    shuffled = VideoSet(vs.frames, vs.video_starts, vs.video_ids, vs.frame_numbers[::-1].copy())
    with pytest.raises(ValueError, match="strictly increasing"):
        FrameSampler(shuffled, AugmentConfig(), seed=0)


def test_load_frames_converts_and_resizes():
    vs = sparse_videoset()
    index = torch.tensor([5, 0, 5, 60])
    x = load_frames(vs, index, "cpu")
    assert x.shape == (4, 3, 24, 24) and x.dtype == torch.float32
    torch.testing.assert_close(x[1], torch.from_numpy(vs.frames[0]).permute(2, 0, 1).float() / 255)
    torch.testing.assert_close(x[0], x[2])
    small = load_frames(vs, index, "cpu", image_size=16)
    assert small.shape == (4, 3, 16, 16) and small.min() >= 0 and small.max() <= 1


@pytest.mark.parametrize("channels", [3, 1])
def test_make_training_batch(channels):
    vs = sparse_videoset()
    if channels == 1:
        vs = VideoSet(np.ascontiguousarray(vs.frames[..., :1]), vs.video_starts, vs.video_ids, vs.frame_numbers)
    cfg = AugmentConfig(temporal_prob=0.5)
    sampler = FrameSampler(vs, cfg, seed=0)
    batch = make_training_batch(vs, sampler, 12, cfg, 32, torch.Generator().manual_seed(0), "cpu")
    assert set(batch) >= {"target", "pose_input", "appearance_input", "is_temporal"}
    for key in ("target", "pose_input", "appearance_input"):
        t = batch[key]
        assert t.shape == (12, channels, 32, 32) and t.dtype == torch.float32 and t.device.type == "cpu"
        assert t.min() >= 0 and t.max() <= 1
    assert batch["is_temporal"].dtype == torch.bool and batch["is_temporal"].shape == (12,)
    torch.testing.assert_close(batch["target"], load_frames(vs, batch["index"], "cpu", 32))
    assert not torch.allclose(batch["pose_input"], batch["target"])
    assert not torch.allclose(batch["appearance_input"], batch["target"])
    # Same seeds -> same batch.
    again = make_training_batch(vs, FrameSampler(vs, cfg, seed=0), 12, cfg, 32, torch.Generator().manual_seed(0), "cpu")
    for key in batch:
        assert torch.equal(batch[key], again[key])


def test_temporal_prob_extremes_and_partner_frames():
    vs = sparse_videoset()
    expected = brute_force_partners(vs, 3, 60)
    always = AugmentConfig(temporal_prob=1.0)
    sampler = FrameSampler(vs, always, seed=0)
    generator = torch.Generator().manual_seed(0)
    batch = make_training_batch(vs, sampler, 30, always, None, generator, "cpu")
    has_partner = torch.tensor([bool(expected[i]) for i in batch["index"].tolist()])
    assert torch.equal(batch["is_temporal"], has_partner)
    for row in torch.nonzero(batch["is_temporal"]).flatten().tolist():
        frame = batch["appearance_input"][row]
        candidates = load_frames(vs, sorted(expected[int(batch["index"][row])]), "cpu")
        assert any(torch.equal(frame, c) for c in candidates)
    never = AugmentConfig(temporal_prob=0.0)
    batch = make_training_batch(vs, FrameSampler(vs, never, seed=0), 30, never, None, generator, "cpu")
    assert not batch["is_temporal"].any()
