"""Model articles are untrusted text: what an article file is, and what its Markdown holds.

A collected folder can be another CI job's artifact, and a configuration names article
files by path: an article that is a link, a device, a directory, too long or not UTF-8 is
refused with one line naming it, before anything is published; the Markdown of an article
goes through an allow-list, so no script, event handler or ``javascript:`` URL reaches a
page. No TensorFlow here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag

from reportgen.articles import MAX_ARTICLE_BYTES, article_root, read_article
from reportgen.cli import main
from reportgen.config import ModelSpec, builtin_config, load_config
from reportgen.errors import ConfigError, ReportgenError
from reportgen.render.site import render_markdown
from tests.handmade import lenet_facts

SECRET = "SECRET_TOKEN=abc"


def collected(tmp_path: Path) -> Path:
    """``tmp_path/collected/lenet`` with hand-made facts and no article yet."""
    model_dir = tmp_path / "collected" / "lenet"
    model_dir.mkdir(parents=True)
    (model_dir / "facts.json").write_text(lenet_facts().to_json(), encoding="utf-8")
    return model_dir


def render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(tmp_path)  # no configuration here: the built-in one gives the order
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    return main(["render", "collected/lenet", "--out", "site", "--quiet"])


def refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reason: str,
) -> str:
    """Render must fail with one line naming the English article and ``reason``."""
    assert render(tmp_path, monkeypatch) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("reportgen: error: collected/lenet/article.en.md: " + reason), err
    assert err.count("\n") == 1, err
    assert "an article must be a regular UTF-8 file" in err
    assert not (tmp_path / "site").exists()
    assert SECRET not in captured.out + err
    return err


# --- the collected folder: what the article file is ---------------------------------------


def test_a_link_to_a_file_outside_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = collected(tmp_path)
    secret = tmp_path / "secret.env"
    secret.write_text(SECRET + "\n")
    os.symlink(secret, model_dir / "article.en.md")
    refused(tmp_path, monkeypatch, capsys, "is a symbolic link")
    assert not any(SECRET in p.read_text("utf-8", "replace") for p in tmp_path.rglob("*.html"))


def test_a_link_inside_the_folder_is_refused_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = collected(tmp_path)
    (model_dir / "real.md").write_text("## Fine\n")
    os.symlink("real.md", model_dir / "article.en.md")
    refused(tmp_path, monkeypatch, capsys, "is a symbolic link")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="no /proc")
def test_a_link_to_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    model_dir = collected(tmp_path)
    os.symlink("/proc/self/environ", model_dir / "article.en.md")
    refused(tmp_path, monkeypatch, capsys, "is a symbolic link")


def test_a_linked_directory_leading_out_is_refused(tmp_path: Path) -> None:
    model_dir = collected(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "article.en.md").write_text(SECRET)
    os.symlink(outside, model_dir / "docs")
    with pytest.raises(ReportgenError, match="leads outside") as info:
        read_article(model_dir / "docs" / "article.en.md", model_dir)
    assert SECRET not in str(info.value)


def test_a_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (collected(tmp_path) / "article.en.md").mkdir()
    refused(tmp_path, monkeypatch, capsys, "is a directory, not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(collected(tmp_path) / "article.en.md")
    refused(tmp_path, monkeypatch, capsys, "is a FIFO, not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_read_article_opens_nothing_that_blocks(tmp_path: Path) -> None:
    """Past the checks, the open itself neither follows a link nor waits on a FIFO."""
    import reportgen.articles as articles

    fifo = tmp_path / "a.md"
    os.mkfifo(fifo)
    link = tmp_path / "b.md"
    link.symlink_to("/etc/hostname")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(articles, "article_problem", lambda path, root: None)
        with pytest.raises(ReportgenError, match="is a FIFO"):
            read_article(fifo, tmp_path)
        with pytest.raises(ReportgenError, match="is a symbolic link"):
            read_article(link, tmp_path)


def test_an_oversize_article_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (collected(tmp_path) / "article.en.md").write_bytes(b"a" * (MAX_ARTICLE_BYTES + 1))
    refused(tmp_path, monkeypatch, capsys, f"is {MAX_ARTICLE_BYTES + 1} bytes, more than")


def test_an_article_of_exactly_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"a" * MAX_ARTICLE_BYTES)
    assert len(read_article(path, tmp_path)) == MAX_ARTICLE_BYTES


def test_an_article_that_is_not_utf8_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (collected(tmp_path) / "article.en.md").write_bytes("## 中文\n".encode("gb18030"))
    refused(tmp_path, monkeypatch, capsys, "is not UTF-8 text (byte 3 is 0xd6)")


def test_the_chinese_article_is_checked_as_well(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = collected(tmp_path)
    (model_dir / "article.en.md").write_text("## Fine\n")
    os.symlink("/etc/passwd", model_dir / "article.zh.md")
    assert render(tmp_path, monkeypatch) == 1
    err = capsys.readouterr().err
    assert err.startswith("reportgen: error: collected/lenet/article.zh.md: is a symbolic link")
    assert not (tmp_path / "site").exists()


def test_plain_articles_still_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = collected(tmp_path)
    (model_dir / "article.en.md").write_bytes(b"## Why\r\n\r\nEnglish *prose*.\r\n")
    (model_dir / "article.zh.md").write_text("## 为什么\n\n中文**文章**。\n", encoding="utf-8")
    assert render(tmp_path, monkeypatch) == 0, capsys.readouterr().err
    en = BeautifulSoup((tmp_path / "site/en/lenet.html").read_text("utf-8"), "html.parser")
    zh = BeautifulSoup((tmp_path / "site/zh/lenet.html").read_text("utf-8"), "html.parser")
    assert en.find("h2", string="Why") is not None
    assert en.find("em", string="prose") is not None
    assert zh.find("h2", string="为什么") is not None
    assert zh.find("strong", string="文章") is not None


def test_no_article_at_all_is_still_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    collected(tmp_path)
    assert render(tmp_path, monkeypatch) == 0, capsys.readouterr().err
    assert (tmp_path / "site/en/lenet.html").is_file()


def test_builtin_articles_are_read_from_the_package() -> None:
    for spec in builtin_config().models:
        for path in (spec.article_en, spec.article_zh):
            assert path is not None
            assert read_article(Path(path), article_root(spec, path)).startswith("## ")


# --- the Markdown: what the article says ----------------------------------------------------

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "script in a paragraph": "Hello <script>alert(1)</script> world",
    "img onerror": "<img src=x onerror=alert(1)>",
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "javascript link": "[x](javascript:alert(1))",
    "JAVASCRIPT link": "[x](JAVASCRIPT:alert(1))",
    "javascript with a tab": "[x](java\tscript:alert(1))",
    "raw javascript with a tab": '<a href="java&#9;script:alert(1)">x</a>',
    "raw javascript with a newline": '<a href=" java\nscript:alert(1)">x</a>',
    "data link": "[x](data:text/html,<script>alert(1)</script>)",
    "javascript image": "![x](javascript:alert(1))",
    "data image": "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "reference link": "[x][evil]\n\n[evil]: javascript:alert(1)",
    "raw javascript anchor": '<a href="javascript:alert(1)">x</a>',
    "entity-encoded javascript": '<a href="&#106;avascript:alert(1)">x</a>',
    "vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "event handler": '<p onclick="alert(1)" onmouseover="alert(1)">x</p>',
    "svg onload": "<svg onload=alert(1)><circle r=1 /></svg>",
    "style tag": "<style>body{display:none}</style>",
    "style attribute": '<p style="background:url(javascript:alert(1))">x</p>',
    "object": '<object data="javascript:alert(1)"></object>',
    "form": '<form action="javascript:alert(1)"><button>go</button></form>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "base": '<base href="javascript:alert(1)//">',
    "cell style": '<table><tr><td style="text-align: left; background: red">x</td></tr></table>',
    "code class": '<pre><code class="language-py hijack">x</code></pre>',
    "comment": "<!-- <script>alert(1)</script> -->",
}

_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "xlink:href"}
_BAD_SCHEMES = ("javascript:", "data:", "vbscript:")


def as_browser_reads(url: str) -> str:
    """A URL as the WHATWG URL parser sees its scheme: C0 and spaces trimmed, tabs and
    newlines removed anywhere, lower case."""
    trimmed = url.strip("".join(chr(c) for c in range(0x21)))
    return "".join(c for c in trimmed if c not in "\t\n\r").lower()


def assert_harmless(soup: Tag) -> None:
    """No script, no event handler, no script or data URL, no frame, no style."""
    for name in ("script", "iframe", "object", "embed", "form", "meta", "base", "style", "svg"):
        assert soup.find(name) is None, name
    for tag in soup.find_all(True):
        for attr, value in tag.attrs.items():
            assert not attr.lower().startswith("on"), (tag.name, attr)
            text = " ".join(value) if isinstance(value, list) else value
            if attr in _URL_ATTRIBUTES:
                assert not as_browser_reads(text).startswith(_BAD_SCHEMES), text
            if attr == "style":
                assert text in {f"text-align: {side};" for side in ("left", "center", "right")}
            if attr == "class" and tag.name == "code":
                assert value == ["language-python"], value


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_markdown_is_made_harmless(name: str) -> None:
    html = str(render_markdown(HOSTILE[name]))
    assert_harmless(BeautifulSoup(html, "html.parser"))
    if name != "javascript with a tab":  # left a relative URL: java%20%20%20%20script:alert(1)
        assert "alert(1)" not in html


def test_raw_html_keeps_its_words_and_allowed_tags() -> None:
    html = str(render_markdown('<div onclick="x">kept <span>words</span></div>\n\nx<sup>2</sup>'))
    soup = BeautifulSoup(html, "html.parser")
    assert "kept" in soup.get_text() and "words" in soup.get_text()
    assert soup.find("div") is None and soup.find("span") is None
    assert soup.find("sup", string="2") is not None


def test_hostile_article_on_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = collected(tmp_path)
    (model_dir / "article.en.md").write_text("\n\n".join(HOSTILE.values()), encoding="utf-8")
    (model_dir / "article.zh.md").write_text("## 文章\n\n" + HOSTILE["script"], encoding="utf-8")
    assert render(tmp_path, monkeypatch) == 0, capsys.readouterr().err
    for lang in ("en", "zh"):
        html = (tmp_path / "site" / lang / "lenet.html").read_text("utf-8")
        soup = BeautifulSoup(html, "html.parser")
        assert not [s for s in soup.find_all("script") if "alert" in (s.string or "")]
        article = soup.find("section", id="introduction")
        assert article is not None
        assert_harmless(article)
        assert lang == "en" or article.find("h2", string="文章") is not None
        for tag in soup.find_all(True):
            for attr, value in tag.attrs.items():
                assert not attr.lower().startswith("on"), (lang, tag.name, attr)
                if attr in _URL_ATTRIBUTES:
                    assert not as_browser_reads(str(value)).startswith(_BAD_SCHEMES)
        assert "alert(1)</script>" not in html


def test_good_markdown_still_renders() -> None:
    text = (
        "## 表格 Tables\n\n"
        "| layer | params |\n|:--|--:|\n| conv1 | 832 |\n\n"
        "```python\nmodel.summary()  # a < b\n```\n\n"
        "3. three\n4. four\n\n"
        "A [link](https://keras.io/ 'Keras'), a [relative](../en/index.html), "
        '[mail](mailto:a@example.org), ![chart](img/c.png "t"), `code`, *em*, **strong**, '
        "~~x~~ H<sub>2</sub>O x<sup>2</sup>  \nnext line\n\n> 引用：中文\n\n---\n\n"
        "中文第一行，\n第二行。\n"
    )
    soup = BeautifulSoup(str(render_markdown(text)), "html.parser")
    assert_harmless(soup)
    heading, code, numbered, image = (
        soup.select_one(css) for css in ("h2", "pre code", "ol", "img")
    )
    assert heading is not None and code is not None and numbered is not None and image
    assert heading.get_text() == "表格 Tables"
    cells = soup.select("table thead th")
    assert [c.get_text() for c in cells] == ["layer", "params"]
    assert [c.get("style") for c in cells] == ["text-align: left;", "text-align: right;"]
    assert code["class"] == ["language-python"] and "a < b" in code.get_text()
    assert numbered["start"] == "3"
    links = {a.get_text(): a.attrs for a in soup.find_all("a")}
    assert links["link"] == {"href": "https://keras.io/", "title": "Keras"}
    assert links["relative"] == {"href": "../en/index.html"}
    assert links["mail"] == {"href": "mailto:a@example.org"}
    assert image.attrs == {"alt": "chart", "src": "img/c.png", "title": "t"}
    for name in ("em", "strong", "sub", "sup", "blockquote", "hr", "br", "code"):
        assert soup.find(name) is not None, name
    assert "中文第一行，第二行。" in soup.get_text()


def test_builtin_articles_render_unchanged_by_the_sanitiser() -> None:
    """The built-in articles' HTML is exactly what Markdown makes of them."""
    import markdown

    from reportgen.render.site import _CJK_LINE_BREAK

    for spec in builtin_config().models:
        for path in (spec.article_en, spec.article_zh):
            assert path is not None
            text = Path(path).read_text(encoding="utf-8")
            plain = markdown.markdown(
                _CJK_LINE_BREAK.sub("", text), extensions=["tables", "fenced_code", "sane_lists"]
            )
            assert str(render_markdown(text)) == plain, path


