"""Per-frame video metrics (lmvid_lib.eval.metrics): PSNR and SSIM against skimage, LPIPS without downloads,
aggregation over sequences."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter, shift
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from lmvid_lib.eval import metrics


def _skimage_ssim(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """The reference: skimage on each frame of [N,T,C,H,W], in float64 -> [N,T]."""
    p, t = pred.double().numpy(), target.double().numpy()
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0)
    return np.array([[structural_similarity(a, b, **kwargs) for a, b in zip(pa, ta)] for pa, ta in zip(p, t)])


def _skimage_psnr(pred: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    p, t = pred.double().numpy(), target.double().numpy()
    with np.errstate(divide="ignore"):  # an exact frame: inf, as ours
        return np.array([[peak_signal_noise_ratio(b, a, data_range=1) for a, b in zip(pa, ta)] for pa, ta in zip(p, t)])


def _structured(n: int, t: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Frames [N,T,C,H,W] in [0,1] with edges, gradients and flat areas: moving discs over a ramp and a stripe."""
    gen = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.empty((n, t, c, h, w))
    for i in range(n):
        centre, radius, step = gen.uniform([0, 0], [h, w]), gen.uniform(3, 8), gen.normal(0, 1.5, 2)
        colour = gen.uniform(0, 1, c)
        for j in range(t):
            cy, cx = centre + j * step
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
            ramp = (0.2 + 0.6 * xx / w)[None] * np.ones((c, 1, 1))
            ramp[:, :, w // 3 : w // 3 + 2] = 1.0
            frames[i, j] = np.where(disc[None], colour[:, None, None], ramp)
    return torch.from_numpy(frames).float()


def _noisy(frames: torch.Tensor, scale: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (frames + scale * torch.randn(frames.shape, generator=gen)).clamp(0, 1)


def _load(path) -> np.ndarray:
    """A PNG -> float64 [3,H,W] in [0,1]."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64).transpose(2, 0, 1) / 255


# ------------------------------------------------------------------------------------------------------ PSNR
def test_identical_frames_give_infinite_psnr_and_ssim_one():
    frames = _structured(2, 3, 3, 32, 32, seed=0)
    assert metrics.psnr(frames, frames.clone()).isposinf().all()
    ssim = metrics.ssim(frames, frames.clone())
    assert ssim.shape == (2, 3) and torch.allclose(ssim, torch.ones(2, 3, dtype=torch.float64), atol=1e-6)


def test_psnr_matches_a_hand_computation():
    target = torch.full((1, 2, 1, 4, 4), 0.5)
    pred = target.clone()
    pred[0, 0] += 0.1  # MSE 0.01 -> 20 dB
    pred[0, 1, 0, :2] += 0.2  # half the pixels off by 0.2: MSE 0.02 -> 10 log10(50)
    values = metrics.psnr(pred, target)
    assert values.dtype == torch.float64 and values.shape == (1, 2)
    assert values[0, 0].item() == pytest.approx(20.0, abs=1e-5)
    assert values[0, 1].item() == pytest.approx(10 * math.log10(50), abs=1e-5)


# ------------------------------------------------------------------------------------------------------ SSIM
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["random", "structured"])
def test_ssim_and_psnr_agree_with_skimage_on_every_frame(monkeypatch, channels, kind):
    monkeypatch.setattr(metrics, "CHUNK_VALUES", 4 * channels * 24 * 40)  # 10 frames: chunks of 4, 4 and 2
    if kind == "random":
        target = torch.rand(2, 5, channels, 24, 40, generator=torch.Generator().manual_seed(1))
        pred = _noisy(target, 0.2, seed=2)
    else:
        target = _structured(2, 5, channels, 24, 40, seed=3)
        pred = torch.cat([target[:, :1].expand(-1, 3, -1, -1, -1), _noisy(target[:, 3:], 0.05, seed=4)], 1)
    ours = metrics.ssim(pred, target)
    assert ours.dtype == torch.float64 and ours.shape == (2, 5)
    reference = _skimage_ssim(pred, target)
    assert np.abs(ours.numpy() - reference).max() <= 1e-4
    assert np.abs(metrics.ssim(pred.double(), target.double()).numpy() - reference).max() <= 1e-10
    np.testing.assert_allclose(metrics.psnr(pred, target).numpy(), _skimage_psnr(pred, target), rtol=1e-6)


def test_ssim_and_psnr_agree_with_skimage_on_the_lpips_examples_and_their_distortions(shared_dir):
    folder = shared_dir / "fixtures" / "lpips_examples"
    ref, p0, p1 = (_load(folder / f"{name}.png") for name in ("ex_ref", "ex_p0", "ex_p1"))
    gen = np.random.default_rng(0)
    variants = [
        p0,
        p1,
        gaussian_filter(ref, sigma=(0, 1.0, 1.0)),  # blurred
        gaussian_filter(ref, sigma=(0, 2.5, 2.5)),
        np.clip(ref + gen.normal(0, 0.05, ref.shape), 0, 1),  # noised
        shift(ref, (0, 2, -3), mode="nearest"),  # shifted
        shift(ref, (0, 0.5, 0.5), order=1, mode="nearest"),  # sub-pixel shift: a slight blur
    ]
    pred = torch.from_numpy(np.clip(np.stack(variants), 0, 1)[None]).float()  # filters overshoot by ~1e-17
    target = torch.from_numpy(np.stack([ref] * len(variants))[None]).float()
    ours, reference = metrics.ssim(pred, target).numpy(), _skimage_ssim(pred, target)
    assert np.abs(ours - reference).max() <= 1e-4
    assert len(np.unique(np.round(reference, 3))) == len(variants)  # the distortions are told apart
    np.testing.assert_allclose(metrics.psnr(pred, target).numpy(), _skimage_psnr(pred, target), rtol=1e-6)
    # more blur and a whole-pixel shift cost structure
    assert ours[0, 3] < ours[0, 2] and ours[0, 5] < ours[0, 6]


# ------------------------------------------------------------------------------------------------------ input errors
@pytest.mark.parametrize("metric", [metrics.psnr, metrics.ssim])
def test_bad_frames_get_an_error_naming_the_parameter(metric):
    good = torch.rand(1, 2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"pred must be frames \[N,T,C,H,W\].*\(2, 3, 16, 16\)"):
        metric(good[0], good[0])
    with pytest.raises(ValueError, match=r"target must be frames.*C = 1 or 3"):
        metric(good, torch.rand(1, 2, 2, 16, 16))
    with pytest.raises(TypeError, match="target must be a float torch tensor.*torch.uint8"):
        metric(good, (good * 255).to(torch.uint8))
    with pytest.raises(TypeError, match="pred must be a float torch tensor.*ndarray"):
        metric(good.numpy(), good)
    with pytest.raises(ValueError, match=r"same shape"):
        metric(good, good[:, :1])
    too_bright = good.clone()
    too_bright[0, 1, 2, 3, 4] = 1.5
    with pytest.raises(ValueError, match=r"pred must lie in \[0,1\], got values in \[.*, 1\.5\]"):
        metric(too_bright, good)
    with pytest.raises(ValueError, match=r"target must lie in \[0,1\]"):
        metric(good, torch.where(good > 0.5, torch.nan, good))
    with pytest.raises(ValueError, match="one device"):
        metric(good, torch.empty(good.shape, device="meta"))


def test_ssim_needs_frames_as_large_as_its_window():
    small = torch.rand(1, 1, 1, 10, 32)
    with pytest.raises(ValueError, match="at least 11x11.*10x32"):
        metrics.ssim(small, small)


# ------------------------------------------------------------------------------------------------------ LPIPS
@functools.cache
def _untrained_network() -> torch.nn.Module:
    return metrics._untrained_lpips("alex")


def _untrained(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LPIPS (alex heads) with an untrained trunk: no ImageNet weights needed, values that mean nothing."""
    return metrics._lpips_distance(pred, target, _untrained_network())


def test_lpips_with_the_test_backbone_is_zero_on_identity_and_tiles_grayscale(monkeypatch):
    monkeypatch.setattr(metrics, "LPIPS_CHUNK_FRAMES", 4)  # 6 frames: a full chunk and a partial one
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 1, 32, 32, generator=gen)
    pred = _noisy(target, 0.3, seed=1)
    values = _untrained(pred, target)
    assert values.shape == (2, 3) and values.dtype == torch.float32
    assert (values > 0).all() and torch.isfinite(values).all()
    assert _untrained(target, target.clone()).abs().max() < 1e-6
    tiled = _untrained(pred.expand(-1, -1, 3, -1, -1), target.expand(-1, -1, 3, -1, -1))
    torch.testing.assert_close(values, tiled)
    # chunking changes nothing: frame by frame gives the same values
    one_by_one = torch.stack(
        [_untrained(pred[:, j : j + 1], target[:, j : j + 1])[:, 0] for j in range(3)],
        1,
    )
    torch.testing.assert_close(values, one_by_one, rtol=1e-5, atol=1e-6)


def test_lpips_on_the_example_patches_is_symmetric_and_orders_distortions(shared_dir):
    folder = shared_dir / "fixtures" / "lpips_examples"
    ref, p0, p1 = (torch.from_numpy(_load(folder / f"{n}.png")).float() for n in ("ex_ref", "ex_p0", "ex_p1"))
    target = torch.stack([ref, ref, p0, ref])[None]
    pred = torch.stack([p0, p1, ref, ref])[None]
    values = _untrained(pred, target)[0]
    assert values[0] == pytest.approx(values[2].item(), rel=1e-5)  # d(ref, p0) = d(p0, ref)
    assert values[3].item() == pytest.approx(0.0, abs=1e-6) and (values[:3] > 0).all()
    blurred = torch.from_numpy(gaussian_filter(ref.numpy(), sigma=(0, 1.0, 1.0))).float()
    more_blurred = torch.from_numpy(gaussian_filter(ref.numpy(), sigma=(0, 3.0, 3.0))).float()
    distances = _untrained(torch.stack([blurred, more_blurred])[None], torch.stack([ref, ref])[None])
    assert distances[0, 0] < distances[0, 1]  # even random conv features see more blur as farther


@pytest.mark.parametrize("net,file", [("alex", "alexnet-owt-7be5be79.pth"), ("vgg", "vgg16-397923af.pth")])
def test_missing_backbone_weights_name_the_file_and_folder_and_nothing_is_downloaded(monkeypatch, tmp_path, net, file):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    frames = torch.rand(1, 1, 3, 16, 16)
    with pytest.raises(metrics.LPIPSWeightsUnavailable) as info:
        metrics.lpips(frames, frames, net)
    assert file in str(info.value) and str(tmp_path / "hub" / "checkpoints") in str(info.value)
    assert metrics.lpips_backbone_file(net) == tmp_path / "hub" / "checkpoints" / file
    assert list(tmp_path.rglob("*")) == []


def test_the_backbone_is_read_from_the_cache_file(monkeypatch, tmp_path):
    """A checkpoint in torchvision's layout (features.<index>.*) placed in the cache is the backbone lpips uses."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = metrics.lpips_backbone_file("alex")
    path.parent.mkdir(parents=True)
    random_trunk = metrics._untrained_lpips("alex").net.state_dict()
    gen = torch.Generator().manual_seed(5)
    trunk = {
        f"features.{k.split('.', 1)[1]}": v + 0.01 * torch.randn(v.shape, generator=gen)
        for k, v in random_trunk.items()
    }
    torch.save({**trunk, "classifier.1.weight": torch.zeros(2, 2)}, path)  # the classifier is not used

    frames = torch.rand(1, 2, 3, 32, 32, generator=gen)
    pred = _noisy(frames, 0.2, seed=6)
    from_file = metrics.lpips(pred, frames, "alex")
    loaded = metrics._lpips_network("alex", path, torch.device("cpu")).net.state_dict()
    assert all(torch.equal(loaded[k], trunk[f"features.{k.split('.', 1)[1]}"]) for k in loaded)
    assert not torch.allclose(from_file, _untrained(pred, frames))

    torch.save({"features.0.weight": torch.zeros(1)}, path)
    metrics._lpips_network.cache_clear()
    with pytest.raises(ValueError, match=f"{path} is not torchvision's ImageNet alex checkpoint"):
        metrics.lpips(pred, frames, "alex")


def test_lpips_rejects_an_unknown_network():
    frames = torch.rand(1, 1, 3, 16, 16)
    with pytest.raises(ValueError, match=r"net must be one of \['alex', 'vgg'\], got 'squeeze'"):
        metrics.lpips(frames, frames, "squeeze")


def _example_patches(shared_dir) -> tuple[np.ndarray, ...]:
    """The LPIPS repository's ex_ref, ex_p0, ex_p1 (../shared/fixtures/lpips_examples): uint8 [H,W,3] each."""
    folder = shared_dir / "fixtures" / "lpips_examples"
    return tuple(np.asarray(Image.open(folder / f"{n}.png").convert("RGB")) for n in ("ex_ref", "ex_p0", "ex_p1"))


def _as_frames(*patches: np.ndarray) -> torch.Tensor:
    """uint8 [H,W,3] patches -> float [1,len,3,H,W] in [0,1], the frames `metrics.lpips` takes."""
    return torch.from_numpy(np.stack(patches)).permute(0, 3, 1, 2)[None].float() / 255


def test_lpips_is_the_authors_two_image_pipeline(shared_dir, monkeypatch, tmp_path):
    """`metrics.lpips` on [0,1] frames equals the lpips package scoring the same patches as its lpips_2imgs.py does
    (lpips.im2tensor: uint8 -> [-1,1]; LPIPS(net='alex', version='0.1') building its own trunk and heads), with one
    (random) AlexNet as torchvision's cached checkpoint and as the package's `pretrained=True` trunk: the scaling,
    channel order, trunk layer mapping and heads are the authors', whatever the weights."""
    import lpips as lpips_package
    import torchvision

    torch.manual_seed(3)
    alexnet = torchvision.models.alexnet(weights=None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = metrics.lpips_backbone_file("alex")
    cache.parent.mkdir(parents=True)
    torch.save(alexnet.state_dict(), cache)
    monkeypatch.setattr(torchvision.models, "alexnet", lambda pretrained=False, **_: alexnet)
    reference = lpips_package.LPIPS(net="alex", version="0.1", verbose=False).eval()

    ref, p0, p1 = _example_patches(shared_dir)
    ours = metrics.lpips(_as_frames(p0, p1), _as_frames(ref, ref), "alex")[0]
    with torch.no_grad():
        theirs = [reference(lpips_package.im2tensor(ref), lpips_package.im2tensor(p)).item() for p in (p0, p1)]
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-4, atol=1e-6)


PUBLISHED_ALEX = {"ex_p0": 0.722, "ex_p1": 0.138}  # richzhang/PerceptualSimilarity README: lpips_2imgs.py, v0.1


def test_real_lpips_matches_the_published_example_distances(shared_dir):
    """With torchvision's ImageNet AlexNet cached: d(ex_ref, ex_p0) and d(ex_ref, ex_p1) are the LPIPS repository's
    published 0.722 and 0.138, within 0.005."""
    backbone = metrics.lpips_backbone_file("alex")
    if not backbone.is_file():
        pytest.skip(f"the AlexNet ImageNet weights are not in torchvision's cache: no {backbone}")
    ref, p0, p1 = _example_patches(shared_dir)
    values = metrics.lpips(_as_frames(p0, p1), _as_frames(ref, ref), "alex")[0].tolist()
    assert values == pytest.approx(list(PUBLISHED_ALEX.values()), abs=0.005)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_real_lpips_ranks_the_published_example_pair(shared_dir, net):
    """With the ImageNet weights in the cache (not on CI): p1 is the closer patch to ex_ref, as published."""
    if not metrics.lpips_backbone_file(net).is_file():
        pytest.skip(f"no {metrics.lpips_backbone_file(net)}")
    folder = shared_dir / "fixtures" / "lpips_examples"
    ref, p0, p1 = (torch.from_numpy(_load(folder / f"{n}.png")).float() for n in ("ex_ref", "ex_p0", "ex_p1"))
    values = metrics.lpips(torch.stack([p0, p1])[None], torch.stack([ref, ref])[None], net)[0]
    assert values[1] < values[0]


# ------------------------------------------------------------------------------------------------------ aggregation
def test_step_stats_match_a_hand_computation_and_cap_psnr():
    values = torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, math.inf]], dtype=torch.float64)
    stats = metrics.step_stats(values)
    cap = metrics.PSNR_CAP_DB
    np.testing.assert_allclose(stats.mean, [3.0, (8 + cap) / 3])
    second = np.array([2.0, 6.0, cap])
    expected_se = [2 / math.sqrt(3), math.sqrt(((second - second.mean()) ** 2).sum() / 2) / math.sqrt(3)]
    np.testing.assert_allclose(stats.se, expected_se)
    assert stats.n_sequences == 3 and stats.n_capped == 1
    near_exact = metrics.step_stats(np.array([[cap + 20], [cap - 20]]))  # clipped too: never above an exact frame
    assert near_exact.mean == pytest.approx([cap - 10]) and near_exact.se == pytest.approx([10.0])
    assert near_exact.n_capped == 1

    single = metrics.step_stats(np.array([[0.5, 0.7]]))
    np.testing.assert_allclose(single.mean, [0.5, 0.7])
    assert np.isnan(single.se).all() and single.n_capped == 0


