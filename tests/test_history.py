"""History across builds (``reportgen.history``): merging, the file, reading a previous site
from a folder or over http (a local server on 127.0.0.1, no network), and the pages."""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import re
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reportgen.cli import main
from reportgen.config import load_config
from reportgen.derive import derive_model
from reportgen.errors import ConfigError, ReportgenError
from reportgen.history import (
    MAX_BUILDS,
    MAX_HISTORY_BYTES,
    SCHEMA,
    BuildInfo,
    HistoryEntry,
    HistoryPlan,
    ModelHistory,
    PreviousSite,
    attach_histories,
    current_build,
    entry_for,
    history_json,
    merge,
    parse_history,
)
from reportgen.jsonfile import validator
from reportgen.model import ModelReport
from reportgen.pipeline import publish_site
from reportgen.publish import read_manifest
from reportgen.render.charts import history_chart, history_chart_kinds
from reportgen.render.site import render_site
from tests.handmade import lenet_facts
from tests.sitecheck import broken_links, external_references

SHA = [f"{i:x}" * 40 for i in range(10)]  # "000…", "111…", … "999…"
REPO = "https://github.com/owner/repo"


def build(i: int, commit: str | None = "sha", repository_url: str | None = REPO) -> BuildInfo:
    return BuildInfo(
        commit=SHA[i] if commit == "sha" else commit,
        commit_date=f"2026-01-0{i + 1}T10:00:00Z",
        build_date=f"2026-01-0{i + 1}T12:00:00Z",
        repository_url=repository_url,
    )


@pytest.fixture(scope="module")
def lenet() -> ModelReport:
    return derive_model(lenet_facts())


def entry(lenet: ModelReport, i: int, **changes: object) -> HistoryEntry:
    return dataclasses.replace(entry_for(lenet, build(i)), **changes)  # type: ignore[arg-type]


def write_history(site: Path, slug: str, entries: list[HistoryEntry]) -> Path:
    path = site / "history" / f"{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(history_json(slug, entries), encoding="utf-8")
    return path


# --- merge rules ------------------------------------------------------------------------


def test_a_new_commit_is_appended(lenet: ModelReport) -> None:
    old = [entry(lenet, 0), entry(lenet, 1)]
    merged, current = merge(old, entry(lenet, 2))
    assert [e.commit for e in merged] == SHA[:3]
    assert current == 2


def test_a_rebuild_of_a_commit_replaces_its_entry_where_it_stands(lenet: ModelReport) -> None:
    old = [entry(lenet, 0), entry(lenet, 1), entry(lenet, 2)]
    again = entry(lenet, 1, params=1, build_date="2026-02-01T00:00:00Z")
    merged, current = merge(old, again)
    assert [e.commit for e in merged] == SHA[:3]
    assert current == 1
    assert merged[1] == again


def test_builds_without_a_commit_are_told_apart_by_build_date(lenet: ModelReport) -> None:
    first = entry(lenet, 0, commit=None)
    second = entry(lenet, 1, commit=None)
    merged, _ = merge([first], second)
    assert merged == (first, second)
    merged, current = merge([first, second], dataclasses.replace(first, params=5))
    assert (len(merged), current, merged[0].params) == (2, 0, 5)


def test_the_history_keeps_the_last_500_builds(lenet: ModelReport) -> None:
    base = entry(lenet, 0)
    old = [dataclasses.replace(base, commit=f"{i:040x}") for i in range(MAX_BUILDS)]
    merged, current = merge(old, entry(lenet, 9))
    assert len(merged) == MAX_BUILDS
    assert merged[0].commit == f"{1:040x}"  # the oldest went
    assert (current, merged[-1].commit) == (MAX_BUILDS - 1, SHA[9])
    # A rebuild of the oldest commit of an over-long history stays, the next oldest goes.
    longer = [*old, dataclasses.replace(base, commit=f"{MAX_BUILDS:040x}")]
    merged, current = merge(longer, dataclasses.replace(base, commit=f"{0:040x}", params=7))
    assert len(merged) == MAX_BUILDS and current == 0 and merged[0].params == 7
    assert merged[1].commit == f"{2:040x}"


