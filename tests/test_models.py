"""The factorization model: encoders, Eq. 1 pooling, both decoders, the discriminator and config validation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm
from torch.profiler import ProfilerActivity, profile

from lmvid_lib import landmarks
from lmvid_lib.config import from_dict
from lmvid_lib.models import Discriminator, FactorizationModel, ModelConfig, validate_model_config
from lmvid_lib.models.appearance import pool_appearance, project_appearance
from lmvid_lib.models.decoder import SpadeDecoder
from lmvid_lib.models.pose import PoseEncoder
from lmvid_lib.models.spade import SPADEResBlock
from lmvid_lib.models.unet import ConvNormReLU

# Narrow widths keep every forward pass in milliseconds; the structure is that of the paper's model.
SMALL = dict(pose_widths=(4, 8, 8, 16), appearance_width=8, decoder_widths=(16, 8), spade_hidden=8)
PAPER = dict(
    image_size=128,
    pose_widths=(64, 128, 256, 512),
    decoder_widths=(256, 256, 128, 64),
    decoder_resolution=16,
    decoder_max_resolution=None,
    spade_hidden=128,
    spade_condition="heatmaps",
)
# Both SPADE wirings and the concat baseline.
VARIANTS = {
    "spade-heatmaps": dict(decoder="spade", spade_condition="heatmaps"),
    "spade-heatmaps_appearance": dict(decoder="spade", spade_condition="heatmaps_appearance"),
    "concat": dict(decoder="concat"),
}


def small_model(**overrides) -> FactorizationModel:
    torch.manual_seed(0)
    cfg = ModelConfig(**{**SMALL, "image_size": 32, "decoder_resolution": 8, "decoder_max_resolution": 16, **overrides})
    return FactorizationModel(cfg)


def images(batch: int, channels: int, size: int, seed: int) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    "channels,n_landmarks,appearance_channels,image_size", [(3, 5, 6, 32), (1, 1, 1, 32), (3, 2, 4, 64)]
)
def test_forward_shapes_and_ranges(variant, channels, n_landmarks, appearance_channels, image_size):
    model = small_model(
        **VARIANTS[variant],
        channels=channels,
        n_landmarks=n_landmarks,
        appearance_channels=appearance_channels,
        image_size=image_size,
        decoder_resolution=image_size // 4,
        decoder_max_resolution=image_size // 2,
    )
    out = model(images(2, channels, image_size, 0), images(2, channels, image_size, 1))
    assert out["recon"].shape == (2, channels, image_size, image_size)
    assert out["mu"].shape == (2, n_landmarks, 2)
    assert out["cov"].shape == (2, n_landmarks, 2, 2)
    assert out["part_logits"].shape == (2, n_landmarks, image_size // 2, image_size // 2)
    assert out["appearance"].shape == (2, n_landmarks, appearance_channels)
    recon = out["recon"]
    assert torch.isfinite(recon).all() and recon.min() >= 0 and recon.max() <= 1
    assert recon.std() > 0  # not a constant image
    # Pixel centres of an h x w map lie within [-1 + 1/w, 1 - 1/w]; every covariance is positive-definite.
    half = 1 - 1 / (image_size // 2)
    assert out["mu"].abs().max() <= half + 1e-6
    assert (torch.linalg.eigvalsh(out["cov"]) > 0).all()


def test_decoder_output_size_follows_image_size_at_paper_schedule():
    """decoder_max_resolution=None: the last block runs at the image size (no final upsampling)."""
    model = small_model(image_size=32, decoder_resolution=8, decoder_max_resolution=None, decoder_widths=(8, 8, 4))
    assert model.decoder.resolutions == [8, 16, 32]
    out = model.decode(torch.zeros(1, 10, 2), torch.eye(2).expand(1, 10, 2, 2) * 0.1, torch.rand(1, 10, 32))
    assert out.shape == (1, 3, 32, 32)


def test_landmarks_are_fit_gaussians_of_the_part_logits():
    model = small_model()
    out = model(images(3, 3, 32, 0), images(3, 3, 32, 1))
    mu, cov = landmarks.fit_gaussians(out["part_logits"])
    torch.testing.assert_close(out["mu"], mu)
    torch.testing.assert_close(out["cov"], cov)
    # encode_pose gives the same landmarks from the pose input alone.
    pose = model.encode_pose(images(3, 3, 32, 0))
    torch.testing.assert_close(pose.mu, out["mu"], atol=1e-5, rtol=1e-5)


def test_pool_appearance_equals_naive_broadcast_sum():
    gen = torch.Generator().manual_seed(0)
    probs = landmarks.part_probabilities(torch.randn(2, 4, 5, 6, generator=gen))
    features = torch.randn(2, 3, 5, 6, generator=gen)
    naive = (probs[:, :, None] * features[:, None]).sum(dim=(-2, -1))  # [B,K,C,H,W] summed over space
    torch.testing.assert_close(pool_appearance(probs, features), naive)
    heatmaps = torch.rand(2, 4, 5, 6, generator=gen)
    vectors = torch.randn(2, 4, 3, generator=gen)
    naive_painted = (heatmaps[:, :, None] * vectors[..., None, None]).sum(1) / (heatmaps.sum(1, keepdim=True) + 1e-6)
    torch.testing.assert_close(project_appearance(heatmaps, vectors), naive_painted)


def test_pool_appearance_rejects_mismatched_maps():
    with pytest.raises(ValueError, match="pool_appearance"):
        pool_appearance(torch.rand(2, 4, 8, 8), torch.rand(2, 3, 4, 4))


def _largest_allocation(fn) -> int:
    """Largest single CPU allocation (bytes) made by any op during fn(), from the profiler's self memory."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    return max((e.self_cpu_memory_usage for e in prof.events()), default=0)


