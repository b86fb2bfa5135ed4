"""History across builds: ``history/<slug>.json``, what each published build of a model knew.

A site published on every push forgets what the previous build knew unless it is told.
Every build writes, per model, the list of builds so far (oldest first): the commit, its
date, the build date, reportgen's version and the whole-model figures (parameters, FLOPs,
output and peak memory, parameter memory, the measured step time). Given
``--history-from``, a build reads that list back from the previous published site (a
folder, or the site's http(s) address), adds its own build and publishes the result, so
the model page can draw the figures' trends and the index can say what changed since
the previous build.

The rules, in one place:

- **Identity.** A build is known by its commit (``GITHUB_SHA``, else ``git rev-parse
  HEAD`` in the configuration's folder). A rebuild of a commit already listed replaces
  that entry where it stands; a new commit is appended. Without git (no ``.git``, no
  ``git``) the entry's commit is null and it is known by its build date instead, so every
  such build is a new entry (unless ``SOURCE_DATE_EPOCH`` pins the build date: then a
  rebuild replaces it, as a rebuild of a commit does).
- **Cap.** The last :data:`MAX_BUILDS` builds are kept; this build always is.
- **Unknown stays unknown.** A figure that could not be derived (or a time not measured)
  is null in the file, a gap in the chart, never 0.
- **Renamed models.** A model's ``previous_slugs`` (in its configuration table) names its
  earlier slugs: their histories are read too and carried into the new slug's file
  (older slugs first, in the order listed; a build listed twice keeps its latest entry).
- **Untrusted input.** The previous site may be anything: a file is read within
  :data:`MAX_HISTORY_BYTES`, nested no deeper than the schema allows, checked against
  ``reportgen/schema/history.schema.json`` and must be for the slug asked for. Only
  ``<folder>/history/<slug>.json`` is read (the slug is checked; a symbolic link that
  leads out of the folder is refused); over http(s) only ``<url>/history/<slug>.json``
  is fetched, redirects only to http(s). A missing file (a 404) is a model without
  history yet. Anything else that goes wrong is one warning line (a folder or an address
  that cannot be reached: one line for all its models; a malformed file: one line for
  that file), and the model starts a fresh history: a broken previous site never stops
  a build.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import os
import re
import stat
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from reportgen.config import SLUG_RE
from reportgen.errors import ReportgenError
from reportgen.jsonfile import (
    MiB,
    field_path,
    message,
    nesting_depth,
    short,
    validator,
)
from reportgen.model import Msg, msg
from reportgen.units import fmt_bytes, fmt_int, fmt_percent
from reportgen.version import __version__

if TYPE_CHECKING:
    from reportgen.config import Config
    from reportgen.model import ModelReport

HISTORY_SCHEMA_VERSION = 1
"""Version of ``history/<slug>.json``.

History:
1. ``slug`` and ``builds``, oldest first; per build ``commit``, ``commit_date``,
   ``build_date``, ``reportgen_version``, ``totals`` (``params``, ``flops``,
   ``activation_bytes``, ``peak_activation_bytes``, ``param_bytes``) and ``step_time_us``.
"""
SCHEMA = "history.schema.json"
MAX_BUILDS = 500
"""Builds kept per model: the oldest beyond these are dropped."""
MAX_HISTORY_BYTES = 2 * MiB
"""Largest history file read (500 builds take about 200 KiB)."""
MAX_DEPTH = 6
"""Deepest nesting of a history file: object, builds, build, totals (with room to spare)."""
FETCH_TIMEOUT_S = 10.0
"""Seconds to wait for the previous site's server (connecting, then each read)."""
TABLE_ROWS = 20
"""Builds the model page's table lists, newest first (the charts show all of them)."""
SHORT_COMMIT = 7

_COMMIT_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GIT_TIMEOUT_S = 10.0


# ---------------------------------------------------------------- what one build knew


@dataclass(frozen=True)
class BuildInfo:
    """What this build is: its commit (when known), dates, version and where commits live."""

    commit: str | None
    commit_date: str | None
    build_date: str
    version: str = __version__
    repository_url: str | None = None
    """``https://github.com/owner/repo``: a commit's page is ``<url>/commit/<sha>``."""


