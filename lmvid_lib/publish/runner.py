"""`lmvid run` (and `make book`): execute the book's notebooks with papermill, resuming where an earlier run stopped,
record the run in `<run_dir>/manifest.json` (`lmvid_lib.publish.manifest`), then build the HTML book (warnings are
errors).

    lmvid run [--profile cpu] [--run-dir DIR] [--only 02,03] [--param NB.KEY=VALUE ...] [--force] [--no-html]
              [--reuse-stale-runs] [--plan] [--budget HOURS]

First the cost plan (`lmvid_lib.publish.cost`): per selected notebook, the runs it will train (steps x samples x
FLOPs, and a wall-time estimate from a short timed probe of each step here) and what it evaluates; `--plan` prints
it and stops, `--budget HOURS` stops before anything runs when its training takes longer. The manifest keeps it.

Notebooks run in `_toc.yml` order, the root page after the chapters and the run record (`99_*`) last
(`notebooks.execution_order`). Before anything runs, the profile is checked against every notebook's parameters cell
(`config.check_profile`), and so are `--only` names (stems or their numeric prefixes, comma- or space-separated)
and `--param` overrides (`NB.KEY=VALUE`, VALUE parsed as YAML, NB a stem, its prefix or `common`; a dotted KEY sets
one entry of a mapping parameter): anything unknown is an error naming it and the valid ones.

A mapping parameter that fills a config dataclass (`MAPPING_CONFIGS`: `02_factorization.factorization` ->
`TrainConfig`, ...) is checked against that dataclass's fields too (`config.check_keys`), so a misspelt key inside it
(`02.factorization.stepz=5`) is an error naming it and the valid ones before any notebook starts.

Resume: a selected notebook is skipped as up to date, unless `--force`, when its executed notebook
`book/<stem>.ipynb` finished successfully (only a successful run writes it: `notebooks.execute`), its recorded digest
(of its source text, its effective parameters, profile and run dir included, and the library code: `paths.code_digest`
of every `.py` file under `lmvid_lib/`) is the current one, and it finished after every notebook before it in
execution order whose executed notebook is current in the same sense: notebooks share state only through the run dir,
so those are its inputs. A changed source, parameter or library file, or a rerun notebook, therefore reruns that
notebook and every one after it. A library change also makes the trained runs of the run dir stale: a trainer refuses
to reuse a run trained by other code (`train.runs.check_code`) unless `--reuse-stale-runs` lets the notebooks reuse
finished ones as they are; the manifest and the run record say so.

Run dir: `runs/<profile>` by default. A run dir inside the repository reaches the notebooks relative to it, so pages
never show the build machine's paths; one outside it reaches them as an absolute path, which the pages then show.
Progress bars stream to this terminal; each notebook's status (ran / skipped (up to date) / failed) and wall time is
printed. The first failure stops the run, naming the notebook, the failing cell and the partial executed notebook
(`book/<stem>.failed.ipynb`; `book/<stem>.ipynb` keeps the last successful run's).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmvid_lib import config
from lmvid_lib.eval.horizon import HorizonConfig
from lmvid_lib.eval.interpolation import InterpolationConfig
from lmvid_lib.eval.keypoints import KeypointEvalConfig
from lmvid_lib.eval.sampling_study import SamplingConfig
from lmvid_lib.models.detector import DetectorConfig
from lmvid_lib.models.run_config import TrainConfig
from lmvid_lib.paths import PACKAGE, REPO, code_digest, default_run_dir, manifest_path
from lmvid_lib.publish import cost, manifest, notebooks
from lmvid_lib.train.dynamics import DynamicsTrainConfig
from lmvid_lib.train.pixel_predictor import PixelTrainConfig
from lmvid_lib.train.runs import REUSE_STALE_RUNS

# (notebook stem, mapping parameter) -> the config dataclass the notebook fills from it with `config.from_dict`
MAPPING_CONFIGS: dict[tuple[str, str], type] = {
    ("02_factorization", "factorization"): TrainConfig,
    ("03_keypoints", "keypoints"): KeypointEvalConfig,
    ("04_dynamics", "dynamics"): DynamicsTrainConfig,
    ("04_dynamics", "horizon"): HorizonConfig,
    ("04b_stochastic", "dynamics"): DynamicsTrainConfig,
    ("04b_stochastic", "stochastic"): DynamicsTrainConfig,
    ("04b_stochastic", "horizon"): HorizonConfig,
    ("04b_stochastic", "sampling"): SamplingConfig,
    ("05_prediction", "pixel"): PixelTrainConfig,
    ("05_prediction", "detector"): DetectorConfig,
    ("06_interpolation", "interpolation"): InterpolationConfig,
}


def resolve(name: str, stems: Sequence[str], what: str) -> str:
    """The notebook stem `name` means: a stem itself or its numeric prefix ("02" -> "02_factorization")."""
    matches = [stem for stem in stems if name in (stem, stem.split("_", 1)[0])]
    if len(matches) != 1:
        problem = "names no notebook of _toc.yml" if not matches else f"is ambiguous ({matches})"
        raise ValueError(f"{what} {name!r} {problem}; valid: {list(stems)} or their numeric prefixes")
    return matches[0]


def select(stems: Sequence[str], only: Sequence[str]) -> list[str]:
    """The stems `--only` chooses (each value: comma- or space-separated names), in `stems` order; all for none."""
    names = [name for value in only for name in re.split(r"[,\s]+", value) if name]
    chosen = {resolve(name, stems, "--only") for name in names}
    return [stem for stem in stems if not names or stem in chosen]


def parse_params(items: Sequence[str], declared: Mapping[str, Collection[str]]) -> list[tuple[str, list[str], Any]]:
    """`--param` values -> [(section: a stem or "common", [key, sub...], value)], each key checked against the
    parameters cell(s) (`declared`: {stem: declared names}; a common key must be declared by some notebook)."""
    result = []
    for item in items:
        keys, value = config.parse_override(item)
        section = "common" if keys[0] == "common" else resolve(keys[0], list(declared), f"--param {item!r}: notebook")
        names = set().union(*declared.values()) if section == "common" else set(declared[section])
        valid = sorted(names - set(config.RUNNER_KEYS))
        if keys[1] not in valid:
            raise ValueError(
                f"--param {item!r}: {section} declares no parameter {keys[1]!r} (valid: {valid}); a setting inside a "
                f"mapping parameter takes a dotted key, e.g. {section}.<parameter>.{'.'.join(keys[1:])}=..."
            )
        result.append((section, keys[1:], value))
    return result


def with_params(mapping: Mapping[str, Any], params: Sequence[tuple[str, list[str], Any]], section: str) -> dict:
    """`mapping` with the `--param` overrides of `section` applied."""
    try:
        return config.apply_overrides(mapping, [(keys, value) for name, keys, value in params if name == section])
    except ValueError as exc:
        raise ValueError(f"--param of {section}: {exc}") from None


def run_dir_for(profile: str, run_dir: str | None, root: Path) -> str:
    """The run dir the notebooks get: `runs/<profile>` by default; `run_dir` (relative to the current directory) as a
    path relative to `root` when it lies inside it, else absolute."""
    if run_dir is None:
        return default_run_dir(config.profile_path(profile).stem)
    path, base = Path(run_dir).resolve(), root.resolve()
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)


def check_mappings(parameters: Mapping[str, Mapping[str, Any]], configs: Mapping[tuple[str, str], type]) -> None:
    """ValueError naming the first key of a mapping parameter (`configs`: (stem, parameter) -> dataclass) that its
    dataclass does not have, nested dataclasses included, and the valid ones (`config.check_keys`)."""
    for (stem, name), cls in configs.items():
        value = parameters.get(stem, {}).get(name)
        if isinstance(value, Mapping):
            config.check_keys(cls, value, f"{stem}.{name}")


def digest(source: str, params: Mapping[str, Any], code: str) -> str:
    """sha256 of a notebook's source text, its effective parameters and the library's code digest (`code`): what its
    executed notebook was made from."""
    text = json.dumps({"source": source, "parameters": params, "code": code}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def is_current(record: Mapping[str, Any] | None, expected: str, newest_input: float) -> bool:
    """Whether an executed notebook's `record` (None: failed, interrupted or missing) is of digest `expected` and
    finished after `newest_input` (the last finish of the current notebooks before it, seconds since the epoch)."""
    return record is not None and record.get("digest") == expected and record["finished"] > newest_input


@dataclass
class Plan:
    """What a run will execute and with which parameters, checked before anything runs."""

    profile: str
    run_dir: str  # as the notebooks get it
    order: list[notebooks.Chapter]  # every notebook of _toc.yml, in execution order
    selected: list[str]
    parameters: dict[str, dict]  # the effective papermill parameters of each notebook
    seeds: dict[str, Any]


def plan(profile: str, run_dir: str | None, only: Sequence[str], params: Sequence[str], root: Path) -> Plan:
    """Resolve `--only`, check the profile and the `--param` overrides against every parameters cell, and compute each
    notebook's effective parameters; any unknown name is a ValueError here, before anything runs."""
    order = notebooks.execution_order(notebooks.chapters(root))
    selected = select([chapter.stem for chapter in order], only)
    declared = {chapter.stem: notebooks.declared_parameters(chapter.source) for chapter in order}
    names = {stem: set(cell) for stem, cell in declared.items()}
    overrides = parse_params(params, names)
    data = config.load_profile(profile)
    config.check_profile(data, names, config.profile_path(profile))
    data["common"] = with_params(data["common"] or {}, overrides, "common")
    run_dir = run_dir_for(profile, run_dir, root)
    parameters = {
        stem: with_params(notebooks.notebook_parameters(data, stem, cell, str(profile), run_dir), overrides, stem)
        for stem, cell in declared.items()
    }
    check_mappings(parameters, MAPPING_CONFIGS)
    seeds = {key: value for key, value in data["common"].items() if key in ("seed", "seeds")}
    return Plan(str(profile), run_dir, order, selected, parameters, seeds)


