"""Every sentence (templates and `msg()` in the source) has a safe Chinese translation."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from reportgen.i18n import translations
from reportgen.render.catalog import all_messages, read_catalog

PLACEHOLDER = re.compile(r"%\(\w+\)s")


def test_every_template_string_is_translated() -> None:
    catalog = read_catalog("zh")
    missing = [
        m.id
        for m in all_messages()
        if m.id and not (catalog.get(m.id) and catalog.get(m.id).string)
    ]
    assert missing == [], "run `python -m reportgen.render.catalog` and translate these"


def test_no_stale_translations() -> None:
    wanted = {m.id for m in all_messages() if m.id}
    stale = [m.id for m in read_catalog("zh") if m.id and m.id not in wanted]
    assert stale == []


def test_placeholders_survive_translation() -> None:
    for message in read_catalog("zh"):
        if message.id:
            wanted = sorted(PLACEHOLDER.findall(str(message.id)))
            assert sorted(PLACEHOLDER.findall(str(message.string))) == wanted, message.id


def test_strings_hold_no_markup() -> None:
    """Translated strings are inserted as trusted HTML (only their %(…)s values are escaped):
    a literal ``<`` or ``&`` in one becomes markup. Pass such text in as a value instead."""
    for message in read_catalog("zh"):
        if not message.id:
            continue  # the catalog's header
        for text in (str(message.id), str(message.string)):
            assert "<" not in text and "&" not in text, message.id


def test_compiled_catalog_translates() -> None:
    assert translations("zh").gettext("Architecture") == "网络结构"
    assert translations("en").gettext("Architecture") == "Architecture"


def test_every_msg_sentence_is_a_literal_the_extractor_can_see() -> None:
    """``msg(f"...")`` or ``msg(variable)`` would reach pages untranslated."""
    package = Path(__file__).resolve().parent.parent / "reportgen"
    bad = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "msg"
                and not (
                    node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                )
            ):
                bad.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    assert bad == []
