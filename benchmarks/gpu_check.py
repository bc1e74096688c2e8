"""GPU device check: one table of what the paper profile needs from a GPU machine, measured in one run.

Rows: (1) bf16 matmul TFLOP/s, the reference of the step rows; (2) the paper profile's factorization training step,
eager, bf16 autocast + channels_last: its FLOP/s as a share of (1) (expectation >= 0.35) and its peak memory; (3) a
200-step training on moving discs, whose MSE must fall by 30%; (4) one DistributedDataParallel step in one process
(NCCL), whose gradients must equal those without DDP; (5) a landmark-LSTM rollout of 256 windows x 100 frames;
(6) SSIM/PSNR on the device against the CPU; (7) the step of (2) under torch.compile, its share and speed-up over
eager. The compiled step runs last: an inductor crash then costs no other row, and every finished row is already in
the JSON file, which is rewritten after each row.

Run it on the GPU machine from the repo root: `python -m benchmarks.gpu_check --json gpu_check.json`. It takes a few
minutes on one H200 and exits 1 if any row FAILs (MISS: a speed expectation not met; FAIL: something is wrong). The
numbers go into experiments/log.yaml. `--allow-cpu` runs every row on the CPU at tiny sizes, to test the script
(tests/test_gpu_check.py); those numbers mean nothing. It needs nothing beyond torch, numpy, pyyaml and tqdm.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.bench_models import GPU_TARGET, _batch, _step_fn, matmul_flops_per_s, profile_settings
from benchmarks.common import best_time
from benchmarks.flops import training_step_flops
from lmvid_lib.eval.metrics import psnr, ssim
from lmvid_lib.models.dynamics import STATE_DIM, DynamicsConfig, LandmarkLSTM
from lmvid_lib.models.factorization import FactorizationModel, ModelConfig
from lmvid_lib.models.rollout import rollout
from lmvid_lib.seed import seed_everything

NO_CUDA = "no CUDA device: this check is for a GPU machine; --allow-cpu runs it on CPU at tiny sizes, for testing"
MATMUL_TARGET = 400e12  # bf16 FLOP/s; an H200's dense bf16 spec is ~989 TFLOP/s, large matmuls reach ~60-75% of it
LOSS_DROP = 0.30  # the training row: last-window mean MSE at least this much below the first window's
TRAIN_LR = 1e-3  # a short run, as params/cpu.yaml's; the paper's 1e-4 is for ~100k steps
METRIC_TOLERANCE = 1e-4  # max |device - CPU| of SSIM and of PSNR (dB)
SEED = 0
ROLLOUT_CONTEXT = 2  # given frames of each rollout window (the paper's BBC predictions: 2 -> 98)


@dataclass(frozen=True)
class CheckSizes:
    """The sizes every row runs at: FULL on the GPU, TINY on the CPU (--allow-cpu, tests)."""

    name: str
    model: ModelConfig
    batch: int
    matmul_n: int
    timed_steps: int  # repeats of best_time for the step rows
    train_steps: int
    compile: bool  # False: the compiled-step row is skipped (inductor needs minutes at any size on 2 CPU cores)
    rollout_windows: int
    rollout_future: int  # predicted frames of each window, after ROLLOUT_CONTEXT given ones
    rollout_landmarks: int
    lstm_hidden: int
    metric_frames: tuple[int, int, int, int, int]  # [N,T,C,H,W] of the metrics row

    @property
    def loss_window(self) -> int:
        """Steps averaged at the start and at the end of the training row: a tenth of them (at least 3)."""
        return max(3, self.train_steps // 10)


_PAPER_MODEL, _, _PAPER_BATCH, _ = profile_settings("paper")
FULL = CheckSizes(
    name="FULL",
    model=_PAPER_MODEL,
    batch=_PAPER_BATCH,
    matmul_n=8192,
    timed_steps=10,
    train_steps=200,
    compile=True,
    rollout_windows=256,
    rollout_future=100 - ROLLOUT_CONTEXT,
    rollout_landmarks=30,  # the paper's K for BAIR/KTH
    lstm_hidden=256,  # appendix A: 3 x 256
    metric_frames=(8, 10, 3, 128, 128),
)
# The paper model's wiring (decoder, SPADE condition, spectral norm) at widths where a CPU step takes milliseconds.
_TINY_MODEL = replace(
    _PAPER_MODEL,
    image_size=32,
    n_landmarks=4,
    appearance_channels=8,
    pose_widths=(8, 16),
    appearance_width=8,
    decoder_widths=(16, 16),
    decoder_resolution=8,
    spade_hidden=8,
)
TINY = replace(
    FULL,
    name="TINY",
    model=_TINY_MODEL,
    batch=4,
    matmul_n=256,
    timed_steps=3,
    train_steps=30,
    compile=False,
    rollout_windows=4,
    rollout_future=10 - ROLLOUT_CONTEXT,
    rollout_landmarks=4,
    lstm_hidden=16,
    metric_frames=(2, 3, 3, 32, 32),
)


@dataclass
class Check:
    """What every row reads: the device, the sizes, and the measurements of earlier rows that later ones divide by."""

    device: torch.device
    sizes: CheckSizes
    found: dict[str, float] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def matmul_peak(self) -> float:
        """FLOP/s of the matmul row (measured here if that row has not run)."""
        if "matmul_flops" not in self.found:
            dtype = torch.bfloat16 if self.cuda else torch.float32
            self.found["matmul_flops"] = matmul_flops_per_s(self.device, dtype, self.sizes.matmul_n)
        return self.found["matmul_flops"]


def row(setting: str, value: str, target: str, status: str, **metrics: Any) -> dict[str, Any]:
    """One table row but its name (the runner adds it): what was run, the measured value with its unit, the target,
    PASS/MISS/FAIL (SKIP: not run at these sizes); `metrics` keeps the numbers behind `value` for the JSON record."""
    return {"setting": setting, "value": value, "target": target, "status": status, "metrics": metrics}


def choose_device(allow_cpu: bool) -> torch.device:
    """cuda when there is one; else the CPU with `allow_cpu`, or SystemExit saying why."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    if not allow_cpu:
        raise SystemExit(NO_CUDA)
    return torch.device("cpu")