def run(
    profile: str = "cpu",
    run_dir: str | None = None,
    only: Sequence[str] = (),
    params: Sequence[str] = (),
    force: bool = False,
    html: bool = True,
    root: Path = REPO,
    reuse_stale_runs: bool = False,
    plan_only: bool = False,
    budget: float | None = None,
) -> int:
    """Print the cost plan (`publish.cost`), then execute the selected notebooks that are not up to date, writing the
    manifest before and after each; then build the HTML. A failing notebook raises SystemExit with its message (the
    manifest says `failed`). `reuse_stale_runs`: the notebooks may reuse finished training runs made by other library
    code; `plan_only`: print the plan and stop; `budget`: hours, a SystemExit before anything runs when the plan's
    training takes longer."""
    job = plan(profile, run_dir, only, params, root)
    tag = f"[run:{config.profile_path(profile).stem}]"
    costs = cost.cost_lines(job.selected, job.parameters, root)
    print(cost.format_plan(job.selected, job.parameters, costs, cost.last_run_seconds(root / job.run_dir), tag))
    cost.check_budget(costs, budget)
    if plan_only:
        return 0
    code = code_digest(root / PACKAGE.name)
    record = manifest.new(root, job.profile, job.run_dir, job.seeds, job.parameters, job.selected)
    record.update(code_digest=code, reuse_stale_runs=reuse_stale_runs, plan=cost.plan_record(costs))
    record_path, shown_path = manifest_path(root / job.run_dir), manifest_path(job.run_dir)
    manifest.write(record_path, record)

    newest_input, total = 0.0, 0.0
    for chapter in job.order:
        stem, entry = chapter.stem, record["notebooks"][chapter.stem]
        expected = digest(chapter.source.read_text(), job.parameters[stem], code)
        done = notebooks.execution_record(chapter.output)
        if stem in job.selected and (force or not is_current(done, expected, newest_input)):
            entry["status"] = "running"
            manifest.write(record_path, record)
            print(f"{tag} {stem} ...", flush=True)
            try:
                with _environment(REUSE_STALE_RUNS, "1" if reuse_stale_runs else None):
                    seconds = notebooks.execute(
                        chapter, job.parameters[stem], root, {"digest": expected, "code_digest": code}
                    )
            except KeyboardInterrupt:
                _stop(record, entry, "interrupted", record_path)
                raise
            except notebooks.NotebookFailed as exc:
                entry["error"] = str(exc)
                _stop(record, entry, "failed", record_path)
                raise SystemExit(f"\n{tag} {exc}\nrun manifest: {shown_path}") from None
            done = notebooks.execution_record(chapter.output)
            entry.update(status="ran", seconds=done["seconds"], finished=manifest.timestamp(done["finished"]))
            total += seconds
            print(f"{tag} {stem}: ran in {seconds:.1f} s", flush=True)
        elif stem in job.selected:
            entry.update(status="up to date", seconds=done["seconds"], finished=manifest.timestamp(done["finished"]))
            print(f"{tag} {stem}: skipped (up to date, executed {entry['finished']})", flush=True)
        entry.update(code_digest=(done or {}).get("code_digest"), current=is_current(done, expected, newest_input))
        if is_current(done, expected, 0.0):
            newest_input = max(newest_input, done["finished"])
        manifest.write(record_path, record)
    record.update(status="ok", finished=manifest.timestamp())
    manifest.write(record_path, record)
    print(f"{tag} notebooks run: {total:.1f} s; manifest: {shown_path}", flush=True)
    if html:
        build_html(root, tag, job.run_dir, job.profile)
    return 0


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Iterator[None]:
    """Environment variable `name` set to `value` (None: unset) for the notebook kernels started inside, restored
    after."""
    before = os.environ.get(name)
    _set_environment(name, value)
    try:
        yield
    finally:
        _set_environment(name, before)