def test_step_stats_take_the_source_videos_as_the_units():
    # four windows: three of video "a" (close to each other), one of video "b"
    values = np.array([[1.0, 10.0], [2.0, 11.0], [3.0, 12.0], [9.0, 30.0]])
    stats = metrics.step_stats(values, ["a", "a", "a", "b"])
    np.testing.assert_allclose(stats.mean, [(2.0 + 9.0) / 2, (11.0 + 30.0) / 2])  # video means first
    np.testing.assert_allclose(stats.se, [abs(9.0 - 2.0) / 2, abs(30.0 - 11.0) / 2])  # std of 2 means / sqrt(2)
    assert (stats.n_sequences, stats.n_videos) == (4, 2)
    independent = metrics.step_stats(values)  # windows as independent units: a smaller, wrong standard error
    assert independent.n_videos == 4 and (independent.se < stats.se).all()
    np.testing.assert_allclose(metrics.step_stats(values, [0, 1, 2, 3]).se, independent.se)
    one_video = metrics.step_stats(values[:3], np.zeros(3))
    np.testing.assert_allclose(one_video.mean, [2.0, 11.0])
    assert one_video.n_videos == 1 and np.isnan(one_video.se).all()
    with pytest.raises(ValueError, match="groups must name the video of each of the 4 sequences"):
        metrics.step_stats(values, [0, 1])


