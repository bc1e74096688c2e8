"""Videos as landmark-state sequences (extract_sequences, cached per checkpoint) and back (render_sequence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lmvid_lib import landmarks
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.data.store import VideoSet
from lmvid_lib.io import save_checkpoint
from lmvid_lib.models import sequences
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.inference import encode_frames
from lmvid_lib.models.run_config import TrainConfig, config_dict
from lmvid_lib.models.sequences import extract_sequences, render_sequence, sequence_indices

pytestmark = pytest.mark.usefixtures("one_thread")


def clips(n_videos: int = 3, n_frames: int = 10, size: int = 16, seed: int = 0) -> np.ndarray:
    """uint8 [V,T,size,size,3]: a coloured square moving over a grey background in each video."""
    rng = np.random.default_rng(seed)
    frames = np.full((n_videos, n_frames, size, size, 3), 90, dtype=np.uint8)
    for v in range(n_videos):
        colour, (x0, y0) = rng.integers(120, 255, 3), rng.integers(0, size // 2, 2)
        for t in range(n_frames):
            frames[v, t, y0 + t // 3 : y0 + t // 3 + 5, x0 + t // 2 : x0 + t // 2 + 5] = colour
    return frames


def save_run(run: Path, model: FactorizationModel) -> Path:
    """A factorization run folder holding `model` as train_factorization writes model.pt."""
    state = {"config": config_dict(TrainConfig(model=model.cfg)), "model": model.state_dict()}
    save_checkpoint(run / "model.pt", state)
    return run


def test_sequence_indices_cut_videos_into_windows():
    videos = VideoSet(
        frames=np.zeros((23, 2, 2, 1), np.uint8),
        video_starts=np.array([0, 10, 13, 23]),
        video_ids=np.arange(3),
        frame_numbers=np.arange(23),
    )
    indices = sequence_indices(videos, 4)
    assert indices.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [13, 14, 15, 16], [17, 18, 19, 20]]
    assert videos.frame_video[indices[:, 0]].tolist() == [0, 0, 2, 2]
    with pytest.raises(ValueError, match="give a sequence length"):
        sequence_indices(videos)
    with pytest.raises(ValueError, match="no video has 11 frames"):
        sequence_indices(videos, 11)
    assert sequence_indices(VideoSet.from_clips(clips(2, 5), np.arange(2))).tolist() == [
        [0, 1, 2, 3, 4],
        [5, 6, 7, 8, 9],
    ]


def test_extract_sequences_are_the_states_of_the_landmarks_and_are_cached(tmp_path, tiny_model, monkeypatch):
    videos = VideoSet.from_clips(clips(), np.arange(3))
    model = tiny_model(seed=0)
    run = save_run(tmp_path / "run", model)
    states = extract_sequences(run, videos, length=5, batch_size=4, progress=False)
    assert states.shape == (6, 5, 3, 5) and states.dtype == np.float32
    expected = encode_frames(model, videos.frames).states.numpy().reshape(6, 5, 3, 5)
    np.testing.assert_allclose(states, expected, atol=1e-6)
    cached = list((run / "sequences").glob("*.npy"))
    assert len(cached) == 1

    def no_model(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(sequences, "load_trained", no_model)
    np.testing.assert_array_equal(extract_sequences(run, videos, length=5, progress=False), states)
    monkeypatch.undo()

    # Another checkpoint in the same run folder: a new cache entry with the new model's states.
    save_run(run, tiny_model(seed=1))
    retrained = extract_sequences(run, videos, length=5, progress=False)
    assert len(list((run / "sequences").glob("*.npy"))) == 2
    assert not np.allclose(retrained, states)
    again = encode_frames(tiny_model(seed=1), videos.frames).states
    np.testing.assert_allclose(retrained.reshape(-1, 3, 5), again, atol=1e-6)
    # Other frames (other data, same selection): a new entry too.
    other = VideoSet.from_clips(clips(seed=1), np.arange(3))
    assert sequences.cache_path(run, other, sequence_indices(other, 5)) != sequences.cache_path(
        run, videos, sequence_indices(videos, 5)
    )
    # The same frames in other windows (whole 10-frame videos, then 5-frame clips): another entry, the right shape.
    whole = extract_sequences(run, videos, progress=False)
    assert whole.shape == (3, 10, 3, 5) and extract_sequences(run, videos, length=5, progress=False).shape == (
        6,
        5,
        3,
        5,
    )


def test_render_sequence_decodes_the_states_with_the_appearance_frame(tiny_model):
    model = tiny_model(seed=0).eval()
    frames = clips(2, 4).reshape(8, 16, 16, 3)
    x = frames_to_input(frames, 16, "cpu")
    with torch.no_grad():
        out = model(x, x)
    states = landmarks.to_state(out["mu"], out["cov"]).unflatten(0, (2, 4))
    appearance_frame = frames[[0, 4]]
    rendered = render_sequence(model, states, appearance_frame, batch_size=3)
    assert rendered.shape == (2, 4, 3, 16, 16) and rendered.dtype == torch.float32
    # Frame 0 of each sequence with its own appearance is the model's reconstruction of that frame.
    torch.testing.assert_close(rendered[:, 0], out["recon"][[0, 4]], atol=1e-4, rtol=0)
    # With the other video's first frame (another colour), every frame is drawn with that frame's appearance vectors.
    swapped = render_sequence(model, states, frames[[4, 0]])
    with torch.no_grad():
        appearance = model.encode_appearance(x[[4, 0]], model.encode_pose(x[[4, 0]]).part_logits)
        expected = model.decode(out["mu"][[2, 6]], out["cov"][[2, 6]], appearance)
    torch.testing.assert_close(swapped[:, 2], expected, atol=1e-4, rtol=0)
    assert (swapped[:, 2] - out["recon"][[2, 6]]).abs().max() > 1e-2
    with pytest.raises(ValueError, match="K=3"):
        render_sequence(model, states[..., :2, :], appearance_frame)
    with pytest.raises(ValueError, match="appearance_frame"):
        render_sequence(model, states, appearance_frame[:1])


def test_dataset_run_prefers_spade_then_the_lowest_seed_and_names_what_is_held(tmp_path):
    from lmvid_lib.io import atomic_write_json
    from lmvid_lib.models.checkpoint import dataset_run

    def run(name: str, dataset: str, decoder: str, seed: int, finished: bool = True) -> Path:
        cfg = TrainConfig(dataset=dataset, seed=seed)
        cfg.model.decoder = decoder
        folder = tmp_path / "factorization" / name
        atomic_write_json(folder / "config.json", config_dict(cfg))
        if finished:
            (folder / "model.pt").write_bytes(b"")
        return folder

    run("signer-concat-seed0", "signer", "concat", 0)
    spade1 = run("signer-spade-seed1", "signer", "spade", 1)
    run("signer-spade-seed0", "signer", "spade", 0, finished=False)
    pusher = run("pusher-spade-seed3", "pusher", "spade", 3)
    assert dataset_run(tmp_path, "signer") == spade1
    assert dataset_run(tmp_path, "pusher") == pusher
    with pytest.raises(FileNotFoundError, match=r"'walker'.*\['pusher', 'signer'\]"):
        dataset_run(tmp_path, "walker")


def test_chapter_models_is_one_rule_for_configs_and_run_folders():
    from lmvid_lib.models.run_config import chapter_models

    def cfg(dataset: str, decoder: str, seed: int, landmarks_from: str | None = None) -> TrainConfig:
        c = TrainConfig(dataset=dataset, seed=seed, landmarks_from=landmarks_from)
        c.model.decoder = decoder
        return c

    given = [  # chapter 2's order when its decoders are listed concat first
        (cfg("signer", "concat", 0), "concat0"),
        (cfg("signer", "spade", 1), "spade1"),
        (cfg("signer", "spade", 0), "spade0"),
        (cfg("signer", "scene", 0, landmarks_from="signer-spade-seed0"), "scene0"),
        (cfg("walker", "concat", 2), "walker-concat2"),
        (cfg("walker", "concat", 2), "walker-concat2-later"),
    ]
    assert chapter_models(given) == {"signer": "spade0", "walker": "walker-concat2"}
    assert chapter_models(given[3:4]) == {}  # a run on another's landmarks is never the dataset's model
