"""The run manifest `<run_dir>/manifest.json`: what one `lmvid run` executed, with what and where. The runner
rewrites it atomically before and after every notebook, so a crash leaves a valid record; the book's last page
(`99_run_record`) renders it.

Fields: `profile`, `run_dir` (as the notebooks got it), `started` / `finished` (UTC, ISO 8601; `finished` null while
running), `status` (running | ok | failed | interrupted), `git` ({commit, dirty}; both null with a `reason` outside a
git checkout), `python`, `packages` ({name: {pinned, installed}}: the pins of pyproject.toml as installed, null when
not installed), `torch` ({version, cuda, device: the CUDA device name or "cpu", cpu: the CPU model, threads}),
`seeds` (the seed keys of the profile's `common` section), `order` (the stems in execution order), `notebooks`
({stem: {status, seconds, finished, error, code_digest, current}}; status: pending | not selected | running | ran |
up to date | failed | interrupted; an up-to-date notebook keeps the seconds and finish time of the run that executed
it; code_digest: the library code its executed notebook in `book/` was made by, null without one; current: whether
that notebook is what this run's source, parameters and code make, `runner.is_current`) and `parameters` ({stem: the
effective papermill parameters}). The runner adds `code_digest` (the library code of this run, `paths.code_digest`)
and `reuse_stale_runs` (whether the notebooks could reuse training runs made by other code).

`provenance` says whether every page came from the named commit, or which did not.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import subprocess
import tomllib
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lmvid_lib.io import atomic_write_json
from lmvid_lib.paths import PYPROJECT, RUN_KINDS, finished_runs, manifest_path, runs_of
from lmvid_lib.report.tables import markdown_table
from lmvid_lib.train.runs import trained_by


def timestamp(seconds: float | None = None) -> str:
    """UTC time (now, or `seconds` since the epoch) as ISO 8601 to the second: 2026-12-01T18:52:20+00:00."""
    moment = datetime.now(UTC) if seconds is None else datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="seconds")


def git_state(root: Path) -> dict[str, Any]:
    """{commit, dirty} of the checkout at `root` (dirty: tracked changes or untracked files that git does not
    ignore); both None, with the reason, when it is not a git checkout or git is missing."""
    try:
        commit = _git(root, "rev-parse", "HEAD").strip()
        dirty = bool(_git(root, "status", "--porcelain").strip())
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
        return {"commit": None, "dirty": None, "reason": f"not a git checkout ({detail})"}
    return {"commit": commit, "dirty": dirty}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def package_versions(pyproject: Path = PYPROJECT) -> dict[str, dict[str, str | None]]:
    """{name: {pinned, installed}} for every `name==version` requirement of `pyproject` (dependencies and extras)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    result = {}
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", requirement)
        if match:
            name, pinned = match.groups()
            try:
                installed = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                installed = None
            result[name] = {"pinned": pinned, "installed": installed}
    return result


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what `platform` knows."""
    with_names = Path("/proc/cpuinfo")
    if with_names.is_file():
        for line in with_names.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def torch_state() -> dict[str, Any]:
    """torch's version and CUDA build, the device the notebooks find (CUDA device 0's name, else "cpu"), the CPU
    model and torch's intra-op thread count."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
    }


def new(
    root: Path,
    profile: str,
    run_dir: str,
    seeds: Mapping[str, Any],
    parameters: Mapping[str, dict],
    selected: Collection[str],
) -> dict[str, Any]:
    """A manifest at the start of a run: every notebook of `parameters` (in execution order) pending or not selected."""
    return {
        "profile": profile,
        "run_dir": run_dir,
        "started": timestamp(),
        "finished": None,
        "status": "running",
        "git": git_state(root),
        "python": platform.python_version(),
        "packages": package_versions(),
        "torch": torch_state(),
        "seeds": dict(seeds),
        "order": list(parameters),
        "notebooks": {stem: {"status": "pending" if stem in selected else "not selected"} for stem in parameters},
        "parameters": dict(parameters),
    }


def write(path: Path, manifest: Mapping[str, Any]) -> Path:
    return atomic_write_json(path, manifest)


