"""Debian's Chromium, headless, driven over the DevTools protocol on a pipe (no extra package), and the built book
served from 127.0.0.1: shared by the browser tests (test_book_pages.py, test_playground_page.py) and
benchmarks/bench_playground_web.py."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REPLY_TIMEOUT_S = 120  # a page that never finishes loading fails instead of hanging the suite


class Chromium:
    """Chromium driven over the DevTools protocol on a pipe (fds 3 and 4 of the browser): no extra package.

    Every event the browser sends (console messages, exceptions, log entries) is kept in `events`."""

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
        self.events: list[dict] = []
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
            if "method" in reply:
                self.events.append(reply)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result = reply["result"]
            seen = seen or reply.get("method") == wait_for
        return result

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, wait_for="Page.loadEventFired", url=url)

    def evaluate(self, expression: str, await_promise: bool = False):
        reply = self.call(
            "Runtime.evaluate", session=True, expression=expression, returnByValue=True, awaitPromise=await_promise
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(f"page script failed: {reply['exceptionDetails']}")
        return reply["result"]["value"]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads) seen so far."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                where = f"{details.get('url', '')}:{details.get('lineNumber')}"
                found.append(f"{where}: {details.get('exception', {}).get('description', details['text'])}")
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")
        return found

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


def chromium_executable() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving(exe: str, directory: Path) -> Iterator[tuple[Chromium, str]]:
    """(a started Chromium, the base URL of `directory` served over HTTP on 127.0.0.1); both stopped on exit."""
    # its helper processes may still write there for a moment after the browser exits
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile_dir:
        chromium = Chromium(exe, profile_dir)  # started before the server thread: no fork while threads run
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield chromium, f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            chromium.close()
