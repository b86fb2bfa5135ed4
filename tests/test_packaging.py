"""A plain (non-editable) install carries templates, catalogs, schema, and the built-in
models' configuration with their articles."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from reportgen.config import BUILTIN_CONFIG

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_templates_and_catalogs(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("reportgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").rglob("*"):
        if template.is_file():
            assert f"reportgen/templates/{template.relative_to(ROOT / 'templates')}" in names
    assert "reportgen/locales/zh_Hans/LC_MESSAGES/messages.po" in names
    assert "reportgen/schema/report.schema.json" in names
    # The built-in models' configuration and every article it names.
    assert "reportgen/zoo/reportgen.toml" in names
    for model in tomllib.loads(BUILTIN_CONFIG.read_text(encoding="utf-8"))["models"]:
        for article in model["article"].values():
            assert f"reportgen/zoo/{article}" in names, article
