"""Pages rendered in a forked worker (reportgen.render.site.PageRendering): the same bytes,
the same errors, no worker left behind, and no worker for a small site."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reportgen.derive import derive_model
from reportgen.errors import RenderError
from reportgen.model import ModelReport
from reportgen.render import graph, site
from reportgen.render.site import render_site
from tests.handmade import lenet_facts

needs_fork = pytest.mark.skipif(
    not site._can_fork(), reason="no forked worker here (one CPU, threads, or not Linux)"
)


def _reports(count: int = 4) -> list[ModelReport]:
    return [
        derive_model(lenet_facts(slug=f"m{i}", title_en=f"M{i} <b>", title_zh=f"模型{i}"))
        for i in range(count)
    ]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _failing_render(failing: set[str], sleep_in_worker: float = 0.0) -> Callable[..., site.Page]:
    """``site._render`` that fails the given page paths as a template error would, and
    (with ``sleep_in_worker``) takes its time in any process but this one."""
    real = site._render
    parent = os.getpid()

    def render(env: Any, template: str, path: str, **context: Any) -> site.Page:
        if os.getpid() != parent and sleep_in_worker:
            time.sleep(sleep_in_worker)
        if path in failing:
            raise RenderError(f"rendering {path} from {template}: broken")
        return real(env, template, path, **context)

    return render


def test_a_small_site_starts_no_worker() -> None:
    rendering = site.PageRendering(_reports(2), {}, {}, None)
    assert rendering.there == []
    assert rendering.here == site._all_units(_reports(2))
    assert rendering.result() == ({}, None)


def test_the_worker_takes_about_half_the_layers_larger_models_first() -> None:
    reports = _reports(4)
    sizes = [len(r.layers) for r in reports]
    share = site._worker_share(reports)
    assert share == {1, 3}  # same sizes: alternately, in model order
    assert sum(sizes[i] for i in share) == sum(sizes) // 2


def test_the_units_are_in_the_serial_order() -> None:
    units = site._all_units(_reports(2))
    assert units == sorted(units)
    assert units == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]


@needs_fork
def test_pages_rendered_in_a_worker_are_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph, "INLINE_MAX_ROWS", 4)  # graph pages too
    reports = _reports(5)
    render_site(reports, tmp_path / "here", {"broken": "it failed"}, "https://x.test/r/")
    monkeypatch.setattr(site, "BACKGROUND_PAGE_LAYERS", 0)
    rendered_here: list[str] = []
    real = site._render

    def recording(env: Any, template: str, path: str, **context: Any) -> site.Page:
        rendered_here.append(path)  # the worker's list is its own: not seen here
        return real(env, template, path, **context)

    monkeypatch.setattr(site, "_render", recording)
    render_site(reports, tmp_path / "worker", {"broken": "it failed"}, "https://x.test/r/")
    here, worker = _tree(tmp_path / "here"), _tree(tmp_path / "worker")
    assert here == worker
    assert "en/m1-graph.html" in worker
    assert "en/m1.html" not in rendered_here and "zh/m3-graph.html" not in rendered_here
    assert {"en/m0.html", "zh/m2.html", "en/index.html", "index.html"} <= set(rendered_here)
    assert multiprocessing.active_children() == []


@needs_fork
@pytest.mark.parametrize(
    "failing",
    [
        {"en/m1.html"},  # only in the worker
        {"zh/m1.html", "zh/m2.html"},  # both: the worker's comes first
        {"zh/m1.html", "en/m2.html"},  # both: this process's comes first
        {"zh/m3.html", "en/index.html"},  # the index page (here) comes first
        {"en/m0.html", "en/m1.html"},  # the very first page, here
    ],
)
def test_a_failing_page_raises_what_the_serial_render_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: set[str]
) -> None:
    reports = _reports(4)
    monkeypatch.setattr(site, "_render", _failing_render(failing))
    with pytest.raises(RenderError) as serial:
        render_site(reports, tmp_path / "serial")
    monkeypatch.setattr(site, "BACKGROUND_PAGE_LAYERS", 0)
    with pytest.raises(RenderError) as parallel:
        render_site(reports, tmp_path / "parallel")
    assert str(parallel.value) == str(serial.value)
    assert getattr(parallel.value, "__notes__", None) is None  # as it was raised
    assert str(serial.value).startswith(f"rendering {min(failing, key=_serial_rank)} ")
    assert multiprocessing.active_children() == []
    assert not (tmp_path / "parallel").exists()


def _serial_rank(path: str) -> tuple[int, int]:
    lang, name = path.split("/")
    return (0 if lang == "en" else 1, 99 if name == "index.html" else int(name[1]))


@needs_fork
def test_a_bug_in_the_worker_keeps_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = site._render

    def buggy(env: Any, template: str, path: str, **context: Any) -> site.Page:
        if path == "en/m1.html":
            raise ZeroDivisionError("a bug")
        return real(env, template, path, **context)

    monkeypatch.setattr(site, "_render", buggy)
    monkeypatch.setattr(site, "BACKGROUND_PAGE_LAYERS", 0)
    with pytest.raises(ZeroDivisionError, match="a bug") as raised:
        render_site(_reports(4), tmp_path)
    assert any("in the page worker" in note for note in raised.value.__notes__)
    assert multiprocessing.active_children() == []


class _Unpicklable(Exception):
    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle this")


@needs_fork
def test_an_error_that_cannot_be_sent_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = site._render

    def odd(env: Any, template: str, path: str, **context: Any) -> site.Page:
        if path == "en/m1.html":
            raise _Unpicklable("odd")
        return real(env, template, path, **context)

    monkeypatch.setattr(site, "_render", odd)
    monkeypatch.setattr(site, "BACKGROUND_PAGE_LAYERS", 0)
    with pytest.raises(RenderError, match=r"rendering the pages: _Unpicklable\('odd'\)"):
        render_site(_reports(4), tmp_path)
    assert multiprocessing.active_children() == []


@needs_fork
def test_a_first_page_failing_here_kills_the_worker_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(site, "_render", _failing_render({"en/m0.html"}, sleep_in_worker=60))
    monkeypatch.setattr(site, "BACKGROUND_PAGE_LAYERS", 0)
    started = time.perf_counter()
    with pytest.raises(RenderError, match=r"rendering en/m0\.html "):
        render_site(_reports(4), tmp_path)
    assert time.perf_counter() - started < 30  # killed, not waited for
    assert multiprocessing.active_children() == []


@needs_fork
def test_an_interrupt_here_kills_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _failing_render(set(), sleep_in_worker=60)

    def interrupted(env: Any, template: str, path: str, **context: Any) -> site.Page:
        if path == "en/index.html":
            raise KeyboardInterrupt
        return real(env, template, path, **context)

    monkeypatch.setattr(site, "_render", interrupted)
    monkeypatch.setattr(site, "BACKGROUND_PAGE_LAYERS", 0)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        render_site(_reports(4), tmp_path)
    assert time.perf_counter() - started < 30
    assert multiprocessing.active_children() == []


@needs_fork
def test_an_interrupt_in_the_worker_stops_the_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = site._render
    parent = os.getpid()

    def interrupted(env: Any, template: str, path: str, **context: Any) -> site.Page:
        if os.getpid() != parent:
            raise KeyboardInterrupt
        return real(env, template, path, **context)

    monkeypatch.setattr(site, "_render", interrupted)
    monkeypatch.setattr(site, "BACKGROUND_PAGE_LAYERS", 0)
    with pytest.raises(KeyboardInterrupt):
        render_site(_reports(4), tmp_path)
    assert multiprocessing.active_children() == []


@needs_fork
def test_a_worker_that_dies_fails_the_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = site._render
    parent = os.getpid()

    def dying(env: Any, template: str, path: str, **context: Any) -> site.Page:
        if os.getpid() != parent:
            os._exit(3)
        return real(env, template, path, **context)

    monkeypatch.setattr(site, "_render", dying)
    monkeypatch.setattr(site, "BACKGROUND_PAGE_LAYERS", 0)
    with pytest.raises(RenderError, match=r"page worker ended without a result \(exit code 3\)"):
        render_site(_reports(4), tmp_path)
    assert multiprocessing.active_children() == []