# ------------------------------------------------------------------------------------------------------- rows


def check_matmul(check: Check) -> dict[str, Any]:
    """n x n @ n x n, bf16 on CUDA (float32 on CPU): the FLOP/s the step rows are divided by."""
    n = check.sizes.matmul_n
    flops = check.matmul_peak()
    if check.cuda:
        target, status = f">= {MATMUL_TARGET / 1e12:.0f} TFLOP/s", "PASS" if flops >= MATMUL_TARGET else "MISS"
    else:
        target, status = "> 0 (CPU fp32 reference)", "PASS" if flops > 0 else "FAIL"
    setting = f"{'bf16' if check.cuda else 'fp32'} {n}x{n}"
    return row(setting, f"{flops / 1e12:.3g} TFLOP/s", target, status, flops_per_s=flops)


def _step_setup(check: Check) -> tuple[FactorizationModel, dict[str, torch.Tensor]]:
    """A seeded model and batch {pose_input, appearance_input, target: [B,C,H,W]} on the device; channels_last on
    CUDA, where cuDNN's bf16 convs are fastest in it."""
    seed_everything(SEED, deterministic=False)  # deterministic algorithms would slow the timed convs
    cfg, memory = check.sizes.model, torch.channels_last if check.cuda else torch.contiguous_format
    model = FactorizationModel(cfg).to(check.device).to(memory_format=memory)
    data = {k: v.contiguous(memory_format=memory) for k, v in _batch(cfg, check.sizes.batch, check.device).items()}
    return model, data


def _model_setting(check: Check, dtype: str | None = None) -> str:
    """The model, batch and precision of a row: bf16 (autocast) on CUDA unless `dtype` says otherwise."""
    cfg, dtype = check.sizes.model, dtype or ("bf16" if check.cuda else "fp32")
    return f"{cfg.image_size}px K={cfg.n_landmarks} B={check.sizes.batch} {dtype}"


