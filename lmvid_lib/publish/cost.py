"""The cost plan `lmvid run` prints before anything runs (`--plan`: only that; `--budget H`: refuse a longer one).

Per notebook, the training runs it will make, found from its effective parameters by the same config functions the
notebook calls (`TRAINERS`), each with its steps x samples per step, its FLOPs (`models.flops.count_flops` of one
step at one sample, times both) and an estimate of its wall time on this machine from a short timed probe of that step
(`train.probe`); one probe per distinct step shape (seeds of one model share it). A run whose model.pt is already in
the run dir, or that an earlier notebook trains (chapters 4b and 5 reuse chapter 2's detectors), costs nothing here. The
estimate counts training steps only: what each notebook evaluates is listed beside it, and where the run dir's
manifest has an earlier run of a notebook, its measured wall time is shown.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmvid_lib.models.run_config import (
    TrainConfig,
    chapter_models,
    config_from_parameters,
    dataset_model_configs,
    run_path,
    scene_model_configs,
    with_global_batch,
)
from lmvid_lib.paths import RunFiles, manifest_path
from lmvid_lib.train import probe
from lmvid_lib.train.dynamics import (
    dataset_configs,
    dataset_dynamics_config,
    dynamics_run_path,
    stochastic_mapping,
)
from lmvid_lib.train.pixel_predictor import dataset_pixel_config, pixel_run_path
from lmvid_lib.train.structure import detector_run_path, load_detector_config

# Per-run settings that do not change a step's cost: runs differing only by these share one probe.
_SAME_STEP = ("seed", "name", "steps", "log_every", "checkpoint_every", "sample_every", "progress", "dataset")


@dataclass(frozen=True)
class Job:
    """One training run a notebook will make."""

    notebook: str
    kind: str  # factorization | scene | detector | dynamics | pixel
    folder: str  # the run folder, relative to the run dir
    steps: int
    samples: int  # per optimiser step: batch x accumulated micro-batches
    probe: Callable[[], probe.StepProbe]
    shape: str  # jobs with one shape share one probe
    config: Any  # the run's config (TrainConfig, DynamicsTrainConfig, PixelTrainConfig or DetectorConfig)


@dataclass(frozen=True)
class Line:
    """A job of the plan with its cost: `state` is "to train", "trained" (model.pt present) or "reused (<stem>)"."""

    job: Job
    state: str
    flops: float  # of the whole run
    seconds: float  # estimated; 0 unless to train
    step: probe.StepProbe | None


def _shape(kind: str, cfg: Any, *extra: Any) -> str:
    data = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _SAME_STEP}
    return json.dumps([kind, data, *extra], sort_keys=True, default=str)


def _job(stem: str, kind: str, folder: Path, cfg: Any, run_probe: Callable[[], probe.StepProbe], *shape: Any) -> Job:
    """A job of `cfg.steps` steps of `cfg.batch_size` samples (a config without micro-batches)."""
    return Job(stem, kind, folder.as_posix(), cfg.steps, cfg.batch_size, run_probe, _shape(kind, cfg, *shape), cfg)


def _factorization_configs(p: Mapping[str, Any]) -> tuple[list[TrainConfig], dict[str, TrainConfig]]:
    """(every model run chapter 2 trains, in its order; dataset -> its paper-decoder model), as the notebook builds
    them."""
    main = [
        config_from_parameters(
            p["factorization"], p["dataset"], p["data_root"], s, p["device"], decoder=d, data_seed=p["seed"]
        )
        for d in p["decoders"]
        for s in p["seeds"]
    ]
    others = dataset_model_configs(
        p["factorization"], p["dataset_models"], p["seeds"][0], p["device"], p["seed"], main_dataset=p["dataset"]
    )
    paper = chapter_models((cfg, cfg) for cfg in [*main, *others.values()])
    scenes = scene_model_configs(
        [c for c in main if c.model.decoder == "spade"] + list(others.values()), p["scene_decoder"]
    )
    return [*main, *others.values(), *scenes.values()], paper


def _factorization_job(stem: str, cfg: TrainConfig) -> Job:
    one = with_global_batch(cfg, 1)
    kind = "scene" if cfg.landmarks_from else "factorization"
    folder = run_path(cfg, "").as_posix()
    return Job(
        stem,
        kind,
        folder,
        cfg.steps,
        one.batch_size * one.accumulate,
        lambda: probe.probe_factorization(cfg),
        _shape(kind, cfg),
        cfg,
    )


def _detector_jobs(stem: str, detector: Mapping[str, Any], paper: Mapping[str, TrainConfig]) -> Iterator[Job]:
    if not detector:
        return
    cfg = load_detector_config(detector, f"{stem}.detector")
    for name, model_cfg in paper.items():
        size, channels = model_cfg.model.image_size, model_cfg.model.channels
        run_probe = lambda s=size, c=channels: probe.probe_detector(cfg, s, c)  # noqa: E731 (one per dataset)
        yield _job(stem, "detector", detector_run_path("", name, cfg), cfg, run_probe, size, channels)


def _model_of(paper: Mapping[str, TrainConfig], dataset: str, stem: str) -> TrainConfig:
    if dataset not in paper:
        raise ValueError(f"{stem} names dataset {dataset!r}, which 02_factorization trains no model of ({list(paper)})")
    return paper[dataset]


def factorization_jobs(stem: str, params: Mapping[str, Mapping[str, Any]]) -> list[Job]:
    p = params[stem]
    configs, paper = _factorization_configs(p)
    return [*(_factorization_job(stem, c) for c in configs), *_detector_jobs(stem, p["detector"], paper)]


def _dynamics_jobs(stem: str, mappings: Mapping[str, Mapping], wirings: tuple[bool, ...], paper, device) -> list[Job]:
    jobs = []
    for name, mapping in mappings.items():
        k = _model_of(paper, name, stem).model.n_landmarks
        for residual in wirings:
            cfg = dataset_dynamics_config(mapping, name, k, residual, device)
            jobs.append(_job(stem, "dynamics", dynamics_run_path(cfg, ""), cfg, lambda c=cfg: probe.probe_dynamics(c)))
    return jobs


def dynamics_jobs(stem: str, params: Mapping[str, Mapping[str, Any]]) -> list[Job]:
    p, paper = params[stem], _factorization_configs(params["02_factorization"])[1]
    shared = dataset_configs(
        p["dynamics"], p["dynamics_overrides"], p["dynamics_datasets"], f"{stem}.dynamics_overrides"
    )
    if "stochastic" in p:
        mappings = {d: stochastic_mapping(c, p["stochastic"], f"{stem}.stochastic") for d, c in shared.items()}
        wanted = {d: paper[d] for d in p["prediction_datasets"] if d in paper}
        detectors = _detector_jobs(stem, p["detector"], wanted)  # scores its decoded samples
        return [*_dynamics_jobs(stem, mappings, (True,), paper, p["device"]), *detectors]
    return _dynamics_jobs(stem, shared, (True, False), paper, p["device"])  # chapter 4: residual and direct


def prediction_jobs(stem: str, params: Mapping[str, Mapping[str, Any]]) -> list[Job]:
    p, paper = params[stem], _factorization_configs(params["02_factorization"])[1]
    jobs = []
    for name, mapping in dataset_configs(p["pixel"], p["pixel_overrides"], p["prediction_datasets"], "pixel").items():
        model = _model_of(paper, name, stem).model
        cfg = dataset_pixel_config(mapping, name, model.channels, model.image_size, p["device"])
        jobs.append(_job(stem, "pixel", pixel_run_path(cfg, ""), cfg, lambda c=cfg: probe.probe_pixel(c)))
    wanted = {d: paper[d] for d in p["prediction_datasets"] if d in paper}
    return jobs + list(_detector_jobs(stem, p["detector"], wanted))


# notebook stem -> the training runs it makes, from every notebook's effective parameters
TRAINERS: dict[str, Callable[[str, Mapping[str, Mapping[str, Any]]], list[Job]]] = {
    "02_factorization": factorization_jobs,
    "04_dynamics": dynamics_jobs,
    "04b_stochastic": dynamics_jobs,
    "05_prediction": prediction_jobs,
}


def _evaluates(stem: str, p: Mapping[str, Any]) -> str:
    """What notebook `stem` does besides training, in a few words from its parameters."""

    def part(name: str, key: str, default: Any = "every") -> Any:
        value = (p.get(name) or {}).get(key)
        return default if value is None else value

    described = {
        "01_data": lambda: (
            f"generates the stand-ins {', '.join(p['presets'])}" if p.get("presets") else "describes the prepared data"
        ),
        "02_factorization": lambda: f"scores {part('render', 'n_pairs')} held-out reconstructions per dataset",
        "03_keypoints": lambda: (
            f"fits and scores the keypoint read-out of every run ({part('keypoints', 'max_train_frames')} train / "
            f"{part('keypoints', 'max_test_frames')} test frames)"
        ),
        "04_dynamics": lambda: (
            f"rolls held-out windows out {part('horizon', 'context')} -> {part('horizon', 'horizon')} frames"
        ),
        "04b_stochastic": lambda: f"samples {part('sampling', 'n_samples')} futures per held-out window",
        "05_prediction": lambda: f"predicts {p.get('max_clips') or 'every'} test clip(s) per dataset",
        "06_interpolation": lambda: f"interpolates {part('interpolation', 'max_sequences')} sequence(s) per dataset",
    }
    return described[stem]() if stem in described else "reads the run dir"


def plan_jobs(params: Mapping[str, Mapping[str, Any]]) -> Iterator[Job]:
    """Every training job of the notebooks of `params` (stem -> effective parameters), in `params` order; a run
    made by several notebooks appears once per notebook."""
    for stem in params:
        if stem in TRAINERS:
            yield from TRAINERS[stem](stem, params)


def cost_lines(selected: list[str], params: Mapping[str, Mapping[str, Any]], root: Path) -> dict[str, list[Line]]:
    """stem -> the costed jobs of each selected notebook, probing each distinct step shape of a job to train once.
    A job of a notebook earlier in `params` order is "reused" by later ones."""
    owners: dict[str, str] = {}
    probes: dict[str, probe.StepProbe] = {}
    lines: dict[str, list[Line]] = {}
    for job in plan_jobs(params):
        stem = job.notebook
        owner = owners.setdefault(job.folder, stem)
        if stem not in selected:
            continue
        if owner != stem:
            state = f"reused ({owner})"
        elif RunFiles(root / params[stem]["run_dir"] / job.folder).model.is_file():
            state = "trained"
        else:
            state = "to train"
        step = probes.get(job.shape)
        if step is None and state == "to train":
            step = probes[job.shape] = job.probe()
        flops = job.steps * job.samples * step.flops_per_sample if step else float("nan")
        seconds = job.steps * job.samples * step.seconds_per_sample if state == "to train" else 0.0
        lines.setdefault(stem, []).append(Line(job, state, flops, seconds, step))
    return lines


def last_run_seconds(run_dir: Path) -> dict[str, float]:
    """stem -> wall seconds of its last run, from the run dir's manifest ({} without one)."""
    path = manifest_path(run_dir)
    if not path.is_file():
        return {}
    record = json.loads(path.read_text())
    return {s: e["seconds"] for s, e in record.get("notebooks", {}).items() if e.get("seconds") is not None}


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def format_plan(
    selected: list[str],
    params: Mapping[str, Mapping[str, Any]],
    lines: Mapping[str, list[Line]],
    measured: Mapping[str, float],
    tag: str,
) -> str:
    """The plan as text: a row per job, a total per notebook (estimate, what it evaluates, its last measured run)."""
    out = [f"{tag} cost plan (training steps from a timed probe of each step on this machine; FLOPs: convs, matmuls)"]
    for stem in selected:
        costed = lines.get(stem, [])
        for line in costed:
            step = line.step
            where = f"{step.seconds_per_sample * 1e3:.1f} ms/sample on {step.device}" if step else "not probed"
            note = f"; {step.note}" if step and step.note else ""
            out.append(
                f"{tag}   {stem} {line.job.folder}: {line.job.steps} steps x {line.job.samples} samples, "
                + ("" if math.isnan(line.flops) else f"{line.flops / 1e12:.3g} TFLOP, ")
                + line.state
                + (f", ~{_duration(line.seconds)} ({where}{note})" if line.state == "to train" else "")
            )
        trains = f"trains ~{_duration(sum(line.seconds for line in costed))}; " if costed else ""
        last = f"; its last run took {_duration(measured[stem])}" if stem in measured else ""
        out.append(f"{tag} {stem}: {trains}{_evaluates(stem, params[stem])}{last}")
    out.append(f"{tag} training in all: ~{_duration(total_seconds(lines))} (evaluation not estimated)")
    return "\n".join(out)


def total_seconds(lines: Mapping[str, list[Line]]) -> float:
    return sum(line.seconds for costed in lines.values() for line in costed)


def check_budget(lines: Mapping[str, list[Line]], budget_hours: float | None) -> None:
    """SystemExit naming each notebook's estimate when the plan's training exceeds `budget_hours` (None: no budget)."""
    if budget_hours is None or total_seconds(lines) <= budget_hours * 3600:
        return
    per = ", ".join(f"{stem} ~{_duration(sum(x.seconds for x in c))}" for stem, c in lines.items())
    raise SystemExit(
        f"the plan's training takes ~{_duration(total_seconds(lines))}, over --budget {budget_hours:g} h "
        f"({per}): nothing was run"
    )


def plan_record(lines: Mapping[str, list[Line]]) -> dict[str, dict[str, Any]]:
    """The plan as the manifest keeps it: stem -> estimated training seconds and FLOPs of its runs to train."""
    return {
        stem: {
            "estimated_training_seconds": sum(x.seconds for x in costed),
            "training_flops": sum(x.flops for x in costed if x.state == "to train"),
            "runs_to_train": [x.job.folder for x in costed if x.state == "to train"],
        }
        for stem, costed in lines.items()
    }