def test_pool_and_project_never_allocate_the_broadcast_product():
    b, k, c, h, w = 2, 8, 16, 32, 32
    gen = torch.Generator().manual_seed(0)
    probs = landmarks.part_probabilities(torch.randn(b, k, h, w, generator=gen)).requires_grad_()
    features = torch.randn(b, c, h, w, generator=gen, requires_grad=True)
    broadcast_bytes = b * k * c * h * w * 4

    def pool_and_project() -> None:
        vectors = pool_appearance(probs, features)
        project_appearance(probs, vectors).square().sum().backward()

    largest = _largest_allocation(pool_and_project)
    assert largest > 0  # the profiler did see the allocations
    # The biggest tensors needed are the [B,C,H,W] features and their gradient: 1/K of the broadcast product.
    assert largest <= broadcast_bytes // k

    naive = _largest_allocation(lambda: (probs[:, :, None] * features[:, None]).sum(dim=(-2, -1)))
    assert naive >= broadcast_bytes  # the check above would catch a broadcast


def _decoder_convs(model: FactorizationModel) -> list[nn.Conv2d]:
    return [m for m in model.decoder.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_decoder_conv_is_spectrally_normalised(variant):
    convs = _decoder_convs(small_model(**VARIANTS[variant]))
    assert len(convs) >= 5
    for layer in convs:
        assert parametrize.is_parametrized(layer, "weight")
        assert any(isinstance(p, _SpectralNorm) for p in layer.parametrizations.weight)
    plain = _decoder_convs(small_model(**VARIANTS[variant], spectral_norm=False))
    assert not any(parametrize.is_parametrized(layer) for layer in plain)


def test_discriminator_convs_are_spectrally_normalised():
    convs = [m for m in Discriminator(3).modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 1]
    assert all(parametrize.is_parametrized(c, "weight") for c in convs)


def test_pose_unet_at_paper_widths_has_appendix_a_structure():
    encoder = PoseEncoder(3, 30, PAPER["pose_widths"])
    unet = encoder.unet
    assert len(unet.down) == 4 and len(unet.up) == 3
    for block in [*unet.down, *unet.up]:
        assert isinstance(block, ConvNormReLU)
        conv, norm, relu = block
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3)
        assert isinstance(norm, nn.InstanceNorm2d) and isinstance(relu, nn.ReLU)
    assert [b[0].out_channels for b in unet.down] == [64, 128, 256, 512]
    assert [b[0].out_channels for b in unet.up] == [256, 128, 64]
    # Each up block reads the previous output concatenated with the skip from the down block of its resolution.
    assert [b[0].in_channels for b in unet.up] == [512, 256 + 512, 128 + 256]
    assert unet.head.in_channels == 64 + 128 and unet.head.out_channels == 30

    sizes: dict[str, tuple[int, ...]] = {}
    named = [*((f"down{i}", b) for i, b in enumerate(unet.down)), *((f"up{j}", b) for j, b in enumerate(unet.up))]
    for name, block in named:
        block.register_forward_hook(lambda m, i, o, name=name: sizes.__setitem__(name, tuple(o.shape[-2:])))
    with torch.no_grad():
        logits = encoder(torch.rand(1, 3, 64, 64)).part_logits
    # Down block i works at 64 / 2**i (then downsamples); up block j at 4 * 2**j (then upsamples to the skip).
    assert [sizes[f"down{i}"] for i in range(4)] == [(64, 64), (32, 32), (16, 16), (8, 8)]
    assert [sizes[f"up{j}"] for j in range(3)] == [(4, 4), (8, 8), (16, 16)]
    assert logits.shape == (1, 30, 32, 32)


