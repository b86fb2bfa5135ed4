"""Collect stage, parent side: one worker process per model. Imports no TensorFlow.

Each model is collected by ``python -m reportgen.collect.worker`` in its own process, so a
model that crashes, leaks or hangs cannot take the others (or the build) with it, and
``--jobs`` collects several at once. The result per model is a directory
``<out>/<slug>/`` with ``facts.json`` and the model's articles, which ``render`` reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from reportgen.articles import article_root, read_article
from reportgen.collect.forkserver import ForkServer, WorkerProcess, start_worker
from reportgen.config import ModelSpec
from reportgen.errors import CollectError, ConfigError, ReportgenError
from reportgen.units import fmt_bytes

EXIT_MODEL_FAILED = 3
SIGNAL_POLL_SECONDS = 0.2
"""How often the waiting main thread wakes up, so that a signal is acted on promptly."""
COLLECTED_MARKER = ".reportgen-collected"
"""Written first into every model folder the collect stage makes: only such a folder is
ever replaced by a later collection."""


def check_collect_out(out: Path, specs: Sequence[ModelSpec]) -> None:
    """Refuse, before anything runs, to replace a ``<out>/<slug>`` that collect did not make."""
    for spec in specs:
        dest = out / spec.slug
        if not dest.exists() and not dest.is_symlink():
            continue
        if dest.is_symlink() or not dest.is_dir() or not (dest / COLLECTED_MARKER).is_file():
            raise ConfigError(
                f"{dest}: exists and was not made by `reportgen collect` (no {COLLECTED_MARKER}); "
                "collect replaces only its own folders: choose another --out, or move it away"
            )


def _copy_articles(spec: ModelSpec, dest: Path) -> None:
    for lang, path in (("en", spec.article_en), ("zh", spec.article_zh)):
        if path is None:
            continue
        try:
            text = read_article(Path(path), article_root(spec, path))
        except ReportgenError as exc:
            raise CollectError(spec.slug, str(exc)) from exc
        (dest / f"article.{lang}.md").write_text(text, encoding="utf-8")


@dataclass
class WorkerGroup:
    """The live worker processes, so that an interrupt or a failure can stop all of them."""

    memory_limit: int | None = None
    """Bytes of resident memory a worker may use before it is stopped."""
    poll_seconds: float = 0.1
    stopping: threading.Event = field(default_factory=threading.Event)
    fork_server: ForkServer | None = None
    """Forks the workers from a process that imported TensorFlow once; None: each worker
    is a fresh ``python -m`` process (:mod:`reportgen.collect.forkserver`)."""

    def run(
        self, argv: list[str], log: IO[bytes], env: dict[str, str], timeout: float | None, slug: str
    ) -> int:
        """Run one worker to completion; raise CollectError on timeout or memory limit."""
        started = time.monotonic()
        # A process group of its own: the worker and anything it starts die together.
        proc = start_worker(argv, log, env, self.fork_server)
        try:
            while True:
                try:
                    return proc.wait(timeout=self.poll_seconds)
                except subprocess.TimeoutExpired:
                    pass
                if self.stopping.is_set():
                    raise CollectError(slug, "interrupted")
                if timeout is not None and time.monotonic() - started > timeout:
                    raise CollectError(slug, f"collection ran past the {timeout:g} s timeout")
                rss = resident_bytes(proc.pid)
                if self.memory_limit is not None and rss is not None and rss > self.memory_limit:
                    raise CollectError(
                        slug,
                        f"the collect worker used more than {fmt_bytes(self.memory_limit)} of "
                        "memory and was stopped (raise the limit with --memory-limit)",
                    )
        finally:
            if proc.poll() is None:
                _kill_group(proc)

    def stop(self) -> None:
        self.stopping.set()


def _kill_group(proc: WorkerProcess) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def resident_bytes(pid: int) -> int | None:
    """Resident set size of a process (Linux ``/proc``); None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def default_memory_limit(jobs: int) -> int | None:
    """80 % of the memory this process may use (a CI container's cgroup limit where one is
    set, else the physical memory), shared among the workers that run at once."""
    from reportgen.jobs import detect_machine

    total = detect_machine().memory_bytes
    return None if total is None else int(total * 0.8 / max(1, jobs))


