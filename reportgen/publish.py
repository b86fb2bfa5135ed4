"""Publish: build the whole site in a temporary directory, then swap it into place.

reportgen only ever replaces what it made. Every published site carries a manifest,
``.reportgen-site``, listing the files reportgen wrote; an existing ``--out`` is replaced
only when it is empty or is such a site with nothing else in it. ``--out`` may never be,
or contain, a folder the user works in (the current directory, the configuration's folder,
a model's source or article, the home directory, ``/``).

The temporary directory is a sibling of ``--out`` (same file system), so the swap is two
renames; a build that fails at any point before it leaves ``--out`` exactly as it was. An
``--out`` that cannot be renamed (a mount point: a Docker volume, a tmpfs) is published by
swapping its entries instead, inside it. One build publishes into an ``--out`` at a time:
a lock file beside it (``.<name>.reportgen-lock``) names the holder. Temporary folders
carry a marker too, so the next build can tell a killed build's leftovers from anything
else and clean up only those.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import ConfigError, RenderError

MANIFEST = ".reportgen-site"
"""The marker of a published site: JSON with the list of files reportgen wrote."""
MANIFEST_FORMAT = 1
PARTIAL = ".reportgen-partial"
"""The marker of a temporary folder of a build in progress (or of one that was killed)."""
LOCK_SUFFIX = ".reportgen-lock"
INNER_PREFIXES = (".reportgen-new-", ".reportgen-old-")
"""Temporary folders inside a mount-point ``--out``."""
MAX_MANIFEST_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Protected:
    """A path that ``--out`` must never be, nor contain, and what it is to the user."""

    path: Path
    what: str


def protected_paths(
    config_path: Path | None = None, model_paths: Iterable[tuple[str, str | None]] = ()
) -> list[Protected]:
    """The folders and files a site may never replace.

    ``model_paths`` are (what, path) pairs: a model's source file or article.
    """
    found = [
        Protected(Path("/"), "the root directory"),
        Protected(Path.cwd(), "the current directory"),
    ]
    with contextlib.suppress(RuntimeError, KeyError):
        found.append(Protected(Path.home(), "your home directory"))
    if config_path is not None:
        found.append(
            Protected(
                config_path.absolute().parent, f"the folder of the configuration {config_path}"
            )
        )
    found.extend(Protected(Path(path), what) for what, path in model_paths if path)
    return found


def resolve_out(out: Path) -> Path:
    """The directory a site is published into: a symbolic link publishes into its target.

    The link itself stays as it is and keeps pointing at the (new) site.
    """
    return Path(os.path.realpath(out.absolute()))


def check_out(out: Path, protected: Iterable[Protected] = ()) -> None:
    """Refuse, before any model is collected, an ``--out`` that a build must not replace."""
    try:
        _check_out(out, protected)
    except OSError as exc:
        raise RenderError(f"{out}: cannot use as the output directory ({exc.strerror})") from exc


def _check_out(out: Path, protected: Iterable[Protected]) -> None:
    target = resolve_out(out)
    shown = _shown(out, target)
    for item in protected:
        path = Path(os.path.realpath(item.path.absolute()))
        if path == target or path.is_relative_to(target):
            relation = "is" if path == target else "contains"
            raise ConfigError(
                f"--out {shown} {relation} {item.what} ({path}); a build replaces its --out "
                "as a whole, so give it a folder of its own, such as 'site'"
            )
    if target.exists() and not target.is_dir():
        raise RenderError(f"{shown}: exists and is not a directory")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise RenderError(f"{shown}: cannot write the output directory ({parent} is not writable)")
    if target.is_dir():
        check_ours(target, shown)


def check_ours(target: Path, shown: str | Path) -> None:
    """``target`` is empty, or a site reportgen wrote with nothing added to it."""
    entries = [name for name in _entries(target) if not _is_inner_temp(target, name)]
    if not entries:
        return
    manifest = read_manifest(target)
    if manifest is None:
        raise ConfigError(
            f"{shown}: exists and is not a site made by reportgen (it has no {MANIFEST}); "
            "reportgen replaces only its own sites: choose another --out, or empty or "
            "remove this folder yourself"
        )
    written = set(manifest)
    foreign = sorted(
        path
        for path in _files(target)
        if path not in written and path != MANIFEST and not _is_inner_temp(target, path)
    )
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise ConfigError(
            f"{Path(shown) / foreign[0]}{more}: was not written by reportgen, and a build "
            f"replaces {shown} as a whole; move it out of {shown} first"
        )


def read_manifest(site: Path) -> list[str] | None:
    """The files a published site lists as written by reportgen; None when it has no manifest."""
    path = site / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("generator") != "reportgen"
        or not isinstance(data.get("files"), list)
        or not all(isinstance(f, str) for f in data["files"])
    ):
        return None
    return list(data["files"])


def manifest_text(files: Iterable[str]) -> str:
    data = {"format": MANIFEST_FORMAT, "generator": "reportgen", "files": sorted(files)}
    return json.dumps(data, indent=0, ensure_ascii=False) + "\n"


def _entries(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError as exc:
        raise RenderError(
            f"{directory}: cannot read the output directory ({exc.strerror})"
        ) from exc


def _files(root: Path) -> list[str]:
    """Every file, link and empty folder under ``root`` (links not followed), as POSIX paths."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel = here.relative_to(root)
        if rel.parts and rel.parts[0].startswith(INNER_PREFIXES):
            dirnames[:] = []
            continue
        for name in filenames + [d for d in dirnames if (here / d).is_symlink()]:
            found.append((rel / name).as_posix())
        if not filenames and not dirnames and rel.parts:
            found.append(rel.as_posix() + "/")
    return found