@dataclass(frozen=True)
class HistoryEntry:
    """One build of one model: ``builds[i]`` of ``history/<slug>.json``."""

    commit: str | None
    commit_date: str | None
    build_date: str
    reportgen_version: str
    params: int | None
    flops: int | None
    activation_bytes: int | None
    peak_activation_bytes: int | None
    param_bytes: int | None
    step_time_us: float | None

    @property
    def key(self) -> tuple[str, str]:
        """What makes two entries the same build: the commit, else the build date."""
        return ("commit", self.commit) if self.commit else ("build", self.build_date)

    @property
    def label(self) -> str:
        """The short commit (``1a2b3c4``), or the build's date without a commit."""
        return self.commit[:SHORT_COMMIT] if self.commit else self.build_date[:10]

    def to_data(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "commit_date": self.commit_date,
            "build_date": self.build_date,
            "reportgen_version": self.reportgen_version,
            "totals": {
                "params": self.params,
                "flops": self.flops,
                "activation_bytes": self.activation_bytes,
                "peak_activation_bytes": self.peak_activation_bytes,
                "param_bytes": self.param_bytes,
            },
            "step_time_us": self.step_time_us,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> HistoryEntry:
        """An entry of a file that passed the schema."""
        totals = data["totals"]
        time = data["step_time_us"]
        return cls(
            commit=data["commit"],
            commit_date=data["commit_date"],
            build_date=data["build_date"],
            reportgen_version=data["reportgen_version"],
            params=totals["params"],
            flops=totals["flops"],
            activation_bytes=totals["activation_bytes"],
            peak_activation_bytes=totals["peak_activation_bytes"],
            param_bytes=totals["param_bytes"],
            step_time_us=None if time is None else float(time),
        )


def entry_for(report: ModelReport, build: BuildInfo) -> HistoryEntry:
    """This build's entry for ``report``: its totals as derived, unknown ones null."""
    totals = report.totals
    step = report.profile.step_time_us if report.profile is not None else None
    return HistoryEntry(
        commit=build.commit,
        commit_date=build.commit_date,
        build_date=build.build_date,
        reportgen_version=build.version,
        params=totals.params,
        flops=totals.flops,
        activation_bytes=totals.activation_bytes,
        peak_activation_bytes=totals.peak_activation_bytes,
        param_bytes=totals.param_bytes,
        # As data/<slug>.json rounds it: finer digits are noise.
        step_time_us=round(step, 1) if step is not None and math.isfinite(step) else None,
    )


# ---------------------------------------------------------------- merging


def combine(histories: Iterable[Sequence[HistoryEntry]]) -> tuple[HistoryEntry, ...]:
    """Several histories (older slugs' first) as one: an entry listed twice keeps its last
    place and content."""
    by_key: dict[tuple[str, str], HistoryEntry] = {}
    for entries in histories:
        for entry in entries:
            by_key.pop(entry.key, None)
            by_key[entry.key] = entry
    return tuple(by_key.values())


def merge(
    previous: Sequence[HistoryEntry], entry: HistoryEntry, cap: int = MAX_BUILDS
) -> tuple[tuple[HistoryEntry, ...], int]:
    """``previous`` with this build's ``entry``, and the index of that entry.

    An entry of the same build (same commit, or same build date without one) is replaced
    where it stands; otherwise the entry is appended. Then the oldest entries beyond
    ``cap`` are dropped, never this build's.
    """
    entries = list(combine([previous]))
    keys = [e.key for e in entries]
    if entry.key in keys:
        current = keys.index(entry.key)
        entries[current] = entry
    else:
        entries.append(entry)
        current = len(entries) - 1
    overflow = len(entries) - max(cap, 1)
    if overflow > 0:
        dropped = [i for i in range(len(entries)) if i != current][:overflow]
        entries = [e for i, e in enumerate(entries) if i not in set(dropped)]
        current -= sum(1 for i in dropped if i < current)
    return tuple(entries), current


# ---------------------------------------------------------------- the file


def history_data(slug: str, entries: Sequence[HistoryEntry]) -> dict[str, Any]:
    return {
        "schema_version": HISTORY_SCHEMA_VERSION,
        "slug": slug,
        "builds": [entry.to_data() for entry in entries],
    }


def history_json(slug: str, entries: Sequence[HistoryEntry]) -> str:
    """The file's text: sorted keys, so the same builds are always the same bytes."""
    data = history_data(slug, entries)
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def parse_history(data: bytes, where: str, slug: str) -> tuple[HistoryEntry, ...]:
    """The builds of a history file's bytes; a :class:`ReportgenError` says what is wrong.

    ``where`` names the file (a path or a URL) in the message.
    """
    if len(data) > MAX_HISTORY_BYTES:
        raise ReportgenError(f"{where}: larger than the limit of {MAX_HISTORY_BYTES:,} bytes")
    if nesting_depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise ReportgenError(f"{where}: nests arrays and objects more than {MAX_DEPTH} deep")
    try:
        instance = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReportgenError(f"{where}: not UTF-8 text (byte {exc.start:,})") from exc
    except (ValueError, RecursionError) as exc:
        raise ReportgenError(f"{where}: not JSON ({' '.join(str(exc).split())})") from exc
    if not isinstance(instance, dict):
        raise ReportgenError(f"{where}: not a history file (the top level is not an object)")
    version = instance.get("schema_version")
    if version != HISTORY_SCHEMA_VERSION:
        raise ReportgenError(
            f"{where}: history schema_version {short(version)}; this reportgen reads "
            f"{HISTORY_SCHEMA_VERSION}"
        )
    errors = validator(SCHEMA).iter_errors(instance)
    first = next(errors, None)
    if first is not None:
        raise ReportgenError(f"{where}: {field_path(first.absolute_path)}: {message(first)}")
    if instance["slug"] != slug:
        raise ReportgenError(f"{where}: holds the history of {instance['slug']!r}, not {slug!r}")
    return combine([[HistoryEntry.from_data(item) for item in instance["builds"]]])


# ---------------------------------------------------------------- the previous site


class PreviousSite:
    """The published site a build reads earlier histories from: a folder or an address.

    :meth:`read` returns a model's earlier builds, or ``()`` when it has none (no file, a
    404) or its file cannot be used; :attr:`warnings` collects one line per problem. A
    source that cannot be reached at all is asked nothing more (one line for it, however
    many models there are).
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self.is_url = location.startswith(("http://", "https://"))
        self.warnings: list[str] = []
        self._dead = False

    def read(self, slug: str) -> tuple[HistoryEntry, ...]:
        if self._dead:
            return ()
        if not SLUG_RE.fullmatch(slug):  # a slug names the file: nothing else may
            self._warn(f"history of {slug!r}: not a valid slug; not read")
            return ()
        try:
            data = self._fetch(slug) if self.is_url else self._read_file(slug)
        except _Unreachable as exc:
            self._dead = True
            self._warn(f"{exc}; every model starts a fresh history")
            return ()
        except ReportgenError as exc:
            self._warn(f"{exc}; {slug} starts a fresh history")
            return ()
        if data is None:
            return ()
        where = self.address(slug)
        try:
            return parse_history(data, where, slug)
        except ReportgenError as exc:
            self._warn(f"{exc}; {slug} starts a fresh history")
            return ()

    def address(self, slug: str) -> str:
        """Where ``slug``'s history is read from (for messages and for the fetch)."""
        if self.is_url:
            return self.location.rstrip("/") + f"/history/{slug}.json"
        return str(Path(self.location) / "history" / f"{slug}.json")

    def _warn(self, line: str) -> None:
        self.warnings.append(f"--history-from: {line}")

    def _read_file(self, slug: str) -> bytes | None:
        root = Path(self.location)
        if not root.is_dir():
            raise _Unreachable(f"{root}: no such folder of a previous site")
        path = root / "history" / f"{slug}.json"
        if not os.path.lexists(path):
            return None  # no history yet for this model
        base = root.resolve()
        target = path.resolve()
        if not target.is_relative_to(base):
            raise ReportgenError(f"{path}: refused, it leads outside {root}")
        return _read_regular_file(path, target)

    def _fetch(self, slug: str) -> bytes | None:
        url = self.address(slug)
        request = urllib.request.Request(
            url, headers={"User-Agent": f"reportgen/{__version__}", "Accept": "application/json"}
        )
        try:
            with _opener().open(request, timeout=FETCH_TIMEOUT_S) as response:
                length = response.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) > MAX_HISTORY_BYTES:
                    raise ReportgenError(
                        f"{url}: larger than the limit of {MAX_HISTORY_BYTES:,} bytes"
                    )
                data: bytes = response.read(MAX_HISTORY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None  # no history yet for this model
            reason = " ".join(str(exc.reason).split())
            raise _Unreachable(f"{url}: HTTP {exc.code} {reason}") from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            reason = " ".join(str(cause).split()) or type(cause).__name__
            raise _Unreachable(f"{url}: cannot be fetched ({reason})") from None
        return data


def _read_regular_file(shown: Path, target: Path) -> bytes:
    """The bytes of ``target`` if it is a regular file within the size cap.

    Opened without following a link and without blocking (a FIFO put in its place would
    block a plain ``open``), then checked on the open file: what is read is what was checked.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise ReportgenError(f"{shown}: cannot read ({exc.strerror})") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_HISTORY_BYTES:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReportgenError(f"{shown}: not a regular file")
        raise ReportgenError(f"{shown}: larger than the limit of {MAX_HISTORY_BYTES:,} bytes")
    with os.fdopen(fd, "rb") as stream:
        try:
            data = stream.read(MAX_HISTORY_BYTES + 1)
        except OSError as exc:
            raise ReportgenError(f"{shown}: cannot read ({exc.strerror})") from exc
    if len(data) > MAX_HISTORY_BYTES:
        raise ReportgenError(f"{shown}: larger than the limit of {MAX_HISTORY_BYTES:,} bytes")
    return data


class _Unreachable(ReportgenError):
    """The previous site cannot be asked at all (no folder, no server, a refusal)."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are followed only to http(s) (urllib would follow one to ftp:)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-http(s) URL", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_HttpOnlyRedirects())


