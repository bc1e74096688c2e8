"""Moving landmarks by hand: the state -> frame logic of the landmark playground, without any widget.

A `Playground` holds a trained factorization model and a clip of frames with their landmark states [T,K,5]
(`landmarks.to_state`: mu_x, mu_y, l11, l21, l22). The pose shown starts as the selected frame's state; `move`,
`scale` and `rotate` edit one landmark, `interpolate_to` blends towards another frame's pose in Cholesky space (paper
Eq. 7), `reset` restores the frame's own pose, and `render` decodes the pose with the selected frame's appearance
vectors. Those are computed once per selected frame, so an update is one decoder pass. `rollout` continues the pose
with the dataset's landmark LSTM (chapter 4). The ipywidgets front end is `lmvid_lib.playground.widgets`.

Coordinates are normalised ([-1, 1], x right, y down), as everywhere in `lmvid_lib.landmarks`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lmvid_lib import landmarks
from lmvid_lib.config import check_int, check_number, check_optional_int
from lmvid_lib.data.frames import frames_to_input
from lmvid_lib.models.checkpoint import dataset_run, load_trained, scene_run
from lmvid_lib.models.dynamics import LatentSource, dynamics_run
from lmvid_lib.models.factorization import FactorizationModel
from lmvid_lib.models.files import LANDMARK_LSTM, load_model
from lmvid_lib.models.inference import decode_states, encode_frames
from lmvid_lib.models.rollout import rollout
from lmvid_lib.models.sequences import open_run_videos


def check_landmark(state: torch.Tensor, k: object) -> int:
    """`k` as an int index into the K landmarks of `state` [K,5]; ValueError naming `landmark` otherwise."""
    n = state.shape[0]
    return check_int(k, "landmark", 0, n, what=f" (K = {n})")


def _finite(value: object, name: str) -> float:
    return check_number(value, name)


def move_landmark(state: torch.Tensor, k: int, x: float, y: float) -> torch.Tensor:
    """state [K,5] with landmark k's mean set to (x, y) (normalised); a new tensor, its covariance unchanged."""
    k = check_landmark(state, k)
    moved = state.clone()
    moved[k, 0], moved[k, 1] = _finite(x, "x"), _finite(y, "y")
    return moved


def scale_landmark(state: torch.Tensor, k: int, factor: float) -> torch.Tensor:
    """state [K,5] with landmark k's Gaussian widened by `factor` > 0 along every axis (L -> factor L, so the
    covariance L L' scales by factor^2 and stays positive-definite); a new tensor."""
    k = check_landmark(state, k)
    if not _finite(factor, "factor") > 0:
        raise ValueError(f"factor must be > 0, got {factor!r}")
    scaled = state.clone()
    scaled[k, 2:] *= factor
    return scaled


def rotate_landmark(state: torch.Tensor, k: int, angle: float) -> torch.Tensor:
    """state [K,5] with landmark k's Gaussian turned by `angle` radians, counter-clockwise on the image (y down);
    a new tensor. The Cholesky factor of R (L L') R' is taken in closed form, so the result is again a valid state
    and a turn by 2 pi gives the same state back (to float rounding)."""
    k = check_landmark(state, k)
    c, s = math.cos(_finite(angle, "angle")), math.sin(angle)
    # With y pointing down, [[c, s], [-s, c]] turns counter-clockwise as the image is seen.
    rotation = torch.tensor([[c, s], [-s, c]], dtype=state.dtype, device=state.device)
    mu, cov = landmarks.from_state(state[k])
    turned = state.clone()
    turned[k] = landmarks.to_state(mu, rotation @ cov @ rotation.T)
    return turned


def nearest_landmark(state: torch.Tensor, x: float, y: float) -> int:
    """Index of the landmark of `state` [K,5] whose mean is nearest to (x, y) (normalised): what a click picks."""
    point = torch.tensor([_finite(x, "x"), _finite(y, "y")], dtype=state.dtype, device=state.device)
    return int((state[:, :2] - point).square().sum(-1).argmin())


