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

import base64
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest

from lmvid_lib.book import toc_entries

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
SCREENSHOTS = REPO / "_build" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REPLY_TIMEOUT_S = 120  # a page that never finishes loading fails instead of hanging the suite
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


class Chromium:
    """Chromium driven over the DevTools protocol on a pipe (fds 3 and 4 of the browser): no extra package."""

    def __init__(self, exe: str, profile_dir: str):
        to_browser_r, self._write = os.pipe()
        self._read, from_browser_w = os.pipe()
        # bash moves the pipe ends to the fd numbers Chromium expects for --remote-debugging-pipe
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self.proc = subprocess.Popen(
            [
                "bash",
                "-c",
                script,
                exe,
                *CHROMIUM_FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={profile_dir}",
                "about:blank",
            ],
            pass_fds=(to_browser_r, from_browser_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _message(self) -> dict:
        while b"\0" not in self._buffer:
            if not select.select([self._read], [], [], REPLY_TIMEOUT_S)[0]:
                raise TimeoutError(f"chromium sent nothing for {REPLY_TIMEOUT_S} s")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: bool = False, wait_for: str | None = None, **params) -> dict:
        """Send one command; return its result (after the event `wait_for`, when given)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        result, seen = None, wait_for is None
        while result is None or not seen:
            reply = self._message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result = reply["result"]
            seen = seen or reply.get("method") == wait_for
        return result

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, wait_for="Page.loadEventFired", url=url)

    def evaluate(self, expression: str):
        reply = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"]["value"]

    def screenshot(self, path: Path) -> None:
        size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        png = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True, clip=clip)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(png["data"]))

    def close(self) -> None:
        try:
            os.write(self._write, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=30)
        os.close(self._read)
        os.close(self._write)


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").is_file():
        _missing(f"no built book at {HTML}: run `make book` (or `.ci/run`) first")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        _missing("no chromium on PATH: `apt-get install -y chromium` (Debian's; .ci/run installs it)")
    # its helper processes may still write there for a moment after the browser exits
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile_dir:
        chromium = Chromium(exe, profile_dir)  # started before the server thread: no fork while threads run
        handler = functools.partial(_QuietHandler, directory=str(HTML))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield chromium, f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            chromium.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


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
