"""Model: Eq. 1 pooling + projection vs naive broadcast; training-step FLOP/s vs matmul peak; augmentation share.

(1) Appearance pooling (Eq. 1) + projection onto heatmaps, forward + backward, at paper scale (B=8, K=30, C=64, 64x64
    part maps): our einsums against the naive broadcast that materialises [B,K,C,H,W]. Time and peak memory
    (profiler self-allocations). Target: our peak <= 1/8 of the naive one.
(2) One training step (forward + backward of the model with an MSE loss + Adam) of each profile's model, read from
    params/<profile>.yaml `02_factorization: factorization:` (ModelConfig() defaults and batch 16 where a profile has no
    such section). FLOPs are counted by `benchmarks.flops` (convs, matmuls, einsums; not elementwise ops); the
    achieved FLOP/s is divided by the measured fp32 matmul FLOP/s (2048^3) of the same machine in the same run.
    Target >= 0.40 on CPU; on a GPU (when present) the step runs under bf16 autocast, compared with a bf16 8192^3
    matmul, target >= 0.35. On CPU, steps bigger than CPU_STEP_FLOPS are timed at a smaller batch (the table says
    which): FLOP/s hardly depends on the batch once convs are this large, and the paper model at batch 16 would take
    about half a minute a step.
(3) Augmentation (colour jitter of the pose input + TPS warp of the appearance input, `lmvid_lib.data.augment`) at
    the timed batch and image size, as a share of that training step. Target < 5%.
(4) The scene decoder's training step (ours: pose encoder frozen, as `TrainConfig.landmarks_from` trains it) beside
    the paper decoder's full step, at the cpu and paper profiles' model sizes. No target: its cost, stated.

Only measure on an idle machine: a loaded one gives a fraction of the ratio. At the cpu widths elementwise ops
(InstanceNorm, ReLU, SPADE's (1 + gamma) * x + beta, resizing, the Adam update), which the FLOP counter does not count,
take a visible share of the step (the printed op breakdown). Measured: experiments/log.yaml#bench-models-idle.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.common import best_time, peak_cpu_bytes, verdict
from benchmarks.flops import training_step_flops
from lmvid_lib.config import from_dict, load_profile
from lmvid_lib.data.augment import AugmentConfig, color_jitter, tps_warp
from lmvid_lib.models.appearance import pool_appearance, project_appearance
from lmvid_lib.models.factorization import FactorizationModel, ModelConfig

PROFILES = ("smoke", "cpu", "paper")
POOL_SIZES = dict(batch=8, parts=30, channels=64, size=64)
MEMORY_TARGET = 1 / 8  # ours / naive peak bytes
CPU_TARGET, GPU_TARGET = 0.40, 0.35  # achieved / matmul FLOP/s
AUGMENT_TARGET = 5.0  # percent of a training step
CPU_STEP_FLOPS = 150e9  # above this a CPU step is timed at a smaller batch (~2 s a step at ~80 GFLOP/s)
DEFAULT_BATCH = 16


# ------------------------------------------------------------------------------------------------ (1) pooling


def naive_pool(part_probs: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Eq. 1 through the [B,K,C,H,W] broadcast product."""
    return (part_probs[:, :, None] * features[:, None]).sum(dim=(-2, -1))