def test_the_paper_worst_clip_rule_in_our_reading():
    # three clips x two steps; each model's single worst frame (highest LPIPS):
    # a -> clip 1, b -> clip 1, c -> clip 2; clip 0 is bad on average for all but holds no model's worst frame
    lpips = {
        "a": np.array([[0.6, 0.6], [0.1, 0.9], [0.2, 0.3]]),
        "b": np.array([[0.5, 0.5], [0.8, 0.0], [0.1, 0.2]]),
        "c": np.array([[0.7, 0.7], [0.0, 0.1], [0.9, 0.0]]),
    }
    pick = metrics.worst_frame_clip(lpips, "LPIPS")
    assert pick.clip == 1 and pick.holders == ("a", "b") and pick.n_models == 3
    assert "the paper's rule (Fig. 4, 15" in pick.description and "2 of 3" in pick.description
    assert "fallback" not in pick.description
    time_averaged = metrics.rank_sequences(np.mean(list(lpips.values()), 0))
    assert time_averaged.worst == 0  # our rule picks another clip
    # SSIM (lower is worse): the same clips as 1 - LPIPS; labelled our fallback
    by_ssim = metrics.worst_frame_clip({k: 1 - v for k, v in lpips.items()}, "SSIM")
    assert by_ssim.clip == 1 and "SSIM (our fallback" in by_ssim.description
    # a tie in held worst frames (one each) is broken by the summed rank of each clip's worst frame
    tie = {"a": np.array([[0.9], [0.5], [0.0]]), "b": np.array([[0.6], [0.8], [0.0]])}
    assert metrics.worst_frame_clip(tie, "LPIPS").clip == 0  # ranks: clip 0 -> 0 + 1, clip 1 -> 1 + 0; lower index
    tie["c"] = np.array([[0.1], [0.7], [0.8]])  # c's worst is clip 2; clip 1 is c's second worst
    assert metrics.worst_frame_clip(tie, "LPIPS").clip == 1  # ranks: clip 0: 0+1+2, clip 1: 1+0+1, clip 2: 2+2+0
    with pytest.raises(ValueError, match="criterion"):
        metrics.worst_frame_clip(lpips, "PSNR")
    with pytest.raises(ValueError, match="same clips"):
        metrics.worst_frame_clip({"a": np.zeros((2, 2)), "b": np.zeros((3, 2))}, "LPIPS")


