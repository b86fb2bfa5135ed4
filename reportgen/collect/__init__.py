"""Collect stage, parent side: one worker process per model. Imports no TensorFlow.

Each model is collected by ``python -m reportgen.collect.worker`` in its own process, so a
model that crashes, leaks or hangs cannot take the others (or the build) with it, and
``--jobs`` collects several at once. The result per model is a directory
``<out>/<slug>/`` with ``facts.json`` and the model's articles, which ``render`` reads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from reportgen.config import ModelSpec
from reportgen.errors import CollectError

EXIT_MODEL_FAILED = 3


def _copy_articles(spec: ModelSpec, dest: Path) -> None:
    for lang, path in (("en", spec.article_en), ("zh", spec.article_zh)):
        if path is None:
            continue
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CollectError(spec.slug, f"cannot read article {path} ({exc.strerror})") from exc
        (dest / f"article.{lang}.md").write_text(text, encoding="utf-8")


def collect_one(
    spec: ModelSpec, out: Path, timeout: float | None = None, profile: bool = True
) -> Path:
    """Collect one model into ``out/<slug>/``; raise :class:`CollectError` on any failure."""
    dest = out / spec.slug
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    spec_path = dest / "request.json"
    request = {"spec": spec.to_dict(), "profile": profile}
    spec_path.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log_path = dest / "worker.log"
    try:
        with log_path.open("wb") as log:
            proc = subprocess.run(
                [sys.executable, "-m", "reportgen.collect.worker", str(spec_path), str(dest)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=timeout,
                check=False,
            )
    except subprocess.TimeoutExpired as exc:
        raise CollectError(spec.slug, f"collection ran past the {timeout:g} s timeout") from exc
    error_file = dest / "error.txt"
    if proc.returncode == EXIT_MODEL_FAILED and error_file.exists():
        raise CollectError(spec.slug, error_file.read_text(encoding="utf-8").strip())
    if proc.returncode != 0:
        how = (
            f"was killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exited with status {proc.returncode}"
        )
        raise CollectError(spec.slug, f"the collect worker {how} (log: {log_path})")
    _copy_articles(spec, dest)
    return dest


def collect_models(
    specs: Sequence[ModelSpec],
    out: Path,
    jobs: int = 1,
    timeout: float | None = None,
    profile: bool = True,
    on_done: Callable[[ModelSpec, Path | None, CollectError | None], None] | None = None,
) -> tuple[dict[str, Path], dict[str, CollectError]]:
    """Collect every model, ``jobs`` at a time. Returns (directories, failures) by slug."""
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path] = {}
    failed: dict[str, CollectError] = {}

    def run(spec: ModelSpec) -> None:
        try:
            path = collect_one(spec, out, timeout, profile)
        except CollectError as exc:
            failed[spec.slug] = exc
            if on_done:
                on_done(spec, None, exc)
            return
        done[spec.slug] = path
        if on_done:
            on_done(spec, path, None)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(run, specs))
    return done, failed
