"""Progress of the collect stage: a live display on a terminal, one line per event elsewhere.

On a terminal (stderr is a TTY) a rich display shows the models being collected, each
with its elapsed time, above an overall bar; finished models scroll up as one line each.
In CI logs, pipes and files — and with ``--verbose`` — every event is one plain line:
``collecting lenet (1 of 2)``, ``collected lenet in 5.2 s (1 of 2 done)``. ``--verbose``
adds each worker's log path and, for a failed model, the end of its log (the traceback).
``--quiet`` prints nothing here: errors are printed by the command itself, after the
collection, one line each.

``collect_models`` reports only finished models. Its pool takes the models in order, so a
model starts when an earlier one finishes: the tracker infers the starts from that.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

import click

from reportgen.config import ModelSpec
from reportgen.errors import CollectError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

QUIET = "quiet"
NORMAL = "normal"
VERBOSE = "verbose"
LOG_TAIL_LINES = 20
"""Lines of a failed worker's log shown with ``--verbose``."""
_META_KEY = "reportgen.verbosity"


def _remember_verbosity(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    previous = ctx.meta.get(_META_KEY)
    if previous is not None and previous != value:
        raise click.UsageError("--quiet and --verbose exclude each other", ctx)
    ctx.meta[_META_KEY] = value


quiet_option = click.option(
    "--quiet",
    "-q",
    flag_value=QUIET,
    default=None,
    expose_value=False,
    callback=_remember_verbosity,
    help="Print only errors.",
)
verbose_option = click.option(
    "--verbose",
    "-v",
    flag_value=VERBOSE,
    default=None,
    expose_value=False,
    callback=_remember_verbosity,
    help="One line per event, with each collect worker's log path and, for a model that "
    "failed, the end of its log (the traceback).",
)


def current_verbosity() -> str | None:
    """``quiet``, ``verbose`` or None (the default), as the running command was given."""
    ctx = click.get_current_context(silent=True)
    value = ctx.meta.get(_META_KEY) if ctx is not None else None
    return value if isinstance(value, str) else None


class CollectProgress:
    """Base: tracks which models run (in the pool's order) and how long each took.

    Use as a context manager around ``collect_models`` and pass :meth:`on_done` as its
    callback; subclasses say how events are shown.
    """

    def __init__(self, specs: Sequence[ModelSpec], jobs: int, out: Path) -> None:
        self.total = len(specs)
        self.jobs = max(1, jobs)
        self.out = out
        self.position = {spec.slug: i + 1 for i, spec in enumerate(specs)}
        self._pending: deque[ModelSpec] = deque(specs)
        self._started: dict[str, float] = {}
        self.done = 0
        self.failed = 0
        self._lock = threading.Lock()

    def __enter__(self) -> CollectProgress:
        self.open()
        with self._lock:
            for _ in range(min(self.jobs, len(self._pending))):
                self._start(self._pending.popleft())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def on_done(self, spec: ModelSpec, path: Path | None, error: CollectError | None) -> None:
        """``collect_models``'s callback (called from its worker threads)."""
        with self._lock:
            started = self._started.pop(spec.slug, None)
            elapsed = time.monotonic() - started if started is not None else 0.0
            self.done += 1
            self.failed += error is not None
            self.finished(spec, elapsed, error)
            if self._pending:
                self._start(self._pending.popleft())

    def _start(self, spec: ModelSpec) -> None:
        self._started[spec.slug] = time.monotonic()
        self.started(spec)

    def log_path(self, spec: ModelSpec) -> Path:
        return self.out / spec.slug / "worker.log"

    # What subclasses show; called with the lock held, so never at the same time.
    def open(self) -> None:
        pass

    def started(self, spec: ModelSpec) -> None:
        pass

    def finished(self, spec: ModelSpec, elapsed: float, error: CollectError | None) -> None:
        pass

    def close(self) -> None:
        pass


class QuietProgress(CollectProgress):
    """``--quiet``: nothing (the command prints the errors)."""


class PlainProgress(CollectProgress):
    """One line per event, for logs; ``verbose`` adds log paths and failed workers' logs."""

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        jobs: int,
        out: Path,
        stream: TextIO,
        verbose: bool = False,
    ) -> None:
        super().__init__(specs, jobs, out)
        self.stream = stream
        self.verbose = verbose

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def started(self, spec: ModelSpec) -> None:
        self._line(f"collecting {spec.slug} ({self.position[spec.slug]} of {self.total})")

    def finished(self, spec: ModelSpec, elapsed: float, error: CollectError | None) -> None:
        count = f"({self.done} of {self.total} done)"
        if error is None:
            self._line(f"collected {spec.slug} in {elapsed:.1f} s {count}")
        elif self.verbose:
            self._line(f"failed {spec.slug} after {elapsed:.1f} s {count}: {error.message}")
        else:
            self._line(f"failed {spec.slug} after {elapsed:.1f} s {count}")
        if self.verbose:
            log = self.log_path(spec)
            self._line(f"  log: {log}")
            if error is not None:
                for line in log_tail(log):
                    self._line(f"  | {line}")


class RichProgress(CollectProgress):
    """A live display on a terminal: one spinner per running model, an overall bar."""

    def __init__(self, specs: Sequence[ModelSpec], jobs: int, out: Path, stream: TextIO) -> None:
        super().__init__(specs, jobs, out)
        self.stream = stream
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._tasks: dict[str, TaskID] = {}

    def open(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        console = Console(file=self.stream)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._overall = self._progress.add_task(self._overall_text(), total=self.total)
        self._progress.start()

    def started(self, spec: ModelSpec) -> None:
        from rich.markup import escape

        assert self._progress is not None
        self._tasks[spec.slug] = self._progress.add_task(f"  {escape(spec.slug)}", total=None)

    def finished(self, spec: ModelSpec, elapsed: float, error: CollectError | None) -> None:
        from rich.markup import escape

        assert self._progress is not None and self._overall is not None
        task = self._tasks.pop(spec.slug, None)
        if task is not None:
            self._progress.remove_task(task)
        self._progress.update(self._overall, advance=1, description=self._overall_text())
        slug = escape(spec.slug)
        if error is None:
            self._progress.console.print(f"[green]✓[/] collected {slug} in {elapsed:.1f} s")
        else:
            self._progress.console.print(f"[red]✗[/] {slug} failed after {elapsed:.1f} s")

    def _overall_text(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"[bold]collected {self.done} of {self.total}{failed}"

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a worker's log ([] when there is none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return text.rstrip().splitlines()[-lines:] if text.strip() else []


def collect_progress(
    specs: Sequence[ModelSpec],
    jobs: int,
    out: Path,
    verbosity: str | None = None,
    stream: TextIO | None = None,
) -> CollectProgress:
    """The display for this run: quiet, verbose lines, live on a terminal, else lines.

    ``verbosity`` defaults to what the running command was given (``--quiet``/``--verbose``).
    """
    verbosity = verbosity if verbosity is not None else current_verbosity()
    stream = stream if stream is not None else sys.stderr
    if verbosity == QUIET:
        return QuietProgress(specs, jobs, out)
    if verbosity == VERBOSE:
        return PlainProgress(specs, jobs, out, stream, verbose=True)
    if _is_terminal(stream):
        return RichProgress(specs, jobs, out, stream)
    return PlainProgress(specs, jobs, out, stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM") != "dumb"