def test_paper_decoder_widths():
    model = FactorizationModel(ModelConfig(**PAPER, decoder="spade"))
    assert model.decoder.resolutions == [16, 32, 64, 128]
    # Paper wiring: the input is the C-channel projected appearance at 16 = 128 / 8; SPADE embeds the K heatmaps.
    assert model.decoder.stem.in_channels == model.cfg.appearance_channels
    assert {b.embed.in_channels for b in model.decoder.blocks} == {model.cfg.n_landmarks}
    assert [b.conv1.out_channels for b in model.decoder.blocks] == [256, 256, 128, 64]
    assert model.decoder.to_image.conv.out_channels == 3


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_reach_both_encoders_and_the_pose_input(variant):
    model = small_model(**VARIANTS[variant])
    pose_input = images(2, 3, 32, 0).requires_grad_()
    out = model(pose_input, images(2, 3, 32, 1))
    (out["recon"] - images(2, 3, 32, 2)).square().mean().backward()
    for encoder in (model.pose_encoder, model.appearance_encoder, model.decoder):
        grads = [p.grad for p in encoder.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(g.abs().sum() for g in grads) > 0
    # The pose input influences the reconstruction only through (mu, Sigma): its gradient proves that path works.
    assert pose_input.grad.abs().sum() > 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_appearance_input_changes_output_but_not_landmarks(variant):
    model = small_model(**VARIANTS[variant]).eval()
    pose_input = images(2, 3, 32, 0)
    with torch.no_grad():
        first = model(pose_input, images(2, 3, 32, 1))
        second = model(pose_input, images(2, 3, 32, 2).flip(-1) * 0.5)
    torch.testing.assert_close(first["mu"], second["mu"], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(first["cov"], second["cov"], atol=1e-6, rtol=1e-5)
    assert (first["appearance"] - second["appearance"]).abs().max() > 1e-3
    assert (first["recon"] - second["recon"]).abs().max() > 1e-4


@pytest.mark.parametrize("height,width", [(32, 32), (64, 64), (48, 96)])
def test_discriminator_is_fully_convolutional(height, width):
    disc = Discriminator(1, widths=(8, 16, 32))
    logits = disc(torch.rand(2, 1, height, width))
    assert logits.shape == (2, 1, height // 8 - 1, width // 8 - 1)


@pytest.mark.parametrize(
    "overrides,parameter",
    [
        ({"decoder": "foo"}, "decoder"),
        ({"spade_condition": "appearance"}, "spade_condition"),
        ({"n_landmarks": 0}, "n_landmarks"),
        ({"image_size": 100}, "image_size"),
        (
            {"image_size": 16},
            "image_size",
        ),  # divisible by 16, but the U-Net bottleneck would be 1x1 (InstanceNorm fails)
        ({"channels": 2}, "channels"),
        ({"appearance_channels": 0}, "appearance_channels"),
        ({"pose_widths": ()}, "pose_widths"),
        ({"decoder_resolution": 12}, "decoder_resolution"),
        ({"decoder_resolution": 1, "decoder_max_resolution": 1}, "decoder_resolution"),
    ],
)
def test_validate_model_config_names_the_parameter(overrides, parameter):
    with pytest.raises(ValueError, match=rf"ModelConfig\.{parameter}\b"):
        ModelConfig(**overrides)
    # The same check runs on a config mutated after construction (as yaml loading can do).
    cfg = ModelConfig()
    for key, value in overrides.items():
        setattr(cfg, key, tuple(value) if isinstance(value, tuple) else value)
    with pytest.raises(ValueError, match=rf"ModelConfig\.{parameter}\b"):
        validate_model_config(cfg)
    with pytest.raises(ValueError, match=rf"ModelConfig\.{parameter}\b"):
        FactorizationModel(cfg)


def test_model_rejects_images_of_the_wrong_size():
    model = small_model()
    with pytest.raises(ValueError, match="image_size"):
        model(images(1, 3, 16, 0), images(1, 3, 16, 1))


def _decoder_inputs(condition: str, seed: int) -> tuple[SpadeDecoder, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small SPADE decoder and (mu [2,4,2], cov [2,4,2,2], appearance [2,4,6]); only the appearance follows seed."""
    torch.manual_seed(0)
    decoder = SpadeDecoder(3, 4, 6, 32, (8, 8), 8, 16, hidden=8, spectral_norm=False, condition=condition).eval()
    mu = torch.rand(2, 4, 2, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    cov = torch.eye(2).expand(2, 4, 2, 2) * 0.05
    appearance = torch.randn(2, 4, 6, generator=torch.Generator().manual_seed(seed))
    return decoder, mu, cov, appearance


def _spade_conditions(decoder: SpadeDecoder, *inputs: torch.Tensor) -> list[torch.Tensor]:
    """The conditioning map each SPADE residual block of `decoder` receives on `inputs`."""
    seen: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda m, args, out: seen.append(args[1]))
        for m in decoder.modules()
        if isinstance(m, SPADEResBlock)
    ]
    with torch.no_grad():
        decoder(*inputs)
    for hook in hooks:
        hook.remove()
    return seen


def test_heatmaps_condition_modulates_spade_with_the_heatmaps_alone():
    decoder, mu, cov, appearance = _decoder_inputs("heatmaps", seed=2)
    conds = _spade_conditions(decoder, mu, cov, appearance)
    assert [c.shape[-1] for c in conds] == [8, 16]
    for cond in conds:
        size = cond.shape[-1]
        torch.testing.assert_close(cond, landmarks.render_heatmaps(mu, cov, size, size))
    other = _spade_conditions(decoder, mu, cov, appearance.flip(1) * 3)
    assert all(torch.equal(a, b) for a, b in zip(conds, other))


def test_heatmaps_appearance_condition_modulates_spade_with_both():
    decoder, mu, cov, appearance = _decoder_inputs("heatmaps_appearance", seed=2)
    conds = _spade_conditions(decoder, mu, cov, appearance)
    assert [c.shape[1] for c in conds] == [4 + 6, 4 + 6]
    for cond in conds:
        size = cond.shape[-1]
        torch.testing.assert_close(cond[:, :4], landmarks.render_heatmaps(mu, cov, size, size))
    other = _spade_conditions(decoder, mu, cov, appearance.flip(1) * 3)
    assert all((a[:, 4:] - b[:, 4:]).abs().max() > 1e-3 for a, b in zip(conds, other))


@pytest.mark.parametrize("condition,appearance_reaches_spade", [("heatmaps", False), ("heatmaps_appearance", True)])
def test_appearance_reaches_the_output_through_the_input_only_with_heatmaps(condition, appearance_reaches_spade):
    """With the decoder's input (the stem's output) held fixed, other appearance vectors change the image only
    where SPADE sees them."""
    decoder, mu, cov, appearance = _decoder_inputs(condition, seed=2)
    fixed = torch.randn(2, 8, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        free = [decoder(mu, cov, a) for a in (appearance, appearance.flip(1) * 3)]
        decoder.stem.register_forward_hook(lambda m, args, out: fixed)
        pinned = [decoder(mu, cov, a) for a in (appearance, appearance.flip(1) * 3)]
    assert (free[0] - free[1]).abs().max() > 1e-4
    assert ((pinned[0] - pinned[1]).abs().max() > 1e-4) == appearance_reaches_spade


def test_saved_config_without_spade_condition_rebuilds_the_model_it_was_trained_with():
    """Runs saved before `spade_condition` existed were trained with heatmaps_appearance: the default."""
    trained = small_model(decoder="spade", spade_condition="heatmaps_appearance").eval()
    saved = {k: v for k, v in dataclasses.asdict(trained.cfg).items() if k != "spade_condition"}
    cfg = from_dict(ModelConfig, saved, "model.pt:config.model")
    assert cfg.spade_condition == "heatmaps_appearance"
    loaded = FactorizationModel(cfg).eval()
    loaded.load_state_dict(trained.state_dict())
    x, y = images(2, 3, 32, 0), images(2, 3, 32, 1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, y)["recon"], trained(x, y)["recon"], rtol=0, atol=0)
    # The paper wiring has other parameter shapes: building it would not have loaded these weights.
    with pytest.raises(RuntimeError, match="size mismatch"):
        small_model(decoder="spade", spade_condition="heatmaps").load_state_dict(trained.state_dict())
