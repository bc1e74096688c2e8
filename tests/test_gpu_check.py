"""benchmarks/gpu_check.py, the prepared GPU device check, run here on the CPU at its TINY sizes (--allow-cpu): every
row runs and is recorded, a row that raises is that row's FAIL, and the script imports nothing beyond
torch/numpy/pyyaml/tqdm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check
from benchmarks.bench_models import profile_settings
from lmvid_lib.models.dynamics import check_states

REPO = Path(__file__).resolve().parent.parent
# With CUDA, main() runs the FULL sizes (minutes): that run is the check itself, not a test.
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: main() would run FULL sizes")


@pytest.fixture(scope="module")
def cpu_report(tmp_path_factory) -> tuple[int, dict]:
    path = tmp_path_factory.mktemp("gpu_check") / "c.json"
    threads = torch.get_num_threads()
    code = gpu_check.main(["--allow-cpu", "--json", str(path)])
    assert torch.get_num_threads() == threads  # main runs TINY rows on one thread, then puts the count back
    return code, json.loads(path.read_text())


@needs_no_cuda
def test_without_cuda_the_check_refuses_unless_allowed():
    with pytest.raises(SystemExit) as refused:
        gpu_check.choose_device(False)
    assert "--allow-cpu" in str(refused.value) and "no CUDA device" in str(refused.value)
    assert gpu_check.choose_device(True) == torch.device("cpu")


@needs_no_cuda
def test_the_cpu_run_records_every_row_and_passes(cpu_report):
    code, report = cpu_report
    assert code == 0
    assert report["sizes"]["name"] == "TINY" and report["header"].startswith(f"gpu_check: torch {torch.__version__}")
    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows) == [name for name, _ in gpu_check.checks()]
    assert all(r["status"] in ("PASS", "MISS", "SKIP") for r in rows.values()), report["rows"]

    training = rows["train moving discs"]
    assert training["status"] == "PASS"
    metrics = training["metrics"]
    assert metrics["last_mse"] <= (1 - gpu_check.LOSS_DROP) * metrics["first_mse"]

    assert rows["DDP step"]["status"] == "PASS" and "gloo" in rows["DDP step"]["setting"]
    assert rows["DDP step"]["metrics"]["max_relative_difference"] <= 1e-3
    assert rows["SSIM/PSNR"]["status"] == "PASS"
    assert rows["SSIM/PSNR"]["metrics"]["ssim_max_difference"] < gpu_check.METRIC_TOLERANCE
    assert rows["LSTM rollout"]["status"] == "PASS" and rows["LSTM rollout"]["metrics"]["frames_per_s"] > 0
    eager = rows["train step eager"]["metrics"]
    assert eager["flops_per_step"] > 0 and eager["share"] > 0 and eager["peak_bytes"] is None
    assert rows["train step torch.compile"]["status"] == "SKIP"  # TINY sizes skip inductor's compile time


@needs_no_cuda
def test_a_row_that_raises_is_its_fail_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    def broken(check):
        raise RuntimeError("rollout exploded\non two lines")

    monkeypatch.setattr(gpu_check, "check_rollout", broken)
    path = tmp_path / "c.json"
    assert gpu_check.main(["--allow-cpu", "--json", str(path)]) == 1
    rows = {r["name"]: r for r in json.loads(path.read_text())["rows"]}
    assert rows["LSTM rollout"]["status"] == "FAIL"
    assert "RuntimeError: rollout exploded on two lines" in rows["LSTM rollout"]["value"]
    assert "broken" in rows["LSTM rollout"]["traceback"]
    assert rows["SSIM/PSNR"]["status"] == "PASS"  # the row after the broken one ran
    assert len(rows) == len(gpu_check.checks())
    printed = capsys.readouterr().out
    assert printed.startswith(f"gpu_check: torch {torch.__version__}")
    assert any("LSTM rollout" in line and "FAIL" in line and "exploded" in line for line in printed.splitlines())
    assert "1 FAIL: LSTM rollout" in printed


def test_importing_the_check_pulls_no_pil_scipy_or_matplotlib():
    probe = (
        "import benchmarks.gpu_check, sys; print(sorted(m for m in ('PIL','scipy','matplotlib') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_full_sizes_are_the_paper_profile():
    model, _, batch, _ = profile_settings("paper")
    assert gpu_check.FULL.model == model and gpu_check.FULL.batch == batch
    assert (gpu_check.FULL.model.image_size, gpu_check.FULL.model.n_landmarks) == (model.image_size, model.n_landmarks)
    # TINY keeps the paper model's wiring at smaller sizes
    tiny = gpu_check.TINY.model
    assert (tiny.decoder, tiny.spade_condition, tiny.spectral_norm) == (model.decoder, model.spade_condition, True)
    assert tiny.image_size < model.image_size and gpu_check.TINY.matmul_n < gpu_check.FULL.matmul_n


def test_moving_discs_move_inside_the_frame():
    gen = torch.Generator().manual_seed(0)
    clips = gpu_check.moving_discs(3, 6, 32, 3, gen, torch.device("cpu"))
    assert clips.shape == (3, 6, 3, 32, 32)
    assert clips.min() >= 0 and clips.max() <= 1
    bright = (clips.mean(2) > 0.3).float()  # [N,T,H,W] disc pixels
    area, xs = bright.sum((-2, -1)), torch.arange(32.0)
    centre = torch.stack([(bright.sum(-2) * xs).sum(-1), (bright.sum(-1) * xs).sum(-1)], -1) / area[..., None]
    assert area.min() > 0.5 * torch.pi * 4**2  # the disc (radius 4) stays in view
    assert (centre[:, 1:] - centre[:, :1]).norm(dim=-1).amax(1).min() > 0.5  # and moves in every clip


def test_random_states_are_valid_landmark_states():
    states = gpu_check.random_states(2, 3, 4, torch.Generator().manual_seed(0))
    check_states(states, n_landmarks=4)
    assert states[..., :2].abs().max() <= 1 and states[..., 2].min() > 0 and states[..., 4].min() > 0