def _share(check: Check, flops: int, seconds: float) -> tuple[float, str, str]:
    """(share of the matmul FLOP/s, target text, PASS/MISS) of a step of `flops` taking `seconds`."""
    share = flops / seconds / check.matmul_peak()
    return share, f">= {GPU_TARGET:.2f} of matmul", "PASS" if share >= GPU_TARGET else "MISS"


def check_eager_step(check: Check) -> dict[str, Any]:
    """Forward (pose_input, appearance_input [B,C,H,W]) -> recon, MSE to target, backward, Adam step; bf16 autocast
    on CUDA. FLOPs counted by benchmarks.flops (convs, matmuls, einsums)."""
    model, data = _step_setup(check)
    flops = training_step_flops(model, data)
    if check.cuda:
        torch.cuda.reset_peak_memory_stats(check.device)
    seconds = best_time(_step_fn(model, data, bf16=check.cuda), repeat=check.sizes.timed_steps, warmup=3)
    check.found["eager_step_s"] = seconds
    share, target, status = _share(check, flops, seconds)
    peak = torch.cuda.max_memory_allocated(check.device) if check.cuda else None
    memory = f"{peak / 2**30:.1f} GiB" if peak is not None else "n/a on CPU"
    value = f"{share:.2f} of matmul ({flops / seconds / 1e12:.3g} TFLOP/s, {seconds * 1e3:.1f} ms/step, peak {memory})"
    metrics = dict(share=share, flops_per_step=flops, step_s=seconds, peak_bytes=peak)
    return row(_model_setting(check), value, target, status, **metrics)


def check_compiled_step(check: Check) -> dict[str, Any]:
    """The eager row's step with the model under torch.compile (default mode); the first call's time is the compile
    time. A compile error raises, which the runner reports as this row's FAIL."""
    if not check.sizes.compile:
        reason = f"skipped at {check.sizes.name} sizes: compile time"
        return row(_model_setting(check), reason, "compiles and runs", "SKIP", reason=reason)
    model, data = _step_setup(check)
    flops = training_step_flops(model, data)
    step = _step_fn(torch.compile(model), data, bf16=check.cuda)
    start = time.perf_counter()
    step()
    check.sync()
    compile_s = time.perf_counter() - start
    seconds = best_time(step, repeat=check.sizes.timed_steps, warmup=2)
    share, target, status = _share(check, flops, seconds)
    eager = check.found.get("eager_step_s")
    speedup = eager / seconds if eager else math.nan  # nan: the eager row failed
    value = f"{share:.2f} of matmul ({seconds * 1e3:.1f} ms/step, {speedup:.2f}x eager, compiled in {compile_s:.0f} s)"
    metrics = dict(share=share, step_s=seconds, speedup_over_eager=speedup, compile_s=compile_s)
    return row(_model_setting(check), value, target, status, **metrics)


