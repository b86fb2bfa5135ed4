"""Publish: build the whole site in a temporary directory, then swap it into place.

The temporary directory is a sibling of ``--out`` (same file system), so the swap is two
renames; a build that fails at any point before it leaves ``--out`` exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from reportgen.errors import RenderError


def check_writable(out: Path) -> None:
    """Fail early, before any model is collected, when ``out`` cannot be written."""
    out = out.absolute()
    if out.exists() and not out.is_dir():
        raise RenderError(f"{out}: exists and is not a directory")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise RenderError(f"{out}: cannot write the output directory ({parent} is not writable)")


def publish(out: Path, build: Callable[[Path], None]) -> None:
    """Run ``build(tmp)``; on success ``tmp`` replaces ``out``, on failure it is removed."""
    out = out.absolute()
    if out.exists() and not out.is_dir():
        raise RenderError(f"{out}: exists and is not a directory")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    except OSError as exc:
        raise RenderError(f"{out}: cannot write the output directory ({exc.strerror})") from exc
    try:
        build(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a published site is world-readable
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / out.name)
        try:
            os.rename(tmp, out)
        except OSError:
            if old is not None:
                os.rename(old / out.name, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
