"""The run manifest: git state, package pins as installed, the record of a run, its atomic write, its tables."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess

import pytest
import torch

from lmvid_lib.paths import MANIFEST, RunFiles, manifest_path, run_folder
from lmvid_lib.publish import manifest


def test_git_state_of_a_checkout_clean_and_dirty_and_outside_one(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    outside = manifest.git_state(tmp_path)
    assert outside["commit"] is None and outside["dirty"] is None and "not a git checkout" in outside["reason"]
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert manifest.git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "a.txt").write_text("b")
    assert manifest.git_state(tmp_path) == {"commit": head, "dirty": True}


def test_package_versions_pair_each_pin_with_the_installed_version(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["pyyaml==0.0.1", "not-a-package-lmvid==1.0"]\n'
        '[project.optional-dependencies]\ntest = ["pytest==1.2  ; python_version >= \'3\'", "ruff"]\n'
    )
    versions = manifest.package_versions(pyproject)
    assert versions == {
        "pyyaml": {"pinned": "0.0.1", "installed": importlib.metadata.version("pyyaml")},
        "not-a-package-lmvid": {"pinned": "1.0", "installed": None},
        "pytest": {"pinned": "1.2", "installed": importlib.metadata.version("pytest")},
    }
    assert set(manifest.package_versions()) >= {"torch", "papermill", "jupyter-book"}  # the project's own pins


def _record(tmp_path):
    parameters = {"01_a": {"profile": "p", "run_dir": "runs/p", "n": {"signer": 3}}, "99_run_record": {}}
    return manifest.new(tmp_path, "p", "runs/p", {"seed": 0}, parameters, selected=["99_run_record"])


def test_a_new_manifest_records_the_run_and_round_trips_atomically(tmp_path):
    record = _record(tmp_path)
    assert record["status"] == "running" and record["finished"] is None and record["profile"] == "p"
    assert record["order"] == ["01_a", "99_run_record"] and record["seeds"] == {"seed": 0}
    assert record["notebooks"] == {"01_a": {"status": "not selected"}, "99_run_record": {"status": "pending"}}
    assert record["torch"]["device"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    assert record["torch"]["threads"] >= 1 and record["python"].count(".") == 2
    path = manifest_path(tmp_path / "runs" / "p")
    manifest.write(path, record)
    assert manifest.read(tmp_path / "runs" / "p") == json.loads(json.dumps(record))
    record["parameters"]["01_a"]["bad"] = object()
    with pytest.raises(TypeError):
        manifest.write(path, record)
    assert manifest.read(tmp_path / "runs" / "p")["parameters"]["01_a"] == {
        "profile": "p",
        "run_dir": "runs/p",
        "n": {"signer": 3},
    }
    assert [p.name for p in path.parent.iterdir()] == [MANIFEST]  # no temp file left behind
    with pytest.raises(FileNotFoundError, match="no run manifest"):
        manifest.read(tmp_path / "elsewhere")


def test_tables_leave_out_the_rendering_page_and_count_from_the_record(tmp_path):
    record = _record(tmp_path)
    record["git"] = {"commit": "0123456789abcdef", "dirty": True}
    record["torch"] |= {"device": "cpu", "cpu": "Some CPU", "threads": 2}
    record["notebooks"] = {
        "01_a": {"status": "ran", "seconds": 12.34, "finished": "2026-01-01T00:00:12+00:00"},
        "02_b": {"status": "up to date", "seconds": 100.0, "finished": "2025-12-31T00:00:00+00:00"},
        "99_run_record": {"status": "running"},
    }
    record["order"] = ["01_a", "02_b", "99_run_record"]
    record["plan"] = {"01_a": {"estimated_training_seconds": 9.6}, "02_b": {"estimated_training_seconds": 50.0}}
    table = manifest.notebooks_table(record, own="99_run_record")
    assert "| `01_a` | ran | 12.3 | 10 | 2026-01-01T00:00:12+00:00 |" in table and "99_run_record" not in table
    assert (
        "| `02_b` | up to date | 100.0 |  | 2025-12-31" in table
    )  # the plan is of this run, not of the one that ran it
    assert table.index("`01_a`") < table.index("`02_b`")
    text = manifest.summary(record, own="99_run_record")
    assert "commit `0123456789ab` (with uncommitted changes)" in text and "Some CPU, 2 thread(s)" in text
    assert "1 notebook(s) ran (12 s in all), 1 were up to date" in text
    assert "| `01_a` | `n.signer` | `3` |" in manifest.parameters_table(record)
    assert "run_dir" not in manifest.parameters_table(record)
    assert "| `seed` | 0 |" in manifest.environment_table(record)
    record["git"] = {"commit": None, "dirty": None, "reason": "not a git checkout (no .git)"}
    assert "outside a git checkout" in manifest.summary(record, own="99_run_record")
    assert "| uncommitted changes | unknown |" in manifest.environment_table(record)


def _finished_run(run_dir, kind: str, name: str, code: str | None) -> None:
    folder = run_folder(run_dir, kind, name)
    folder.mkdir(parents=True)
    (folder / RunFiles.MODEL).write_bytes(b"")
    (folder / "summary.json").write_text(json.dumps({} if code is None else {"code_digest": code}))


def test_provenance_says_every_page_came_from_the_commit_or_lists_what_did_not(tmp_path):
    record = _record(tmp_path)
    record.update(code_digest="c" * 64, order=["01_a", "02_b", "99_run_record"])
    record["git"] = {"commit": "0123456789abcdef", "dirty": False}
    record["notebooks"] = {
        "01_a": {"status": "ran", "code_digest": "c" * 64, "current": True},
        "02_b": {"status": "up to date", "code_digest": "c" * 64, "current": True},
        "99_run_record": {"status": "running"},
    }
    _finished_run(tmp_path, "factorization", "signer-spade-seed0", "c" * 64)
    text = manifest.provenance(record, own="99_run_record", run_dir=tmp_path)
    assert text.startswith("Every page of this book came from commit `0123456789ab`, library code digest `cccccccc")

    record["git"]["dirty"] = True
    record["notebooks"]["02_b"] = {"status": "not selected", "code_digest": "d" * 64, "current": False}
    record["notebooks"]["01_a"]["current"] = False  # e.g. its source changed since
    _finished_run(tmp_path, "dynamics", "signer", "e" * 64)
    _finished_run(tmp_path, "pixel", "pusher", None)
    text = manifest.provenance(record, own="99_run_record", run_dir=tmp_path)
    assert text.startswith("Not every page of this book came from commit `0123456789ab`")
    assert "- the checkout had uncommitted changes" in text
    assert "- page `01_a` (ran; made by library code `cccccccccccc`;" in text
    assert "- page `02_b` (not selected; made by library code `dddddddddddd`;" in text
    assert "- training run `dynamics/signer` (trained by library code `eeeeeeeeeeee`)" in text
    assert "- training run `pixel/pusher` (trained by library code unrecorded)" in text
    assert "signer-spade-seed0" not in text and "99_run_record" not in text
    assert "| library code digest | `" + "c" * 64 + "` |" in manifest.environment_table(record)

    del record["code_digest"]  # a manifest from before code digests
    assert "this run recorded no library code digest" in manifest.provenance(record, "99_run_record", tmp_path)