def test_unknown_figures_stay_null_never_zero() -> None:
    layers = list(lenet_facts().layers)
    layers[1] = dataclasses.replace(layers[1], output_shapes=((None, None, 28, 32),))
    report = derive_model(lenet_facts(layers=tuple(layers)))
    assert report.totals.activation_bytes is None
    made = entry_for(report, build(0))
    assert made.activation_bytes is None and made.step_time_us is None
    data = json.loads(history_json("lenet", [made]))
    assert data["builds"][0]["totals"]["activation_bytes"] is None
    assert data["builds"][0]["step_time_us"] is None


# --- the file ---------------------------------------------------------------------------


def test_the_file_is_deterministic_sorted_and_valid(lenet: ModelReport) -> None:
    entries = [entry(lenet, 0), entry(lenet, 1, step_time_us=123.4)]
    text = history_json("lenet", entries)
    assert text == history_json("lenet", list(entries))
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert list(data["builds"][0]) == sorted(data["builds"][0])
    assert data["schema_version"] == 1 and data["slug"] == "lenet"
    assert not list(validator(SCHEMA).iter_errors(data))
    assert parse_history(text.encode(), "x", "lenet") == tuple(entries)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(schema_version=2), "schema_version 2"),
        (lambda d: d["builds"][0]["totals"].update(params=-1), "builds[0].totals.params"),
        (lambda d: d["builds"][0]["totals"].update(flops="12"), "builds[0].totals.flops"),
        (lambda d: d["builds"][0].update(commit="HEAD"), "builds[0].commit"),
        (lambda d: d["builds"][0].update(build_date="yesterday"), "builds[0].build_date"),
        (lambda d: d["builds"][0].update(extra=1), "builds[0]"),
        (lambda d: d.update(slug="other"), "holds the history of 'other'"),
    ],
)
def test_a_malformed_file_is_refused_with_the_field(
    lenet: ModelReport, mutate: Callable[[dict[str, object]], None], expected: str
) -> None:
    data = json.loads(history_json("lenet", [entry(lenet, 0)]))
    mutate(data)
    with pytest.raises(ReportgenError, match=re.escape(expected)):
        parse_history(json.dumps(data).encode(), "site/history/lenet.json", "lenet")


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[1, 2]", b"\xff\xfe", b"[" * 100 + b"]" * 100, b" " * (3 * 2**20)],
)
def test_garbage_is_one_clear_error(data: bytes) -> None:
    with pytest.raises(ReportgenError, match=r"^where: "):
        parse_history(data, "where", "lenet")


# --- reading a previous site from a folder -------------------------------------------------


def test_a_previous_site_folder_is_read(lenet: ModelReport, tmp_path: Path) -> None:
    write_history(tmp_path, "lenet", [entry(lenet, 0)])
    source = PreviousSite(str(tmp_path))
    assert source.read("lenet") == (entry(lenet, 0),)
    assert source.read("other") == ()  # a model the previous site did not have: no history
    assert source.warnings == []


def test_a_malformed_file_is_one_warning_and_a_fresh_history(
    lenet: ModelReport, tmp_path: Path
) -> None:
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "lenet.json").write_text("{broken")
    write_history(tmp_path, "second", [entry(lenet, 0)])
    source = PreviousSite(str(tmp_path))
    assert source.read("lenet") == ()
    assert source.read("second") == (entry(lenet, 0),)  # the others are still read
    assert len(source.warnings) == 1
    assert "lenet.json: not JSON" in source.warnings[0]
    assert "lenet starts a fresh history" in source.warnings[0]


def test_a_missing_folder_is_one_warning_for_all_models(tmp_path: Path) -> None:
    source = PreviousSite(str(tmp_path / "nowhere"))
    assert source.read("lenet") == () and source.read("second") == ()
    assert len(source.warnings) == 1
    assert "no such folder" in source.warnings[0]


def test_a_link_out_of_the_folder_is_refused(lenet: ModelReport, tmp_path: Path) -> None:
    outside = write_history(tmp_path / "elsewhere", "lenet", [entry(lenet, 0)])
    site = tmp_path / "site"
    (site / "history").mkdir(parents=True)
    (site / "history" / "lenet.json").symlink_to(outside)
    source = PreviousSite(str(site))
    assert source.read("lenet") == ()
    assert len(source.warnings) == 1 and "leads outside" in source.warnings[0]
    # A link to a history folder elsewhere is refused the same way.
    other = tmp_path / "other"
    other.mkdir()
    (other / "history").symlink_to(outside.parent)
    source = PreviousSite(str(other))
    assert source.read("lenet") == () and "leads outside" in source.warnings[0]


