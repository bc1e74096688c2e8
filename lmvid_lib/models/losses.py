"""Reconstruction losses (paper Sec. 3.1): lambda_vgg * VGG19 perceptual + lambda_mse * MSE + lambda_adv * adversarial
(+ lambda_grad * an edge loss and lambda_ssim * an SSIM loss of ours, both off by default).

Perceptual loss: images in [0,1] are ImageNet-normalised before VGG19 ((x - mean) / std with mean (0.485, 0.456,
0.406), std (0.229, 0.224, 0.225)); grayscale images are repeated to 3 channels. The loss is the MSE between the
relu1_2, relu2_2, relu3_2 and relu4_2 activations of reconstruction and target, weighted 1/32, 1/16, 1/8, 1/4.

VGG19 ImageNet weights are torchvision's `vgg19-dcbb9e9d.pth` (the file `vgg19(weights=VGG19_Weights.IMAGENET1K_V1)`
downloads into `$TORCH_HOME/hub/checkpoints/`). They are read from that file, or from `LossConfig.vgg_weights`; we never
try to download them (no internet here, and a hanging download is worse than an error) and never fall back to random
features: when the file is absent `VGGWeightsMissing` says which file was looked for. `perceptual: none` trains with
MSE + adversarial only. Only the 10 convs up to relu4_2 are built and loaded (the classifier's 120M parameters are not).

Edge loss (our addition, not in the paper; `lambda_grad`, default 0): the MSE between the finite-difference image
gradients of reconstruction and target at 3 scales. Without VGG19 weights (the CPU profiles) MSE alone hardly cares
where thin, low-contrast parts such as arms are; weighting edges is a VGG-free stand-in for the perceptual loss.
Measured: experiments/log.yaml#edge-loss (test), re-measured on validation in #signer-settings-tune.

SSIM loss (our addition, not in the paper; `lambda_ssim`, default 0): 1 - the mean SSIM of reconstruction and target,
the project's metric (`models.ssim.ssim_differentiable`): a second structure-aware term beside MSE where no VGG
weights exist, weighing local means, contrast and structure where MSE weighs only squared error.
Measured: experiments/log.yaml#paper-decoder-tune (validation).

Landmark regularisers (ours, not in Shih et al.; both default 0), after the concentration and separation constraints
of Zhang et al., "Unsupervised discovery of object landmarks as structural representations" (CVPR 2018):
`lambda_concentration` times the mean trace of the landmark covariances (a simpler spread measure than theirs), and
`lambda_separation` times the mean over landmark pairs of exp(-|mu_i - mu_j|^2 / (2 separation_sigma^2)). They keep
part maps compact and landmarks apart, so that none paints the background with a diffuse map and few crowd one part.
Measured: experiments/log.yaml#landmark-terms (test), re-measured on validation in #signer-settings-tune.

Adversarial loss: the standard GAN objective log D(x) + log(1 - D(G(z))) in its non-saturating form, through
BCE-with-logits on the discriminator's patch logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lmvid_lib.config import check_number
from lmvid_lib.models.ssim import ssim_differentiable

VGG19_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision vgg19 `features` indices: conv layers up to conv4_2 (index 21) and the ReLUs whose outputs are used.
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512)
_LAYER_WEIGHTS = {3: 1 / 32, 8: 1 / 16, 13: 1 / 8, 22: 1 / 4}  # relu1_2, relu2_2, relu3_2, relu4_2
PERCEPTUAL = ("vgg19", "none")


class VGGWeightsMissing(RuntimeError):
    """The VGG19 ImageNet weights file needed by `perceptual: vgg19` does not exist."""


@dataclass
class LossConfig:
    perceptual: str = "vgg19"  # 'vgg19' (paper) or 'none'
    vgg_weights: str | None = None  # path to vgg19-dcbb9e9d.pth; None = $TORCH_HOME/hub/checkpoints/<that file>
    lambda_vgg: float = 1.0
    lambda_mse: float = 1.0
    lambda_adv: float = 0.01  # our choice: small, so the GAN term sharpens without steering the landmarks
    lambda_grad: float = 0.0  # edge loss (not in the paper): a VGG-free stand-in for the perceptual loss on CPU
    lambda_ssim: float = 0.0  # SSIM loss (not in the paper): 1 - SSIM, another structure-aware term without VGG
    lambda_concentration: float = 0.0  # part-map concentration (not in the paper): mean trace of landmark covariances
    lambda_separation: float = 0.0  # landmark separation (not in the paper): Gaussian penalty on close landmark pairs
    separation_sigma: float = 0.1  # its length scale, in the [-1,1] image coordinates of mu

    def __post_init__(self) -> None:
        if self.perceptual not in PERCEPTUAL:
            raise ValueError(f"LossConfig.perceptual must be one of {PERCEPTUAL}, got {self.perceptual!r}")
        for name in (
            "lambda_vgg",
            "lambda_mse",
            "lambda_adv",
            "lambda_grad",
            "lambda_ssim",
            "lambda_concentration",
            "lambda_separation",
        ):
            check_number(getattr(self, name), f"LossConfig.{name}", 0)
        check_number(self.separation_sigma, "LossConfig.separation_sigma", 0, strict=True)


def default_vgg19_path() -> Path:
    """Where torchvision caches the VGG19 ImageNet weights: $TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


