"""The cost plan (`lmvid run --plan`, `--budget`): the step probe's FLOPs and times, the runs each notebook trains
found from its parameters, reuse and finished runs, the budget stop, and the plan at the head of every run."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import torch

from lmvid_lib.config import load_profile
from lmvid_lib.models.run_config import config_from_parameters, scene_model_configs
from lmvid_lib.paths import REPO
from lmvid_lib.publish import cost, runner
from lmvid_lib.train import probe


class _SleepTrainer:
    """A trainer whose step is an n x n matmul per sample and sleeps `pause` seconds per sample."""

    def __init__(self, samples: int, n: int, pause: float):
        self.samples, self.pause = samples, pause
        self.a = torch.ones(samples, n, n)

    def step(self, step: int) -> dict[str, float]:
        (self.a @ self.a).sum()
        time.sleep(self.pause * self.samples)
        return {"loss": 0.0}


def test_probe_counts_flops_at_one_sample_and_times_per_sample_at_the_capped_batch(monkeypatch):
    built = []

    def build(samples):
        built.append(samples)
        return _SleepTrainer(samples, 8, 0.02)

    monkeypatch.setitem(probe.PROBE_FLOPS, "cpu", 3 * 2 * 8**3)  # room for 3 samples' matmuls
    step = probe.probe(build, batch=16, device=torch.device("cpu"))
    assert step.flops_per_sample == 2 * 8**3  # one [8,8] @ [8,8]
    assert built == [1, 3] and step.batch == 3
    assert 0.02 <= step.seconds_per_sample < 0.04


def _cpu_config(**changes):
    section = load_profile("smoke")["02_factorization"]
    cfg = config_from_parameters(section["factorization"], "signer", None, 0, "cpu", "spade", 0)
    return cfg, scene_model_configs([cfg], section["scene_decoder"])["signer"]


def test_a_factorization_probe_runs_the_real_step_and_a_frozen_pose_encoder_costs_fewer_flops():
    paper, scene = _cpu_config()
    paper, scene = (dataclasses.replace(c, batch_size=2) for c in (paper, scene))
    paper_step, scene_step = probe.probe_factorization(paper), probe.probe_factorization(scene)
    assert paper_step.device == "cpu" and paper_step.batch == 2 and paper_step.seconds_per_sample > 0
    assert 0 < scene_step.flops_per_sample < paper_step.flops_per_sample  # no weight gradients of the pose encoder


def test_a_profile_device_missing_here_is_probed_on_cpu_in_fp32_and_said():
    if torch.cuda.is_available():
        pytest.skip("CUDA is here")
    paper, _ = _cpu_config()
    step = probe.probe_factorization(dataclasses.replace(paper, device="cuda", bf16=True, batch_size=1))
    assert step.device == "cpu" and "'cuda' is not available here" in step.note and "fp32" in step.note


@pytest.fixture
def fake_probes(monkeypatch):
    """Every probe returns 1 GFLOP and 10 ms per sample; the configs probed are logged by kind."""
    calls = []

    def fake(kind):
        def run(cfg, *args):
            calls.append((kind, cfg))
            return probe.StepProbe(1e9, 0.01, 1, "cpu")

        return run

    for kind in ("factorization", "dynamics", "pixel", "detector"):
        monkeypatch.setattr(probe, f"probe_{kind}", fake(kind))
    return calls


def _smoke_plan(tmp_path, *only):
    job = runner.plan("smoke", str(tmp_path / "run"), list(only), [], REPO)
    return job, cost.cost_lines(job.selected, job.parameters, REPO)


def test_the_plan_lists_each_run_a_notebook_trains_with_steps_samples_and_cost(tmp_path, fake_probes):
    job, lines = _smoke_plan(tmp_path)
    p = job.parameters["02_factorization"]
    folders = [line.job.folder for line in lines["02_factorization"]]
    trained = [f"factorization/signer-{d}-seed{s}" for d in p["decoders"] for s in p["seeds"]]
    assert folders[: len(trained)] == trained
    assert {"factorization/pusher-scene-seed0", "detector/walker-seed0"} <= set(folders)
    first = lines["02_factorization"][0]
    assert first.job.steps == p["factorization"]["steps"] and first.job.samples == p["factorization"]["batch_size"]
    assert first.seconds == pytest.approx(first.job.steps * first.job.samples * 0.01)
    assert first.flops == pytest.approx(first.job.steps * first.job.samples * 1e9)
    # chapter 4's LSTMs: residual and direct per dataset, each with K of its dataset's chapter-2 model
    k = {c.dataset: c.model.n_landmarks for kind, c in fake_probes if kind == "factorization"}
    lstms = [c for kind, c in fake_probes if kind == "dynamics" and not c.model.latent]
    assert {line.job.folder for line in lines["04_dynamics"]} == {
        f"dynamics/{d}-{w}-seed0"
        for d in job.parameters["04_dynamics"]["dynamics_datasets"]
        for w in ("residual", "direct")
    }
    assert {c.model.predict_residual for c in lstms} == {True, False}
    assert all(c.model.n_landmarks == k[c.dataset] for c in lstms)
    assert any(c.model.latent for kind, c in fake_probes if kind == "dynamics")  # chapter 4b's stochastic LSTMs
    # chapter 5 trains pixel predictors and reuses chapter 2's detectors
    states = {line.job.folder: line.state for line in lines["05_prediction"]}
    assert states["pixel/pusher-seed0"] == "to train" and states["detector/pusher-seed0"] == "reused (02_factorization)"
    assert sum(line.seconds for line in lines["05_prediction"] if line.job.kind == "detector") == 0
    # chapter 4b scores its decoded samples with the same detectors
    states = {line.job.folder: line.state for line in lines["04b_stochastic"] if line.job.kind == "detector"}
    assert states == {f"detector/{d}-seed0": "reused (02_factorization)" for d in ("pusher", "walker")}
    assert [j.notebook for j in cost.plan_jobs(job.parameters)][0] == "02_factorization"  # in the notebooks' order


@pytest.mark.parametrize("batch_first", [True, False])
def test_an_lstm_is_counted_as_its_gate_matmuls_forward_and_twice_that_backward(batch_first):
    from lmvid_lib.models.flops import count_flops

    lstm = torch.nn.LSTM(8, 16, 2, batch_first=batch_first)
    x = torch.randn((4, 5, 8) if batch_first else (5, 4, 8))
    forward = 2 * 4 * 5 * (4 * 16 * (8 + 16) + 4 * 16 * (16 + 16))  # 2 T B (4H I + 4H H) per layer
    with torch.no_grad():
        assert count_flops(lambda: lstm(x)) == forward
    assert count_flops(lambda: lstm(x)[0].sum().backward()) == 3 * forward
    with torch.backends.mkldnn.flags(enabled=False):  # the unfused LSTM: the counter sees its matmuls itself
        assert count_flops(lambda: lstm(x)[0].sum().backward()) == pytest.approx(3 * forward, rel=0.1)


def test_runs_of_one_step_shape_share_a_probe_and_finished_runs_are_not_probed(tmp_path, fake_probes):
    _smoke_plan(tmp_path, "02")
    shapes = [cfg for kind, cfg in fake_probes if kind == "factorization"]
    assert len(shapes) == len({json.dumps(dataclasses.asdict(c), default=str) for c in shapes})
    model = tmp_path / "run" / "factorization" / "signer-spade-seed0" / "model.pt"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    fake_probes.clear()
    _, lines = _smoke_plan(tmp_path, "02")
    done = next(x for x in lines["02_factorization"] if x.job.folder.endswith("signer-spade-seed0"))
    assert done.state == "trained" and done.seconds == 0
    assert all(c.run_name != "signer-spade-seed0" for kind, c in fake_probes if kind == "factorization")


def test_a_plan_over_budget_stops_naming_each_notebook_and_one_within_passes(tmp_path, fake_probes):
    _, lines = _smoke_plan(tmp_path, "02", "05")
    hours = cost.total_seconds(lines) / 3600
    cost.check_budget(lines, hours * 1.01)
    cost.check_budget(lines, None)
    with pytest.raises(SystemExit, match=r"over --budget .* h \(02_factorization ~.*, 05_prediction ~.*\): nothing"):
        cost.check_budget(lines, hours * 0.99)


def test_plan_only_prints_the_plan_and_runs_nothing(tmp_path, fake_probes, capsys, monkeypatch):
    from lmvid_lib.publish import notebooks

    monkeypatch.setattr(notebooks, "execute", lambda *a: pytest.fail("a notebook ran"))
    run_dir = tmp_path / "run"
    assert runner.run("smoke", str(run_dir), ["04"], html=False, plan_only=True) == 0
    out = capsys.readouterr().out
    assert "cost plan" in out and "04_dynamics dynamics/signer-residual-seed0: 20 steps x 8 samples" in out
    assert "02_factorization" not in out.replace("(02_factorization", "")  # only the selected notebook
    assert not run_dir.exists()  # no manifest written
    with pytest.raises(SystemExit, match="over --budget"):
        runner.run("smoke", str(run_dir), ["04"], html=False, budget=1e-9)
    assert not run_dir.exists()


def test_budget_must_be_positive_on_the_command_line(capsys):
    from lmvid_lib import cli

    assert cli.main(["run", "--profile", "smoke", "--plan", "--budget", "0"]) == 1
    assert "--budget must be a positive number of hours" in capsys.readouterr().err


def test_the_manifest_keeps_the_plan_and_the_plan_shows_the_last_measured_run(tmp_path, fake_probes):
    _, lines = _smoke_plan(tmp_path, "04")
    record = cost.plan_record(lines)
    assert record["04_dynamics"]["estimated_training_seconds"] == pytest.approx(cost.total_seconds(lines))
    assert "dynamics/signer-direct-seed0" in record["04_dynamics"]["runs_to_train"]
    (tmp_path / "run").mkdir(exist_ok=True)
    (tmp_path / "run" / "manifest.json").write_text(json.dumps({"notebooks": {"04_dynamics": {"seconds": 90.0}}}))
    measured = cost.last_run_seconds(tmp_path / "run")
    text = cost.format_plan(["04_dynamics"], {"04_dynamics": {}}, lines, measured, "[t]")
    assert "its last run took 1.5 min" in text and "training in all" in text