def test_a_link_inside_the_folder_is_followed(lenet: ModelReport, tmp_path: Path) -> None:
    real = write_history(tmp_path, "old", [entry(lenet, 0)])
    real.rename(tmp_path / "history" / "kept.json")
    (tmp_path / "history" / "lenet.json").symlink_to("kept.json")
    data = json.loads((tmp_path / "history" / "kept.json").read_text())
    data["slug"] = "lenet"
    (tmp_path / "history" / "kept.json").write_text(json.dumps(data))
    assert PreviousSite(str(tmp_path)).read("lenet") == (entry(lenet, 0),)


@pytest.mark.parametrize("slug", ["../lenet", "a/b", "Lenet", "", "x" * 65, "history.schema"])
def test_only_a_valid_slug_names_a_file(tmp_path: Path, slug: str) -> None:
    source = PreviousSite(str(tmp_path))
    assert source.read(slug) == ()
    assert len(source.warnings) == 1 and "not a valid slug" in source.warnings[0]


def test_a_file_over_the_size_cap_or_not_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "history").mkdir()
    big = tmp_path / "history" / "lenet.json"
    with big.open("wb") as fh:
        fh.truncate(MAX_HISTORY_BYTES + 1)  # sparse: no real disk use
    (tmp_path / "history" / "second.json").mkdir()
    os.mkfifo(tmp_path / "history" / "third.json")  # opening it would block
    source = PreviousSite(str(tmp_path))
    assert source.read("lenet") == () and source.read("second") == ()
    assert source.read("third") == ()
    assert "larger than the limit" in source.warnings[0]
    assert "not a regular file" in source.warnings[1]
    assert "not a regular file" in source.warnings[2]


# --- reading a previous site over http (a server on 127.0.0.1) --------------------------------


class _Site:
    """A tiny http server on 127.0.0.1: serves ``files`` (path → (status, body))."""

    def __init__(self, files: dict[str, tuple[int, bytes]]) -> None:
        self.files = files
        self.asked: list[str] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.asked.append(self.path)
                status, body = site.files.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/repo/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., _Site]]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    started: list[_Site] = []

    def start(files: dict[str, tuple[int, bytes]]) -> _Site:
        started.append(_Site(files))
        return started[-1]

    yield start
    for site in started:
        site.close()


def test_a_published_site_is_read_over_http(
    lenet: ModelReport, serve: Callable[..., _Site]
) -> None:
    text = history_json("lenet", [entry(lenet, 0)]).encode()
    site = serve({"/repo/history/lenet.json": (200, text)})
    source = PreviousSite(site.url)
    assert source.read("lenet") == (entry(lenet, 0),)
    assert source.read("second") == ()  # 404: no history yet, no warning
    assert source.warnings == []
    assert site.asked == ["/repo/history/lenet.json", "/repo/history/second.json"]


def test_a_server_error_is_one_warning_and_asked_no_more(serve: Callable[..., _Site]) -> None:
    site = serve({"/repo/history/lenet.json": (500, b"oops")})
    source = PreviousSite(site.url)
    assert source.read("lenet") == () and source.read("second") == ()
    assert len(source.warnings) == 1 and "HTTP 500" in source.warnings[0]
    assert site.asked == ["/repo/history/lenet.json"]


def test_an_unreachable_address_is_one_warning() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = PreviousSite(f"http://127.0.0.1:{port}/")
    assert source.read("lenet") == () and source.read("second") == ()
    assert len(source.warnings) == 1
    assert "cannot be fetched" in source.warnings[0]
    assert "every model starts a fresh history" in source.warnings[0]


def test_an_oversized_or_malformed_response_is_refused(serve: Callable[..., _Site]) -> None:
    site = serve(
        {
            "/repo/history/lenet.json": (200, b" " * (MAX_HISTORY_BYTES + 1)),
            "/repo/history/second.json": (200, b"<html>"),
        }
    )
    source = PreviousSite(site.url)
    assert source.read("lenet") == () and source.read("second") == ()
    assert "larger than the limit" in source.warnings[0]
    assert "second.json: not JSON" in source.warnings[1]


