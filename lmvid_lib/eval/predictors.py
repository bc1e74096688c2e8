"""The one predictor registry: the display name of every predictor and pose source of chapters 4-7, and its plot style.

Every table row, legend entry, verdict sentence and claim uses these names, and every figure draws a predictor in its
one colour and line style (`style`), so a predictor looks the same in each chapter.
"""

from __future__ import annotations

from typing import Any

# Landmark-space predictors (chapters 4, 5 and 7)
OURS = "ours (landmark LSTM)"
OURS_DIRECT = "ours without residual"
OURS_SCENE = "ours (landmark LSTM), scene decoder"  # the same predicted landmarks drawn by the scene decoder
COPY_LAST = "copy-last landmarks"
CONSTANT_VELOCITY = "constant-velocity landmarks"
MEAN_POSE = "mean training pose"
LINEAR_FORECAST = "linear forecast (diagnostic)"
# Sampled futures (chapter 4b)
OURS_STOCHASTIC = "ours (stochastic landmark LSTM)"
RANDOM_POSE = "random training pose"  # a sampler that ignores the context
# Pixel-space predictors and references (chapter 5)
COPY_FRAME = "copy-last frame"
PIXEL = "pixel LSTM (learned)"
REAL_FUTURE = "real future frames"
# Interpolation (chapter 6)
CHOLESKY = "ours (Cholesky space)"
CHOLESKY_SCENE = "ours (Cholesky space), scene decoder"
COVARIANCE = "covariance space"
CROSS_FADE = "pixel cross-fade"
REAL_LANDMARKS = "landmarks of the real frames"
JOINT_LERP = "linear interpolation of the true joints"

STYLES: dict[str, dict[str, Any]] = {
    OURS: {"color": "C0", "linestyle": "-"},
    CHOLESKY: {"color": "C0", "linestyle": "-"},
    OURS_SCENE: {"color": "C9", "linestyle": "-"},
    CHOLESKY_SCENE: {"color": "C9", "linestyle": "-"},
    OURS_DIRECT: {"color": "C1", "linestyle": "-"},
    COVARIANCE: {"color": "C1", "linestyle": "-"},
    COPY_LAST: {"color": "C2", "linestyle": "--"},
    CONSTANT_VELOCITY: {"color": "C3", "linestyle": "--"},
    MEAN_POSE: {"color": "0.4", "linestyle": ":"},
    LINEAR_FORECAST: {"color": "C5", "linestyle": "-."},
    OURS_STOCHASTIC: {"color": "C6", "linestyle": "-"},
    RANDOM_POSE: {"color": "C8", "linestyle": "-."},
    COPY_FRAME: {"color": "C7", "linestyle": "--"},
    PIXEL: {"color": "C4", "linestyle": "-"},
    CROSS_FADE: {"color": "C4", "linestyle": "-"},
    REAL_FUTURE: {"color": "k", "linestyle": ":"},
    REAL_LANDMARKS: {"color": "C8", "linestyle": "--"},
    JOINT_LERP: {"color": "C9", "linestyle": ":"},
}


def style(name: str) -> dict[str, Any]:
    """Matplotlib keyword arguments (color, linestyle) of predictor `name`; a KeyError naming the known ones."""
    if name not in STYLES:
        raise KeyError(f"no plot style for predictor {name!r}; known: {sorted(STYLES)} (lmvid_lib.eval.predictors)")
    return STYLES[name]
