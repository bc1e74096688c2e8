"""Per-frame video metrics (issue 15, "Metrics"): PSNR, SSIM and LPIPS of predicted against real frames, and their
aggregation over sequences as in the paper's Fig. 4, 5, 7 and 8.

Every metric takes `pred`, `target`: float [N,T,C,H,W] in [0,1] (C = 1 or 3), torch tensors on any (same) device,
and returns [N,T] on that device, one value per frame. No gradients are kept: these are evaluation metrics.

- `psnr`: float64, data range 1; identical frames give +inf (`step_stats` caps PSNR, see there).
- `ssim`: float64, Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 1,
  the SSIM map averaged away from the 5-pixel border the window cannot cover, then over channels: the value of
  `skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1, channel_axis=...)` on each frame.
- `lpips`: float32, the `lpips` package's v0.1 linear heads on AlexNet or VGG16 features, inputs scaled to [-1,1],
  grayscale tiled to 3 channels (as SAVP). The backbone's ImageNet weights are read only from torchvision's cache
  (`torch.hub.get_dir()/checkpoints`); when the file is not there, `LPIPSWeightsUnavailable` names it. Nothing is
  ever downloaded.

`step_stats` turns [N,T] values into a per-step mean and standard error over source videos (the sequences cut from one
video are one unit); `rank_sequences` orders the sequences by time-averaged LPIPS (SSIM when LPIPS is unavailable) and
says which criterion it used (ours: the time average); `worst_frame_clip` is our reading of the paper's worst-clip
rule (Fig. 4, 15): the clip that holds the single worst frame of the most models.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from lmvid_lib.models.ssim import SSIM_K1, SSIM_K2, SSIM_RADIUS, gaussian_band

CHUNK_VALUES = 2**21  # psnr and ssim take frames in chunks of about this many values (170 frames of 64x64x3)
LPIPS_CHUNK_FRAMES = 32
PSNR_CAP_DB = 100.0  # step_stats clips PSNR here: an RMS error of 1e-5, far below one 8-bit level; +inf too

# The files torchvision downloads for the backbones lpips builds (torchvision.models.*_Weights.IMAGENET1K_V1).
LPIPS_BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


class LPIPSWeightsUnavailable(FileNotFoundError):
    """The ImageNet weights of an LPIPS backbone are not in torchvision's cache; the message names the file and
    the folder to place it in."""


# ------------------------------------------------------------------------------------------------------ checks
def _check_frames(pred: torch.Tensor, target: torch.Tensor) -> None:
    """A ValueError/TypeError naming `pred` or `target` unless both are float [N,T,C,H,W] in [0,1] with C in (1, 3),
    of one shape, on one device."""
    for name, value in (("pred", pred), ("target", target)):
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            kind = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
            raise TypeError(f"{name} must be a float torch tensor [N,T,C,H,W] in [0,1], got {kind}")
        if value.ndim != 5 or value.shape[2] not in (1, 3) or value.numel() == 0:
            raise ValueError(f"{name} must be frames [N,T,C,H,W] with C = 1 or 3, got shape {tuple(value.shape)}")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    if pred.device != target.device:
        raise ValueError(f"pred is on {pred.device} and target on {target.device}; put them on one device")
    for name, value in (("pred", pred), ("target", target)):
        low, high = torch.aminmax(value)
        if not (0 <= low.item() and high.item() <= 1):  # also false for NaN
            raise ValueError(f"{name} must lie in [0,1], got values in [{low.item():.4g}, {high.item():.4g}]")


# ------------------------------------------------------------------------------------------------------ PSNR
def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, data range 1: [N,T,C,H,W] -> [N,T] float64, 10 log10(1 / MSE) with the MSE
    over all channels and pixels of a frame; +inf where a frame equals its target. In chunks of frames: a float64
    copy of BAIR's 7168 test frames would be 0.7 GB per operand."""
    _check_frames(pred, target)
    n, t = pred.shape[:2]
    x, y = pred.reshape(n * t, -1), target.reshape(n * t, -1)
    step = max(1, CHUNK_VALUES // x.shape[1])
    with torch.no_grad():
        mse = torch.cat([(x[i : i + step] - y[i : i + step]).square_().mean(1) for i in range(0, n * t, step)])
    return (-10 * torch.log10(mse.double())).reshape(n, t)


# ------------------------------------------------------------------------------------------------------ SSIM
def _ssim_frames(x: torch.Tensor, y: torch.Tensor, band_h: torch.Tensor, band_w: torch.Tensor) -> torch.Tensor:
    """x, y [B,C,H,W] in [0,1] -> SSIM [B] (mean over the valid map, then channels).

    Four local moments are filtered in one stacked pair of matmuls with the banded window (separable, 'valid'): the
    means of x and y, of x*y and of x*x + y*y, since SSIM needs the variances only as their sum. The images are centred
    on 0.5 first, which leaves the (co)variances unchanged and shrinks the terms they are the difference of, so float32
    keeps them to ~1e-7. Written in place into few buffers: on CPU the time goes to memory traffic and allocation.
    """
    moments = x.new_empty(4, *x.shape)
    xc, yc = torch.sub(x, 0.5, out=moments[0]), torch.sub(y, 0.5, out=moments[1])
    torch.mul(xc, yc, out=moments[2])
    torch.mul(xc, xc, out=moments[3]).addcmul_(yc, yc)
    mx, my, mxy, mxx_yy = band_h @ (moments @ band_w.mT)  # each [B,C,H-10,W-10], centred means
    contrast_structure = (mxy - mx * my).mul_(2).add_(SSIM_K2**2)  # 2 cov + C2
    variances = mxx_yy.sub_(mx * mx).sub_(my * my).add_(SSIM_K2**2)  # var x + var y + C2
    mx, my = mx.add_(0.5), my.add_(0.5)
    luminance = (mx * my).mul_(2).add_(SSIM_K1**2)  # 2 mu_x mu_y + C1
    luminance_norm = mx.square_().add_(my.square_()).add_(SSIM_K1**2)  # mu_x^2 + mu_y^2 + C1
    ssim_map = luminance.mul_(contrast_structure).div_(luminance_norm.mul_(variances))
    return ssim_map.double().mean((2, 3)).mean(1)


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004): [N,T,C,H,W] -> [N,T] float64, H and W at least 11.

    11x11 Gaussian window (sigma 1.5, population covariances), K1 = 0.01, K2 = 0.03, data range 1; the map is
    averaged over the pixels whose window lies inside the frame, then over channels, as skimage does. Computed in
    float32 (float64 inputs stay float64) in chunks of frames, the separable window as two matmuls with banded
    matrices, faster on CPU than a conv2d window and than skimage's per-frame loop.
    Measured: experiments/log.yaml#bench-metrics.
    """
    _check_frames(pred, target)
    n, t, c, h, w = pred.shape
    if min(h, w) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"pred and target must be at least 11x11 for the SSIM window, got {h}x{w}")
    dtype = torch.float64 if pred.dtype == torch.float64 else torch.float32
    band_h = gaussian_band(h, dtype, pred.device)
    band_w = band_h if w == h else gaussian_band(w, dtype, pred.device)
    x, y = pred.reshape(n * t, c, h, w), target.reshape(n * t, c, h, w)
    step = max(1, CHUNK_VALUES // (c * h * w))
    with torch.no_grad():
        values = [
            _ssim_frames(x[i : i + step].to(dtype), y[i : i + step].to(dtype), band_h, band_w)
            for i in range(0, n * t, step)
        ]
    return torch.cat(values).reshape(n, t)


# ------------------------------------------------------------------------------------------------------ LPIPS
def lpips_backbone_file(net: Literal["alex", "vgg"]) -> Path:
    """Where torchvision's cache keeps the backbone's ImageNet weights, the file its download would write:
    `torch.hub.get_dir()/checkpoints/<file>` (`torch.hub.get_dir()` is `$TORCH_HOME/hub`, ~/.cache/torch/hub by
    default)."""
    _check_net(net)
    return Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONE_FILES[net]


def _check_net(net: str) -> None:
    if net not in LPIPS_BACKBONE_FILES:
        raise ValueError(f"net must be one of {sorted(LPIPS_BACKBONE_FILES)}, got {net!r}")


def _heads_file(net: str) -> Path:
    """The v0.1 linear heads that ship inside the lpips package."""
    import lpips as lpips_package

    return Path(lpips_package.__file__).parent / "weights" / "v0.1" / f"{net}.pth"


def _untrained_lpips(net: str) -> torch.nn.Module:
    """lpips.LPIPS (v0.1 linear heads) in eval mode on the CPU with an untrained trunk (seed 0), built without any
    download: what `_lpips_network` loads the ImageNet trunk into. Scored on its own it means nothing (tests only)."""
    import warnings

    import lpips as lpips_package

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(0)
        # lpips builds its trunk with torchvision's deprecated `pretrained=False`; False is the point here
        warnings.filterwarnings("ignore", message=".*(pretrained|weight enum).*", category=UserWarning)
        network = lpips_package.LPIPS(net=net, version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    heads = torch.load(_heads_file(net), map_location="cpu", weights_only=True)
    network.load_state_dict({**network.state_dict(), **heads})
    return network.eval().requires_grad_(False)


@functools.cache
def _lpips_network(net: str, backbone_file: Path, device: torch.device) -> torch.nn.Module:
    """`_untrained_lpips(net)` with its trunk read from `backbone_file` (torchvision's ImageNet checkpoint), on
    `device`; cached per (net, file, device)."""
    network = _untrained_lpips(net)
    trunk = torch.load(backbone_file, map_location="cpu", weights_only=True)
    try:  # lpips' slices keep torchvision's layer indices: slice2.3.weight is features.3.weight
        features = {key: trunk[f"features.{key.split('.', 1)[1]}"] for key in network.net.state_dict()}
        network.net.load_state_dict(features)
    except (KeyError, RuntimeError) as err:
        raise ValueError(f"{backbone_file} is not torchvision's ImageNet {net} checkpoint: {err}") from err
    return network.to(device)


def lpips(pred: torch.Tensor, target: torch.Tensor, net: Literal["alex", "vgg"] = "alex") -> torch.Tensor:
    """LPIPS distance (Zhang et al. 2018, v0.1 linear heads): [N,T,C,H,W] in [0,1] -> [N,T] float32, 0 for identical
    frames, lower is more similar.

    Frames are scaled to [-1,1]; grayscale (C = 1) is tiled to 3 channels, as SAVP does. The backbone's ImageNet
    weights (AlexNet for 'alex', VGG16 for 'vgg') are read from `lpips_backbone_file(net)`; when that file is missing
    this raises LPIPSWeightsUnavailable naming it and its folder. (Tests score an untrained backbone by passing
    `_untrained_lpips(net)` to the private `_lpips_distance`; nothing in the package does.)
    """
    _check_net(net)
    backbone = lpips_backbone_file(net)
    if not backbone.is_file():
        raise LPIPSWeightsUnavailable(
            f"LPIPS ({net}) needs torchvision's ImageNet weights {backbone.name}; place that file in "
            f"{backbone.parent} (torch.hub.get_dir()/checkpoints; set TORCH_HOME to use another cache)"
        )
    _check_frames(pred, target)
    return _lpips_distance(pred, target, _lpips_network(net, backbone, pred.device))


def _lpips_distance(pred: torch.Tensor, target: torch.Tensor, network: torch.nn.Module) -> torch.Tensor:
    """`lpips` of checked frames with `network` (an lpips.LPIPS on pred's device)."""
    n, t, c, h, w = pred.shape
    x = pred.reshape(n * t, c, h, w).float().expand(-1, 3, -1, -1) * 2 - 1
    y = target.reshape(n * t, c, h, w).float().expand(-1, 3, -1, -1) * 2 - 1
    with torch.no_grad():
        values = [
            network(x[i : i + LPIPS_CHUNK_FRAMES], y[i : i + LPIPS_CHUNK_FRAMES]).flatten()
            for i in range(0, n * t, LPIPS_CHUNK_FRAMES)
        ]
    return torch.cat(values).reshape(n, t)


# ------------------------------------------------------------------------------------------------------ aggregation
@dataclass(frozen=True)
class StepStats:
    """A metric over sequences, per prediction step, with the source videos as the statistical units."""

    mean: np.ndarray  # [T] float64: mean over the videos of each video's mean over its sequences
    se: np.ndarray  # [T] standard error of that mean: std of the video means (ddof 1) / sqrt(V); NaN when V = 1
    n_sequences: int  # N: the sequences (clips, windows) scored
    n_videos: int  # V: the source videos they were cut from
    n_capped: int  # values above PSNR_CAP_DB (+inf: exact frames) counted as PSNR_CAP_DB


def _values(name: str, values: torch.Tensor | np.ndarray) -> np.ndarray:
    """[N,T] torch or numpy -> float64 numpy; a ValueError naming `name` for another shape or NaN / -inf."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be per-frame values [N,T] (sequences x steps), got shape {arr.shape}")
    if np.isnan(arr).any() or (arr == -np.inf).any():
        raise ValueError(f"{name} has NaN or -inf values")
    return arr


def video_means(values: np.ndarray, groups: Any = None) -> np.ndarray:
    """Each source video's mean over its sequences: values [N,...] and groups [N] (the video of each sequence, any
    hashable labels; None: every sequence is its own video) -> [V,...], videos in sorted label order."""
    values = np.asarray(values, dtype=np.float64)
    if groups is None:
        return values
    groups = np.asarray(groups)
    if groups.shape != values.shape[:1]:
        raise ValueError(f"groups must name the video of each of the {len(values)} sequences, got shape {groups.shape}")
    _, video, counts = np.unique(groups, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), *values.shape[1:]))
    np.add.at(sums, video.ravel(), values)
    return sums / counts.reshape(-1, *[1] * (values.ndim - 1))


def step_stats(values: torch.Tensor | np.ndarray, groups: Any = None) -> StepStats:
    """Per-step mean and standard error over source videos: values [N,T], groups [N] -> StepStats with mean, se [T].

    Sequences (clips, windows) cut from one video share its scene and motion, so they are not independent samples:
    each video's sequences are averaged first (`video_means`; `groups` names the source video of each sequence, None
    makes every sequence its own video) and the mean and its standard error are taken over the V video means. With
    the same number of sequences per video the mean is the plain mean over sequences.
    Values above PSNR_CAP_DB count as PSNR_CAP_DB: +inf (the PSNR of a frame equal to its target) and near-exact
    frames alike, so every sequence stays in every step's mean and an exact frame never counts less than a near-exact
    one (SSIM and LPIPS never reach the cap); `n_capped` says how many values were capped, for the caption.
    """
    arr = _values("values", values)
    capped = arr > PSNR_CAP_DB
    per_video = video_means(np.minimum(arr, PSNR_CAP_DB), groups)
    v = per_video.shape[0]
    se = per_video.std(0, ddof=1) / math.sqrt(v) if v > 1 else np.full(arr.shape[1], np.nan)
    return StepStats(mean=per_video.mean(0), se=se, n_sequences=arr.shape[0], n_videos=v, n_capped=int(capped.sum()))


@dataclass(frozen=True)
class SequenceRanking:
    """Sequences ordered best first by a time-averaged metric."""

    order: np.ndarray  # [N] sequence indices, best first (ties keep the lower index first)
    scores: np.ndarray  # [N] the time-averaged metric of each sequence (by sequence index)
    criterion: str  # "LPIPS" or "SSIM"

    @property
    def best(self) -> int:
        return int(self.order[0])

    @property
    def worst(self) -> int:
        return int(self.order[-1])

    @property
    def description(self) -> str:
        """The criterion as a figure prints it, e.g. 'time-averaged LPIPS (lower is better)'."""
        better = "lower" if self.criterion == "LPIPS" else "higher"
        return f"time-averaged {self.criterion} ({better} is better)"


def rank_sequences(
    lpips_values: torch.Tensor | np.ndarray | None = None, ssim_values: torch.Tensor | np.ndarray | None = None
) -> SequenceRanking:
    """Order sequences by time-averaged LPIPS [N,T] (lower is better) or, when LPIPS is unavailable (None), by
    time-averaged SSIM [N,T] (higher is better). The time average is ours; the paper ranks by LPIPS, and its worst
    clips (Fig. 4, 15) by another rule (`worst_frame_clip`); SSIM is our fallback where LPIPS is unavailable."""
    if lpips_values is not None:
        scores, criterion = _values("lpips_values", lpips_values).mean(1), "LPIPS"
        order = np.argsort(scores, kind="stable")
    elif ssim_values is not None:
        scores, criterion = _values("ssim_values", ssim_values).mean(1), "SSIM"
        order = np.argsort(-scores, kind="stable")
    else:
        raise ValueError("rank_sequences needs lpips_values or ssim_values")
    return SequenceRanking(order=order, scores=scores, criterion=criterion)


@dataclass(frozen=True)
class WorstFrameClip:
    """The clip our reading of the paper's worst-clip rule picks (`worst_frame_clip`)."""

    clip: int
    criterion: str  # "LPIPS", or "SSIM" (our fallback)
    holders: tuple[str, ...]  # the models whose single worst (clip, step) frame lies in `clip`
    n_models: int

    @property
    def description(self) -> str:
        """The rule as a figure prints it, labelled as the paper's rule in our reading (and SSIM as our fallback)."""
        fallback = " (our fallback: LPIPS unavailable)" if self.criterion == "SSIM" else ""
        return (
            f"the paper's rule (Fig. 4, 15: a clip on which every model has its worst frame), in our reading: the clip "
            f"holding the worst frame by {self.criterion}{fallback} of the most models, here {len(self.holders)} of "
            f"{self.n_models}; ties by summed rank of each clip's worst frame"
        )