# --- a build's histories -------------------------------------------------------------------


def test_without_a_previous_site_the_history_is_this_build(lenet: ModelReport) -> None:
    result = attach_histories([lenet], HistoryPlan(build(3)))
    assert result.warnings == [] and result.kept == {}
    (report,) = result.reports
    history = report.history
    assert history is not None and history.first and history.previous is None
    assert history.entries == (entry_for(lenet, build(3)),)


def test_a_renamed_model_carries_its_old_history(lenet: ModelReport, tmp_path: Path) -> None:
    write_history(tmp_path, "old-name", [entry(lenet, 0), entry(lenet, 1)])
    write_history(tmp_path, "unrelated", [entry(lenet, 4)])
    plan = HistoryPlan(build(2), str(tmp_path), {"lenet": ("old-name",)})
    result = attach_histories([lenet], plan)
    assert result.warnings == []
    (report,) = result.reports
    assert report.history is not None
    assert [e.commit for e in report.history.entries] == SHA[:3]
    assert report.history.carried_from == ("old-name",)
    # Without previous_slugs the old name's history is not this model's.
    (report,) = attach_histories([lenet], HistoryPlan(build(2), str(tmp_path))).reports
    assert report.history is not None and report.history.first


def test_a_model_that_failed_keeps_its_history_unchanged(
    lenet: ModelReport, tmp_path: Path
) -> None:
    write_history(tmp_path, "broken", [entry(lenet, 0), entry(lenet, 1)])
    plan = HistoryPlan(build(2), str(tmp_path))
    result = attach_histories([lenet], plan, failed=["broken", "never-built"])
    assert result.kept == {
        "history/broken.json": history_json("broken", [entry(lenet, 0), entry(lenet, 1)])
    }
    assert result.warnings == []
    publish_site(result.reports, {}, tmp_path / "out", files=result.kept)
    assert (tmp_path / "out" / "history" / "broken.json").read_text() == (
        result.kept["history/broken.json"]
    )
    assert "history/broken.json" in (read_manifest(tmp_path / "out") or [])


def test_changes_since_the_previous_build(lenet: ModelReport, tmp_path: Path) -> None:
    before = entry(
        lenet, 0, params=lenet.totals.keras_params - 1000, flops=None, peak_activation_bytes=100
    )
    write_history(tmp_path, "lenet", [before])
    (report,) = attach_histories([lenet], HistoryPlan(build(1), str(tmp_path))).reports
    history = report.history
    assert history is not None and history.previous == before
    changes = {c.quantity: c for c in history.changes}
    assert (changes["params"].state, changes["params"].delta) == ("up", "+1,000")
    assert changes["params"].percent == "+0.03%"
    assert changes["flops"].state == "now_known"
    assert changes["activation_bytes"].state == "same"
    assert changes["peak_activation_bytes"].state == "up"
    assert [c.quantity for c in history.changed] == ["params", "flops", "peak_activation_bytes"]


def test_this_build_is_read_from_github_or_git(tmp_path: Path) -> None:
    env = {
        "GITHUB_SHA": SHA[10 - 1].upper(),
        "SOURCE_DATE_EPOCH": "1700000000",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "owner/repo",
    }
    info = current_build(tmp_path, env=env)  # not a repository: the epoch dates the commit
    assert info.commit == SHA[9]
    assert info.commit_date == info.build_date == "2023-11-14T22:13:20Z"
    assert info.repository_url == REPO
    assert current_build(tmp_path, "https://git.example/x", env).repository_url == (
        "https://git.example/x"
    )
    hostile = {**env, "GITHUB_REPOSITORY": 'x/"><script>'}
    assert current_build(tmp_path, env=hostile).repository_url is None
    bare = current_build(tmp_path, env={})
    assert bare.commit is None and bare.commit_date is None and bare.repository_url is None