def edited_context(history: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """The recent states history [Tc,K,5] (ending at the selected frame) shifted so that it ends at `pose` [K,5]:
    the video's own recent motion, carried over to the edited pose, as the context of a rollout. The last state is
    `pose` itself (h + (p - h) need not round to p)."""
    shifted = history + (pose - history[-1])
    shifted[-1] = pose
    return shifted


class Playground:
    """The playground's state (selected frame, edited pose) and its decoded frame: state in, frame out.

    model: a trained FactorizationModel (its device is used); frames: uint8 [T,H,W,C], consecutive frames of one
    video (C = the model's channels; any H, W: they are resized as the model sees them); rollout_model: a landmark
    predictor for `rollout` (e.g. a landmark LSTM from `load_model`) over the same K, or None; context: frames of
    the video up to the selected one that a rollout starts from.
    """

    def __init__(
        self,
        model: FactorizationModel,
        frames: np.ndarray,
        rollout_model: nn.Module | None = None,
        context: int = 2,
        batch_size: int = 64,
    ) -> None:
        if not (isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.ndim == 4 and len(frames)):
            raise ValueError(
                f"frames must be a non-empty uint8 [T,H,W,C] array, got {getattr(frames, 'dtype', type(frames))} "
                f"{getattr(frames, 'shape', '')}"
            )
        if frames.shape[-1] != model.cfg.channels:
            raise ValueError(f"frames have {frames.shape[-1]} channels, the model takes {model.cfg.channels}")
        check_int(context, "context")
        check_int(batch_size, "batch_size")
        k = model.cfg.n_landmarks
        rollout_k = getattr(getattr(rollout_model, "cfg", None), "n_landmarks", k)
        if rollout_k != k:
            raise ValueError(f"rollout_model predicts K={rollout_k} landmarks, the factorization model has K={k}")
        self.model = model
        self.frames = frames
        self.rollout_model = rollout_model
        self.context = context
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.states = self._encode_states()  # [T,K,5] float32, CPU
        self.landmark = 0  # the landmark a front end edits
        self.select_frame(0)

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def n_landmarks(self) -> int:
        return self.model.cfg.n_landmarks

    def _encode_states(self) -> torch.Tensor:
        return encode_frames(self.model, self.frames, self.batch_size).states

    def _check_frame(self, i: object, name: str = "frame") -> int:
        return check_int(i, name, 0, self.n_frames, what=" (the clip's frames)")

    @property
    def state(self) -> torch.Tensor:
        """The pose shown, [K,5]: the edited pose, interpolated towards the target frame when one is set."""
        if self._target is None:
            return self.pose
        return landmarks.interpolate(self.pose, self.states[self._target], [self._alpha])[0]

    def _commit(self) -> None:
        """An edit applies to the pose shown: an interpolated pose becomes the pose being edited."""
        self.pose, self._target = self.state, None

    def select_frame(self, i: int) -> None:
        """Show frame i: its appearance vectors (computed here once) and its own pose, unedited."""
        self.frame = self._check_frame(i)
        self._appearance = encode_frames(self.model, self.frames, 1, indices=[self.frame], appearance=True).appearance
        # the scene decoder also reads the frame itself: what no landmark covers comes from it
        size = self.model.cfg.image_size
        self._scene = (
            frames_to_input(self.frames[self.frame : self.frame + 1], size, "cpu") if self.model.reads_scene else None
        )
        self.reset()

    def select_landmark(self, k: int) -> int:
        """Make landmark k the one a front end edits; returns it."""
        self.landmark = check_landmark(self.pose, k)
        return self.landmark

    def nearest_landmark(self, x: float, y: float) -> int:
        """Select and return the landmark of the pose shown nearest to (x, y) (normalised)."""
        return self.select_landmark(nearest_landmark(self.state, x, y))

    def move(self, k: int, x: float, y: float) -> None:
        """Put landmark k's mean at (x, y) (normalised)."""
        self._commit()
        self.pose = move_landmark(self.pose, k, x, y)

    def scale(self, k: int, factor: float) -> None:
        """Widen landmark k's Gaussian by `factor` > 0 (its standard deviations times factor)."""
        self._commit()
        self.pose = scale_landmark(self.pose, k, factor)

    def rotate(self, k: int, angle: float) -> None:
        """Turn landmark k's Gaussian by `angle` radians, counter-clockwise on the image."""
        self._commit()
        self.pose = rotate_landmark(self.pose, k, angle)

    def reset(self) -> None:
        """Back to the selected frame's own pose (no edit, no interpolation)."""
        self.pose = self.states[self.frame].clone()
        self._target, self._alpha = None, 0.0

    def interpolate_to(self, j: int, alpha: float) -> torch.Tensor:
        """Show the pose (1 - alpha) edited pose + alpha frame j's pose, in Cholesky-state space (Eq. 7); alpha 0 is
        the edited pose, 1 frame j's. The next edit starts from the pose shown. Returns it, [K,5]."""
        self._target, self._alpha = self._check_frame(j, "target frame"), _finite(alpha, "alpha")
        return self.state

    def render_states(self, states: torch.Tensor) -> torch.Tensor:
        """Decode states [M,K,5] with the selected frame's appearance: float32 [M,C,H,W] in [0,1] on the CPU
        (H = W = the model's image_size)."""
        if not isinstance(states, torch.Tensor) or states.ndim != 3 or tuple(states.shape[1:]) != (self.n_landmarks, 5):
            raise ValueError(
                f"states must be a tensor [M,{self.n_landmarks},5], got {getattr(states, 'shape', type(states))}"
            )
        return decode_states(self.model, states, self._appearance, self.batch_size, self._scene)

    def render(self) -> torch.Tensor:
        """The pose shown, decoded with the selected frame's appearance: float32 [C,H,W] in [0,1] on the CPU."""
        return self.render_states(self.state[None])[0]

    @property
    def stochastic(self) -> bool:
        """Whether the rollout model samples its futures (the stochastic landmark LSTM of chapter 4b)."""
        return bool(getattr(getattr(self.rollout_model, "cfg", None), "latent", 0))

    def rollout_states(self, n: int, seed: int = 0) -> torch.Tensor:
        """The rollout model's next n states [n,K,5] after the pose shown, from the video's last `context` frames up
        to the selected one, shifted to end at that pose (`edited_context`). A stochastic model samples one future,
        its latents drawn with `seed` (the same seed, the same future); a deterministic one ignores the seed."""
        if self.rollout_model is None:
            raise RuntimeError("this playground has no rollout model: train the landmark LSTM (chapter 4) first")
        check_int(n, "n", what=" (frames to predict)")
        check_int(seed, "seed", 0)
        history = self.states[max(0, self.frame - self.context + 1) : self.frame + 1]
        context = edited_context(history, self.state)[None]
        # the model's device; a baseline without weights (CopyLast) runs where the context is
        device = next(self.rollout_model.parameters(), context).device
        start = self.rollout_model.start(LatentSource(torch.Generator().manual_seed(seed))) if self.stochastic else None
        return rollout(self.rollout_model, context.to(device), n, start)[0].cpu()

    def rollout(self, n: int, seed: int = 0) -> torch.Tensor:
        """The next n frames predicted from the pose shown, decoded: float32 [n,C,H,W] in [0,1] on the CPU."""
        return self.render_states(self.rollout_states(n, seed))


def landmark_influence(playground: Playground, offset: float = 0.3) -> torch.Tensor:
    """How much each landmark moves the picture: [K], the mean absolute change of the decoded frame (0-1 scale)
    when landmark k alone of the pose shown is shifted by `offset` along x (towards the frame's centre)."""
    state = playground.state
    shift = torch.where(state[:, 0] > 0, -offset, offset)
    moved = state.expand(len(state), -1, -1).clone()  # [K,K,5]: copy k has landmark k shifted
    moved[torch.arange(len(state)), torch.arange(len(state)), 0] += shift
    return (playground.render_states(moved) - playground.render()).abs().mean((1, 2, 3))


def sweep(state: torch.Tensor, k: int, steps: int, reach: float = 0.8) -> torch.Tensor:
    """Landmark k of state [K,5] swept along x and back: [steps,K,5], x = x_k + reach sin(2 pi t / steps) kept within
    [-0.9, 0.9], everything else as in `state`; it starts at the landmark's own position, so a loop plays smoothly."""
    k = check_landmark(state, k)
    check_int(steps, "steps", 2)
    t = torch.arange(steps, dtype=state.dtype)
    path = state.expand(steps, -1, -1).clone()
    path[:, k, 0] = (state[k, 0] + reach * torch.sin(2 * torch.pi * t / steps)).clamp(-0.9, 0.9)
    return path


def local_change(before: torch.Tensor, after: torch.Tensor, points: torch.Tensor, radius: float) -> tuple[float, float]:
    """Mean absolute change between two frames [C,H,W] within `radius` (normalised units) of any of `points` [P,2]
    (normalised x, y) and farther than 2 radius from all of them: (near, far)."""
    height, width = before.shape[-2:]
    ys = landmarks.pixel_centres(height)[:, None, None]
    xs = landmarks.pixel_centres(width)[None, :, None]
    distance = torch.hypot(xs - points[:, 0], ys - points[:, 1]).amin(-1)  # [H,W]
    change = (after - before).abs().mean(0)
    return float(change[distance < radius].mean()), float(change[distance > 2 * radius].mean())


def load_playground(
    run_dir: str | Path,
    dataset: str,
    split: str = "test",
    video: int = 0,
    max_frames: int | None = None,
    device: str | torch.device = "cpu",
    context: int = 2,
    scene: bool = False,
    stochastic: bool = False,
) -> Playground:
    """A Playground on `dataset`'s factorization model of run directory `run_dir` (`dataset_run`; with `scene`, the
    scene decoder chapter 2 trained on its landmarks, `scene_run`), on video `video` of its `split` split (at most
    `max_frames` frames from its start), with the dataset's residual landmark LSTM (`dynamics_run`) when chapter 4 has
    trained it (with `stochastic`, the stochastic one of chapter 4b), else no rollout."""
    run = dataset_run(run_dir, dataset)
    if scene:
        run = scene_run(run_dir, dataset)
        if run is None:
            raise FileNotFoundError(f"{run_dir}: chapter 2 trained no scene decoder for {dataset!r} (scene_decoder)")
    model, _ = load_trained(run, device)
    videos = open_run_videos(run, split, run_dir)
    check_int(video, "video", 0, videos.n_videos, what=f" (videos of {dataset} {split})")
    check_optional_int(max_frames, "max_frames")
    start, end = int(videos.video_starts[video]), int(videos.video_starts[video + 1])
    frames = np.asarray(videos.frames[start : end if max_frames is None else min(end, start + max_frames)])
    try:
        predictor = load_model(dynamics_run(run_dir, dataset, stochastic=stochastic), device, LANDMARK_LSTM)
    except FileNotFoundError:
        predictor = None
    return Playground(model, frames, predictor, context)


def control_tour(playground: Playground, k: int, target: int, moved_to: tuple[float, float] | None = None) -> tuple:
    """The playground's controls applied in turn to the selected frame's pose, each from that pose: landmark `k`
    widened 2x, then also turned 90 degrees; the pose halfway to frame `target`'s; and, with a rollout model and
    `moved_to` (x, y), landmark k moved there and the LSTM's frames 5 and 10 after it. Returns (states [M,K,5],
    titles [M]); the playground is left reset."""
    shown, titles = [playground.state], ["as encoded"]
    playground.scale(k, 2.0)
    shown.append(playground.state)
    titles.append(f"landmark {k} 2x wider")
    playground.rotate(k, math.pi / 2)
    shown.append(playground.state)
    titles.append("... and turned 90°")
    playground.reset()
    shown.append(playground.interpolate_to(target, 0.5))
    titles.append(f"halfway to frame {target}")
    playground.reset()
    if playground.rollout_model is not None and moved_to is not None:
        playground.move(k, *moved_to)
        predicted = playground.rollout_states(10)
        shown += [playground.state, predicted[4], predicted[9]]
        titles += [f"landmark {k} moved", "LSTM: 5 frames on", "LSTM: 10 frames on"]
        playground.reset()
    return torch.stack(shown), titles


def update_seconds(playground: Playground, path: torch.Tensor, k: int, draw: Callable[[], object], n: int = 5) -> list:
    """Wall seconds of `n` playground updates: landmark k moved to its place at each of the first n states of `path`
    [T,K,5], then `draw()` (decode and picture); the playground is left reset."""
    seconds = []
    for step in range(n):
        start = time.perf_counter()
        playground.move(k, float(path[step, k, 0]), float(path[step, k, 1]))
        draw()
        seconds.append(time.perf_counter() - start)
    playground.reset()
    return seconds
