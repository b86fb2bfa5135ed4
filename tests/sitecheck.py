"""Site-wide structural checks shared by the render and end-to-end tests."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup


def parse(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def broken_links(site: Path) -> list[str]:
    """Every relative href/src in every page that does not resolve to a file (and fragment)."""
    problems = []
    ids_cache: dict[Path, set[str]] = {}

    def ids(page: Path) -> set[str]:
        if page not in ids_cache:
            ids_cache[page] = {str(tag["id"]) for tag in parse(page).find_all(id=True)}
        return ids_cache[page]

    for page in sorted(site.rglob("*.html")):
        soup = parse(page)
        for tag in soup.find_all(["a", "link", "img", "script"]):
            url = tag.get("href") or tag.get("src")
            if not url:
                continue
            parts = urlsplit(str(url))
            if parts.scheme or parts.netloc:
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.is_file():
                problems.append(f"{page.relative_to(site)}: {url} -> missing file")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in ids(target):
                problems.append(f"{page.relative_to(site)}: {url} -> missing #{parts.fragment}")
    return problems