def check_history_from(value: str) -> str:
    """``--history-from``: an http(s) address with a host, or a folder path; else a
    :class:`ReportgenError` naming what is wrong."""
    if "://" in value:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ReportgenError(
                f"--history-from must be a folder or an http(s) URL, got {value!r}"
            )
        if parts.query or parts.fragment:
            raise ReportgenError(
                f"--history-from must be the site's base URL, without ?query or #fragment, "
                f"got {value!r}"
            )
    elif not value:
        raise ReportgenError("--history-from must not be empty")
    return value


# ---------------------------------------------------------------- this build's identity


def current_build(
    folder: Path, repository_url: str | None = None, env: Mapping[str, str] | None = None
) -> BuildInfo:
    """This build: the commit of ``folder``'s repository, dates, and the repository's URL.

    The commit is ``GITHUB_SHA`` (GitHub Actions), else ``git rev-parse HEAD`` in
    ``folder``; none without git. Its date is ``git log -1 --format=%cI``, else
    ``SOURCE_DATE_EPOCH``. The build date is ``SOURCE_DATE_EPOCH`` when set, else now.
    ``repository_url`` (the configuration's) wins over ``GITHUB_SERVER_URL`` +
    ``GITHUB_REPOSITORY``.
    """
    env = os.environ if env is None else env
    epoch = _epoch(env)
    commit = _commit(folder, env)
    commit_date = _git_date(folder, commit) if commit else None
    if commit_date is None and epoch is not None:
        commit_date = _iso(epoch)
    build_date = _iso(epoch if epoch is not None else dt.datetime.now(tz=dt.UTC))
    return BuildInfo(
        commit=commit,
        commit_date=commit_date,
        build_date=build_date,
        repository_url=repository_url or _github_repository(env),
    )