def naive_project(heatmaps: torch.Tensor, appearance: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """project_appearance through the [B,K,C,H,W] broadcast product."""
    painted = (heatmaps[:, :, None] * appearance[..., None, None]).sum(dim=1)
    return painted / (heatmaps.sum(dim=1, keepdim=True) + eps)


def _pool_step(
    pool: Callable,
    project: Callable,
    probs: torch.Tensor,
    features: torch.Tensor,
    heatmaps: torch.Tensor,
    weights: torch.Tensor,
) -> Callable[[], torch.Tensor]:
    def step() -> torch.Tensor:
        p, f = probs.detach().requires_grad_(), features.detach().requires_grad_()
        (project(heatmaps, pool(p, f)) * weights).sum().backward()
        return f.grad

    return step


def bench_pooling() -> None:
    b, k, c, s = (POOL_SIZES[key] for key in ("batch", "parts", "channels", "size"))
    gen = torch.Generator().manual_seed(0)
    probs = torch.randn(b, k, s, s, generator=gen).flatten(-2).softmax(-1).view(b, k, s, s)
    features = torch.randn(b, c, s, s, generator=gen)
    heatmaps = torch.rand(b, k, s, s, generator=gen)
    weights = torch.randn(b, c, s, s, generator=gen)
    ours = _pool_step(pool_appearance, project_appearance, probs, features, heatmaps, weights)
    naive = _pool_step(naive_pool, naive_project, probs, features, heatmaps, weights)
    difference = ((ours() - naive()).abs().max() / naive().abs().max()).item()
    t_ours, t_naive = best_time(ours, repeat=5), best_time(naive, repeat=3)
    m_ours, m_naive = peak_cpu_bytes(ours), peak_cpu_bytes(naive)
    print(
        f"(1) pooling (Eq. 1) + projection, forward + backward, B={b} K={k} C={c} {s}x{s}, float32 CPU; "
        f"max feature-gradient difference {difference:.1e} (relative)"
    )
    print(f"    {'':14}{'ours':>10}{'naive':>10}{'ours/naive':>12}{'target':>10}")
    print(f"    {'time':14}{t_ours * 1e3:>8.1f}ms{t_naive * 1e3:>8.1f}ms{t_ours / t_naive:>12.3f}")
    ratio = m_ours / m_naive
    print(
        f"    {'peak memory':14}{m_ours / 2**20:>7.1f}MiB{m_naive / 2**20:>7.0f}MiB{ratio:>12.3f}"
        f"{'<= 1/8':>10} {verdict(ratio, MEMORY_TARGET, higher_is_better=False)}"
    )


# ------------------------------------------------------------------------------------------ (2, 3) training step


def profile_settings(profile: str) -> tuple[ModelConfig, AugmentConfig, int, str]:
    """(model config, augment config, batch size, source) of a profile's 02_factorization.factorization section."""
    section = load_profile(profile).get("02_factorization") or {}
    factorization = section.get("factorization") if isinstance(section, dict) else None
    if not factorization:
        return ModelConfig(), AugmentConfig(), DEFAULT_BATCH, "ModelConfig() defaults"
    name = f"params/{profile}.yaml 02_factorization.factorization"
    model = from_dict(ModelConfig, factorization.get("model"), f"{name}.model")
    augment = from_dict(AugmentConfig, factorization.get("augment"), f"{name}.augment")
    return model, augment, int(factorization.get("batch_size", DEFAULT_BATCH)), name


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype, n: int) -> float:
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=gen, device=device).to(dtype)
    b = torch.randn(n, n, generator=gen, device=device).to(dtype)
    return 2 * n**3 / best_time(lambda: a @ b, repeat=20)


CONV_FLOPS = 2 * 16 * 32 * 32 * 128 * 128 * 9