def vgg19_features(weights: str | Path | None = None) -> nn.Sequential:
    """torchvision's vgg19 `features[:23]` (through relu4_2), loaded from `weights` (default: the torch cache), frozen.

    Raises VGGWeightsMissing if the file does not exist, ValueError if it lacks a needed tensor or has a wrong shape.
    """
    path = Path(weights) if weights is not None else default_vgg19_path()
    if not path.is_file():
        raise VGGWeightsMissing(
            f"VGG19 ImageNet weights not found: {path} does not exist. Put torchvision's {VGG19_FILE} there (on a "
            "machine with internet: python -c 'import torchvision; "
            'torchvision.models.vgg19(weights="IMAGENET1K_V1")\''
            f" then copy it from ~/.cache/torch/hub/checkpoints/), set TORCH_HOME to a folder holding "
            f"hub/checkpoints/{VGG19_FILE}, or set the loss parameter vgg_weights to the file; or train without the "
            f"perceptual loss with `perceptual: none` (MSE + adversarial only)."
        )
    layers: list[nn.Module] = []
    previous = 3
    for item in _VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(previous, item, 3, padding=1), nn.ReLU(inplace=False)]
            previous = item
    features = nn.Sequential(*layers)
    assert len(features) == 23, len(features)
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    wanted = {name: f"features.{name}" for name in features.state_dict()}
    missing = sorted(key for key in wanted.values() if key not in state)
    if missing:
        raise ValueError(
            f"{path}: not a torchvision VGG19 state dict, missing {missing[:4]}{' ...' if len(missing) > 4 else ''}"
        )
    try:
        features.load_state_dict({name: state[key] for name, key in wanted.items()})
    except RuntimeError as err:
        raise ValueError(f"{path}: tensors do not fit VGG19: {err}") from err
    features.requires_grad_(False)
    return features.eval()


class PerceptualLoss(nn.Module):
    """VGG19 perceptual loss. recon, target: [B,C,H,W] in [0,1], C = 1 or 3 -> scalar (float32)."""

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        self.features = vgg19_features(weights)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        # The feature extractor is a fixed measuring instrument: it stays in eval mode.
        super().train(mode)
        self.features.eval()
        return self

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"PerceptualLoss: images must have 1 or 3 channels, got shape {tuple(x.shape)}")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # One pass over [recon; target]: half the kernel launches of two passes, same numbers.
        x = self._normalise(torch.cat([recon, target.to(recon.dtype)]))
        batch = recon.shape[0]
        total = recon.new_zeros((), dtype=torch.float32)
        last = max(_LAYER_WEIGHTS)
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _LAYER_WEIGHTS:
                total = total + _LAYER_WEIGHTS[index] * F.mse_loss(x[:batch].float(), x[batch:].float().detach())
            if index == last:
                break
        return total


