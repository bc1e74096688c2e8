"""The landmark playground in JupyterLab: ipywidgets 8 controls around `lmvid_lib.playground.core.Playground`.

Controls: dataset model, held-out frame, landmark (a dropdown, or a click near it on the picture, through ipyevents),
its position x / y, the scale and rotation of its covariance, reset, interpolation towards a target frame's pose
(alpha), and a button that plays the landmark LSTM's rollout from the pose shown. The picture is the original frame
beside the decoded one with every landmark drawn (`playground.picture.playground_picture`), sent as a PNG to an
`ipywidgets.Image`.

Sliders send a value on every step of a drag; their changes are collected and applied once, `wait` seconds after the
last one (`Debouncer`), so a drag costs one decode, not one per step. Buttons, dropdowns and clicks apply at once.
Everything but the timer is synchronous, so tests drive the app headless with a fake timer.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import ipywidgets as w
import torch
from ipyevents import Event

from lmvid_lib.config import check_int, check_number
from lmvid_lib.playground.core import Playground, load_playground
from lmvid_lib.playground.picture import GAP, picture_to_norm, playground_picture, png_bytes


class Cancellable(Protocol):
    def cancel(self) -> None: ...


def thread_timer(wait: float, callback: Callable[[], None]) -> Cancellable:
    """Call `callback` in a daemon thread after `wait` seconds (threading.Timer; `.cancel()` stops it)."""
    timer = threading.Timer(wait, callback)
    timer.daemon = True
    timer.start()
    return timer


class Debouncer:
    """Call `action` once, `wait` seconds after the last call of a burst.

    Each call cancels the pending timer and starts a new one with `start_timer(wait, callback)` (default
    `thread_timer`; tests pass a fake one). `flush()` runs a pending action now.
    """

    def __init__(
        self,
        action: Callable[[], None],
        wait: float = 0.15,
        start_timer: Callable[[float, Callable[[], None]], Cancellable] = thread_timer,
    ) -> None:
        check_number(wait, "wait (seconds)", 0)
        self.action = action
        self.wait = float(wait)
        self.start_timer = start_timer
        self._timer: Cancellable | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.start_timer(self.wait, self._fire)

    def _fire(self) -> None:
        with self._lock:
            if self._timer is None:  # flushed meanwhile
                return
            self._timer = None
        self.action()

    def flush(self) -> None:
        with self._lock:
            pending, self._timer = self._timer, None
        if pending is not None:
            pending.cancel()
            self.action()


def _slider(cls: type, description: str, **kwargs: Any) -> w.Widget:
    return cls(description=description, continuous_update=True, layout=w.Layout(width="360px"), **kwargs)


class PlaygroundApp:
    """The playground's widgets (`widget`, an ipywidgets.VBox; `display(app)` shows it) and their handlers.

    load: dataset name -> Playground (called once per dataset, when it is first chosen); datasets: the names offered,
    the first shown first; size: pixels of each panel of the picture; rollout_frames: frames a rollout plays; wait,
    start_timer: the slider debounce (`Debouncer`).
    """

    def __init__(
        self,
        load: Callable[[str], Playground],
        datasets: Sequence[str],
        size: int = 256,
        rollout_frames: int = 30,
        wait: float = 0.15,
        start_timer: Callable[[float, Callable[[], None]], Cancellable] = thread_timer,
    ) -> None:
        if isinstance(datasets, str) or not datasets or not all(isinstance(d, str) for d in datasets):
            raise ValueError(f"datasets must be a non-empty list of dataset names, got {datasets!r}")
        check_int(rollout_frames, "rollout_frames")
        self.load = load
        self.datasets = list(datasets)
        self.size = size
        self.rollout_frames = rollout_frames
        self.renders = 0  # pictures drawn: what the debounce saves is visible here
        self._playgrounds: dict[str, Playground] = {}
        self._pending: set[str] = set()
        self._applied_shape = (1.0, 0.0)  # scale and angle (degrees) already applied to the selected landmark
        self._setting_thread: int | None = None  # the thread setting controls to match the pose, if any
        self._rollout: list[bytes] = []
        self._lock = threading.RLock()
        self.debounce = Debouncer(self.apply_pending, wait, start_timer)
        self._build_controls()
        self.select_dataset(self.datasets[0])

    def _build_controls(self) -> None:
        self.dataset = w.Dropdown(options=self.datasets, description="model")
        self.frame = _slider(w.IntSlider, "frame", min=0, max=0)
        self.landmark = w.Dropdown(description="landmark")
        self.image = w.Image(format="png", layout=w.Layout(width=f"{2 * self.size + GAP}px"))
        self.clicks = Event(source=self.image, watched_events=["click"])
        self.x = _slider(w.FloatSlider, "x", min=-1.0, max=1.0, step=0.01)
        self.y = _slider(w.FloatSlider, "y", min=-1.0, max=1.0, step=0.01)
        self.scale = _slider(w.FloatLogSlider, "scale", value=1.0, base=2, min=-2, max=2, step=0.05)
        self.angle = _slider(w.FloatSlider, "rotate (°)", value=0.0, min=-180.0, max=180.0, step=1.0)
        self.target = _slider(w.IntSlider, "to frame", min=0, max=0)
        self.alpha = _slider(w.FloatSlider, "alpha", value=0.0, min=0.0, max=1.0, step=0.02)
        self.reset_button = w.Button(description="reset", tooltip="the frame's own pose")
        self.rollout_button = w.Button(description="play rollout", tooltip="the landmark LSTM from the pose shown")
        self.play = w.Play(min=0, max=self.rollout_frames - 1, interval=100, description="rollout frame")
        # a stochastic LSTM (chapter 4b) samples one future per seed; a deterministic one has one future
        self.seed = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="sample seed", disabled=True)
        self.status = w.Label()

        self._observe(self.dataset, self.select_dataset)
        self._observe(self.landmark, self.select_landmark)
        for group, controls in (
            ("frame", [self.frame]),
            ("interpolation", [self.target, self.alpha]),
            ("position", [self.x, self.y]),
            ("shape", [self.scale, self.angle]),
        ):
            for control in controls:
                self._observe(control, lambda _, group=group: self.slider_moved(group))
        self.clicks.on_dom_event(self.click)
        self.reset_button.on_click(lambda _: self.reset())
        self.rollout_button.on_click(lambda _: self.play_rollout())
        self.play.observe(lambda change: self.show_rollout_frame(change["new"]), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.dataset, self.frame, self.landmark]),
                self.image,
                w.HBox([self.x, self.y]),
                w.HBox([self.scale, self.angle]),
                w.HBox([self.target, self.alpha]),
                w.HBox([self.reset_button, self.rollout_button, self.play, self.seed]),
                self.status,
            ]
        )

    def _observe(self, control: w.Widget, handler: Callable[[Any], None]) -> None:
        """Call handler(new value) when the user changes `control`, not when the app sets it to match the pose."""
        control.observe(lambda change: None if self._setting() else handler(change["new"]), names="value")

    def _setting(self) -> bool:
        """Whether this thread is setting controls to match the pose (then a change is not the user's). Per thread:
        a user's change arriving while the debounce's thread sets the sliders is still the user's."""
        return self._setting_thread == threading.get_ident()

    @contextlib.contextmanager
    def _set_controls(self) -> Iterator[None]:
        self._setting_thread = threading.get_ident()
        try:
            yield
        finally:
            self._setting_thread = None

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def playground(self) -> Playground:
        return self._playgrounds[self.dataset.value]

    # ---- discrete actions: applied at once -------------------------------------------------------------------

    def select_dataset(self, name: str) -> None:
        """Show dataset `name`'s model (loaded on first use) at its clip's first frame."""
        if name not in self.datasets:
            raise ValueError(f"dataset {name!r} is not one of the datasets offered: {self.datasets}")
        with self._lock:
            self.debounce.flush()
            if name not in self._playgrounds:
                self._playgrounds[name] = self.load(name)
            pg = self._playgrounds[name]
            pg.select_frame(0)
            with self._set_controls():
                self.dataset.value = name
                self.frame.max = self.target.max = pg.n_frames - 1
                self.landmark.options = [(f"{k}", k) for k in range(pg.n_landmarks)]
                self.frame.value = 0
            self.rollout_button.disabled = pg.rollout_model is None
            self.seed.disabled = not pg.stochastic
            self.rollout_button.tooltip = (
                "no landmark LSTM for this dataset: run chapter 4 (04_dynamics)"
                if pg.rollout_model is None
                else "the landmark LSTM from the pose shown"
            )
            self.select_landmark(0)

    def select_landmark(self, k: int) -> None:
        """Edit landmark k from now on (its sliders show its position; scale and rotation restart at 1 and 0)."""
        with self._lock:
            self.debounce.flush()
            self.playground.select_landmark(k)
            self.redraw()

    def click(self, event: dict[str, Any]) -> None:
        """A click on the picture (ipyevents: dataX, dataY in its pixels) selects the landmark nearest to it."""
        point = picture_to_norm(float(event["dataX"]), float(event["dataY"]), self.size)
        if point is not None:
            with self._lock:
                self.debounce.flush()
                self.playground.nearest_landmark(*point)
                self.redraw()

    def reset(self) -> None:
        with self._lock:
            self.debounce.flush()
            self.playground.reset()
            self.redraw()

    def play_rollout(self) -> None:
        """Predict `rollout_frames` frames from the pose shown and play them in the right panel."""
        with self._lock:
            self.debounce.flush()
            pg = self.playground
            states = pg.rollout_states(self.rollout_frames, int(self.seed.value))
            frames = pg.render_states(states)
            original = pg.frames[pg.frame]
            self._rollout = [
                png_bytes(playground_picture(original, frame, state, pg.landmark, self.size))
                for frame, state in zip(frames, states)
            ]
            self.play.value = 0
            self.show_rollout_frame(0)
            self.play.playing = True

    def show_rollout_frame(self, t: int) -> None:
        if self._rollout and 0 <= t < len(self._rollout):
            self.image.value = self._rollout[t]
            self.status.value = f"rollout: predicted frame {t + 1} of {len(self._rollout)} (the pose shown is frame 0)"

    # ---- sliders: debounced ----------------------------------------------------------------------------------

    def slider_moved(self, group: str) -> None:
        """A slider of `group` changed: remember which, and apply every change once the drag pauses."""
        with self._lock:
            self._pending.add(group)
        self.debounce()

    def apply_pending(self) -> None:
        """Apply the sliders that changed since the last update, in the order frame, interpolation, position,
        shape (a new frame first, then the edits on it), then redraw once."""
        with self._lock:
            pending, self._pending = self._pending, set()
            if not pending:
                return
            pg, k = self.playground, self.playground.landmark
            if "frame" in pending:
                pg.select_frame(self.frame.value)
            if "interpolation" in pending:
                pg.interpolate_to(self.target.value, self.alpha.value)
            if "position" in pending:
                pg.move(k, self.x.value, self.y.value)
            if "shape" in pending:
                scale, angle = self._applied_shape
                pg.scale(k, self.scale.value / scale)
                pg.rotate(k, math.radians(self.angle.value - angle))
            self.redraw(keep_shape="shape" in pending, keep_alpha="interpolation" in pending)

    # ---- the picture -----------------------------------------------------------------------------------------

    def redraw(self, keep_shape: bool = False, keep_alpha: bool = False) -> None:
        """Decode the pose shown, draw the picture, and set the sliders to what it shows (without re-triggering)."""
        start = time.perf_counter()
        pg = self.playground
        state = pg.state
        picture = playground_picture(pg.frames[pg.frame], pg.render(), state, pg.landmark, self.size)
        self.image.value = png_bytes(picture)
        self.renders += 1
        self.play.playing = False
        self._rollout = []
        with self._set_controls():
            self.landmark.value = pg.landmark
            self.x.value, self.y.value = (float(v) for v in state[pg.landmark, :2])
            if not keep_shape:
                self.scale.value, self.angle.value = 1.0, 0.0
            if not keep_alpha:
                self.alpha.value = 0.0
                self.target.value = pg.frame
        self._applied_shape = (self.scale.value, self.angle.value)
        self.status.value = (
            f"frame {pg.frame} of {pg.n_frames}, landmark {pg.landmark} at ({state[pg.landmark, 0]:+.2f}, "
            f"{state[pg.landmark, 1]:+.2f}); update {1e3 * (time.perf_counter() - start):.0f} ms"
        )


def playground_app(
    run_dir: str | Path,
    datasets: Sequence[str],
    split: str = "test",
    video: int = 0,
    max_frames: int | None = None,
    device: str | torch.device = "cpu",
    stochastic: bool = False,
    **app_options: Any,
) -> PlaygroundApp:
    """The playground on the dataset models of run directory `run_dir`: video `video` of each dataset's `split`
    split (`load_playground`; with `stochastic`, rollouts sample futures with chapter 4b's LSTM, one per seed);
    `app_options` go to PlaygroundApp (size, rollout_frames, wait)."""

    def load(dataset: str) -> Playground:
        return load_playground(run_dir, dataset, split, video, max_frames, device, stochastic=stochastic)

    return PlaygroundApp(load, datasets, **app_options)