def _conv_3x3() -> Callable[[], torch.Tensor]:
    """A representative CPU conv (CONV_FLOPS): 3x3, 128 -> 128 channels, 16 x 32 x 32, float32."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 128, 32, 32, generator=gen)
    w = torch.randn(128, 128, 3, 3, generator=gen)
    return lambda: F.conv2d(x, w, padding=1)


def _batch(cfg: ModelConfig, batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    gen = torch.Generator(device=device).manual_seed(0)
    shape = (batch, cfg.channels, cfg.image_size, cfg.image_size)
    return {
        key: torch.rand(shape, generator=gen, device=device) for key in ("pose_input", "appearance_input", "target")
    }


def _step_fn(model: FactorizationModel, batch: dict[str, torch.Tensor], bf16: bool) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    device_type = batch["target"].device.type

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            recon = model(batch["pose_input"], batch["appearance_input"])["recon"]
        F.mse_loss(recon.float(), batch["target"]).backward()
        opt.step()

    return step


def _cpu_batch(cfg: ModelConfig, batch: int) -> tuple[int, int]:
    """(batch to time on CPU, FLOPs of one step at that batch): the profile's batch unless above CPU_STEP_FLOPS."""
    torch.manual_seed(0)
    per_sample = training_step_flops(FactorizationModel(cfg), _batch(cfg, 1, torch.device("cpu")))
    timed = max(1, min(batch, int(CPU_STEP_FLOPS // per_sample)))
    return timed, per_sample * timed  # FLOPs are exactly linear in the batch (no batch-coupled layers)


def op_breakdown(step: Callable[[], None]) -> str:
    """Share of CPU self time of one step by op family."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    families: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        name = event.key.lower()
        if "conv" in name:
            family = "convolution"
        elif any(key in name for key in ("mm", "einsum", "matmul", "linear")):
            family = "matmul"
        elif "norm" in name:
            family = "instance norm"
        else:
            family = "elementwise/other"
        families[family] += event.self_cpu_time_total
    total = sum(families.values())
    return ", ".join(f"{name} {100 * t / total:.0f}%" for name, t in sorted(families.items(), key=lambda kv: -kv[1]))


def side_by_side(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each fn, the calls interleaved (a, b, c, a, b, c, ...) after one warm-up call each, so that
    load from other processes on the machine affects all of them alike."""
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], best_time(fn, repeat=1, warmup=0))
    return best


def bench_steps() -> None:
    cpu = torch.device("cpu")
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2048, 2048, generator=gen), torch.randn(2048, 2048, generator=gen)
    reference = side_by_side({"matmul": lambda: a @ b, "conv": _conv_3x3()}, repeat=5)
    matmul = 2 * 2048**3 / reference["matmul"]
    conv = CONV_FLOPS / reference["conv"]
    print(
        f"\n(2) CPU fp32 ({torch.get_num_threads()} threads): matmul 2048^3 {matmul / 1e9:.0f} GFLOP/s, "
        f"3x3 conv 128->128 16x32x32 {conv / 1e9:.0f} GFLOP/s ({conv / matmul:.2f} of matmul). Each step below is "
        f"timed interleaved with its own matmul reference."
    )
    rows: list[tuple[Any, ...]] = []
    breakdowns: dict[str, str] = {}
    measured: dict[str, tuple[Any, ...]] = {}
    gpu = torch.cuda.is_available()
    for profile in PROFILES:
        cfg, augment, batch, source = profile_settings(profile)
        key = repr((cfg, augment, batch))
        if key in measured:  # same model and batch as an earlier profile: same measurement
            rows.append((profile, *measured[key][1:-1], f"{source} (= {measured[key][0]})"))
            continue
        timed, flops = _cpu_batch(cfg, batch)
        torch.manual_seed(0)
        data = _batch(cfg, timed, cpu)
        step = _step_fn(FactorizationModel(cfg), data, bf16=False)
        aug_gen = torch.Generator().manual_seed(0)
        times = side_by_side(
            {
                "matmul": lambda: a @ b,
                "step": step,
                "augment": lambda data=data, augment=augment, aug_gen=aug_gen: (
                    color_jitter(data["pose_input"], augment, aug_gen),
                    tps_warp(data["appearance_input"], augment, aug_gen),
                ),
            },
            repeat=3,
        )
        ratio = (flops / times["step"]) / (2 * 2048**3 / times["matmul"])
        breakdowns[profile] = op_breakdown(step)
        measured[key] = (
            profile,
            "cpu fp32",
            cfg,
            batch,
            timed,
            flops,
            times["step"],
            ratio,
            CPU_TARGET,
            100 * times["augment"] / times["step"],
            source,
        )
        rows.append(measured[key])
        if gpu:
            rows.append(_gpu_row(profile, cfg, augment, batch, source))
    print(
        f"    {'profile':8}{'device':10}{'model':22}{'batch':>11}{'GFLOP/step':>11}{'ms/step':>9}"
        f"{'GFLOP/s':>9}{'/matmul':>8}{'target':>8}{'':6}{'aug %':>7}{'target':>7}"
    )
    for profile, device, cfg, batch, timed, flops, t_step, ratio, target, aug_share, _ in rows:
        model = f"{cfg.decoder} {cfg.image_size}px K={cfg.n_landmarks}"
        batch_text = f"{timed}" if timed == batch else f"{timed} (of {batch})"
        print(
            f"    {profile:8}{device:10}{model:22}{batch_text:>11}{flops / 1e9:>11.1f}{t_step * 1e3:>9.0f}"
            f"{flops / t_step / 1e9:>9.1f}{ratio:>8.2f}{'>=' + f'{target:.2f}':>8} {verdict(ratio, target):5}"
            f"{aug_share:>7.2f}{'< 5%':>7} {verdict(aug_share, AUGMENT_TARGET, higher_is_better=False)}"
        )
    for row in rows:
        if row[1] == "cpu fp32":
            print(f"    {row[0]}: model from {row[-1]}")
    for profile, text in breakdowns.items():
        print(f"    {profile} CPU step, self time by op family: {text}")
    for _, device, _, _, _, _, _, ratio, target, _, _ in rows:
        if ratio < target:
            print(
                f"    MISS {device}: {ratio:.2f} of matmul peak is {target / ratio:.2f}x short of {target:.2f}; time "
                f"outside the convolutions above is memory-bound work the FLOP count does not include"
            )


