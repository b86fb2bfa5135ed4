"""Turning a configured ``source`` into a model object (inside the worker process).

A source is a factory (``package.module:function``), a Keras file (``.keras``, ``.h5``)
or a frozen graph (``.pb``, read by :mod:`reportgen.collect.graph_facts`). Files are
checked here before TensorFlow is imported, so that a missing, empty or corrupt file is
one clear line naming the file and the cause.
"""

from __future__ import annotations

import importlib
import sys
import zipfile
from pathlib import Path
from typing import Any

from reportgen.collect.log import CollectFailure, one_line


def load_factory(source: str) -> Any:
    """Import ``package.module:function`` from the current directory or ``PYTHONPATH``."""
    module_name, _, func_name = source.partition(":")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CollectFailure(f"cannot import module {module_name!r} ({one_line(exc)})") from exc
    except Exception as exc:  # the user's module raised while importing
        raise CollectFailure(
            f"importing module {module_name!r} raised {type(exc).__name__}: {one_line(exc)}"
        ) from exc
    factory = getattr(module, func_name, None)
    if factory is None or not callable(factory):
        raise CollectFailure(f"module {module_name!r} has no function {func_name!r}")
    return factory


def build_model(source: str, factory: Any) -> Any:
    """The factory's Keras model; anything else is a one-line failure."""
    import keras

    model = call_factory(source, factory)
    if not isinstance(model, keras.Model):
        raise CollectFailure(f"{source}() returned {type(model).__name__}, not a Keras model")
    return model


def call_factory(source: str, factory: Any) -> Any:
    """Whatever the factory returns (a Keras model, or a graph object; the caller decides)."""
    try:
        return factory()
    except Exception as exc:
        raise CollectFailure(f"{source}() raised {type(exc).__name__}: {one_line(exc)}") from exc


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _looks_like_hdf5(path: Path) -> bool:
    """The HDF5 signature sits at byte 0, or at 512, 1024, 2048... after a user block."""
    with path.open("rb") as fh:
        offset = 0
        while True:
            fh.seek(offset)
            head = fh.read(len(_HDF5_SIGNATURE))
            if len(head) < len(_HDF5_SIGNATURE):
                return False
            if head == _HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2


def check_model_file(path: Path, shown: str) -> None:
    """A missing, unreadable, empty or obviously wrong file, as one line (before TensorFlow).

    ``shown`` is the path as the user wrote it in the configuration.
    """
    # Where it was looked for matters when it is not there: a relative source is resolved
    # against the configuration file's directory, not the current one.
    looked_at = shown if str(path) == shown else f"{shown} ({path})"
    if not path.exists():
        raise CollectFailure(f"{looked_at}: no such file")
    if not path.is_file():
        raise CollectFailure(f"{looked_at}: not a file")
    where = shown
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise CollectFailure(f"{where}: cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise CollectFailure(f"{where}: the file is empty")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise CollectFailure(
                f"{where}: not a Keras file (a .keras file is a zip archive; this one is "
                "corrupt or has another format)"
            )
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise CollectFailure(f"{where}: not a Keras file ({one_line(exc)})") from exc
        if "config.json" not in names:
            raise CollectFailure(f"{where}: not a Keras file (the archive has no config.json)")
        if bad is not None:
            raise CollectFailure(f"{where}: the archive is corrupt ({bad} is damaged)")
    elif suffix in (".h5", ".hdf5") and not _looks_like_hdf5(path):
        raise CollectFailure(
            f"{where}: not an HDF5 file (no HDF5 signature: the file is corrupt or has "
            "another format)"
        )


UNSAFE_LOAD_FLAG = "--unsafe-load"


def load_keras_file(path: Path, shown: str, unsafe: bool = False) -> Any:
    """``keras.saving.load_model`` in safe mode: a file that would run code is refused.

    Loading a ``Lambda`` layer (or anything else Keras's safe mode refuses) executes Python
    code stored in the file, so it needs ``--unsafe-load`` (``unsafe_load`` in the worker's
    request). Nothing is compiled: only the architecture and the weights are needed.
    """
    check_model_file(path, shown)
    import keras

    try:
        model = keras.saving.load_model(str(path), compile=False, safe_mode=not unsafe)
    except Exception as exc:
        message = str(exc)
        if "safe_mode" in message or "unsafe_deserialization" in message:
            what = (
                "a Python lambda in a Lambda layer"
                if "Lambda" in message
                else "an object whose deserialization can run code"
            )
            raise CollectFailure(
                f"{shown}: refused to load: the file contains {what}, and loading it would "
                f"run code from the file; if you trust it, build with {UNSAFE_LOAD_FLAG}"
            ) from exc
        raise CollectFailure(
            f"{shown}: cannot be loaded as a Keras model ({type(exc).__name__}: {one_line(exc)})"
        ) from exc
    if not isinstance(model, keras.Model):
        raise CollectFailure(f"{shown}: holds a {type(model).__name__}, not a Keras model")
    return model