def _is_inner_temp(target: Path, relpath: str) -> bool:
    top = relpath.split("/", 1)[0]
    return top.startswith(INNER_PREFIXES) and (target / top / PARTIAL).is_file()


def _shown(out: Path, target: Path) -> str:
    same = Path(os.path.normpath(out.absolute())) == target
    return str(out) if same else f"{out} (-> {target})"


# --- one publisher at a time --------------------------------------------------------------


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}{LOCK_SUFFIX}"


@contextlib.contextmanager
def publishing_lock(out: Path, command: str = "build") -> Iterator[None]:
    """Hold the lock beside ``out`` for the whole build, or fail at once naming the holder.

    The lock file is removed when the build ends. A build that opened the file just before
    it was removed notices that the path no longer names what it locked, and tries again.
    """
    target = resolve_out(out)
    path = lock_path(target)
    fd = _acquire(path, _shown(out, target))
    try:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        holder = (
            f"pid {os.getpid()} on {socket.gethostname()}, `reportgen {command}` since {started}"
        )
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode("utf-8") + b"\n", 0)
        clean_leftovers(target)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # still holding the lock: no other build holds this file
        os.close(fd)


def _acquire(path: Path, shown: str) -> int:
    for _ in range(100):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RenderError(f"{path}: cannot create the build lock ({exc.strerror})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise RenderError(
                f"{shown}: another reportgen is publishing here ({holder}); "
                "wait for it to finish, or choose another --out"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise RenderError(f"{path}: cannot lock ({exc.strerror})") from exc
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the holder removed the file after we opened it: lock the new one
    raise RenderError(f"{path}: cannot take the build lock (it keeps changing)")


def clean_leftovers(target: Path) -> None:
    """Remove what a killed build left beside (or inside) ``target``: only its marked folders.

    A build killed between its two renames leaves the previous site inside its ``old``
    folder and no ``target``: that site is put back first (and likewise the entries of a
    mount point's previous site that are missing from it).
    """
    parent = target.parent
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(parent)):
            folder = parent / name
            if not name.startswith((f".{target.name}.new-", f".{target.name}.old-")):
                continue
            if folder.is_symlink() or not (folder / PARTIAL).is_file():
                continue  # not ours: a build's temporary folder always carries the marker
            previous = folder / target.name
            if (
                name.startswith(f".{target.name}.old-")
                and not target.exists()
                and previous.is_dir()
            ):
                os.rename(previous, target)
            shutil.rmtree(folder, ignore_errors=True)
    if target.is_dir() and not target.is_symlink():
        with contextlib.suppress(OSError):
            for name in os.listdir(target):
                inner = target / name
                if not name.startswith(INNER_PREFIXES) or not (inner / PARTIAL).is_file():
                    continue
                if name.startswith(INNER_PREFIXES[1]):  # the previous site's entries
                    for entry in os.listdir(inner):
                        if entry != PARTIAL and not os.path.lexists(target / entry):
                            os.rename(inner / entry, target / entry)
                shutil.rmtree(inner, ignore_errors=True)


