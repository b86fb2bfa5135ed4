"""Whole output trees compared with committed golden files, as coverage.py's goldtest does.

:func:`compare` scrubs what may change between correct builds (version numbers), then
holds every file of the actual tree against the file of the same name under the gold
directory. A file that differs is saved beside its gold as ``<name>.actual`` (ignored by
git) for a diff; missing and extra files are listed. With ``REPORTGEN_UPDATE_GOLD=1`` the
scrubbed actual tree becomes the gold instead: review the change with ``git diff``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

UPDATE = "REPORTGEN_UPDATE_GOLD"
ACTUAL_SUFFIX = ".actual"

Scrub = tuple[str, str]
"""A regular expression and what replaces it, as for :func:`re.sub`."""

VERSION_SCRUBS: Sequence[Scrub] = (
    # "reportgen 0.1.0", "TensorFlow 2.21.0", "Keras 3.15.1" in a page...
    (r"\b(reportgen|TensorFlow|Keras) \d[\w.+-]*\w", r"\1 [version]"),
    # ...and "reportgen": "0.1.0" in data/<slug>.json's generator.
    (r'"(reportgen|tensorflow|keras)": "[^"]*"', r'"\1": "[version]"'),
)
"""Versions of reportgen and of the TensorFlow that collected the facts."""


def scrub(text: str, scrubs: Iterable[Scrub]) -> str:
    for pattern, replacement in scrubs:
        text = re.sub(pattern, replacement, text)
    return text


def _files(root: Path, skip: Sequence[str]) -> dict[str, Path]:
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and not path.name.endswith(ACTUAL_SUFFIX)
        and not path.relative_to(root).as_posix().startswith(tuple(skip))
    }


def compare(
    actual_dir: Path, gold_dir: Path, scrubs: Iterable[Scrub] = (), skip: Sequence[str] = ()
) -> None:
    """Assert that ``actual_dir`` holds exactly the files of ``gold_dir``, byte for byte
    after ``scrubs``; paths starting with one of ``skip`` are left out on both sides."""
    scrubs = tuple(scrubs)
    actual = {
        name: scrub(path.read_text(encoding="utf-8"), scrubs)
        for name, path in _files(actual_dir, skip).items()
    }
    for stale in gold_dir.rglob(f"*{ACTUAL_SUFFIX}"):
        stale.unlink()
    if os.environ.get(UPDATE):
        _update(actual, gold_dir, skip)
    gold = _files(gold_dir, skip)
    problems = [f"missing, expected by the gold: {name}" for name in sorted(gold.keys() - actual)]
    problems += [f"not in the gold: {name}" for name in sorted(actual.keys() - gold.keys())]
    first_diff: list[str] = []
    for name in sorted(actual.keys() & gold.keys()):
        expected = gold[name].read_text(encoding="utf-8")
        if actual[name] == expected:
            continue
        saved = gold[name].with_name(gold[name].name + ACTUAL_SUFFIX)
        saved.write_text(actual[name], encoding="utf-8")
        problems.append(f"differs: {name} (the actual file is {saved})")
        if not first_diff:
            first_diff = list(
                difflib.unified_diff(
                    expected.splitlines(), actual[name].splitlines(), "gold", "actual", lineterm=""
                )
            )[:40]
    assert not problems, "\n".join(
        [
            f"the output differs from the gold in {gold_dir}:",
            *problems,
            *first_diff,
            f"If the change is intended: {UPDATE}=1 pytest ..., then review `git diff`.",
        ]
    )


def _update(actual: dict[str, str], gold_dir: Path, skip: Sequence[str]) -> None:
    for name, path in _files(gold_dir, skip).items():
        if name not in actual:
            path.unlink()
    for name, text in actual.items():
        target = gold_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