@pytest.mark.parametrize("bad", [[[1.0, math.nan]], [[1.0, -math.inf]], [1.0, 2.0]])
def test_step_stats_rejects_nan_negative_infinity_and_wrong_shapes(bad):
    with pytest.raises(ValueError, match="values"):
        metrics.step_stats(np.array(bad))


def test_sequences_are_ranked_by_lpips_else_ssim_and_say_which():
    lpips_values = np.array([[0.3, 0.5], [0.1, 0.1], [0.4, 0.6], [0.2, 0.0]])  # means 0.4, 0.1, 0.5, 0.1
    ssim_values = torch.tensor([[0.7, 0.9], [0.5, 0.5], [0.9, 0.9], [0.2, 0.4]])  # means 0.8, 0.5, 0.9, 0.3
    by_lpips = metrics.rank_sequences(lpips_values, ssim_values)
    assert by_lpips.criterion == "LPIPS" and by_lpips.description == "time-averaged LPIPS (lower is better)"
    assert by_lpips.order.tolist() == [1, 3, 0, 2] and (by_lpips.best, by_lpips.worst) == (1, 2)  # tie: lower index
    np.testing.assert_allclose(by_lpips.scores, [0.4, 0.1, 0.5, 0.1])

    by_ssim = metrics.rank_sequences(None, ssim_values)
    assert by_ssim.criterion == "SSIM" and by_ssim.description == "time-averaged SSIM (higher is better)"
    assert by_ssim.order.tolist() == [2, 0, 1, 3] and (by_ssim.best, by_ssim.worst) == (2, 3)
    with pytest.raises(ValueError, match="needs lpips_values or ssim_values"):
        metrics.rank_sequences()
    with pytest.raises(ValueError, match=r"ssim_values must be per-frame values \[N,T\]"):
        metrics.rank_sequences(ssim_values=np.zeros(3))