def collect_one(
    spec: ModelSpec,
    out: Path,
    timeout: float | None = None,
    profile: bool = True,
    *,
    unsafe_load: bool = False,
    group: WorkerGroup | None = None,
) -> Path:
    """Collect one model into ``out/<slug>/``; raise :class:`CollectError` on any failure."""
    group = group or WorkerGroup()
    dest = out / spec.slug
    check_collect_out(out, [spec])
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / COLLECTED_MARKER).write_text("made by reportgen collect\n", encoding="utf-8")
    spec_path = dest / "request.json"
    request = {"spec": spec.to_dict(), "profile": profile, "unsafe_load": unsafe_load}
    spec_path.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log_path = dest / "worker.log"
    # Keras writes keras.json under KERAS_HOME and matplotlib its caches under MPLCONFIGDIR:
    # both go to the worker's own temporary folder, so the user's home is never written
    # (and a read-only or missing home works).
    with (
        tempfile.TemporaryDirectory(prefix="reportgen-worker-") as home,
        log_path.open("wb") as log,
    ):
        env["KERAS_HOME"] = os.path.join(home, "keras")
        env["MPLCONFIGDIR"] = os.path.join(home, "matplotlib")
        returncode = group.run(
            [sys.executable, "-m", "reportgen.collect.worker", str(spec_path), str(dest)],
            log,
            env,
            timeout,
            spec.slug,
        )
    error_file = dest / "error.txt"
    if returncode == EXIT_MODEL_FAILED and error_file.exists():
        raise CollectError(spec.slug, error_file.read_text(encoding="utf-8").strip())
    if returncode != 0:
        how = (
            f"was killed by signal {-returncode} ({_signal_name(-returncode)})"
            if returncode < 0
            else f"exited with status {returncode}"
        )
        raise CollectError(spec.slug, f"the collect worker {how} (log: {log_path})")
    _copy_articles(spec, dest)
    return dest


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def collect_models(
    specs: Sequence[ModelSpec],
    out: Path,
    jobs: int = 1,
    timeout: float | None = None,
    profile: bool = True,
    on_done: Callable[[ModelSpec, Path | None, CollectError | None], None] | None = None,
    *,
    unsafe_load: bool = False,
    memory_limit: int | None = None,
) -> tuple[dict[str, Path], dict[str, CollectError]]:
    """Collect every model, ``jobs`` at a time. Returns (directories, failures) by slug.

    An interrupt (Ctrl-C, or SIGTERM turned into one by the CLI) stops every worker before
    it propagates: no worker outlives the build.
    """
    out.mkdir(parents=True, exist_ok=True)
    group = WorkerGroup(
        memory_limit=memory_limit, fork_server=ForkServer() if len(specs) > 1 else None
    )
    done: dict[str, Path] = {}
    failed: dict[str, CollectError] = {}

    def run(spec: ModelSpec) -> None:
        if group.stopping.is_set():
            return
        try:
            path = collect_one(spec, out, timeout, profile, unsafe_load=unsafe_load, group=group)
        except CollectError as exc:
            failed[spec.slug] = exc
            if on_done:
                on_done(spec, None, exc)
            return
        done[spec.slug] = path
        if on_done:
            on_done(spec, path, None)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        for future in [pool.submit(run, spec) for spec in specs]:
            # Wait in short steps: the kernel may hand Ctrl-C or SIGTERM to a pool thread,
            # and Python runs the handler (KeyboardInterrupt) only once the main thread
            # wakes up; an endless wait would then ignore the signal until the worker ends.
            while True:
                try:
                    future.result(timeout=SIGNAL_POLL_SECONDS)
                    break
                except FutureTimeout:
                    continue
    except BaseException:
        group.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if group.fork_server is not None:
            group.fork_server.close()
    return done, failed
