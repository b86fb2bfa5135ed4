"""A content-addressed cache of collected model folders (``--cache DIR``). No TensorFlow.

Collecting a model costs seconds to minutes; most pushes change none of the models. Each
model's collected folder is stored under a key, the SHA-256 of a canonical JSON document
(:func:`key_material`) holding everything that can change its facts:

- the model's configuration table (:meth:`ModelSpec.to_dict`, minus its absolute paths);
- its source: for a factory, the module file and, followed with :mod:`ast`, every file it
  imports from the project (transitively); for a model file, the file's bytes;
- reportgen's version and the bytes of reportgen's own ``.py`` files;
- the versions of TensorFlow, Keras, keras-hub and the other libraries collect uses (read
  from the installed distributions, without importing them);
- the collect options (profile, ``--unsafe-load``) and the few host traits TensorFlow
  picks kernels by (platform, GPUs visible, AVX-512, the TF/Keras environment switches).

A hit copies the stored folder into the collect output, and no worker starts; a miss is
collected and then stored. An entry is untrusted like any collected folder (the cache
may be restored from a CI cache): it is checked before use (:func:`check_entry`), and a
bad one is removed and collected again, with one warning.

Layout of ``DIR``::

    reportgen-cache.json   marks the folder as a reportgen cache (format version)
    CACHEDIR.TAG           tells backup tools to skip it
    lock                   flock: shared while an entry is read, exclusive to remove one
    entries/<sha256>/      a collected model folder, plus cache-key.json (the key material)
    tmp/                   entries being written; renamed into entries/ in one step

Stores are atomic (written under ``tmp/``, then renamed), so builds that share a cache
never see half an entry; the least recently used entries go when the cache outgrows its
cap (:meth:`CollectCache.finish`, ``reportgen cache prune``).
"""

from __future__ import annotations

import ast
import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import os
import platform
import shutil
import site
import stat
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from reportgen.config import ModelSpec
from reportgen.errors import CollectError, ReportgenError
from reportgen.version import __version__

CACHE_FORMAT = 1
"""Version of the layout and of the key material; a change makes every old key a miss."""
MARKER = "reportgen-cache.json"
ENTRIES = "entries"
TMP = "tmp"
LOCK = "lock"
TAG = "CACHEDIR.TAG"
KEY_FILE = "cache-key.json"
DEFAULT_MAX_MIB = 1024
"""Default cap on the cache's size. The 9 built-in models take about 11 MiB without the
profiler: the cap leaves room for many versions of a project's models."""
STALE_TMP_SECONDS = 3600
"""A half-written entry older than this was left by a build that died: removed."""
_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by reportgen (reportgen build --cache).\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
_OWN_NAMES = {MARKER, ENTRIES, TMP, LOCK, TAG}
_ARTICLES = ("article.en.md", "article.zh.md")
"""Not stored: articles are prose, not facts; every build copies them from the configuration."""
_SPEC_PATHS = ("article_en", "article_zh", "article_root", "source_path")
"""Absolute paths of this checkout: left out of the key, so that a cache is shared between
checkouts; the model file a ``source_path`` names is in the key by its bytes."""
FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "tensorflow": (
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-macos",
        "tensorflow-intel",
        "tf-nightly",
    ),
    "keras": ("keras", "keras-nightly"),
    "keras-hub": ("keras-hub", "keras-hub-nightly"),
    "tensorflow-text": ("tensorflow-text",),
    "numpy": ("numpy",),
    "xprof": ("xprof",),
}
"""The libraries whose version can change collected facts (name → distributions that
provide it); each is read with :mod:`importlib.metadata`, never imported."""
ENVIRONMENT = (
    "CUDA_VISIBLE_DEVICES",
    "KERAS_BACKEND",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_USE_LEGACY_KERAS",
)
"""Environment variables that change which devices and kernels TensorFlow uses."""


# --- the key ---------------------------------------------------------------------------