# --- publishing ---------------------------------------------------------------------------


def _make_temp(prefix: str, parent: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        (folder / PARTIAL).write_text(f"pid {os.getpid()}\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def _os_error(exc: OSError, out: Path, tmp: Path) -> RenderError:
    """One line naming the path (as it will be published, not the temporary one) and cause."""
    cause = exc.strerror or " ".join(str(exc).split())[:300] or exc.__class__.__name__
    verb = "cannot write"
    where: str | Path = out
    if exc.filename:
        path = Path(os.fsdecode(exc.filename))
        if path.is_relative_to(tmp):
            where = out / path.relative_to(tmp)
        elif path.is_relative_to(out.parent):
            where = path
        else:
            where, verb = path, "cannot read"
    return RenderError(f"{where}: {verb} ({cause}); the previous site is unchanged")


def publish(out: Path, build: Callable[[Path], None]) -> None:
    """Run ``build(tmp)``; on success ``tmp`` replaces ``out``, on failure it is removed.

    ``out`` must pass :func:`check_out` (checked again here, just before anything changes).
    """
    target = resolve_out(out)
    shown = _shown(out, target)
    if target.exists() and not target.is_dir():
        raise RenderError(f"{shown}: exists and is not a directory")
    in_place = target.is_dir() and os.path.ismount(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = (
            _make_temp(INNER_PREFIXES[0], target)
            if in_place
            else _make_temp(f".{target.name}.new-", target.parent)
        )
    except OSError as exc:
        raise RenderError(f"{shown}: cannot write the output directory ({exc.strerror})") from exc
    try:
        try:
            build(tmp)
            written = [p for p in _files(tmp) if p != PARTIAL]
            (tmp / MANIFEST).write_text(manifest_text(written), encoding="utf-8")
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; a published site is world-readable
            if target.is_dir():
                check_ours(target, shown)  # again: nothing may have been added meanwhile
            if in_place:
                _swap_entries(tmp, target)
            else:
                _swap_folder(tmp, target)
        except OSError as exc:
            raise _os_error(exc, target, tmp) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _swap_folder(tmp: Path, target: Path) -> None:
    """Two renames: the old site aside (into a marked folder), the new one in its place."""
    os.remove(tmp / PARTIAL)
    old = None
    if target.exists():
        old = _make_temp(f".{target.name}.old-", target.parent)
        os.rename(target, old / target.name)
    try:
        os.rename(tmp, target)
    except OSError:
        if old is not None:
            os.rename(old / target.name, target)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _swap_entries(tmp: Path, target: Path) -> None:
    """For an ``--out`` that cannot be renamed: move its entries aside, the new ones in.

    Only entries the old manifest lists are moved aside (``check_ours`` made sure there is
    nothing else); a failure moves everything back.
    """
    old = _make_temp(INNER_PREFIXES[1], target)
    previous = read_manifest(target) or []
    old_tops = sorted({p.rstrip("/").split("/", 1)[0] for p in previous} | {MANIFEST})
    new_tops = sorted(name for name in os.listdir(tmp) if name not in (PARTIAL, MANIFEST))
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in old_tops:
            if (target / name).exists() or (target / name).is_symlink():
                os.rename(target / name, old / name)
                moved_old.append(name)
        for name in [*new_tops, MANIFEST]:
            os.rename(tmp / name, target / name)
            moved_new.append(name)
    except OSError:
        for name in reversed(moved_new):
            with contextlib.suppress(OSError):
                os.rename(target / name, tmp / name)
        for name in reversed(moved_old):
            with contextlib.suppress(OSError):
                os.rename(old / name, target / name)
        if set(os.listdir(old)) <= {PARTIAL}:
            shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
