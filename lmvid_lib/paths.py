"""Where things live: the repository root and the layout of a run directory. Nothing else spells either.

A run directory (`runs/<profile>` by default) holds every result of one profile; the notebooks pass their results on
through it::

    <run_dir>/
        data/<preset>-<hash>/           embedded stand-ins, generated once (`data.synthetic.cached`)
        factorization/<name>/           a factorization run (chapter 2)        } each a training run folder,
        dynamics/<name>/                a landmark-LSTM run (chapter 4)        } laid out as `RunFiles`
        pixel/<name>/                   a pixel-space predictor run (chapter 5) }
        detector/<name>/                a structure-detector run (chapter 5)    }
        keypoints/<name>.json           chapter 3's cached read-out results
        claims/<notebook>.json          each chapter's claims for the introduction's table
        manifest.json                   the run record (`publish.manifest`)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "lmvid_lib"
PARAMS_DIR = REPO / "params"
EXPERIMENT_LOG = REPO / "experiments" / "log.yaml"
PYPROJECT = REPO / "pyproject.toml"
RUNS = "runs"

# The kinds of training run and the folder of the run directory each lives in.
RUN_KINDS = ("factorization", "dynamics", "pixel", "detector")
MANIFEST = "manifest.json"


def code_digest(package: Path = PACKAGE) -> str:
    """sha256 of the library code: every `.py` file under `package` (its path relative to `package` and its bytes, as
    they are on disk now, committed or not), in path order. What an executed notebook and a trained run record as the
    code that made them; a change to any library file changes it (a coarse rule, ours: it does not follow imports)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def repo_path(path: str | Path) -> Path:
    """A relative path taken from the repository root, where `make book` runs (a notebook opened in JupyterLab runs in
    nbs/, and `runs/cpu` must mean the same folder there); an absolute path unchanged."""
    return REPO / path


def default_run_dir(profile_stem: str) -> str:
    """The run directory of a profile when none is given: `runs/<profile>`, relative to the repository root."""
    return f"{RUNS}/{profile_stem}"


def data_dir(run_dir: str | Path) -> Path:
    """Where the embedded stand-ins of a run directory are generated."""
    return Path(run_dir) / "data"


def runs_of(run_dir: str | Path, kind: str) -> Path:
    """The folder holding every training run of `kind` (one of RUN_KINDS) in `run_dir`."""
    if kind not in RUN_KINDS:
        raise ValueError(f"unknown run kind {kind!r}; known: {list(RUN_KINDS)}")
    return Path(run_dir) / kind


def run_folder(run_dir: str | Path, kind: str, name: str) -> Path:
    """The folder of training run `name` of `kind` in `run_dir`."""
    return runs_of(run_dir, kind) / name


def finished_runs(run_dir: str | Path, kind: str) -> list[Path]:
    """The run folders of `kind` in `run_dir` that hold a final model file, sorted by name."""
    root = runs_of(run_dir, kind)
    return sorted(p.parent for p in root.glob(f"*/{RunFiles.MODEL}")) if root.is_dir() else []


def keypoints_cache(run_dir: str | Path, name: str) -> Path:
    """Chapter 3's cached read-out results of one run (and baseline) `name`."""
    return Path(run_dir) / "keypoints" / f"{name}.json"


def claims_dir(run_dir: str | Path) -> Path:
    """Where each chapter writes its claims (`report.claims`)."""
    return Path(run_dir) / "claims"


def manifest_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / MANIFEST


@dataclass(frozen=True)
class RunFiles:
    """The files of one training run folder, as every trainer writes them (`train.runs.train_loop`)."""

    MODEL = "model.pt"
    folder: Path

    @property
    def config(self) -> Path:
        """The run's config as data, written at its first step."""
        return self.folder / "config.json"

    @property
    def metrics(self) -> Path:
        return self.folder / "metrics.csv"

    @property
    def checkpoint(self) -> Path:
        """Everything needed to resume bit-identically."""
        return self.folder / "checkpoints" / "last.pt"

    @property
    def model(self) -> Path:
        """The final weights and config (written once training is done)."""
        return self.folder / self.MODEL

    @property
    def summary(self) -> Path:
        return self.folder / "summary.json"

    @property
    def samples(self) -> Path:
        return self.folder / "samples"

    @property
    def sequences(self) -> Path:
        """Cached landmark sequences of a factorization run (`models.sequences.extract_sequences`)."""
        return self.folder / "sequences"