# --- the configuration: where the article file is -------------------------------------------


def configure(project: Path, article: str) -> Path:
    config = project / "reportgen.toml"
    config.write_text(
        f'[[models]]\nslug = "m"\nsource = "pkg.mod:build"\narticle.en = "docs/m.en.md"\n'
        f"article.zh = {article!r}\n",
        encoding="utf-8",
    )
    (project / "docs").mkdir(exist_ok=True)
    (project / "docs" / "m.en.md").write_text("## M\n", encoding="utf-8")
    return config


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (tmp_path / "outside.md").write_text(SECRET)
    return folder


@pytest.mark.parametrize("article", ["/etc/passwd", "../outside.md", "docs/../../outside.md"])
def test_config_article_outside_the_project_is_refused(
    project: Path, article: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configure(project, article)
    assert main(["list", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"reportgen: error: {config}: models[0].article.zh must be a Markdown file inside "
        f"{project.resolve()}, got {article!r}"
    ), err
    assert err.count("\n") == 1
    assert SECRET not in err


def test_config_article_link_leading_out_is_refused(project: Path) -> None:
    config = configure(project, "docs/link.md")
    os.symlink(project.parent / "outside.md", project / "docs" / "link.md")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert str(info.value) == (
        f"{config}: models[0].article.zh must be a Markdown file inside {project.resolve()}, "
        "got 'docs/link.md' (is a symbolic link)"
    )


def test_config_article_in_a_linked_directory_leading_out_is_refused(project: Path) -> None:
    config = configure(project, "elsewhere/outside.md")
    os.symlink(project.parent, project / "elsewhere")
    with pytest.raises(ConfigError, match=r"models\[0\]\.article\.zh must be a Markdown file"):
        load_config(config)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory, not a regular file"),
        (lambda p: p.write_bytes(b"x" * (MAX_ARTICLE_BYTES + 1)), "more than"),
    ],
)
def test_config_article_must_be_a_regular_file(
    project: Path, make: Callable[[Path], object], reason: str
) -> None:
    config = configure(project, "docs/m.zh.md")
    make(project / "docs" / "m.zh.md")
    with pytest.raises(ConfigError, match=reason) as info:
        load_config(config)
    assert str(info.value).startswith(f"{config}: models[0].article.zh must be a Markdown file")