def worst_frame_clip(scores: Mapping[str, Any], criterion: Literal["LPIPS", "SSIM"]) -> WorstFrameClip:
    """Our reading of the paper's worst-clip rule (Fig. 4, 15: "a clip on which every model has its worst frame at
    some step"), from model name -> per-frame scores [N,T] of the same clips (LPIPS: higher is worse; SSIM: lower).

    For each model, its clip scores are the worst frame of each clip (max over steps of LPIPS, min of SSIM), and its
    single worst (clip, step) frame lies in the clip where that score is worst. The rule picks the clip holding the
    most models' single worst frame (every model's when one clip holds them all, the paper's case); ties are broken by
    the smallest sum over models of the clip's rank by its worst frame (0 = that model's worst clip), then by the
    lower clip index. The paper does not define it further: this computation is ours.
    """
    if criterion not in ("LPIPS", "SSIM"):
        raise ValueError(f"criterion must be 'LPIPS' or 'SSIM', got {criterion!r}")
    if not scores:
        raise ValueError("scores is empty: the rule needs at least one model")
    # each model's worst frame per clip, as a badness (higher is worse): LPIPS itself, SSIM negated
    sign = 1.0 if criterion == "LPIPS" else -1.0
    worst = {name: (sign * _values(f"scores[{name!r}]", v)).max(1) for name, v in scores.items()}
    sizes = {len(w) for w in worst.values()}
    if len(sizes) != 1:
        raise ValueError(f"scores must cover the same clips for every model, got clip counts {sorted(sizes)}")
    badness = np.stack(list(worst.values()))  # [M,N], higher is worse
    holder = badness.argmax(1)  # [M]: the clip of each model's single worst frame (first on ties)
    holds = np.bincount(holder, minlength=badness.shape[1])
    ranks = np.argsort(np.argsort(-badness, 1, kind="stable"), 1, kind="stable").sum(0)  # [N]
    order = np.lexsort((np.arange(badness.shape[1]), ranks, -holds))
    clip = int(order[0])
    names = tuple(name for name, h in zip(worst, holder) if h == clip)
    return WorstFrameClip(clip=clip, criterion=criterion, holders=names, n_models=len(worst))
