"""`make book`: execute every notebook of `_toc.yml` with papermill, then build the Jupyter Book (warnings are errors).

For each chapter `book/<stem>` whose source is `nbs/<stem>.py`: jupytext -> papermill (parameters = the notebook's
defaults, overlaid with the profile's `common` section and the notebook's section, run directory `runs/<profile>/`,
relative to the repository) -> `book/<stem>.ipynb`. The book's root page, when it is a notebook, runs last: it
summarises the result files the chapters write. A failing notebook stops the build with one message naming the
notebook and the cell. Each notebook's wall time is printed.

What the reader gets differs from what the terminal gets: progress bars (stderr) stream live to the terminal of
`make book` and are removed from the executed notebook, and the notebook's own defaults cell is removed from the page
(papermill's injected cell, which lists every parameter of the run, is the one shown).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from lmvid_lib.config import load_profile, profile_path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Chapter:
    stem: str
    source: Path
    output: Path
    is_root: bool = False


def toc_entries(root: Path = ROOT) -> list[str]:
    """Every page of `_toc.yml` ("book/01_data"), in book order: the root, then the chapters of every part."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    parts = toc.get("parts", [{"chapters": toc.get("chapters", [])}])
    return [toc["root"]] + [c["file"] for part in parts for c in part["chapters"]]


def chapters(root: Path = ROOT) -> list[Chapter]:
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
    """Book order, except that the root page runs last: it reads the result files of the chapters after it."""
    return [c for c in found if not c.is_root] + [c for c in found if c.is_root]


def execute(chapter: Chapter, profile: str, run_dir: Path, root: Path = ROOT) -> float:
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = jupytext.read(chapter.source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    chapter.output.parent.mkdir(parents=True, exist_ok=True)
    source_ipynb = chapter.output.with_suffix(".input.ipynb")
    jupytext.write(notebook, source_ipynb)
    start = time.perf_counter()
    try:
        declared = papermill.inspect_notebook(str(source_ipynb))
        params = literal_defaults(declared) | notebook_parameters(profile, chapter, set(declared), run_dir)
        papermill.execute_notebook(
            str(source_ipynb),
            str(chapter.output),
            parameters=params,
            kernel_name="python3",
            language="python",
            cwd=str(root),
            progress_bar=False,
            log_output=False,
            stderr_file=sys.stderr,
        )
    except PapermillExecutionError as exc:
        number, first_line = _source_cell(chapter.output, exc.cell_index)
        raise SystemExit(
            f"\nnotebook {chapter.source.relative_to(root)} failed in cell {number} (counting from 1, "
            f"starting `{first_line}`): {exc.ename}: {exc.evalue}\n"
            f"partial output: {chapter.output.relative_to(root)}"
        ) from None
    finally:
        source_ipynb.unlink(missing_ok=True)
    publish(chapter.output, root)
    return time.perf_counter() - start


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


def publish(executed: Path, root: Path) -> None:
    """Make an executed notebook fit for the page and for download: no progress bars, only one parameters cell shown,
    and papermill's record of its input and output paths relative to `root` (no path of the build machine).

    The notebook's own `parameters` cell (its defaults) gets the `remove-cell` tag; papermill's injected cell, which
    `execute` fills with every parameter, stays visible.
    """
    import nbformat

    from lmvid_lib.io import atomic_write_bytes

    nb = nbformat.read(executed, as_version=4)
    record = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key) and Path(record[key]).is_absolute():
            record[key] = Path(record[key]).relative_to(root).as_posix()
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


def notebook_parameters(profile: str, chapter: Chapter, declared: set[str], run_dir: Path) -> dict:
    """Papermill parameters of one notebook: the `common` keys it declares, its whole section, profile and run_dir.

    A section key the notebook does not declare is a typo in the profile, reported before anything runs.
    """
    data = load_profile(profile)
    section = dict(data.get(chapter.stem) or {})
    unknown = sorted(set(section) - declared)
    if unknown:
        raise SystemExit(
            f"{profile_path(profile)}: section {chapter.stem!r} sets {unknown}, which "
            f"{chapter.source.name} does not declare in its parameters cell "
            f"(declared: {sorted(declared)})"
        )
    params = {k: v for k, v in data["common"].items() if k in declared}
    params.update(section, profile=str(profile), run_dir=str(run_dir))
    return params


def _source_cell(executed: Path, cell_index: int) -> tuple[int, str]:
    """Map papermill's cell index (which counts its injected-parameters cell) to the source notebook's cell number."""
    import nbformat

    cells = nbformat.read(executed, as_version=4).cells
    failing = cells[cell_index]
    own = [c for c in cells if "injected-parameters" not in c.metadata.get("tags", [])]
    lines = [line for line in failing.source.splitlines() if line.strip()]
    return own.index(failing) + 1, (lines[0][:80] if lines else "")


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--only", nargs="*", help="notebook stems to execute (default: all)")
    parser.add_argument("--no-html", action="store_true", help="execute notebooks only")
    args = parser.parse_args(argv)

    run_dir = Path("runs") / profile_path(args.profile).stem  # relative: pages never show the build machine's paths
    (root / run_dir).mkdir(parents=True, exist_ok=True)
    total = 0.0
    for chapter in execution_order(chapters(root)):
        if args.only and chapter.stem not in args.only:
            continue
        print(f"[book:{args.profile}] {chapter.stem} ...", flush=True)
        seconds = execute(chapter, args.profile, run_dir, root)
        total += seconds
        print(f"[book:{args.profile}] {chapter.stem} done in {seconds:.1f} s", flush=True)
    print(f"[book:{args.profile}] all notebooks: {total:.1f} s", flush=True)
    if not args.no_html:
        jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
        subprocess.run([jupyter_book, "build", str(root), "--path-output", str(root), "-W", "--keep-going"], check=True)
        from lmvid_lib import export  # the playground page's models and onnxruntime-web, into the built site

        export.publish(run_dir, root / "_build" / "html", root, args.profile)
        print(f"[book:{args.profile}] HTML: {root / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