def read(run_dir: str | Path) -> dict[str, Any]:
    path = manifest_path(run_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no run manifest (`lmvid run` writes it)")
    return json.loads(path.read_text())


def summary(manifest: Mapping[str, Any], own: str) -> str:
    """One paragraph: the commit, profile, machine, and what the notebooks other than `own` did."""
    git, torch = manifest["git"], manifest["torch"]
    if git["commit"] is None:
        source = f"code outside a git checkout ({git['reason']})"
    else:
        source = f"commit `{git['commit'][:12]}`" + (" (with uncommitted changes)" if git["dirty"] else "")
    machine = torch["device"] if torch["device"] != "cpu" else f"the CPU ({torch['cpu']}, {torch['threads']} thread(s))"
    others = {stem: entry for stem, entry in manifest["notebooks"].items() if stem != own}
    count = {s: sum(e["status"] == s for e in others.values()) for s in ("ran", "up to date", "not selected")}
    seconds = sum(e.get("seconds") or 0.0 for e in others.values() if e["status"] == "ran")
    return (
        f"This book was built from {source}, profile `{manifest['profile']}`, run directory "
        f"`{manifest['run_dir']}`, on {machine}, with torch {torch['version']} and Python {manifest['python']}. "
        f"The run started at {manifest['started']}: {count['ran']} notebook(s) ran ({seconds:.0f} s in all), "
        f"{count['up to date']} were up to date from an earlier run and were kept, {count['not selected']} were "
        "not selected."
    )


def notebooks_table(manifest: Mapping[str, Any], own: str) -> str:
    """Markdown: one row per notebook but `own`, in execution order: status, wall time, finish time, and for a
    notebook that ran, the training time the run's cost plan estimated for it before it started (`publish.cost`)."""
    rows, plan = [], manifest.get("plan") or {}
    for stem in manifest["order"]:
        entry = manifest["notebooks"][stem]
        if stem != own:
            seconds = entry.get("seconds")
            estimate = (plan.get(stem) or {}).get("estimated_training_seconds") if entry["status"] == "ran" else None
            rows.append(
                [
                    f"`{stem}`",
                    entry["status"],
                    "" if seconds is None else f"{seconds:.1f}",
                    "" if not estimate else f"{estimate:.0f}",
                    entry.get("finished", ""),
                ]
            )
    header = ["notebook", "status", "wall time (s)", "training estimated by the plan (s)", "finished (UTC)"]
    return markdown_table(header, rows, [False, False, True, True, False])


def environment_table(manifest: Mapping[str, Any]) -> str:
    """Markdown: code version (commit, uncommitted changes, library code digest), Python, torch, device, CPU and the
    profile's seeds."""
    git, torch = manifest["git"], manifest["torch"]
    commit = git["commit"] or f"none: {git['reason']}"
    rows = [
        ["git commit", f"`{commit}`"],
        ["uncommitted changes", {True: "yes", False: "no", None: "unknown"}[git["dirty"]]],
        ["library code digest", f"`{manifest['code_digest']}`" if manifest.get("code_digest") else "not recorded"],
        ["Python", manifest["python"]],
        ["torch", f"{torch['version']} (CUDA build {torch['cuda'] or 'none'})"],
        ["device", torch["device"]],
        ["CPU", f"{torch['cpu']}, {torch['threads']} torch threads"],
        *([f"`{key}`", json.dumps(value)] for key, value in manifest["seeds"].items()),
    ]
    return markdown_table(["", "value"], rows)


def packages_table(manifest: Mapping[str, Any]) -> str:
    """Markdown: every pinned package with its pin and the installed version (a mismatch is marked)."""
    rows = []
    for name, versions in sorted(manifest["packages"].items()):
        installed = versions["installed"] or "not installed"
        mark = "" if versions["installed"] == versions["pinned"] else " (differs)"
        rows.append([name, versions["pinned"], installed + mark])
    return markdown_table(["package", "pinned", "installed"], rows)


def flat(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}; an empty mapping stays a value."""
    result: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping) and value:
            result.update(flat(value, f"{prefix}{key}."))
        else:
            result[f"{prefix}{key}"] = value
    return result


def parameters_table(manifest: Mapping[str, Any], skip: Collection[str] = ("profile", "run_dir")) -> str:
    """Markdown: every effective parameter of every notebook (nested ones dotted), values as JSON."""
    rows = [
        [f"`{stem}`", f"`{key}`", f"`{json.dumps(value)}`"]
        for stem, params in manifest["parameters"].items()
        for key, value in flat({k: v for k, v in params.items() if k not in skip}).items()
    ]
    return markdown_table(["notebook", "parameter", "value"], rows)


def stale_runs(run_dir: str | Path, code: str) -> list[tuple[str, str | None]]:
    """[(`<kind>/<name>`, the code digest that trained it: None when unrecorded)] for every finished training run in
    `run_dir` that library code `code` did not train."""
    result = []
    for kind in RUN_KINDS:
        for folder in finished_runs(run_dir, kind):
            trained = trained_by(folder)
            if trained != code:
                result.append((folder.relative_to(runs_of(run_dir, kind).parent).as_posix(), trained))
    return result


def _short(code: str | None) -> str:
    return f"`{code[:12]}`" if code else "unrecorded"


def provenance(manifest: Mapping[str, Any], own: str, run_dir: str | Path) -> str:
    """Markdown: whether every page other than `own` came from the manifest's commit, i.e. the checkout was clean,
    every page's executed notebook is current (made by this run's source, parameters and library code, in this run or
    an earlier one) and every finished training run in `run_dir` was trained by that code; else a list of what was
    not."""
    git, code = manifest["git"], manifest.get("code_digest")
    named = f"commit `{git['commit'][:12]}`" if git["commit"] else "the code of this build (not a git checkout)"
    problems = ["the checkout had uncommitted changes, so no page is exactly the commit's"] if git["dirty"] else []
    for stem in manifest["order"]:
        entry = manifest["notebooks"][stem]
        if stem != own and not (entry.get("current") and entry.get("code_digest") == code):
            made = f"made by library code {_short(entry['code_digest'])}" if entry.get("code_digest") else "never made"
            problems.append(
                f"page `{stem}` ({entry['status']}; {made}; not what this run's source, parameters and code make)"
            )
    for run, trained in stale_runs(run_dir, code) if code else []:
        problems.append(f"training run `{run}` (trained by library code {_short(trained)})")
    if code is None:
        problems.append("this run recorded no library code digest")
    if not problems:
        return (
            f"Every page of this book came from {named}, library code digest `{code[:12]}`: every notebook was "
            "executed from its current source and parameters by that code, from a clean checkout (in this run or, when "
            "up to date, an earlier one), and every training run in the run directory was trained by that code."
        )
    listed = "\n".join(f"- {problem}" for problem in problems)
    return f"Not every page of this book came from {named} (library code digest {_short(code)}):\n\n{listed}"
