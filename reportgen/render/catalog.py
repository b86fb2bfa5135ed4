"""Keep the translation catalogs in step with the templates and the Python source.

``python -m reportgen.render.catalog`` extracts every ``_()``/``{% trans %}`` string from
``templates/`` and every ``msg("...")`` sentence from ``reportgen/`` (see
:class:`reportgen.model.Msg`) and merges them into each catalog, keeping existing translations; new
strings arrive with an empty translation, which the test suite rejects until a
translator fills them in.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from reportgen.i18n import CATALOG_LOCALE, DOMAIN, catalog_path
from reportgen.resources import resource_dir

HEADER_COMMENT = (
    "# Interface strings of reportgen's site templates.\n"
    "# Refresh with `python -m reportgen.render.catalog`, then translate the empty entries."
)

_METHOD_MAP = [("**.html", "jinja2.ext:babel_extract")]
_OPTIONS = {
    "**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
}


def template_messages() -> Catalog:
    """Every translatable string in the templates, with where it appears."""
    catalog = Catalog(domain=DOMAIN, project="reportgen")
    templates = resource_dir("templates")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(templates), _METHOD_MAP, _OPTIONS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


_PYTHON_METHOD_MAP = [("**.py", "python")]
_PYTHON_KEYWORDS = {"msg": None}
"""``msg("English sentence with %(field)s", field=...)``: see :class:`reportgen.model.Msg`."""


def python_messages() -> Catalog:
    """Every ``msg(...)`` sentence in reportgen's Python source, with where it appears."""
    catalog = Catalog(domain=DOMAIN, project="reportgen")
    package = Path(__file__).resolve().parent.parent
    for filename, lineno, message, comments, context in extract_from_dir(
        str(package), _PYTHON_METHOD_MAP, keywords=_PYTHON_KEYWORDS
    ):
        catalog.add(
            message,
            None,
            [(f"reportgen/{filename}", lineno)],
            auto_comments=comments,
            context=context,
            flags=("python-format",) if "%(" in str(message) else (),
        )
    return catalog


def all_messages() -> Catalog:
    """The templates' strings, then the Python source's sentences: what a catalog holds."""
    catalog = template_messages()
    for message in python_messages():
        if message.id:
            catalog.add(
                message.id,
                None,
                message.locations,
                auto_comments=message.auto_comments,
                context=message.context,
                flags=message.flags,
            )
    return catalog


def read_catalog(lang: str) -> Catalog:
    with open(catalog_path(lang), "rb") as fh:
        return read_po(fh, locale=CATALOG_LOCALE[lang], domain=DOMAIN)


def update_catalogs() -> list[Path]:
    template = all_messages()
    written = []
    for lang, locale in CATALOG_LOCALE.items():
        path = Path(catalog_path(lang))
        if path.exists():
            catalog = read_catalog(lang)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, domain=DOMAIN, project="reportgen")
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        catalog.obsolete.clear()
        catalog.fuzzy = False
        catalog.header_comment = HEADER_COMMENT
        with path.open("wb") as fh:
            write_po(
                fh, catalog, width=100, omit_header=False, sort_output=False, include_previous=False
            )
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in update_catalogs():
        print(f"updated {written_path}", file=sys.stderr)
