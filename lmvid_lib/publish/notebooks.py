"""One notebook of the book: which pages `_toc.yml` names, in which order they run, their parameters, and how one is
executed and made fit for the page. `lmvid run` (`lmvid_lib.publish.runner`) drives a whole run with these.

For each chapter `book/<stem>` whose source is `nbs/<stem>.py`: jupytext -> papermill (parameters = the notebook's
defaults, overlaid with the profile's `common` section and the notebook's section, and the run directory) ->
`book/<stem>.ipynb`. The book's root page, when it is a notebook, runs after the chapters: it summarises the result
files they write; the run record (`99_*`) runs last. A failing notebook raises one message naming the notebook, the
cell and the partial executed notebook, `book/<stem>.failed.ipynb` (`Chapter.partial`; `_config.yml` keeps it out of
the book); `book/<stem>.ipynb` is only ever replaced by a successful run, so it keeps the last one.

What the reader gets differs from what the terminal gets: progress bars (stderr) stream live to the terminal of
`make book` and are removed from the executed notebook, and the notebook's own defaults cell is removed from the page
(papermill's injected cell, which lists every parameter of the run, is the one shown).
"""

from __future__ import annotations

import ast
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from lmvid_lib.paths import REPO


@dataclass
class Chapter:
    stem: str
    source: Path
    output: Path
    is_root: bool = False

    @property
    def partial(self) -> Path:
        """Where papermill writes while the notebook runs; what a failed or interrupted run leaves for inspection."""
        return self.output.with_suffix(".failed.ipynb")


def toc_entries(root: Path = REPO) -> list[str]:
    """Every page of `_toc.yml` ("book/01_data"), in book order: the root, then the chapters of every part."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    parts = toc.get("parts", [{"chapters": toc.get("chapters", [])}])
    return [toc["root"]] + [c["file"] for part in parts for c in part["chapters"]]


def chapters(root: Path = REPO) -> list[Chapter]:
    """The notebooks named in `_toc.yml`, in book order (hand-written pages such as a .md page are skipped)."""
    root_entry, *_ = files = toc_entries(root)
    result = []
    for entry in files:
        stem = Path(entry).name
        source = root / "nbs" / f"{stem}.py"
        if source.is_file():
            result.append(Chapter(stem, source, root / "book" / f"{stem}.ipynb", is_root=entry == root_entry))
        elif not any((root / f"{entry}{ext}").is_file() for ext in (".md", ".ipynb", "")):
            raise FileNotFoundError(f"_toc.yml names {entry!r} but neither nbs/{stem}.py nor {entry}.md exists")
    return result


def execution_order(found: list[Chapter]) -> list[Chapter]:
    """Book order, except that the root page runs after the chapters (it reads their result files) and a run-record
    chapter (numbered 99) after everything, the root included: it renders the manifest of the run."""
    last = [c for c in found if c.stem.startswith("99_")]
    return [c for c in found if not c.is_root and c not in last] + [c for c in found if c.is_root] + last


# A cell tag: the cell measures against ground-truth keypoints, so it is left out of a run whose data has none.
NEEDS_KEYPOINTS = "needs-keypoints"


def _kernel_notebook(source: Path, params: dict | None = None):
    """The jupytext notebook of `source`, with the python3 kernel papermill runs it on; when `params` name a dataset
    without ground-truth keypoints (`data.datasets.has_keypoints`: your own videos), its NEEDS_KEYPOINTS cells are
    replaced by one sentence saying so."""
    import jupytext

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    tagged = any(NEEDS_KEYPOINTS in cell.metadata.get("tags", []) for cell in notebook.cells)
    if tagged and params and params.get("dataset"):
        from lmvid_lib.data.datasets import data_label, has_keypoints

        if not has_keypoints(params["dataset"], params.get("data_root")):
            notebook = without_keypoint_cells(notebook, data_label(params["dataset"], params.get("data_root")))
    return notebook


def without_keypoint_cells(notebook, label: str):
    """`notebook` without its NEEDS_KEYPOINTS cells, the first of them replaced by a markdown sentence naming the
    data (`label`) and what is skipped."""
    import nbformat

    cells, said = [], False
    for cell in notebook.cells:
        if NEEDS_KEYPOINTS not in cell.metadata.get("tags", []):
            cells.append(cell)
        elif not said:
            cells.append(
                nbformat.v4.new_markdown_cell(
                    f"*This run's data, {label}, has no ground-truth keypoints, so what this chapter measures "
                    "against them from here on is skipped.*"
                )
            )
            said = True
    notebook.cells = cells
    return notebook


def declared_parameters(source: Path) -> dict[str, dict]:
    """papermill's view of the `parameters` cell of notebook `source`: {name: {"default": "<source text>", ...}}."""
    import jupytext
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{source.stem}.ipynb"
        jupytext.write(_kernel_notebook(source), path)
        return papermill.inspect_notebook(str(path))


class NotebookFailed(RuntimeError):
    """A notebook raised: the message names it, the failing cell and where its partial executed notebook is."""