def _epoch(env: Mapping[str, str]) -> dt.datetime | None:
    value = env.get("SOURCE_DATE_EPOCH", "")
    if not value.isdigit():
        return None
    try:
        return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git(folder: Path, *args: str) -> str | None:
    """``git -C folder args`` → its output's first line, or None when git cannot say."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def _commit(folder: Path, env: Mapping[str, str]) -> str | None:
    github = env.get("GITHUB_SHA", "").strip().lower()
    if _COMMIT_RE.fullmatch(github):
        return github
    sha = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
    return sha.lower() if sha and _COMMIT_RE.fullmatch(sha.lower()) else None


def _git_date(folder: Path, commit: str) -> str | None:
    text = _git(folder, "log", "-1", "--format=%cI", commit, "--")
    if not text:
        return None
    try:
        return _iso(dt.datetime.fromisoformat(text))
    except ValueError:
        return None


def _github_repository(env: Mapping[str, str]) -> str | None:
    server = env.get("GITHUB_SERVER_URL", "").strip().rstrip("/")
    repository = env.get("GITHUB_REPOSITORY", "").strip()
    if not server or not _REPOSITORY_RE.fullmatch(repository):
        return None
    url = f"{server}/{repository}"
    return url if http_url(url) else None


def http_url(value: str) -> bool:
    """Whether ``value`` is an absolute http(s) URL with a host and nothing odd in it."""
    if any(c.isspace() or not c.isprintable() or c in "\"'<>`\\" for c in value):
        return False
    parts = urllib.parse.urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# ---------------------------------------------------------------- what the pages see


_QUANTITIES: tuple[tuple[str, Msg, bool], ...] = (
    ("params", msg("Parameters"), False),
    ("flops", msg("FLOPs"), False),
    ("activation_bytes", msg("Output memory"), True),
    ("peak_activation_bytes", msg("Peak memory"), True),
)
"""What the index compares with the previous build: (field, label, in bytes)."""

MINUS = "\u2212"


@dataclass(frozen=True)
class Change:
    """One figure, this build against the previous one, ready to print."""

    quantity: str
    """``params``, ``flops``, ``activation_bytes`` or ``peak_activation_bytes``."""
    label: Msg
    state: str
    """``same``, ``up``, ``down``, ``now_unknown`` (known before, not now),
    ``now_known`` (unknown before) or ``unknown`` (in both)."""
    delta: str = ""
    """``+1,024`` or ``−3.06 KiB``; empty unless up or down."""
    percent: str = ""
    """``+0.03%``; empty unless up or down from a non-zero figure."""

    @property
    def changed(self) -> bool:
        return self.state in ("up", "down", "now_unknown", "now_known")


def compare(before: HistoryEntry, after: HistoryEntry) -> tuple[Change, ...]:
    return tuple(
        _change(name, label, getattr(before, name), getattr(after, name), in_bytes)
        for name, label, in_bytes in _QUANTITIES
    )


def _change(name: str, label: Msg, before: int | None, after: int | None, in_bytes: bool) -> Change:
    if before is None or after is None:
        if before is None and after is None:
            state = "unknown"
        else:
            state = "now_known" if before is None else "now_unknown"
        return Change(name, label, state)
    if before == after:
        return Change(name, label, "same")
    difference = after - before
    sign = "+" if difference > 0 else MINUS
    size = fmt_bytes(abs(difference)) if in_bytes else fmt_int(abs(difference))
    percent = f"{sign}{fmt_percent(abs(difference) / before)}" if before else ""
    return Change(name, label, "up" if difference > 0 else "down", f"{sign}{size}", percent)


@dataclass(frozen=True)
class HistoryRow:
    """A build in the model page's table."""

    entry: HistoryEntry
    number: int
    """1 for the oldest build in the history."""
    commit_url: str | None
    """The commit's page, when the repository's URL is known and the commit too."""
    current: bool
    """This build."""

    @property
    def commit_date(self) -> str:
        """``2026-12-02 07:35`` (UTC), or empty when unknown."""
        date = self.entry.commit_date
        return f"{date[:10]} {date[11:16]}" if date else ""