def test_config_article_inside_is_accepted_and_keeps_its_root(project: Path) -> None:
    config = configure(project, "docs/sub/../m.zh.md")
    (project / "docs" / "m.zh.md").write_text("## 中文\n", encoding="utf-8")
    (project / "docs" / "sub").mkdir()
    spec = load_config(config).models[0]
    assert spec.article_root == str(project.resolve())
    assert spec.article_zh is not None
    assert read_article(Path(spec.article_zh), article_root(spec, spec.article_zh)) == "## 中文\n"
    assert ModelSpec.from_dict(spec.to_dict()) == spec


def test_tool_reportgen_article_key_is_named(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        '[[tool.reportgen.models]]\nslug = "m"\nsource = "p.m:f"\narticle.en = "/etc/passwd"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(pyproject)
    assert str(info.value).startswith(
        f"{pyproject}: tool.reportgen.models[0].article.en must be a Markdown file inside"
    )


def test_a_config_article_swapped_for_a_link_is_refused_at_collect(project: Path) -> None:
    """Checked at load, checked again when the collect stage reads it."""
    config = configure(project, "docs/m.zh.md")
    target = project / "docs" / "m.zh.md"
    target.write_text("## 中文\n", encoding="utf-8")
    spec = load_config(config).models[0]
    target.unlink()
    target.symlink_to(project.parent / "outside.md")
    assert spec.article_zh is not None
    with pytest.raises(ReportgenError, match="is a symbolic link") as info:
        read_article(Path(spec.article_zh), article_root(spec, spec.article_zh))
    assert SECRET not in str(info.value)
