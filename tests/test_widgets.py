"""The playground's ipywidgets front end, headless (no kernel, no browser): a fake timer stands in for the debounce's
clock, handlers are called as the browser would call them."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from lmvid_lib.models.dynamics import CopyLast
from lmvid_lib.playground.core import Playground, rotate_landmark, scale_landmark
from lmvid_lib.playground.picture import GAP
from lmvid_lib.playground.widgets import Debouncer, PlaygroundApp

pytestmark = pytest.mark.usefixtures("one_thread")


class FakeTimer:
    """start_timer for Debouncer: records each timer; `fire()` runs the last one not cancelled."""

    def __init__(self) -> None:
        self.timers: list[FakeTimer.Timer] = []

    class Timer:
        def __init__(self, wait: float, callback) -> None:
            self.wait, self.callback, self.cancelled = wait, callback, False

        def cancel(self) -> None:
            self.cancelled = True

    def __call__(self, wait, callback):
        self.timers.append(self.Timer(wait, callback))
        return self.timers[-1]

    @property
    def live(self) -> list[FakeTimer.Timer]:
        return [t for t in self.timers if not t.cancelled]

    def fire(self) -> None:
        (timer,) = self.live
        timer.cancel()
        timer.callback()


def test_debouncer_runs_a_burst_once_after_the_last_call():
    calls = []
    timer = FakeTimer()
    debounce = Debouncer(lambda: calls.append(1), wait=0.2, start_timer=timer)
    for _ in range(10):
        debounce()
    assert len(timer.timers) == 10 and len(timer.live) == 1 and timer.live[0].wait == 0.2
    assert calls == []
    timer.fire()
    assert calls == [1]
    debounce()
    debounce.flush()  # runs the pending call now and cancels its timer
    assert calls == [1, 1] and timer.live == []
    debounce.flush()  # nothing pending: nothing runs
    assert calls == [1, 1]
    with pytest.raises(ValueError, match="wait"):
        Debouncer(lambda: None, wait=-1)


@pytest.fixture
def app(tiny_model):
    model = tiny_model(seed=0, image_size=32, decoder_max_resolution=32)
    frames = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    playgrounds = {"signer": Playground(model, frames, CopyLast()), "pusher": Playground(model, frames[:3])}
    loaded = []

    def load(name):
        loaded.append(name)
        return playgrounds[name]

    timer = FakeTimer()
    app = PlaygroundApp(load, ["signer", "pusher"], size=64, rollout_frames=4, start_timer=timer)
    app.timer, app.loaded = timer, loaded
    return app


def test_a_slider_drag_renders_once_with_the_last_values(app):
    pg = app.playground
    assert app.renders == 1 and app.image.value[:4] == b"\x89PNG"
    app.landmark.value = 2
    renders = app.renders
    for x in np.linspace(-0.5, 0.5, 12):
        app.x.value = float(x)
    app.y.value = -0.25
    assert app.renders == renders  # nothing decoded during the drag
    app.timer.fire()
    assert app.renders == renders + 1
    assert pg.state[2, :2].tolist() == pytest.approx([0.5, -0.25])
    assert "landmark 2 at (+0.50, -0.25)" in app.status.value


def test_scale_and_rotate_sliders_apply_their_change_once(app):
    pg = app.playground
    app.landmark.value = 1
    start = pg.state.clone()
    for value in (1.2, 1.6, 2.0):
        app.scale.value = value
    app.angle.value = 90.0
    app.timer.fire()
    expected = rotate_landmark(scale_landmark(start, 1, 2.0), 1, math.pi / 2)
    torch.testing.assert_close(pg.state, expected)
    app.angle.value = 0.0  # back: only the difference is applied
    app.timer.fire()
    torch.testing.assert_close(pg.state, scale_landmark(start, 1, 2.0))
    app.landmark.value = 0  # another landmark: its shape sliders start at 1 and 0
    assert (app.scale.value, app.angle.value) == (1.0, 0.0)


def test_frame_interpolation_reset_click_and_rollout(app):
    pg = app.playground
    app.frame.value = 4
    app.timer.fire()
    assert pg.frame == 4 and app.target.value == 4
    app.target.value, app.alpha.value = 1, 1.0
    app.timer.fire()
    assert torch.equal(pg.state, pg.states[1])
    app.x.value = 0.9  # an edit starts from the pose shown; alpha returns to 0
    app.timer.fire()
    assert app.alpha.value == 0.0 and torch.equal(pg.state[1:], pg.states[1][1:])
    app.reset_button.click()
    assert torch.equal(pg.state, pg.states[4])

    x, y = pg.state[2, :2].tolist()  # a click on landmark 2 in the decoded (right) panel
    app.click({"dataX": 64 + GAP + (x + 1) * 32, "dataY": (y + 1) * 32})
    assert pg.landmark == 2 and app.landmark.value == 2
    app.click({"dataX": 64 + GAP // 2, "dataY": 10})  # the gap between the panels: nothing happens
    assert pg.landmark == 2

    app.rollout_button.click()
    assert len(app._rollout) == 4 and app.play.playing and app.image.value == app._rollout[0]
    app.play.value = 3
    assert app.image.value == app._rollout[3] and "predicted frame 4 of 4" in app.status.value


def test_datasets_load_on_first_use_and_an_unknown_one_is_named(app):
    assert app.loaded == ["signer"] and not app.rollout_button.disabled
    app.dataset.value = "pusher"
    assert app.loaded == ["signer", "pusher"] and app.frame.max == 2
    assert app.rollout_button.disabled and "chapter 4" in app.rollout_button.tooltip
    app.dataset.value = "signer"
    assert app.loaded == ["signer", "pusher"]  # kept, not reloaded
    with pytest.raises(
        ValueError, match=r"dataset 'walker' is not one of the datasets offered: \['signer', 'pusher'\]"
    ):
        app.select_dataset("walker")
    with pytest.raises(ValueError, match="datasets must be a non-empty list"):
        PlaygroundApp(lambda name: None, "signer")


def test_a_users_change_counts_while_another_thread_sets_the_controls(app):
    inside, release = threading.Event(), threading.Event()

    def set_controls_elsewhere():
        with app._set_controls():
            inside.set()
            release.wait()

    thread = threading.Thread(target=set_controls_elsewhere)
    thread.start()
    inside.wait()
    timers = len(app.timer.timers)
    app.x.value = 0.42  # from this thread: the user's
    release.set()
    thread.join()
    assert len(app.timer.timers) == timers + 1
    with app._set_controls():
        app.x.value = 0.1  # from the thread setting them: not the user's
    assert len(app.timer.timers) == timers + 1
    app.timer.fire()
    assert app.playground.state[app.playground.landmark, 0].item() == pytest.approx(0.1)