@dataclass(frozen=True)
class ModelHistory:
    """One model's history with this build in it: what the page, charts and file show."""

    slug: str
    entries: tuple[HistoryEntry, ...]
    current: int
    """Index of this build's entry."""
    repository_url: str | None = None
    carried_from: tuple[str, ...] = field(default=())
    """Earlier slugs whose history was carried in (``previous_slugs``), with builds found."""

    @property
    def first(self) -> bool:
        """Whether this is the only build: no history yet."""
        return len(self.entries) < 2

    @property
    def previous(self) -> HistoryEntry | None:
        """The build before this one, or None: the model is new in the history."""
        return self.entries[self.current - 1] if self.current > 0 else None

    @property
    def changes(self) -> tuple[Change, ...]:
        """Each figure against the previous build (empty without one)."""
        previous = self.previous
        return compare(previous, self.entries[self.current]) if previous else ()

    @property
    def changed(self) -> tuple[Change, ...]:
        """The figures that changed since the previous build."""
        return tuple(change for change in self.changes if change.changed)

    @property
    def rows(self) -> tuple[HistoryRow, ...]:
        """The last :data:`TABLE_ROWS` builds, newest first."""
        shown = range(len(self.entries) - 1, max(-1, len(self.entries) - 1 - TABLE_ROWS), -1)
        return tuple(
            HistoryRow(self.entries[i], i + 1, self.commit_url(self.entries[i]), i == self.current)
            for i in shown
        )

    @property
    def capped(self) -> bool:
        """Whether the table leaves out older builds."""
        return len(self.entries) > TABLE_ROWS

    def commit_url(self, entry: HistoryEntry) -> str | None:
        if not entry.commit or not self.repository_url or not http_url(self.repository_url):
            return None
        return f"{self.repository_url.rstrip('/')}/commit/{entry.commit}"

    def file_text(self) -> str:
        return history_json(self.slug, self.entries)


