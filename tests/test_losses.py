"""Losses: VGG19 weights lookup and loading, perceptual-loss normalisation and layer weights, adversarial BCE values.

No real ImageNet weights exist here. The VGG19 tests save a state dict of RANDOM weights in torchvision's layout to a
temporary file: it only exercises loading, normalisation and layer weighting, never the quality of the features.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.vgg import cfgs, make_layers

from lmvid_lib import landmarks
from lmvid_lib.eval import metrics
from lmvid_lib.models import losses
from lmvid_lib.models.losses import (
    LossConfig,
    PerceptualLoss,
    ReconstructionLoss,
    VGGWeightsMissing,
    discriminator_loss,
    generator_adversarial_loss,
    vgg19_features,
)

# torchvision vgg19 `features` indices of relu1_2, relu2_2, relu3_2, relu4_2 and the paper's weights for them.
RELU_WEIGHTS = {3: 1 / 32, 8: 1 / 16, 13: 1 / 8, 22: 1 / 4}
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def random_vgg19(tmp_path_factory) -> tuple[Path, torch.nn.Sequential]:
    """(path of a torchvision-layout VGG19 state dict with random He-initialised weights, torchvision's features)."""
    torch.manual_seed(0)
    features = make_layers(cfgs["E"])  # torchvision's own VGG19 `features`, built independently of lmvid_lib
    for layer in features:
        if isinstance(layer, torch.nn.Conv2d):
            # He init keeps activations O(1) down to relu4_2, so every weighted layer contributes.
            torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            torch.nn.init.uniform_(layer.bias, -0.1, 0.1)
    path = tmp_path_factory.mktemp("vgg") / "random_vgg19.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path, features.eval()


def reference_perceptual(features: torch.nn.Sequential, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The documented loss, written out: ImageNet-normalise, run VGG19, weighted MSE at the four ReLUs."""
    a, b = (x.expand(-1, 3, -1, -1) for x in (a, b))
    x, y = (a - MEAN) / STD, (b - MEAN) / STD
    total = torch.zeros(())
    with torch.no_grad():
        for index, layer in enumerate(features[:23]):
            x, y = layer(x), layer(y)
            if index in RELU_WEIGHTS:
                total = total + RELU_WEIGHTS[index] * F.mse_loss(x, y)
    return total


def test_missing_vgg_in_torch_home_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert losses.default_vgg19_path() == expected
    with pytest.raises(VGGWeightsMissing, match=str(expected)):
        ReconstructionLoss(LossConfig(perceptual="vgg19"))
    with pytest.raises(VGGWeightsMissing, match="perceptual: none"):  # the message offers the way out
        vgg19_features()


def test_missing_configured_vgg_path_names_it(tmp_path):
    path = tmp_path / "nowhere" / "vgg.pth"
    with pytest.raises(VGGWeightsMissing, match=str(path)):
        ReconstructionLoss(LossConfig(vgg_weights=str(path)))


def test_vgg_found_in_torch_home_cache(tmp_path, monkeypatch, random_vgg19):
    path, _ = random_vgg19
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "vgg19-dcbb9e9d.pth").symlink_to(path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert isinstance(ReconstructionLoss(LossConfig()).perceptual, PerceptualLoss)


def test_wrong_state_dict_is_rejected_naming_the_file(tmp_path):
    path = tmp_path / "not_vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match=r"not_vgg\.pth.*missing"):
        vgg19_features(path)
    bad_shape = {
        f"features.{i}.{p}": torch.zeros(2) for i in (0, 2, 5, 7, 10, 12, 14, 16, 19, 21) for p in ("weight", "bias")
    }
    torch.save(bad_shape, path)
    with pytest.raises(ValueError, match=r"not_vgg\.pth.*do not fit"):
        vgg19_features(path)


def test_loaded_features_match_torchvision_and_are_frozen(random_vgg19):
    path, reference = random_vgg19
    ours = vgg19_features(path)
    assert not any(p.requires_grad for p in ours.parameters()) and not ours.training
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference[:23](x))


def test_perceptual_loss_values(random_vgg19):
    path, reference = random_vgg19
    loss = PerceptualLoss(path)
    gen = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen)
    assert loss(a, a).item() == 0.0
    value = loss(a, b)
    assert value.item() > 0
    torch.testing.assert_close(value, reference_perceptual(reference, a, b), rtol=1e-4, atol=0)
    # The reference is sensitive to what it checks: no normalisation, or equal layer weights, give other values.
    unnormalised = sum(w * F.mse_loss(reference[: i + 1](a), reference[: i + 1](b)) for i, w in RELU_WEIGHTS.items())
    equal_weights = sum(
        F.mse_loss(reference[: i + 1]((a - MEAN) / STD), reference[: i + 1]((b - MEAN) / STD)) / 4 for i in RELU_WEIGHTS
    )
    for other in (unnormalised, equal_weights):
        assert not torch.isclose(value, other.detach(), rtol=1e-2)


def test_perceptual_loss_grayscale_equals_repeated_rgb(random_vgg19):
    path, reference = random_vgg19
    loss = PerceptualLoss(path)
    gen = torch.Generator().manual_seed(3)
    a, b = torch.rand(2, 1, 32, 32, generator=gen), torch.rand(2, 1, 32, 32, generator=gen)
    value = loss(a, b)
    torch.testing.assert_close(value, loss(a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1)))
    torch.testing.assert_close(value, reference_perceptual(reference, a, b), rtol=1e-4, atol=0)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        loss(torch.rand(1, 2, 32, 32), torch.rand(1, 2, 32, 32))


def test_perceptual_gradient_reaches_the_reconstruction_only(random_vgg19):
    loss = PerceptualLoss(random_vgg19[0]).train()
    assert not loss.features.training  # the measuring instrument stays in eval mode
    recon = torch.rand(1, 3, 32, 32, requires_grad=True)
    target = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss(recon, target).backward()
    assert recon.grad.abs().sum() > 0
    # The target's features are detached: no gradient pulls the target towards the reconstruction.
    assert target.grad is None or not target.grad.any()
    assert all(p.grad is None for p in loss.features.parameters())


def test_perceptual_none_never_touches_vgg(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("VGG was touched with perceptual: none")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # and no weights exist there
    monkeypatch.setattr(losses, "vgg19_features", forbidden)
    monkeypatch.setattr(losses, "PerceptualLoss", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    criterion = ReconstructionLoss(LossConfig(perceptual="none", lambda_mse=2.0, lambda_adv=0.5))
    gen = torch.Generator().manual_seed(4)
    recon, target = torch.rand(2, 3, 16, 16, generator=gen), torch.rand(2, 3, 16, 16, generator=gen)
    d_fake = torch.randn(2, 1, 1, 1, generator=gen)
    total, parts = criterion(recon, target, d_fake)
    assert set(parts) == {"mse", "adv"}
    expected = 2.0 * F.mse_loss(recon, target) + 0.5 * generator_adversarial_loss(d_fake)
    torch.testing.assert_close(total, expected)


def test_reconstruction_loss_combines_the_weighted_terms(random_vgg19):
    path, reference = random_vgg19
    cfg = LossConfig(vgg_weights=str(path), lambda_vgg=3.0, lambda_mse=0.5, lambda_adv=0.0)
    gen = torch.Generator().manual_seed(5)
    recon, target = torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen)
    total, parts = ReconstructionLoss(cfg)(recon, target)
    assert set(parts) == {"mse", "vgg"}
    expected = 3.0 * reference_perceptual(reference, recon, target) + 0.5 * F.mse_loss(recon, target)
    torch.testing.assert_close(total, expected, rtol=1e-4, atol=0)


def test_reconstruction_loss_errors():
    criterion = ReconstructionLoss(LossConfig(perceptual="none"))
    with pytest.raises(ValueError, match="d_fake"):
        criterion(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="differ"):
        criterion(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 4), torch.zeros(1))


@pytest.mark.parametrize(
    "overrides,parameter",
    [
        ({"perceptual": "vgg16"}, "perceptual"),
        ({"lambda_vgg": -1.0}, "lambda_vgg"),
        ({"lambda_adv": "0.1"}, "lambda_adv"),
        ({"lambda_grad": -5.0}, "lambda_grad"),
        ({"lambda_concentration": -0.1}, "lambda_concentration"),
        ({"lambda_separation": True}, "lambda_separation"),
        ({"separation_sigma": 0.0}, "separation_sigma"),
    ],
)
def test_loss_config_errors_name_the_parameter(overrides, parameter):
    with pytest.raises(ValueError, match=rf"LossConfig\.{parameter}\b"):
        LossConfig(**overrides)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_adversarial_losses_match_hand_computed_bce():
    d_real = torch.tensor([[2.0, -0.5], [0.0, 3.0]])
    d_fake = torch.tensor([[-1.0, 0.5], [1.5, -2.0]])
    # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x).
    gen_expected = sum(_softplus(-x) for x in d_fake.flatten().tolist()) / 4
    disc_expected = (
        sum(_softplus(-x) for x in d_real.flatten().tolist()) / 4
        + sum(_softplus(x) for x in d_fake.flatten().tolist()) / 4
    )
    assert generator_adversarial_loss(d_fake).item() == pytest.approx(gen_expected, rel=1e-6)
    assert discriminator_loss(d_real, d_fake).item() == pytest.approx(disc_expected, rel=1e-6)
    # bf16 logits are scored in float32.
    assert generator_adversarial_loss(d_fake.bfloat16()).dtype == torch.float32
    # A confident, correct discriminator has a small loss; the generator then has a large one.
    assert discriminator_loss(torch.full((4,), 10.0), torch.full((4,), -10.0)).item() < 1e-3
    assert generator_adversarial_loss(torch.full((4,), -10.0)).item() == pytest.approx(10.0, abs=1e-3)


def test_gradient_loss_by_hand_and_blind_to_a_constant_offset():
    target = torch.zeros(1, 1, 4, 4)
    recon = target.clone()
    recon[..., 1, 1] = 1.0  # one bright pixel: 2 non-zero horizontal and 2 vertical differences of 12 each
    by_hand = (2 / 12) * 2  # full resolution; then the 2x2 scale (a 1x1 image has no differences)
    # avg_pool2d(recon, 2) = [[0.25, 0], [0, 0]]: 1 of 2 differences per direction is 0.25
    by_hand += 2 * (0.25**2 / 2)
    assert losses.gradient_loss(recon, target).item() == pytest.approx(by_hand)
    x = torch.rand(2, 3, 16, 16)
    assert losses.gradient_loss(x + 0.2, x).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.gradient_loss(x.flip(-1), x).item() > 0


def test_gradient_loss_enters_the_total_only_when_weighted():
    recon, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    cfg = LossConfig(perceptual="none", lambda_adv=0.0, lambda_grad=5.0)
    total, parts = ReconstructionLoss(cfg)(recon, target)
    assert parts["grad"].item() == pytest.approx(losses.gradient_loss(recon, target).item())
    assert total.item() == pytest.approx(F.mse_loss(recon, target).item() + 5.0 * parts["grad"].item(), rel=1e-6)
    _, parts = ReconstructionLoss(LossConfig(perceptual="none", lambda_adv=0.0))(recon, target)
    assert "grad" not in parts


def test_ssim_loss_is_one_minus_the_evaluation_ssim_and_its_gradient_raises_it():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 3, 32, 24, generator=g)
    recon = (target + 0.3 * torch.randn(3, 3, 32, 24, generator=g)).clamp(0, 1).requires_grad_(True)
    loss = losses.ssim_loss(recon, target)
    evaluated = metrics.ssim(recon.detach()[:, None].double(), target[:, None].double()).mean().item()
    assert loss.item() == pytest.approx(1 - evaluated, abs=1e-5)  # the same SSIM as the book's metric
    assert losses.ssim_loss(target, target).item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    with torch.no_grad():
        stepped = (recon - 20.0 * recon.grad).clamp(0, 1)
    assert losses.ssim_loss(stepped, target).item() < loss.item() - 0.01
    cfg = LossConfig(perceptual="none", lambda_adv=0.0, lambda_ssim=2.0)
    total, parts = ReconstructionLoss(cfg)(recon.detach(), target)
    assert parts["ssim"].item() == pytest.approx(loss.item(), rel=1e-6)
    assert total.item() == pytest.approx(F.mse_loss(recon, target).item() + 2.0 * loss.item(), rel=1e-6)
    with pytest.raises(ValueError, match="lambda_ssim"):
        LossConfig(lambda_ssim=-1.0)


def test_concentration_loss_is_the_mean_covariance_trace_and_small_for_peaked_maps():
    cov = torch.tensor([[[[0.04, 0.01], [0.01, 0.09]], [[0.5, 0.0], [0.0, 0.3]]]])  # [1,2,2,2]
    assert losses.concentration_loss(cov).item() == pytest.approx((0.13 + 0.8) / 2)
    peaked = torch.full((1, 1, 16, 16), -30.0)
    peaked[..., 5, 9] = 30.0
    flat = torch.zeros(1, 1, 16, 16)
    (_, cov_peaked), (_, cov_flat) = landmarks.fit_gaussians(peaked), landmarks.fit_gaussians(flat)
    assert losses.concentration_loss(cov_peaked).item() < 1e-3 < 0.5 < losses.concentration_loss(cov_flat).item()


def test_separation_loss_by_hand_and_its_gradient_pushes_landmarks_apart():
    sigma = 0.2
    mu = torch.tensor([[[0.0, 0.0], [0.3, 0.4], [5.0, 5.0]]], requires_grad=True)  # distances 0.5, ~7, ~6.4
    close = math.exp(-0.25 / (2 * sigma**2))
    # Ordered pairs i != j: (0,1) and (1,0) contribute `close`, the far pairs ~0; 6 ordered pairs in all.
    value = losses.separation_loss(mu, sigma)
    assert value.item() == pytest.approx(2 * close / 6, rel=1e-5)
    value.backward()
    direction = mu[0, 1] - mu[0, 0]
    assert torch.dot(mu.grad[0, 0], direction).item() > 0  # gradient descent moves 0 away from 1 ...
    assert torch.dot(mu.grad[0, 1], direction).item() < 0  # ... and 1 away from 0
    assert losses.separation_loss(torch.zeros(2, 1, 2), sigma).item() == 0.0  # one landmark: no pairs
    coincident = torch.zeros(1, 3, 2, requires_grad=True)  # flat part maps (initialisation) all sit at the centre
    value = losses.separation_loss(coincident, sigma)
    value.backward()
    assert value.item() == pytest.approx(1.0) and torch.isfinite(coincident.grad).all()


def test_landmark_terms_enter_the_total_only_when_weighted_and_need_mu_cov():
    gen = torch.Generator().manual_seed(3)
    recon, target = torch.rand(2, 3, 8, 8, generator=gen), torch.rand(2, 3, 8, 8, generator=gen)
    mu = torch.rand(2, 4, 2, generator=gen) * 2 - 1
    cov = torch.eye(2).expand(2, 4, 2, 2) * 0.05
    cfg = LossConfig(
        perceptual="none", lambda_adv=0.0, lambda_concentration=2.0, lambda_separation=3.0, separation_sigma=0.3
    )
    total, parts = ReconstructionLoss(cfg)(recon, target, mu=mu, cov=cov)
    expected = F.mse_loss(recon, target) + 2.0 * losses.concentration_loss(cov) + 3.0 * losses.separation_loss(mu, 0.3)
    torch.testing.assert_close(total, expected)
    assert {"conc", "sep"} <= set(parts)
    _, parts = ReconstructionLoss(LossConfig(perceptual="none", lambda_adv=0.0))(recon, target, mu=mu, cov=cov)
    assert not {"conc", "sep"} & set(parts)
    with pytest.raises(ValueError, match="lambda_concentration > 0 needs cov"):
        ReconstructionLoss(cfg)(recon, target, mu=mu)
    with pytest.raises(ValueError, match="lambda_separation > 0 needs mu"):
        ReconstructionLoss(cfg)(recon, target, cov=cov)