def _gpu_row(profile: str, cfg: ModelConfig, augment: AugmentConfig, batch: int, source: str) -> tuple[Any, ...]:
    """The same step on the GPU under bf16 autocast, channels_last, at the profile's batch."""
    device = torch.device("cuda")
    peak = matmul_flops_per_s(device, torch.bfloat16, 8192)
    torch.manual_seed(0)
    model = FactorizationModel(cfg).to(device).to(memory_format=torch.channels_last)
    data = {k: v.contiguous(memory_format=torch.channels_last) for k, v in _batch(cfg, batch, device).items()}
    flops = training_step_flops(model, data)
    t_step = best_time(_step_fn(model, data, bf16=True), repeat=10, warmup=3)
    gen = torch.Generator(device=device).manual_seed(0)
    t_aug = best_time(
        lambda: (color_jitter(data["pose_input"], augment, gen), tps_warp(data["appearance_input"], augment, gen)),
        repeat=10,
    )
    return (
        profile,
        "gpu bf16",
        cfg,
        batch,
        batch,
        flops,
        t_step,
        flops / t_step / peak,
        GPU_TARGET,
        100 * t_aug / t_step,
        source,
    )


def bench_scene_step() -> None:
    """(4) The scene decoder's training step beside the paper decoder's, at the cpu and paper profiles' model sizes:
    as `landmarks_from` trains it, its pose encoder frozen (forward only), the rest updated; CPU fp32, the batch of
    `_cpu_batch`."""
    cpu = torch.device("cpu")
    print("\n(4) Scene decoder (ours) step on the frozen landmarks vs the paper decoder's full step, CPU fp32:")
    for profile in ("cpu", "paper"):
        cfg, _, batch, _ = profile_settings(profile)
        timed, _ = _cpu_batch(cfg, batch)
        torch.manual_seed(0)
        data = _batch(cfg, timed, cpu)
        paper = FactorizationModel(cfg)
        scene = FactorizationModel(dataclasses.replace(cfg, decoder="scene"))
        scene.pose_encoder.requires_grad_(False)
        times = side_by_side({"paper": _step_fn(paper, data, False), "scene": _step_fn(scene, data, False)}, repeat=3)
        print(
            f"    {profile:6} {cfg.image_size}px K={cfg.n_landmarks} batch {timed}: paper decoder "
            f"{times['paper'] * 1e3:.0f} ms/step, scene decoder {times['scene'] * 1e3:.0f} ms/step "
            f"({times['scene'] / times['paper']:.2f}x)"
        )


def main() -> None:
    bench_pooling()
    bench_steps()
    bench_scene_step()


if __name__ == "__main__":
    main()
