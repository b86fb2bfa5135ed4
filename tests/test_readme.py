"""The README's install-and-run commands are exactly what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(python3 -m venv[^\n]*)\n```", text)


def test_readme_has_the_two_commands() -> None:
    commands = readme_commands()
    assert any(c.endswith("reportgen build") for c in commands)
    assert any(c.endswith("pytest") for c in commands)


def test_ci_runs_the_readme_commands() -> None:
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    for command in readme_commands()[:2]:
        assert command in ci_lines, command