def test_the_commit_of_a_git_repository(tmp_path: Path) -> None:
    dates = {"GIT_AUTHOR_DATE": "2026-03-04T05:06:07+02:00"}
    dates["GIT_COMMITTER_DATE"] = dates["GIT_AUTHOR_DATE"]
    git_env = {**os.environ, **dates, "GIT_CONFIG_GLOBAL": os.devnull, "HOME": str(tmp_path)}
    for args in (
        ["init", "-q"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, env=git_env)
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    info = current_build(tmp_path, env={})
    assert info.commit == head
    assert info.commit_date == "2026-03-04T03:06:07Z"  # in UTC


# --- the pages --------------------------------------------------------------------------


def with_history(
    report: ModelReport, entries: list[HistoryEntry], repo: str | None = REPO
) -> ModelReport:
    history = ModelHistory(report.slug, tuple(entries), len(entries) - 1, repo)
    return dataclasses.replace(report, history=history)


@pytest.fixture(scope="module")
def site(lenet: ModelReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    base = entry_for(lenet, build(0))
    entries = [
        dataclasses.replace(base, params=lenet.totals.keras_params - 1000),
        dataclasses.replace(entry_for(lenet, build(1)), flops=None),
        dataclasses.replace(entry_for(lenet, build(2, commit=None)), activation_bytes=None),
        entry_for(lenet, build(3)),
    ]
    second = derive_model(lenet_facts(slug="second", title_en="Second", title_zh="第二个"))
    reports = [
        with_history(lenet, entries),
        with_history(second, [entry_for(second, build(3))]),
    ]
    render_site(reports, out)
    return out


def test_the_site_publishes_each_history_and_its_schema(site: Path, lenet: ModelReport) -> None:
    assert sorted(p.name for p in (site / "history").iterdir()) == [
        "history.schema.json",
        "lenet.json",
        "second.json",
    ]
    text = (site / "history" / "lenet.json").read_text()
    assert len(parse_history(text.encode(), "x", "lenet")) == 4
    assert broken_links(site) == [] and external_references(site) == []


def test_the_model_page_draws_trends(site: Path) -> None:
    page = (site / "en" / "lenet.html").read_text()
    assert 'id="history"' in page
    for kind in ("history_params", "history_flops", "history_memory"):
        assert f'src="../charts/lenet-{kind}.en.svg"' in page
        assert (site / "charts" / f"lenet-{kind}.en.svg").is_file()
    assert not (site / "charts" / "lenet-history_time.en.svg").exists()
    assert "None of these builds was profiled" in page
    link = f'<a href="{REPO}/commit/{SHA[3]}" rel="noopener"><code>{SHA[3][:7]}</code></a>'
    assert link in page
    assert "no commit" in page
    assert "this build" in page


def test_one_build_says_there_is_no_history_yet(site: Path) -> None:
    page = (site / "en" / "second.html").read_text()
    assert "No history yet" in page
    assert "second-history_" not in page
    assert not list((site / "charts").glob("second-history_*"))


def test_the_index_shows_the_change_since_the_previous_build(site: Path) -> None:
    index = (site / "en" / "index.html").read_text()
    assert "Since the previous build" in index
    assert "Parameters +1,000 (+0.03%)" not in index  # the previous build is build 3's
    assert "Output memory now derived" in index  # build 3 had none
    assert f"since {SHA[2][:7]}" not in index and "since 2026-01-03" in index
    assert ">new<" in index  # the second model's first build
    zh = (site / "zh" / "index.html").read_text()
    assert "与上次构建相比" in zh


def test_chinese_model_page_has_the_history_in_chinese(site: Path) -> None:
    page = (site / "zh" / "lenet.html").read_text()
    assert 'id="history"' in page
    assert "History across builds" not in page


def test_history_charts_are_byte_stable(lenet: ModelReport) -> None:
    report = with_history(lenet, [entry(lenet, 0), entry(lenet, 1, params=5)])
    assert history_chart_kinds(report) == ("history_params", "history_flops", "history_memory")
    first = history_chart(report, "history_params")
    assert first is not None and first == history_chart(report, "history_params")
    one = with_history(lenet, [entry(lenet, 0)])
    assert history_chart_kinds(one) == ()


def test_a_figure_unknown_in_every_build_has_no_chart(lenet: ModelReport) -> None:
    report = with_history(lenet, [entry(lenet, 0, flops=None), entry(lenet, 1, flops=None)])
    assert "history_flops" not in history_chart_kinds(report)


@pytest.mark.parametrize(
    "repo", ["javascript:alert(1)", 'https://x.example/"><script>', "ftp://x.example/r", None]
)
def test_a_commit_links_only_to_a_plain_http_repository(
    lenet: ModelReport, tmp_path: Path, repo: str | None
) -> None:
    report = with_history(lenet, [entry(lenet, 0)], repo)
    render_site([report], tmp_path)
    page = (tmp_path / "en" / "lenet.html").read_text()
    assert "/commit/" not in page and "<script>" not in page


# --- configuration ----------------------------------------------------------------------


def _write(tmp_path: Path, top: str, model: str) -> Path:
    path = tmp_path / "reportgen.toml"
    path.write_text(
        top + '[[models]]\nslug = "lenet"\nsource = "reportgen.zoo.lenet:build_lenet"\n' + model
    )
    return path


def test_the_configuration_takes_previous_slugs_and_a_repository_url(tmp_path: Path) -> None:
    top = 'repository_url = "https://github.com/o/r"\n'
    config = load_config(_write(tmp_path, top, 'previous_slugs = ["old"]\n'))
    assert config.repository_url == "https://github.com/o/r"
    assert config.models[0].previous_slugs == ("old",)
    assert "previous_slugs" not in config.models[0].to_dict()


@pytest.mark.parametrize(
    ("top", "model", "key"),
    [
        ("", 'previous_slugs = ["lenet"]\n', "previous_slugs"),
        ("", 'previous_slugs = ["../x"]\n', "previous_slugs"),
        ("", 'previous_slugs = ["a", "a"]\n', "previous_slugs"),
        ("", 'previous_slugs = "old"\n', "previous_slugs"),
        ('repository_url = "javascript:alert(1)"\n', "", "repository_url"),
        ('repository_url = "https://x/\\"y"\n', "", "repository_url"),
        ("repository_url = 3\n", "", "repository_url"),
    ],
)
def test_bad_history_settings_are_one_config_error(
    tmp_path: Path, top: str, model: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(_write(tmp_path, top, model))


# --- through the command line ---------------------------------------------------------------


def test_render_with_history_from_a_previous_site_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    config = _write(tmp_path, f'repository_url = "{REPO}"\n', 'previous_slugs = ["old"]\n')
    collected = tmp_path / "collected" / "lenet"
    collected.mkdir(parents=True)
    (collected / "facts.json").write_text(lenet_facts().to_json(), encoding="utf-8")
    render = ["render", "collected", "--quiet", "--config", str(config)]

    monkeypatch.setenv("GITHUB_SHA", SHA[1])
    assert main([*render, "--out", "first"]) == 0
    monkeypatch.setenv("GITHUB_SHA", SHA[2])
    assert main([*render, "--out", "second", "--history-from", "first"]) == 0
    assert capsys.readouterr().err == ""
    data = json.loads((tmp_path / "second" / "history" / "lenet.json").read_text())
    assert [b["commit"] for b in data["builds"]] == [SHA[1], SHA[2]]
    page = (tmp_path / "second" / "en" / "lenet.html").read_text()
    assert f"{REPO}/commit/{SHA[2]}" in page and "lenet-history_params.en.svg" in page

    # The same commit again, from the same site published in place: replaced, not added.
    assert main([*render, "--out", "second", "--history-from", "second"]) == 0
    data = json.loads((tmp_path / "second" / "history" / "lenet.json").read_text())
    assert [b["commit"] for b in data["builds"]] == [SHA[1], SHA[2]]

    # A broken previous site: one warning line, and the build goes on.
    (tmp_path / "first" / "history" / "lenet.json").write_text("[")
    assert main([*render, "--out", "third", "--history-from", "first"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reportgen: warning: --history-from: ")
    data = json.loads((tmp_path / "third" / "history" / "lenet.json").read_text())
    assert [b["commit"] for b in data["builds"]] == [SHA[2]]


@pytest.mark.parametrize("value", ["ftp://x.example/", "http://", "https://x.example/?q=1", ""])
def test_history_from_must_be_a_folder_or_an_http_url(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "nowhere", "--history-from", value]) == 2
    assert "--history-from" in capsys.readouterr().err
