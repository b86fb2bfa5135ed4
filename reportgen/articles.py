"""Model articles are untrusted text: read one only if it is a plain file where it belongs.

An article reaches the site from two places: a configuration names a Markdown file (the
collect stage copies it into the collected folder), and ``reportgen render`` reads it back
from a collected folder, which in CI is an artifact downloaded from another job. Either
way, whatever the file turns out to be is published. So an article must be a regular file
(not a symbolic link, a directory, a FIFO or a device), inside the directory it belongs to
(``..``, an absolute path or a link in between may not lead elsewhere), at most
:data:`MAX_ARTICLE_BYTES` long, and UTF-8 text. Anything else is one
:class:`~reportgen.errors.ReportgenError` line that names the file and the reason.

Not covered: a hard link is a regular file like any other (a collected folder made by the
collect stage, or unpacked from a zip artifact, holds none), and a directory swapped for a
link between the check and the open (whoever can do that runs code on this machine already).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.errors import ReportgenError

if TYPE_CHECKING:
    from reportgen.config import ModelSpec

MAX_ARTICLE_BYTES = 1024 * 1024
"""The longest article read (1 MiB); the longest built-in article is under 10 KiB."""

LEADS_OUTSIDE = "leads outside"
"""How :func:`article_problem`'s reason for a path outside the root begins."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)  # a link as the last component: ELOOP, not its target
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once (and is refused) instead of hanging
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _not_regular(mode: int) -> str:
    kind = _kind(mode)
    return f"is {kind}" if kind.startswith("not ") else f"is {kind}, not a regular file"


def article_problem(path: Path, root: Path) -> str | None:
    """Why ``path`` cannot be an article inside ``root``, without reading it; None if it can.

    The reasons read after the file's name: ``is a symbolic link``, ``leads outside
    /project``, ``no such file``, ``is a directory, not a regular file``, ``is 2000000
    bytes, more than the 1048576 an article may have``.
    """
    try:
        info: os.stat_result | None = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if info is not None and stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    try:
        base = root.resolve()
        target = path.resolve()
    except (OSError, RuntimeError):  # a loop of links (RuntimeError before Python 3.13)
        return "cannot be resolved (a loop of symbolic links)"
    if not target.is_relative_to(base):
        return f"{LEADS_OUTSIDE} {base}"
    if info is None:
        return "no such file"
    if not stat.S_ISREG(info.st_mode):
        return _not_regular(info.st_mode)
    if info.st_size > MAX_ARTICLE_BYTES:
        return _too_long(info.st_size)
    return None


def _too_long(size: int) -> str:
    return f"is {size} bytes, more than the {MAX_ARTICLE_BYTES} an article may have"


def read_article(path: Path, root: Path) -> str:
    """The text of the article at ``path``, which must be a regular UTF-8 file inside ``root``.

    Line endings are read as ``\\n`` (as :meth:`Path.read_text` does). Raises
    :class:`ReportgenError`, one line: ``collected/lenet/article.en.md: is a symbolic link;
    an article must be a regular UTF-8 file of at most 1048576 bytes inside collected/lenet``.
    """

    def refuse(reason: str) -> ReportgenError:
        return ReportgenError(
            f"{path}: {reason}; an article must be a regular UTF-8 file of at most "
            f"{MAX_ARTICLE_BYTES} bytes inside {root}"
        )

    problem = article_problem(path, root)
    if problem is not None:
        raise refuse(problem)
    # The checks above give the clear reasons; the open and fstat below are what holds
    # if the file was swapped in between.
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if os.path.islink(path):
            raise refuse("is a symbolic link") from exc
        raise refuse(f"cannot be read ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise refuse(_not_regular(mode))
        data = fh.read(MAX_ARTICLE_BYTES + 1)
    if len(data) > MAX_ARTICLE_BYTES:
        raise refuse(f"is more than the {MAX_ARTICLE_BYTES} bytes an article may have")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def article_root(spec: ModelSpec, path: str | Path) -> Path:
    """The directory a model's article must stay inside.

    The configuration file's directory for a configured model, the built-in ones included
    (checked when the configuration was loaded, checked again when the article is read);
    for a :class:`ModelSpec` built in code, the article's own directory (the code chose
    the file; it must still be a regular UTF-8 file).
    """
    if spec.article_root is not None:
        return Path(spec.article_root)
    return Path(path).parent
