"""A training process killed with SIGKILL and restarted ends bit-identical to one that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from test_train import assert_same_weights, write_tiny_dataset

from lmvid_lib.io import load_checkpoint
from lmvid_lib.train import read_metrics

REPO = Path(__file__).resolve().parent.parent
STEPS = 16


def train_command(config: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "lmvid_lib.train", "--config", str(config), "--run-dir", str(run_dir)]


def child_env() -> dict[str, str]:
    # One thread: deterministic and fast for tiny convs, and both runs use the same kernels.
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def run_to_end(config: Path, run_dir: Path) -> dict:
    done = subprocess.run(
        train_command(config, run_dir), cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_then_resume_is_bit_identical(tmp_path):
    data_root = write_tiny_dataset(tmp_path / "bair")
    # lambda_adv > 0: the discriminator, its optimizer and both spectral-norm states must resume too; 2 micro-batches
    # per step: a checkpoint falls between optimizer steps, never inside one.
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            tiny_config(
                data_root,
                steps=STEPS,
                log_every=3,
                checkpoint_every=4,
                batch_size=2,
                accumulate=2,
                loss={"lambda_adv": 0.05},
            )
        )
    )

    killed_dir = tmp_path / "killed"
    checkpoint = killed_dir / "factorization" / "bair-spade-seed0" / "checkpoints" / "last.pt"
    process = subprocess.Popen(
        train_command(config, killed_dir),
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not checkpoint.exists():
            assert process.poll() is None, (
                f"training exited before its first checkpoint: {process.stderr.read()[-3000:]}"
            )
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(checkpoint)["step"]
    assert 0 < killed_at < STEPS
    assert not (checkpoint.parent.parent / "model.pt").exists()

    resumed = run_to_end(config, killed_dir)
    assert resumed["resumed_from"] == killed_at
    straight = run_to_end(config, tmp_path / "straight")
    assert straight["resumed_from"] == 0

    a, b = load_checkpoint(Path(straight["model"])), load_checkpoint(Path(resumed["model"]))
    assert_same_weights(a["model"], b["model"])
    state_a, state_b = load_checkpoint(Path(straight["checkpoint"])), load_checkpoint(Path(resumed["checkpoint"]))
    assert_same_weights(state_a["disc"], state_b["disc"])
    assert torch.equal(state_a["rng"]["generator"], state_b["rng"]["generator"])
    sampler_a, sampler_b = dict(state_a["sampler"]), dict(state_b["sampler"])
    assert torch.equal(sampler_a.pop("rng"), sampler_b.pop("rng")) and sampler_a == sampler_b
    strip = lambda rows: [{k: v for k, v in r.items() if k != "sec_per_step"} for r in rows]  # noqa: E731
    assert strip(read_metrics(straight["run"])) == strip(read_metrics(resumed["run"]))