def generator_adversarial_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss -log D(G(z)) = BCE(d_fake, 1). d_fake: discriminator logits, any shape."""
    d_fake = d_fake.float()
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """-(log D(x) + log(1 - D(G(z)))) averaged: BCE(d_real, 1) + BCE(d_fake, 0). Logits of any (matching) shape."""
    d_real, d_fake = d_real.float(), d_fake.float()
    return F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(
        d_fake, torch.zeros_like(d_fake)
    )


def gradient_loss(recon: torch.Tensor, target: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """Edge loss: sum over `scales` (each halving the resolution) of the MSE between the horizontal and the vertical
    finite differences of recon and target ([B,C,H,W]); blind to a constant offset, sensitive to where edges are."""
    total = recon.new_zeros((), dtype=torch.float32)
    r, t = recon.float(), target.float()
    for _ in range(scales):
        if min(r.shape[-2:]) < 2:  # no differences left to compare
            break
        total = total + F.mse_loss(r.diff(dim=-1), t.diff(dim=-1)) + F.mse_loss(r.diff(dim=-2), t.diff(dim=-2))
        r, t = F.avg_pool2d(r, 2), F.avg_pool2d(t, 2)
    return total


def ssim_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean SSIM of recon and target ([B,C,H,W] in [0,1], at least 11x11), in float32: 0 for equal images."""
    return 1 - ssim_differentiable(recon.float(), target.float()).mean()


def concentration_loss(cov: torch.Tensor) -> torch.Tensor:
    """cov: [B,K,2,2] landmark covariances -> mean trace (spread of the part maps, in squared [-1,1] units)."""
    return cov.float().diagonal(dim1=-2, dim2=-1).sum(-1).mean()


def separation_loss(mu: torch.Tensor, sigma: float) -> torch.Tensor:
    """mu: [B,K,2] in [-1,1] -> mean over pairs i != j of exp(-|mu_i - mu_j|^2 / (2 sigma^2)), in [0, 1]."""
    k = mu.shape[1]
    if k < 2:
        return mu.new_zeros((), dtype=torch.float32)
    d2 = torch.cdist(mu.float(), mu.float()).square()
    closeness = torch.exp(-d2 / (2 * sigma**2))
    return (closeness.sum((-2, -1)) - k).mean() / (k * (k - 1))


def _required(value: torch.Tensor | None, weight: str, what: str) -> torch.Tensor:
    if value is None:
        raise ValueError(f"ReconstructionLoss: {weight} > 0 needs {what}")
    return value


class ReconstructionLoss(nn.Module):
    """The generator's loss. `loss(recon, target, d_fake=None) -> (total, parts)`; parts holds detached float
    scalars 'mse', and 'vgg' / 'grad' / 'ssim' / 'conc' / 'sep' / 'adv' when they are used. recon, target:
    [B,C,H,W] in [0,1].

    `d_fake` (discriminator logits of `recon`) is required when lambda_adv > 0, `cov` ([B,K,2,2]) when
    lambda_concentration > 0 and `mu` ([B,K,2]) when lambda_separation > 0; each is ignored otherwise.
    """

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.perceptual = PerceptualLoss(cfg.vgg_weights) if cfg.perceptual == "vgg19" else None

    def forward(
        self,
        recon: torch.Tensor,
        target: torch.Tensor,
        d_fake: torch.Tensor | None = None,
        mu: torch.Tensor | None = None,
        cov: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if recon.shape != target.shape:
            raise ValueError(f"ReconstructionLoss: recon {tuple(recon.shape)} and target {tuple(target.shape)} differ")
        mse = F.mse_loss(recon.float(), target.float())
        total = self.cfg.lambda_mse * mse
        parts = {"mse": mse.detach()}
        cfg = self.cfg
        # (name, used, weight, term): each term is computed only when used.
        terms = (
            ("vgg", self.perceptual is not None, cfg.lambda_vgg, lambda: self.perceptual(recon, target)),
            ("grad", cfg.lambda_grad > 0, cfg.lambda_grad, lambda: gradient_loss(recon, target)),
            ("ssim", cfg.lambda_ssim > 0, cfg.lambda_ssim, lambda: ssim_loss(recon, target)),
            (
                "conc",
                cfg.lambda_concentration > 0,
                cfg.lambda_concentration,
                lambda: concentration_loss(_required(cov, "lambda_concentration", "cov (the landmark covariances)")),
            ),
            (
                "sep",
                cfg.lambda_separation > 0,
                cfg.lambda_separation,
                lambda: separation_loss(
                    _required(mu, "lambda_separation", "mu (the landmark means)"), cfg.separation_sigma
                ),
            ),
            (
                "adv",
                cfg.lambda_adv > 0,
                cfg.lambda_adv,
                lambda: generator_adversarial_loss(
                    _required(d_fake, "lambda_adv", "d_fake (discriminator logits of recon)")
                ),
            ),
        )
        for name, used, weight, term in terms:
            if used:
                value = term()
                total = total + weight * value
                parts[name] = value.detach()
        return total, parts