def _set_environment(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _stop(record: dict, entry: dict, status: str, path: Path) -> None:
    entry["status"] = status
    record.update(status=status, finished=manifest.timestamp())
    manifest.write(path, record)


def build_html(root: Path, tag: str, run_dir: str, profile: str) -> None:
    """`jupyter-book build` of `root` (warnings are errors) into `root/_build/html`, then the playground page's
    models of `run_dir` and onnxruntime-web into the built site (`web.publish`)."""
    from lmvid_lib.publish import web  # torch.onnx and onnxscript load only for a build

    jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
    subprocess.run([jupyter_book, "build", str(root), "--path-output", str(root), "-W", "--keep-going"], check=True)
    web.publish(run_dir, root / "_build" / "html", root, profile)
    print(f"{tag} HTML: {root / '_build' / 'html' / 'index.html'}", flush=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="params/<profile>.yaml, or a path to a yaml file")
    parser.add_argument("--run-dir", help="default: runs/<profile>")
    parser.add_argument(
        "--only", nargs="+", default=[], help="notebooks to execute: stems or numeric prefixes (02,03 or 02 03)"
    )
    parser.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NB.KEY=VALUE",
        help="override a parameter (VALUE is YAML), e.g. 02.factorization.steps=200; repeatable",
    )
    parser.add_argument("--force", action="store_true", help="rerun notebooks that are up to date")
    parser.add_argument("--no-html", action="store_true", help="execute notebooks only")
    parser.add_argument("--plan", action="store_true", help="print the cost plan (probing each training step) and stop")
    parser.add_argument(
        "--budget", type=float, metavar="HOURS", help="stop before anything runs if the plan's training takes longer"
    )
    parser.add_argument(
        "--reuse-stale-runs",
        action="store_true",
        help="reuse finished training runs made by other library code as they are (the run record lists them)",
    )


def run_parsed(args: argparse.Namespace, root: Path = REPO) -> int:
    if args.budget is not None and not args.budget > 0:
        raise ValueError(f"--budget must be a positive number of hours, got {args.budget}")
    return run(
        args.profile,
        args.run_dir,
        args.only,
        args.params,
        args.force,
        not args.no_html,
        root,
        args.reuse_stale_runs,
        args.plan,
        args.budget,
    )