def canonical_json(data: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(data: Any) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    material: dict[str, Any]

    @property
    def digest(self) -> str:
        return digest(self.material)


@dataclass(frozen=True)
class Environment:
    """What is the same for every model of one run: versions, reportgen's source, host."""

    reportgen: dict[str, str]
    frameworks: dict[str, str | None]
    host: dict[str, Any]

    @classmethod
    def current(cls) -> Environment:
        return cls(
            reportgen={"version": __version__, "source": reportgen_source_digest()},
            frameworks=framework_versions(),
            host=host_traits(),
        )


@functools.cache
def reportgen_source_digest() -> str:
    """SHA-256 over reportgen's own ``.py`` files (relative path and bytes, sorted).

    The version alone is not enough: a checkout or an editable install changes the
    collector between releases without a version bump, and facts collected by the old
    code must not be served as the new code's.
    """
    return package_digest(Path(__file__).resolve().parent)


def package_digest(package: Path) -> str:
    """SHA-256 over the ``.py`` files under ``package`` (relative path and bytes, sorted)."""
    sha = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        sha.update(path.relative_to(package).as_posix().encode() + b"\0")
        sha.update(path.read_bytes() + b"\0")
    return sha.hexdigest()


def framework_versions() -> dict[str, str | None]:
    """``{"tensorflow": "tensorflow==2.21.0", ..., "keras-hub": None}`` (None: not installed)."""
    found: dict[str, str | None] = {}
    for name, distributions in FRAMEWORKS.items():
        found[name] = None
        for distribution in distributions:
            try:
                found[name] = f"{distribution}=={metadata.version(distribution)}"
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def host_traits() -> dict[str, Any]:
    """The host's traits that change what TensorFlow measures (devices, kernels)."""
    return {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "platform": sys.platform,
        "machine": platform.machine(),
        "gpus": len(list(Path("/dev").glob("nvidia[0-9]*"))) if sys.platform == "linux" else 0,
        # TensorFlow turns oneDNN's fused kernels on by default only where the CPU has
        # AVX-512, and they allocate differently (see tests/test_tf_cli.py's scrub).
        "avx512": _has_avx512(),
        "environment": {name: os.environ.get(name) for name in ENVIRONMENT},
    }


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def key_material(
    spec: ModelSpec,
    *,
    profile: bool,
    unsafe_load: bool,
    environment: Environment,
    project_dirs: Sequence[Path],
    search_path: Sequence[Path] | None = None,
) -> dict[str, Any]:
    """Everything that can change the facts of ``spec`` (see the module's docstring)."""
    table = {k: v for k, v in sorted(spec.to_dict().items()) if k not in _SPEC_PATHS}
    return {
        "cache_format": CACHE_FORMAT,
        "spec": table,
        "source": source_fingerprint(spec, project_dirs, search_path),
        "reportgen": environment.reportgen,
        "frameworks": environment.frameworks,
        "host": environment.host,
        "options": {"profile": profile, "unsafe_load": unsafe_load},
    }


def source_fingerprint(
    spec: ModelSpec, project_dirs: Sequence[Path], search_path: Sequence[Path] | None = None
) -> list[list[str]]:
    """``[[label, sha256], ...]`` of the files the model comes from, in a fixed order.

    A factory: its module and the project files it imports (:func:`factory_files`); the
    label is the path relative to the import root, so two checkouts share keys. A model
    file (or a model folder): its files' bytes, labelled as configured.
    """
    if spec.kind == "factory":
        module = spec.source.partition(":")[0]
        roots = list(search_path) if search_path is not None else import_roots()
        return [
            [label, file_digest(path)] for label, path in factory_files(module, roots, project_dirs)
        ]
    path = Path(spec.source_path or spec.source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return [[f"{spec.source}/{p.relative_to(path).as_posix()}", file_digest(p)] for p in files]
    if path.is_file():
        return [[spec.source, file_digest(path)]]
    return [[spec.source, "missing"]]


def file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    return sha.hexdigest()


def import_roots() -> list[Path]:
    """Where the collect worker finds a factory's module: the current directory (the worker
    puts it first), then ``PYTHONPATH`` and the rest of this interpreter's path."""
    roots = [Path.cwd()]
    roots += [Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    roots += [Path(p) for p in sys.path if p]
    unique: dict[Path, None] = {}
    for root in roots:
        with contextlib.suppress(OSError):
            if root.is_dir():
                unique.setdefault(root.resolve(), None)
    return list(unique)


@dataclass(frozen=True)
class _Module:
    name: str
    root: Path
    files: tuple[Path, ...]
    """The package ``__init__.py`` files on the way (they run on import), then the module's."""

    @property
    def path(self) -> Path:
        return self.files[-1]

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def find_module(name: str, roots: Sequence[Path]) -> _Module | None:
    """The file ``import name`` loads from ``roots``, found without importing anything.

    Importing would run the user's package code (and TensorFlow) in the parent process:
    the path is resolved root by root, the way Python's path finder finds source files (a
    folder without ``__init__.py`` is entered as a namespace package). Anything else (an
    extension module, a module that does not exist) is None: its key then holds only the
    module's name, and the worker says why it cannot be imported.
    """
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    for root in roots:
        found = _find_under(root, parts)
        if found is not None:
            return _Module(name, root, found)
    return None


def _find_under(root: Path, parts: list[str]) -> tuple[Path, ...] | None:
    folder, inits = root, []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        package = folder / part
        if (package / "__init__.py").is_file():
            inits.append(package / "__init__.py")
            folder = package
            if last:
                return tuple(inits)
            continue
        if (folder / f"{part}.py").is_file():
            return (*inits, folder / f"{part}.py") if last else None
        if package.is_dir() and not last:  # a namespace package: no __init__.py
            folder = package
            continue
        return None
    return None


def factory_files(
    module: str, roots: Sequence[Path], project_dirs: Sequence[Path]
) -> list[tuple[str, Path]]:
    """The factory's module and, transitively, every module it imports from the project.

    An import is followed when it resolves to a file inside one of ``project_dirs`` (the
    configuration's folder and the current one) and outside the Python installation
    (site-packages, the standard library): those are covered by the versions in the key.
    reportgen's own modules are covered by its source digest, except when they are the
    project (the built-in models, whose configuration lives in ``reportgen/zoo``).
    Imports inside functions count: factories import lazily. Sorted by label.
    """
    project = [d.resolve() for d in project_dirs]
    environment = _environment_dirs()
    own = Path(__file__).resolve().parent

    def followed(path: Path) -> bool:
        path = path.resolve()
        if not any(path.is_relative_to(d) for d in project):
            return False
        if any(path.is_relative_to(d) for d in environment):
            return False
        if {"site-packages", "dist-packages"} & set(path.parts):
            return False
        return not path.is_relative_to(own) or any(
            d.is_relative_to(own) and path.is_relative_to(d) for d in project
        )

    files: dict[Path, str] = {}
    start = find_module(module, roots)
    if start is None:
        return [(f"<module {module} not found as a source file>", Path(os.devnull))]
    queue, seen = [start], {start.name}
    while queue:
        current = queue.pop()
        for path in current.files:
            if path == current.path or followed(path):
                files.setdefault(path, _label(path, current.root))
        for name in sorted(_imported_names(current)):
            if name in seen:
                continue
            seen.add(name)
            found = find_module(name, [current.root, *roots])
            if found is not None and followed(found.path):
                queue.append(found)
    return sorted((label, path) for path, label in files.items())


def _label(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _environment_dirs() -> list[Path]:
    """The standard library's and the installed packages' folders, of the environment and
    of the Python it was made from. Not the whole prefix: with a system Python (prefix
    ``/usr``) a project in ``/usr/src/app`` would never be followed."""
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    bases = [
        {},
        {"base": sys.base_prefix, "platbase": sys.base_exec_prefix},
    ]
    found = {sysconfig.get_path(name, vars=base) for base in bases for name in names}
    found.update(site.getsitepackages())
    found.add(site.getusersitepackages())
    return sorted(Path(p).resolve() for p in found if p)


def _imported_names(module: _Module) -> set[str]:
    """The module names an ``import`` or ``from ... import`` in the file may load."""
    try:
        tree = ast.parse(module.path.read_bytes(), filename=str(module.path))
    except (SyntaxError, ValueError, OSError):
        return set()  # the worker reports it; the file's bytes are in the key anyway
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                if node.level - 1 > len(anchor):
                    continue
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if not base:
                continue
            parts = base.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


# --- entries ---------------------------------------------------------------------------


def check_entry(entry: Path, spec: ModelSpec, material: Mapping[str, Any]) -> None:
    """Refuse an entry that is not exactly a collected folder of ``spec`` under this key.

    Checked like any collected folder from elsewhere: only plain files and folders (no
    link, nothing that leads out), the key it was stored under, the facts file read
    against its schema (:func:`reportgen.facts.read_facts`), and facts that belong to this
    model, configuration and options. Raises :class:`ReportgenError` with the cause.
    """
    from reportgen.collect import COLLECTED_MARKER
    from reportgen.facts import read_facts
    from reportgen.jsonfile import load_json

    info = entry.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise ReportgenError("it is not a folder")
    for folder, dirs, names in os.walk(entry):
        for name in [*dirs, *names]:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                what = "a symbolic link" if stat.S_ISLNK(mode) else "not a plain file"
                rel = Path(folder, name).relative_to(entry).as_posix()
                raise ReportgenError(f"{rel} is {what}")
    if not (entry / COLLECTED_MARKER).is_file():
        raise ReportgenError(f"no {COLLECTED_MARKER}")
    if not (entry / KEY_FILE).is_file():
        raise ReportgenError(f"no {KEY_FILE}")
    if load_json(entry / KEY_FILE, 1 << 20, 32, "cache key file") != material:
        raise ReportgenError("it was stored under another key")
    facts = read_facts(entry / "facts.json")
    if facts.slug != spec.slug:
        raise ReportgenError(f"it holds the model {facts.slug!r}")
    expected = (spec.source, spec.batch_size, {"en": spec.title_en, "zh": spec.title_zh})
    if (facts.source, facts.batch_size, facts.title) != expected:
        raise ReportgenError("its facts are of another configuration of the model")
    if facts.profile is not None:
        if not material["options"]["profile"]:
            raise ReportgenError("its facts were profiled, and this build does not profile")
        for relative in (facts.profile.trace_file, facts.profile.profile_dir):
            if relative is not None:
                _inside(entry, relative)


def _inside(root: Path, relative: str) -> None:
    from reportgen.facts import collected_path

    target = collected_path(root, relative)
    if target is None or not target.exists():
        raise ReportgenError(f"its facts name {relative!r}, which is not inside the entry")


def entry_size(entry: Path) -> int:
    total = 0
    for folder, _, names in os.walk(entry):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _short(message: str, entry: Path) -> str:
    """A cause without the entry's own path (the warning names the model)."""
    return message.replace(f"{entry}/", "").replace(str(entry), "the entry")


# --- the cache folder ----------------------------------------------------------------


@dataclass(frozen=True)
class PruneResult:
    removed: int
    removed_bytes: int
    kept: int
    kept_bytes: int


class Cache:
    """A cache folder, checked and ready to be written (:meth:`open`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries = root / ENTRIES
        self.tmp = root / TMP

    @classmethod
    def open(cls, root: Path, create: bool = True) -> Cache:
        """The cache at ``root``, created when missing; one-line :class:`ReportgenError`
        when it cannot be written or holds anything else (a prune would delete it)."""
        where = f"the cache folder {root}"
        try:
            if create:
                root.mkdir(parents=True, exist_ok=True)
            if not root.is_dir():
                raise ReportgenError(f"{where} is not a folder")
            marker = root / MARKER
            links = sorted(name for name in _OWN_NAMES if (root / name).is_symlink())
            if links:
                # A cache may be restored from elsewhere: never write through a link.
                raise ReportgenError(f"{where}: {links[0]} is a symbolic link")
            foreign = sorted(
                p.name
                for p in root.iterdir()
                if p.name not in _OWN_NAMES and not p.name.startswith(f".{MARKER}.")
            )
            if not marker.exists() and foreign:
                raise ReportgenError(
                    f"{where} holds {foreign[0]!r} and is no reportgen cache "
                    "(no reportgen-cache.json): give an empty or new folder"
                )
            if marker.exists():
                _check_marker(marker, where)
            elif create:
                _write_atomic(marker, canonical_json({"format": CACHE_FORMAT}) + b"\n")
            else:
                raise ReportgenError(f"{where} is no reportgen cache (no {MARKER})")
            for folder in (root / ENTRIES, root / TMP):
                folder.mkdir(exist_ok=True)
                if not folder.is_dir():
                    raise ReportgenError(f"{where}: {folder.name} is not a plain folder")
            if not (root / TAG).exists():
                _write_atomic(root / TAG, _TAG_TEXT.encode())
            (root / LOCK).touch()
            probe, probe_path = tempfile.mkstemp(prefix="probe-", dir=root / TMP)
            os.close(probe)
            os.unlink(probe_path)
        except OSError as exc:
            cause = exc.strerror or type(exc).__name__
            raise ReportgenError(f"{where} cannot be written ({cause})") from exc
        return cls(root)

    @contextlib.contextmanager
    def locked(self, exclusive: bool) -> Iterator[None]:
        """Shared while an entry is read, exclusive while entries are removed."""
        with (self.root / LOCK).open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def fetch(self, key: CacheKey, spec: ModelSpec, dest: Path) -> str | None:
        """Copy the entry of ``key`` into ``dest``: None on a hit, ``"missing"`` when there is
        none, else why it was refused (the entry is then removed)."""
        entry = self.entries / key.digest
        with self.locked(exclusive=False):
            if not os.path.lexists(entry):
                return "missing"
            try:
                check_entry(entry, spec, key.material)
                _replace_collected(dest)
                shutil.copytree(entry, dest, ignore=_not_copied)
                os.utime(entry)  # the last use, for the LRU order
                return None
            except (ReportgenError, OSError) as exc:
                cause = _short(str(exc), entry)
        with contextlib.suppress(OSError):
            _replace_collected(dest)
        self.discard(key.digest)
        return cause

    def store(self, key: CacheKey, collected: Path, replace: bool = False) -> None:
        """Store a collected folder under ``key`` in one step (write aside, then rename).

        When another build stored the same key first, its entry stays (the same facts);
        ``replace`` (``--no-cache``) puts this one in its place.
        """
        work = Path(tempfile.mkdtemp(prefix="store-", dir=self.tmp))
        try:
            body = work / "entry"
            shutil.copytree(collected, body, ignore=_not_stored)
            (body / KEY_FILE).write_bytes(canonical_json(key.material))
            target = self.entries / key.digest
            if replace and os.path.lexists(target):
                with self.locked(exclusive=True):
                    with contextlib.suppress(FileNotFoundError):
                        os.rename(target, work / "old")
                    os.rename(body, target)
                return
            try:
                os.rename(body, target)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def discard(self, name: str) -> None:
        """Remove an entry: renamed out of ``entries/`` first, so no half of it stays there."""
        with self.locked(exclusive=True):
            entry = self.entries / name
            if not os.path.lexists(entry):
                return
            trash = Path(tempfile.mkdtemp(prefix="discard-", dir=self.tmp))
            try:
                os.rename(entry, trash / "entry")
            finally:
                shutil.rmtree(trash, ignore_errors=True)

    def prune(self, max_bytes: int, keep: frozenset[str] = frozenset()) -> PruneResult:
        """Remove the least recently used entries until the rest fit in ``max_bytes``.

        Entries named in ``keep`` (those this build used) stay even past the cap: a build
        never evicts what it is about to publish, nor thrashes when one build's models
        outgrow the cap. Half-written entries of builds that died go too.
        """
        with self.locked(exclusive=True):
            self._remove_stale_tmp()
            entries = []
            for entry in self.entries.iterdir():
                try:
                    info = entry.lstat()
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(info.st_mode):
                    with contextlib.suppress(OSError):
                        entry.unlink()
                    continue
                entries.append((info.st_mtime, entry.name, entry_size(entry)))
            total = sum(size for _, _, size in entries)
            removed = removed_bytes = 0
            for _, name, size in sorted(entries):  # oldest use first
                if total <= max_bytes:
                    break
                if name in keep:
                    continue
                trash = Path(tempfile.mkdtemp(prefix="evict-", dir=self.tmp))
                try:
                    os.rename(self.entries / name, trash / "entry")
                finally:
                    shutil.rmtree(trash, ignore_errors=True)
                total -= size
                removed, removed_bytes = removed + 1, removed_bytes + size
        return PruneResult(removed, removed_bytes, len(entries) - removed, total)

    def _remove_stale_tmp(self) -> None:
        now = time.time()
        for item in self.tmp.iterdir():
            with contextlib.suppress(OSError):
                if now - item.lstat().st_mtime > STALE_TMP_SECONDS:
                    if item.is_dir() and not item.is_symlink():
                        shutil.rmtree(item, ignore_errors=True)
                    else:
                        item.unlink()


def _check_marker(marker: Path, where: str) -> None:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportgenError(f"{where}: {MARKER} is unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        raise ReportgenError(
            f"{where} was made by a reportgen with another cache format "
            f"({data.get('format') if isinstance(data, dict) else data!r}); "
            "give another folder, or delete it"
        )


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _replace_collected(dest: Path) -> None:
    """Make room at ``dest``: only a folder collect made (checked before by the caller)."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)


def _not_stored(folder: str, names: list[str]) -> list[str]:
    """copytree's ignore when storing: no article (prose, copied afresh), no link."""
    return [n for n in names if n in _ARTICLES or os.path.islink(os.path.join(folder, n))]


def _not_copied(folder: str, names: list[str]) -> list[str]:
    """copytree's ignore when fetching: the key file and any article stay in the cache."""
    return [n for n in names if n == KEY_FILE or n in _ARTICLES]


# --- one build's use of the cache -----------------------------------------------------

OnDone = Callable[[ModelSpec, Path | None, CollectError | None], None]


@dataclass
class CollectCache:
    """The cache as one ``build``/``collect`` uses it: look up, store, then cap it.

    ``read`` False (``--no-cache``): nothing is taken from the cache, every model is
    collected, and what is collected replaces the stored entries (a cold build that
    refreshes the cache).
    """

    cache: Cache
    profile: bool
    unsafe_load: bool
    project_dirs: tuple[Path, ...]
    max_bytes: int = DEFAULT_MAX_MIB * 2**20
    read: bool = True
    log: Callable[[str], None] = lambda line: None
    verbose: bool = False
    environment: Environment = field(default_factory=Environment.current)
    keys: dict[str, CacheKey] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def key(self, spec: ModelSpec) -> CacheKey:
        if spec.slug not in self.keys:
            material = key_material(
                spec,
                profile=self.profile,
                unsafe_load=self.unsafe_load,
                environment=self.environment,
                project_dirs=self.project_dirs,
            )
            self.keys[spec.slug] = CacheKey(material)
        return self.keys[spec.slug]

    def lookup(self, specs: Sequence[ModelSpec], out: Path) -> list[ModelSpec]:
        """Copy every hit into ``out/<slug>/``; return the models still to collect."""
        from reportgen.collect import _copy_articles

        for spec in specs:  # the sources as they are now, before any worker reads them
            self.key(spec)
        if not self.read:
            count = f"{len(specs)} model{'s' if len(specs) != 1 else ''}"
            self.log(f"cache not read (--no-cache): {count} to collect, then stored")
            return list(specs)
        misses = []
        out.mkdir(parents=True, exist_ok=True)
        for spec in specs:
            key = self.key(spec)
            dest = out / spec.slug
            refused = self.cache.fetch(key, spec, dest)
            if refused is None:
                try:
                    _copy_articles(spec, dest)
                except CollectError:  # the worker reports it, as without a cache
                    _replace_collected(dest)
                    refused = "missing"
            if refused is None:
                self.used.add(key.digest)
                self.log(f"cache hit: {spec.slug}{self._detail(key)}")
                continue
            if refused != "missing":
                self.log(
                    f"reportgen: warning: cache entry for {spec.slug} was unreadable "
                    f"({refused}); collecting it again"
                )
            else:
                self.log(f"cache miss: {spec.slug}{self._detail(key)}")
            misses.append(spec)
        return misses

    def _detail(self, key: CacheKey) -> str:
        return f" (key {key.digest[:12]})" if self.verbose else ""

    def storing(self, on_done: OnDone | None) -> OnDone:
        """``collect_models``'s callback: store each collected model, then pass it on.

        A model is stored as soon as it is collected, so an interrupted build keeps what
        it finished. A failure to store is a warning: the build goes on without it.
        """

        def done(spec: ModelSpec, path: Path | None, error: CollectError | None) -> None:
            if path is not None and error is None:
                key = self.key(spec)
                try:
                    self.cache.store(key, path, replace=not self.read)
                    self.used.add(key.digest)
                except OSError as exc:
                    self.log(
                        f"reportgen: warning: could not store {spec.slug} in the cache "
                        f"({exc.strerror or exc})"
                    )
            if on_done is not None:
                on_done(spec, path, error)

        return done

    def finish(self) -> None:
        """Cap the cache (least recently used first), keeping what this build used."""
        try:
            self.cache.prune(self.max_bytes, frozenset(self.used))
        except OSError as exc:
            self.log(f"reportgen: warning: could not trim the cache ({exc.strerror or exc})")