# ---------------------------------------------------------------- a build's histories


@dataclass(frozen=True)
class HistoryPlan:
    """What a build needs to make its histories: where the previous ones are, who it is."""

    build: BuildInfo
    source: str | None = None
    """``--history-from``: a previous site's folder or base URL; None for a fresh history."""
    previous_slugs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per slug, the model's earlier slugs (``previous_slugs`` in its configuration)."""


def plan_history(config: Config, history_from: str | None) -> HistoryPlan:
    """The plan of a ``build`` or ``render`` with ``config``: the commit is the one of the
    configuration's folder (the current directory for the built-in models)."""
    folder = config.path.parent if config.path is not None and not config.builtin else Path()
    return HistoryPlan(
        build=current_build(folder.absolute(), config.repository_url),
        source=None if history_from is None else check_history_from(history_from),
        previous_slugs={spec.slug: spec.previous_slugs for spec in config.models},
    )


@dataclass(frozen=True)
class BuildHistories:
    """A build's histories: its reports with theirs, and what else the site must carry."""

    reports: list[ModelReport]
    """Each report with its :attr:`ModelReport.history` (this build's entry in it)."""
    kept: dict[str, str]
    """Site path → text: the history of each model that failed this build (``--keep-going``)
    as the previous site had it, published unchanged so the next build still has it."""
    warnings: list[str]
    """One line per previous site or file that could not be used."""


def attach_histories(
    reports: Sequence[ModelReport], plan: HistoryPlan, failed: Iterable[str] = ()
) -> BuildHistories:
    """Each report with its history (:attr:`ModelReport.history`); the failed models'
    earlier histories, unchanged; and the warnings."""
    source = PreviousSite(plan.source) if plan.source is not None else None

    def earlier(slug: str) -> tuple[tuple[HistoryEntry, ...], tuple[str, ...]]:
        """The slug's previous builds, and the earlier slugs they were carried from."""
        if source is None:
            return (), ()
        found = {old: source.read(old) for old in (*plan.previous_slugs.get(slug, ()), slug)}
        carried = tuple(old for old, entries in found.items() if entries and old != slug)
        return combine(found.values()), carried

    attached = []
    for report in reports:
        previous, carried = earlier(report.slug)
        entries, current = merge(previous, entry_for(report, plan.build))
        history = ModelHistory(report.slug, entries, current, plan.build.repository_url, carried)
        attached.append(replace(report, history=history))
    kept = {}
    for slug in dict.fromkeys(failed):
        previous, _ = earlier(slug)
        if previous and SLUG_RE.fullmatch(slug):
            kept[f"history/{slug}.json"] = history_json(slug, previous[-MAX_BUILDS:])
    return BuildHistories(attached, kept, source.warnings if source is not None else [])
