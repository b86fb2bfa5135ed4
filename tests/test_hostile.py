"""Hostile input: names that try to be markup, control characters, paths that try to leave.

Model and layer names come from models written by anyone, and collected directories can
come from another machine. Everything is shown literally, nothing is executed, and nothing
is read or written outside where it belongs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from reportgen.derive import derive_model
from reportgen.errors import RenderError
from reportgen.render.site import copy_trace_files, inside, render_site
from tests.handmade import layer, lenet_facts
from tests.sitecheck import parse

EVIL_LAYER = '<script>alert("x")</script>\'&'
CONTROL = "tab\tbell\x07del\x7fnel\x85"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    layers = (
        layer(
            EVIL_LAYER,
            "Dense",
            (None, 3),
            (None, 2),
            (("kernel", (3, 2)),),
            units=2,
            use_bias=False,
        ),
        layer(CONTROL, "Dropout", (None, 2), (None, 2), rate=0.1),
    )
    facts = lenet_facts(
        layers=layers,
        title_en='"><img src=x onerror=alert(1)>',
        title_zh="<b>粗</b>\x00",
    )
    render_site([derive_model(facts)], out)
    return out


PAGES = ("index.html", "en/index.html", "zh/index.html", "en/lenet.html", "zh/lenet.html")


@pytest.mark.parametrize("page", PAGES)
def test_markup_in_names_is_text(site: Path, page: str) -> None:
    html = (site / page).read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "<b>粗" not in html


def test_names_read_back_literally(site: Path) -> None:
    soup = parse(site / "en" / "lenet.html")
    names = [row.select_one("th").get_text() for row in soup.select("table.layers tbody tr")]
    assert names[0] == EVIL_LAYER
    assert names[1] == "tab\tbell\u2407del\u2421nel\ufffd"
    assert soup.title.get_text().startswith('"><img src=x onerror=alert(1)>')
    zh = parse(site / "zh" / "lenet.html")
    assert zh.title.get_text().startswith("<b>粗</b>\u2400")


@pytest.mark.parametrize("page", PAGES)
def test_no_control_characters_reach_a_page(site: Path, page: str) -> None:
    html = (site / page).read_text(encoding="utf-8")
    assert not [c for c in html if (ord(c) < 0x20 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0]


def test_charts_escape_names(site: Path) -> None:
    for chart in site.glob("charts/*.svg"):
        text = chart.read_text(encoding="utf-8")
        assert "<script>" not in text
        if "-scaling." not in chart.name:  # batch sizes and bytes only: no layer name in it
            assert "&lt;script&gt;" in text


def test_data_json_keeps_names_exactly(site: Path) -> None:
    data = json.loads((site / "data" / "lenet.json").read_text(encoding="utf-8"))
    assert [item["name"] for item in data["layers"]] == [EVIL_LAYER, CONTROL]


def _profile(report_slug: str, trace: str, profile: str):  # type: ignore[no-untyped-def]
    from reportgen.model import Profile

    return Profile(
        steps=1,
        device="CPU",
        step_time_us=1.0,
        trace_href=f"traces/{report_slug}.trace.json.gz",
        profile_href=f"traces/{report_slug}/",
        profile_zip_href=f"traces/{report_slug}.profile.zip",
        timed_layers=0,
        trace_source=trace,
        profile_source=profile,
    )


@pytest.mark.parametrize("trace", ["../secret.txt", "/etc/passwd", "link.gz"])
def test_collected_paths_cannot_leave_the_model_directory(tmp_path: Path, trace: str) -> None:
    model_dir = tmp_path / "collected" / "lenet"
    (model_dir / "profile").mkdir(parents=True)
    (tmp_path / "collected" / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "collected" / "secret.txt", model_dir / "link.gz")
    with pytest.raises(RenderError, match="leads outside the collected model"):
        copy_trace_files(model_dir, _profile("lenet", trace, "profile"), tmp_path / "site")


@pytest.mark.parametrize("missing", ["trace", "profile folder"])
def test_a_collected_file_that_is_missing_is_named(tmp_path: Path, missing: str) -> None:
    """A collected folder copied without its trace (a partial CI artifact) is one line
    naming what is missing, not a failed write."""
    model_dir = tmp_path / "lenet"
    model_dir.mkdir()
    if missing == "profile folder":
        (model_dir / "trace.json.gz").write_bytes(b"x")
    with pytest.raises(RenderError, match=f"name the {missing} '.*', which is missing"):
        copy_trace_files(model_dir, _profile("lenet", "trace.json.gz", "profile"), tmp_path / "s")


def test_links_inside_a_profile_are_not_published(tmp_path: Path) -> None:
    model_dir = tmp_path / "lenet"
    (model_dir / "profile" / "run").mkdir(parents=True)
    (model_dir / "trace.json.gz").write_bytes(b"x")
    (model_dir / "profile" / "run" / "host.xplane.pb").write_bytes(b"pb")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", model_dir / "profile" / "run" / "leak.pb")
    site = tmp_path / "site"
    copy_trace_files(model_dir, _profile("lenet", "trace.json.gz", "profile"), site)
    published = sorted(p.name for p in (site / "traces").rglob("*") if p.is_file())
    assert published == ["host.xplane.pb", "lenet.profile.zip", "lenet.trace.json.gz"]
    import zipfile

    assert zipfile.ZipFile(site / "traces" / "lenet.profile.zip").namelist() == [
        "lenet/run/host.xplane.pb"
    ]


def test_inside_accepts_a_plain_relative_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert inside(tmp_path, "a") == (tmp_path / "a").resolve()


def test_report_dataclasses_are_frozen() -> None:
    report = derive_model(lenet_facts())
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.slug = "../x"  # type: ignore[misc]


@pytest.mark.parametrize("slug", ["../outside", "/abs", "a/b", "", None])
def test_a_doctored_facts_file_cannot_name_a_path(tmp_path: Path, slug: object) -> None:
    from reportgen.errors import ReportgenError
    from reportgen.facts import read_facts

    data = json.loads(lenet_facts().to_json())
    data["slug"] = slug
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ReportgenError, match="invalid slug"):
        read_facts(path)
