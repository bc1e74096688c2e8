"""The built book as a reader's browser shows it: Debian's Chromium, headless, on the book served from 127.0.0.1.

Per page of `_toc.yml` (whatever its entries): it loads; every table output of its executed notebook (and every
markdown table of its text) is an HTML `<table>`; it shows at least as many images as its notebook has image outputs;
animations play (their first frame is drawn by their JavaScript); no raw markdown table, progress bar, traceback or
absolute path of the build machine reaches the page; it links its executed `.ipynb`; the sidebar lists the chapters
in `_toc.yml` order. A full-page screenshot of each page is saved under `_build/screenshots/`.

Needs a built book (`make book`, or `.ci/run`, which builds the smoke book) and `chromium`; without either it skips,
saying which, unless LMVID_REQUIRE_BOOK=1 (CI), where a missing one is a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from chromium import chromium_executable, serving

from lmvid_lib.publish.notebooks import toc_entries

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
SCREENSHOTS = REPO / "_build" / "screenshots"
FORBIDDEN_PATHS = ["/tmp/", "/home/", "/root/", str(REPO) + "/"]
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.MULTILINE)  # |---|---:|
RAW_TABLE = re.compile(r"\|\s*:?(-{3,}|—)")  # a markdown table rule in the page text (--- typeset as an em dash)
DATA_URI = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\\]+")
# myst-nb's choice among an output's formats for HTML (its default priority, most preferred first)
MIME_PRIORITY = [
    "application/vnd.jupyter.widget-view+json",
    "application/javascript",
    "text/html",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/markdown",
    "text/latex",
    "text/plain",
]

PAGE_FACTS = """(() => {
  const art = document.querySelector('article') || document.body;
  const imgs = [...art.querySelectorAll('img')];
  const anims = [...art.querySelectorAll('.animation')];
  return {
    text: art.innerText,
    tables: art.querySelectorAll('table').length,
    figures: art.querySelectorAll('img, svg').length,
    broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    animations: anims.length,
    animations_drawn: anims.filter(a => [...a.querySelectorAll('img')].some(i => i.naturalWidth > 0)).length,
    tracebacks: art.querySelectorAll('.output.traceback, .output.error').length,
    sidebar: [...document.querySelectorAll('nav.bd-docs-nav li.toctree-l1 > a')].map(a => new URL(a.href).pathname),
    brand: new URL((document.querySelector('a.navbar-brand') || {}).href || location.href).pathname,
    notebook_links: [...document.querySelectorAll('a[href$=".ipynb"]')].map(a => new URL(a.href).pathname),
  };
})()"""


def _missing(reason: str) -> None:
    if os.environ.get("LMVID_REQUIRE_BOOK") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").is_file():
        _missing(f"no built book at {HTML}: run `make book` (or `.ci/run`) first")
    exe = chromium_executable()
    if exe is None:
        _missing("no chromium on PATH: `apt-get install -y chromium` (Debian's; .ci/run installs it)")
    with serving(exe, HTML) as served:
        yield served


def _chosen(output: dict) -> tuple[str, str]:
    """The format myst-nb renders for one output, and its text."""
    if output["output_type"] == "stream":
        return "stream", output["text"]
    if output["output_type"] == "error":
        return "error", "\n".join(output["traceback"])
    data = output.get("data", {})
    for mime in MIME_PRIORITY:
        if mime in data:
            value = data[mime]
            return mime, value if isinstance(value, str) else "".join(value)
    return "", ""


def expected_counts(page: str) -> dict[str, int]:
    """What the page must show, read from its executed notebook (or its markdown source): tables, image outputs,
    animations and error outputs."""
    counts = {"tables": 0, "images": 0, "animations": 0, "errors": 0}
    notebook = REPO / f"{page}.ipynb"
    if not notebook.is_file():
        source = REPO / f"{page}.md"
        counts["tables"] = len(TABLE_RULE.findall(source.read_text())) if source.is_file() else 0
        return counts
    for cell in nbformat.read(notebook, as_version=4).cells:
        tags = cell.metadata.get("tags", [])
        if "remove-cell" in tags:
            continue
        if cell.cell_type == "markdown":
            counts["tables"] += len(TABLE_RULE.findall(cell.source))
        if cell.cell_type != "code" or "remove-output" in tags:
            continue
        for output in cell.outputs:
            mime, text = _chosen(output)
            counts["errors"] += mime == "error"
            if mime == "text/html":
                counts["tables"] += text.count("<table")
                counts["images"] += bool(re.search(r"<(img|svg)\b", text))
                counts["animations"] += text.count('class="animation"')
            elif mime == "text/markdown":
                counts["tables"] += len(TABLE_RULE.findall(text))
            elif mime.startswith("image/"):
                counts["images"] += 1
    return counts


def _pages() -> list[str]:
    return toc_entries(REPO) if (REPO / "_toc.yml").is_file() else []


@pytest.mark.parametrize("page", _pages())
def test_page_reads_as_published(browser, page):
    chromium, base = browser
    html_file = HTML / f"{page}.html"
    assert html_file.is_file(), f"{page} is in _toc.yml but the build has no {html_file.relative_to(REPO)}"
    notebook = REPO / f"{page}.ipynb"
    if notebook.is_file() and notebook.stat().st_mtime > html_file.stat().st_mtime:
        _missing(f"{html_file.relative_to(REPO)} is older than {page}.ipynb: rebuild the HTML (`jupyter-book build .`)")
    chromium.open(f"{base}/{page}.html")
    facts = chromium.evaluate(PAGE_FACTS)
    chromium.screenshot(SCREENSHOTS / f"{Path(page).name}.png")
    expected = expected_counts(page)

    assert facts["text"].strip(), f"{page}: the page shows no text"
    assert expected["errors"] == 0 and facts["tracebacks"] == 0, f"{page}: an error output reached the page"
    assert "Traceback (most recent call last)" not in facts["text"], f"{page}: a traceback reached the page"
    assert facts["tables"] == expected["tables"], (
        f"{page}: {facts['tables']} HTML tables, but its notebook has {expected['tables']} tables (outputs, markdown)"
    )
    assert not RAW_TABLE.search(facts["text"]), f"{page}: a markdown table is shown as text"
    assert facts["figures"] >= expected["images"], f"{page}: {facts['figures']} images for {expected['images']} figures"
    if expected["images"]:
        assert facts["figures"] > 0 and facts["broken_images"] == 0, f"{page}: figures missing or not loaded"
    assert facts["animations"] == expected["animations"] == facts["animations_drawn"], (
        f"{page}: {facts['animations']} animations ({facts['animations_drawn']} drawn), "
        f"{expected['animations']} in the notebook"
    )
    published = DATA_URI.sub("", html_file.read_text())  # base64 images can spell anything
    for text in ("it/s]", "s/it]"):
        assert text not in published, f"{page}: a progress bar ({text!r}) reached the page"
    for path in FORBIDDEN_PATHS:
        assert path not in published, f"{page}: the build machine's path {path!r} appears in the page"
    if notebook.is_file():
        source = DATA_URI.sub("", notebook.read_text())
        assert not [p for p in FORBIDDEN_PATHS if p in source], f"{page}.ipynb names a path of the build machine"
        assert any(link.endswith(f"{Path(page).name}.ipynb") for link in facts["notebook_links"]), (
            f"{page}: no link to its executed notebook"
        )

    entries = toc_entries(REPO)
    listed = [path.removeprefix("/").removesuffix(".html") for path in facts["sidebar"]]
    assert [p for p in listed if p in entries[1:]] == entries[1:], f"{page}: sidebar {listed} is not _toc.yml order"
    assert facts["brand"].endswith(f"/{entries[0]}.html"), f"{page}: the title does not link the root page"