def moving_discs(
    clips: int, frames: int, size: int, channels: int, gen: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Clips [N,T,C,H,W] in [0,1]: one bright disc (radius size/8, soft edge, a colour per clip) moving in a
    straight line, bouncing off the borders, on a dark background."""
    radius = size / 8
    start = torch.rand(clips, 1, 2, generator=gen) * (size - 2 * radius)
    velocity = (torch.rand(clips, 1, 2, generator=gen) - 0.5) * (size / 8)
    travel = start + velocity * torch.arange(frames).view(1, frames, 1)  # [N,T,2] along an unfolded line
    span = size - 2 * radius
    centre = (radius + span - (travel.remainder(2 * span) - span).abs()).to(device)  # folded back: bounces
    colour = (0.6 + 0.4 * torch.rand(clips, 1, channels, 1, 1, generator=gen)).to(device)
    pixels = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    dy = pixels.view(1, 1, size, 1) - centre[..., 1, None, None]
    dx = pixels.view(1, 1, 1, size) - centre[..., 0, None, None]
    disc = torch.sigmoid(radius - (dx.square() + dy.square()).sqrt())  # [N,T,H,W], edge ~1 px wide
    return 0.1 + (colour - 0.1) * disc.unsqueeze(2)


def _disc_batch(
    clips: torch.Tensor, batch: int, generator: torch.Generator, memory: torch.memory_format
) -> dict[str, torch.Tensor]:
    """target = a random frame of a random clip; appearance_input = another frame of that clip; pose_input = the
    target with its brightness scaled by [0.7, 1.3] (the colour jitter the pose encoder must ignore)."""
    n, t = clips.shape[:2]
    which = torch.randint(n, (batch,), generator=generator)
    frame, other = torch.randint(t, (2, batch), generator=generator)
    gain = (0.7 + 0.6 * torch.rand(batch, 1, 1, 1, generator=generator)).to(clips.device)
    target = clips[which, frame]
    return {
        "target": target.contiguous(memory_format=memory),
        "appearance_input": clips[which, other].contiguous(memory_format=memory),
        "pose_input": (target * gain).clamp(0, 1).contiguous(memory_format=memory),
    }


def check_training(check: Check) -> dict[str, Any]:
    """train_steps Adam steps of the model on moving discs (bf16 autocast + channels_last on CUDA); the mean MSE of
    the last loss_window steps must be LOSS_DROP below that of the first."""
    sizes, cfg = check.sizes, check.sizes.model
    seed_everything(SEED, deterministic=False)
    gen = torch.Generator().manual_seed(SEED)
    memory = torch.channels_last if check.cuda else torch.contiguous_format
    clips = moving_discs(2 * sizes.batch, 16, cfg.image_size, cfg.channels, gen, check.device)
    model = FactorizationModel(cfg).to(check.device).to(memory_format=memory)
    opt = torch.optim.Adam(model.parameters(), lr=TRAIN_LR)
    losses = []
    for _ in range(sizes.train_steps):
        data = _disc_batch(clips, sizes.batch, gen, memory)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(check.device.type, dtype=torch.bfloat16, enabled=check.cuda):
            recon = model(data["pose_input"], data["appearance_input"])["recon"]
        loss = F.mse_loss(recon.float(), data["target"])
        loss.backward()
        opt.step()
        losses.append(loss.detach())  # no .item() here: a sync per step would stall the GPU queue
    curve = torch.stack(losses).cpu()
    first, last = curve[: sizes.loss_window].mean().item(), curve[-sizes.loss_window :].mean().item()
    drop = 1 - last / first
    status = "PASS" if math.isfinite(drop) and drop >= LOSS_DROP else "FAIL"
    setting, target = f"{sizes.train_steps} steps {_model_setting(check)}", f">= {100 * LOSS_DROP:.0f}% lower"
    value = f"MSE {first:.4f} -> {last:.4f} ({100 * drop:.0f}% lower; means of {sizes.loss_window} steps)"
    return row(setting, value, target, status, first_mse=first, last_mse=last, drop=drop)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gradients(model: torch.nn.Module, data: dict[str, torch.Tensor]) -> list[torch.Tensor | None]:
    """Parameter gradients of one float32 MSE forward/backward of `model` on `data`."""
    F.mse_loss(model(data["pose_input"], data["appearance_input"])["recon"], data["target"]).backward()
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def check_ddp(check: Check) -> dict[str, Any]:
    """One DistributedDataParallel step (world size 1: NCCL on CUDA, gloo on CPU); its gradients must match those of
    an identical copy of the model without DDP (float32; cuDNN's atomics allow a 1e-3 relative difference)."""
    from torch.nn.parallel import DistributedDataParallel

    model, data = _step_setup(check)
    reference = copy.deepcopy(model)  # before any forward: spectral norm's power iteration updates buffers
    backend = "nccl" if check.cuda else "gloo"
    if check.cuda:  # one process on one host: loopback is all NCCL's bootstrap needs, and may be the only interface
        os.environ.setdefault("NCCL_SOCKET_IFNAME", "lo")
    torch.distributed.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{free_port()}", world_size=1, rank=0, timeout=timedelta(seconds=120)
    )
    try:
        ddp = DistributedDataParallel(model, device_ids=[check.device.index] if check.cuda else None)
        opt = torch.optim.Adam(ddp.parameters(), lr=1e-4)
        got, want = _gradients(ddp, data), _gradients(reference, data)
        opt.step()
        check.sync()
    finally:
        torch.distributed.destroy_process_group()
    if [g is None for g in got] != [w is None for w in want]:
        raise RuntimeError("DDP and the plain model disagree on which parameters have gradients")
    pairs = [(g, w) for g, w in zip(got, want) if g is not None]
    worst = max(((g - w).abs().max() / w.abs().max().clamp_min(1e-12)).item() for g, w in pairs)
    finite = all(torch.isfinite(p).all().item() for p in model.parameters())
    status = "PASS" if worst <= 1e-3 and finite else "FAIL"
    value = f"gradients differ by {worst:.1e} (relative), parameters {'finite' if finite else 'NOT finite'}"
    setting = f"world size 1, {backend}, {_model_setting(check, 'fp32')}"
    return row(setting, value, "<= 1e-3, finite", status, max_relative_difference=worst)


def random_states(n: int, t: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """Valid landmark states [N,T,K,5] = (mu_x, mu_y in [-1,1]; l11, l22 in [0.05, 0.3]; l21 in [-0.1, 0.1])."""
    u = torch.rand(n, t, k, STATE_DIM, generator=generator)
    scale = torch.tensor([2.0, 2.0, 0.25, 0.2, 0.25])
    offset = torch.tensor([-1.0, -1.0, 0.05, -0.1, 0.05])
    return u * scale + offset


def check_rollout(check: Check) -> dict[str, Any]:
    """LandmarkLSTM (3 layers x lstm_hidden) rollout: context [N,Tc,K,5] -> [N,F,K,5]; frames/s = N*F / time."""
    sizes = check.sizes
    seed_everything(SEED, deterministic=False)
    k, n, f = sizes.rollout_landmarks, sizes.rollout_windows, sizes.rollout_future
    model = LandmarkLSTM(DynamicsConfig(n_landmarks=k, hidden=sizes.lstm_hidden)).to(check.device)
    context = random_states(n, ROLLOUT_CONTEXT, k, torch.Generator().manual_seed(SEED)).to(check.device)
    out = rollout(model, context, f)
    seconds = best_time(lambda: rollout(model, context, f), repeat=3)
    shape_ok = tuple(out.shape) == (n, f, k, STATE_DIM)
    finite = bool(torch.isfinite(out).all().item())
    setting = f"{n} windows x {ROLLOUT_CONTEXT}+{f} frames, K={k}, {sizes.lstm_hidden} units"
    value = f"{n * f / seconds:,.0f} frames/s, shape {list(out.shape)}, {'finite' if finite else 'NOT finite'}"
    target, status = f"shape [{n}, {f}, {k}, {STATE_DIM}], finite", "PASS" if shape_ok and finite else "FAIL"
    return row(setting, value, target, status, frames_per_s=n * f / seconds, seconds=seconds)


def check_metrics(check: Check) -> dict[str, Any]:
    """ssim and psnr of frames [N,T,C,H,W] in [0,1] on the device against the same on the CPU, in float32 and in
    float64 (the exact reference): the largest absolute difference of either must stay under METRIC_TOLERANCE."""
    gen = torch.Generator().manual_seed(SEED)
    target = torch.rand(check.sizes.metric_frames, generator=gen)
    pred = (target + 0.1 * torch.randn(target.shape, generator=gen)).clamp(0, 1)
    on_device = pred.to(check.device), target.to(check.device)
    worst = {}
    for name, metric in (("ssim", ssim), ("psnr", psnr)):
        got = metric(*on_device).cpu()
        references = (metric(pred, target), metric(pred.double(), target.double()))
        worst[name] = max((got - ref).abs().max().item() for ref in references)
    status = "PASS" if all(math.isfinite(v) and v < METRIC_TOLERANCE for v in worst.values()) else "FAIL"
    setting = f"{check.device.type} vs CPU fp32/fp64, {list(check.sizes.metric_frames)}"
    value = f"max |diff| SSIM {worst['ssim']:.1e}, PSNR {worst['psnr']:.1e} dB"
    metrics = dict(ssim_max_difference=worst["ssim"], psnr_max_difference_db=worst["psnr"])
    return row(setting, value, f"< {METRIC_TOLERANCE:.0e}", status, **metrics)


def checks() -> list[tuple[str, Callable[[Check], dict[str, Any]]]]:
    """(row name, row function) in run order; looked up at call time, so tests can replace one."""
    return [
        ("matmul", check_matmul),
        ("train step eager", check_eager_step),
        ("train moving discs", check_training),
        ("DDP step", check_ddp),
        ("LSTM rollout", check_rollout),
        ("SSIM/PSNR", check_metrics),
        ("train step torch.compile", check_compiled_step),
    ]


# ------------------------------------------------------------------------------------------------------ runner


def header(device: torch.device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        versions = f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    else:
        name, versions = f"CPU ({torch.get_num_threads()} threads)", "no CUDA"
    return f"gpu_check: torch {torch.__version__}, {name}, {versions}"


TABLE_HEADER = {
    "name": "check",
    "setting": "setting",
    "value": "measured",
    "target": "target",
    "status": "",
    "seconds": "s",
}


def _line(cells: dict[str, Any]) -> str:
    return (
        f"{cells['name']:24} {cells['setting']:40} {cells['value']:66} {cells['target']:32} {cells['status']:5}"
        f"{cells['seconds']:>6}"
    )


def _write_json(path: Path, report: dict[str, Any]) -> None:
    """Written to a temp file beside `path`, then renamed: a run killed mid-write leaves the previous version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(report, f, indent=1, default=str)
    os.replace(tmp, path)


def run_row(check: Check, name: str, fn: Callable[[Check], dict[str, Any]]) -> dict[str, Any]:
    """fn(check), timed; an exception becomes this row's FAIL with the error text."""
    start = time.perf_counter()
    try:
        result = fn(check)
    except Exception as error:  # any failure of one row is that row's result; the other rows still run
        text = " ".join(f"error: {type(error).__name__}: {error}".split())  # one line: the table stays a table
        result = row("", text[:300], "no error", "FAIL")
        result["traceback"] = traceback.format_exc()
    finally:
        gc.collect()  # free this row's model before the next row's peak-memory reading
        if check.cuda:
            torch.cuda.empty_cache()
    return {"name": name, **result, "seconds": round(time.perf_counter() - start, 1)}


def run_table(check: Check, json_path: Path | None) -> dict[str, Any]:
    """Run every row, printing one table (each row as it finishes) and rewriting `json_path` after each row."""
    report: dict[str, Any] = {"header": header(check.device), "sizes": asdict(check.sizes), "rows": []}
    print(report["header"], f"-- {check.sizes.name} sizes", flush=True)
    print(_line(TABLE_HEADER))
    for name, fn in checks():
        result = run_row(check, name, fn)
        report["rows"].append(result)
        print(_line(result), flush=True)
        if json_path:
            _write_json(json_path, report)
    return report


def main(argv: list[str] | None = None) -> int:
    """The table of every row (and --json); 1 if any row FAILs."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--allow-cpu", action="store_true", help="without CUDA: run on the CPU at tiny sizes")
    parser.add_argument("--json", type=Path, help="also write the table as JSON to this file")
    args = parser.parse_args(argv)
    device = choose_device(args.allow_cpu)
    threads = torch.get_num_threads()
    if device.type == "cpu":  # TINY ops on a few busy cores run several times faster on one thread than on two
        torch.set_num_threads(1)
    try:
        report = run_table(Check(device, FULL if device.type == "cuda" else TINY), args.json)
    finally:
        torch.set_num_threads(threads)
    failed = [r["name"] for r in report["rows"] if r["status"] == "FAIL"]
    print(f"{len(failed)} FAIL" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