def execute(chapter: Chapter, params: dict, root: Path, record: dict) -> float:
    """Run `chapter` with papermill into `chapter.partial`; when it succeeds, publish it with `record` in its `lmvid`
    metadata and move it to `chapter.output`.

    Returns the wall time in seconds. On failure raises NotebookFailed; the partial executed notebook (cells up to the
    failing one, with its traceback) stays at `chapter.partial`, and `chapter.output`, the last successful run's, is
    left as it was.
    """
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    chapter.output.parent.mkdir(parents=True, exist_ok=True)
    source_ipynb = chapter.output.with_suffix(".input.ipynb")
    jupytext.write(_kernel_notebook(chapter.source, params), source_ipynb)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source_ipynb),
            str(chapter.partial),
            parameters=params,
            kernel_name="python3",
            language="python",
            cwd=str(root),
            progress_bar=False,
            log_output=False,
            stderr_file=sys.stderr,
        )
    except PapermillExecutionError as exc:
        number, first_line = _source_cell(chapter.partial, exc.cell_index)
        kept = f"; {chapter.output.relative_to(root)} keeps the last successful run" if chapter.output.is_file() else ""
        raise NotebookFailed(
            f"notebook {chapter.source.relative_to(root)} failed in cell {number} (counting from 1, "
            f"starting `{first_line}`): {exc.ename}: {exc.evalue}\n"
            f"partial output: {chapter.partial.relative_to(root)}{kept}"
        ) from None
    finally:
        source_ipynb.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    publish(chapter.partial, root, record | {"seconds": round(seconds, 3), "finished": time.time()}, chapter.output)
    chapter.partial.replace(chapter.output)
    return seconds


def execution_record(executed: Path) -> dict | None:
    """The `lmvid` record `execute` leaves in a successfully executed notebook; None for a missing, partial (failed or
    interrupted: `Chapter.partial`) or unreadable one."""
    import nbformat

    try:
        record = nbformat.read(executed, as_version=4).metadata.get("lmvid")
    except (OSError, ValueError):
        return None
    return dict(record) if record else None


def literal_defaults(declared: dict[str, dict]) -> dict:
    """The defaults of a parameters cell (papermill's `inspect_notebook`), in declaration order.

    Passing them to papermill makes its injected cell list every parameter of the run, so the page can show that one
    cell. A default that is not a Python literal is left to the notebook's own cell.
    """
    result = {}
    for name, info in declared.items():
        try:
            result[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            continue
    return result


# One tqdm frame: "desc:  45%|####      | 9/20 [00:07<00:08,  1.32it/s, loss=0.74]" or "desc: 5it [00:01, 3.2it/s]",
# with any unit ("batch/s", "s/batch").
_PROGRESS = re.compile(r"\[\d+:\d{2}(?::\d{2})?(?:<[^\]]*)?,[^\]]*(?:[A-Za-z]+/s|s/[A-Za-z]+)[^\]]*\]\s*$")


def strip_progress(text: str) -> str:
    """`text` of a stream output without its progress-bar frames (each frame is a line or a `\\r`-separated piece)."""
    lines = []
    for line in text.split("\n"):
        pieces = [p for p in line.split("\r") if p.strip() and not _PROGRESS.search(p)]
        lines.append("\r".join(pieces))
    kept = "\n".join(lines)
    return "" if not kept.strip() else re.sub(r"\n{2,}", "\n", kept).lstrip("\n")


def publish(executed: Path, root: Path, record: dict, output: Path | None = None) -> None:
    """Make an executed notebook fit for the page and for download: no progress bars, only one parameters cell shown,
    and papermill's record of its input and output paths relative to `root` (no path of the build machine; the output
    path is `output`, where the notebook will be published, when given).
    `record` (what `lmvid_lib.publish.runner` needs to tell an up-to-date notebook) goes into the metadata as `lmvid`.

    The notebook's own `parameters` cell (its defaults) gets the `remove-cell` tag; papermill's injected cell, which
    `execute` fills with every parameter, stays visible.
    """
    import nbformat

    from lmvid_lib.io import atomic_write_bytes

    nb = nbformat.read(executed, as_version=4)
    paths = nb.metadata.get("papermill", {})
    if output is not None and paths.get("output_path"):
        paths["output_path"] = str(output)
    for key in ("input_path", "output_path"):
        if paths.get(key) and Path(paths[key]).is_absolute():
            paths[key] = Path(paths[key]).relative_to(root).as_posix()
    nb.metadata["lmvid"] = record
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            if out.output_type == "stream" and out.name == "stderr":
                out.text = strip_progress(out.text)
                if not out.text:
                    continue
            outputs.append(out)
        cell.outputs = outputs
    atomic_write_bytes(executed, nbformat.writes(nb).encode())


def notebook_parameters(data: dict, stem: str, declared: dict[str, dict], profile: str, run_dir: str) -> dict:
    """Papermill parameters of notebook `stem`: its literal defaults, overlaid with the `common` keys it declares and
    its whole section of the profile `data` (checked by `config.check_profile`), then `profile` and `run_dir`.

    Passing the defaults too makes papermill's injected cell list every parameter of the run.
    """
    params = literal_defaults(declared)
    params.update({k: v for k, v in data["common"].items() if k in declared})
    params.update(data.get(stem) or {}, profile=profile, run_dir=run_dir)
    return params


def _source_cell(executed: Path, cell_index: int) -> tuple[int, str]:
    """Map papermill's cell index (which counts its injected-parameters cell, but not the error banners it adds to the
    executed notebook) to the source notebook's cell number and the failing cell's first line."""
    import nbformat

    banner = "papermill-error-cell-tag"
    cells = [c for c in nbformat.read(executed, as_version=4).cells if banner not in c.metadata.get("tags", [])]
    failing = cells[cell_index]
    own = [c for c in cells if "injected-parameters" not in c.metadata.get("tags", [])]
    lines = [line for line in failing.source.splitlines() if line.strip()]
    return own.index(failing) + 1, (lines[0][:80] if lines else "")
