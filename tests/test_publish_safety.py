"""reportgen only ever replaces what it made: --out safety, one publisher, clean failures.

Every case runs inside pytest's temporary folder (the current directory and the home
directory are moved there too): nothing here may point a build at a real path.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reportgen import publish as publish_module
from reportgen.cli import main
from reportgen.errors import ReportgenError
from reportgen.publish import (
    MANIFEST,
    PARTIAL,
    check_out,
    protected_paths,
    publish,
    publishing_lock,
    read_manifest,
)
from tests.handmade import lenet_facts, previous_site

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def plain_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about publishing, not drawing: a stand-in SVG per chart saves
    matplotlib's time on every one of the many builds below."""
    from reportgen.render import charts

    def stand_in(report: object) -> dict[str, str]:
        return {
            kind: "<svg xmlns='http://www.w3.org/2000/svg'/>" for kind in charts.chart_kinds(report)
        }  # type: ignore[arg-type]

    monkeypatch.setattr(charts, "model_charts", stand_in)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder as the current directory, with a fake home beside it."""
    project = tmp_path / "project"
    project.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / "diary.txt").write_text("mine")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    collected = project / "collected" / "lenet"
    collected.mkdir(parents=True)
    (collected / "facts.json").write_text(lenet_facts().to_json(), encoding="utf-8")
    return project


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links not followed) with a hash of its bytes."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[path.relative_to(root).as_posix()] = f"-> {os.readlink(path)}"
        elif path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[path.relative_to(root).as_posix()] = digest
    return found


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("reportgen: error: ")
    assert "Traceback" not in err
    return lines[0]


def render(*args: str) -> int:
    return main(["render", "collected", "--quiet", *args])


# --- what --out may be --------------------------------------------------------------------


def test_a_folder_with_a_users_file_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = work / "userdocs"
    docs.mkdir()
    (docs / "notes.txt").write_text("notes")
    for command in (["build", "--no-profile"], ["render", "collected"]):
        assert main([*command, "--out", "userdocs"]) == 1
        line = one_error_line(capsys)
        assert "userdocs: exists and is not a site made by reportgen" in line
        assert (docs / "notes.txt").read_text() == "notes"
        assert sorted(p.name for p in docs.iterdir()) == ["notes.txt"]
    assert not (work / "collected" / "lenet" / "worker.log").exists()  # nothing collected


@pytest.mark.parametrize(
    ("out", "what"),
    [
        (".", "is the current directory"),
        ("..", "contains the current directory"),
        ("/", "is the root directory"),
        ("~", "is your home directory"),
        ("~/..", "contains the current directory"),
        ("collected", "contains the collected folder"),
    ],
)
def test_folders_the_user_works_in_are_refused(
    work: Path, capsys: pytest.CaptureFixture[str], out: str, what: str
) -> None:
    before = tree(work.parent)
    out_path = os.path.expanduser(out)
    assert render("--out", out_path) == 1
    assert what in one_error_line(capsys)
    assert tree(work.parent) == before


def test_a_marked_site_at_the_current_directory_is_still_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / MANIFEST).write_text(publish_module.manifest_text([]))
    assert main(["build", "--no-profile", "--out", "."]) == 1
    assert "is the current directory" in one_error_line(capsys)
    assert (work / "collected" / "lenet" / "facts.json").is_file()


def test_the_configurations_folder_and_models_are_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = work / "sub"
    (sub / "models").mkdir(parents=True)
    (sub / "models" / "net.keras").write_bytes(b"not really a model")
    (sub / "docs").mkdir()
    (sub / "docs" / "net.en.md").write_text("# Net")
    config = sub / "reportgen.toml"
    config.write_text(
        '[[models]]\nslug = "net"\nsource = "models/net.keras"\narticle = {en = "docs/net.en.md"}\n'
    )
    cases = {
        str(sub): "is the folder of the configuration",
        str(sub / "models"): "contains the source of model 'net'",
        str(sub / "docs"): "contains the English article of model 'net'",
    }
    for out, what in cases.items():
        assert main(["build", "--config", str(config), "--out", out]) == 1
        assert what in one_error_line(capsys)
    assert (sub / "models" / "net.keras").read_bytes() == b"not really a model"
    # The configuration's own ``out`` is checked the same way.
    config.write_text(config.read_text().replace("[[models]]", 'out = "."\n\n[[models]]', 1))
    os.chdir(sub)
    assert main(["build", "--config", "reportgen.toml"]) == 1
    assert "is the current directory" in one_error_line(capsys)
    assert (sub / "docs" / "net.en.md").read_text() == "# Net"


def test_protected_paths_cover_home_and_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = {p.what: p.path for p in protected_paths()}
    assert paths["your home directory"] == tmp_path
    assert paths["the root directory"] == Path("/")
    with pytest.raises(ReportgenError, match="is your home directory"):
        check_out(tmp_path, protected_paths())


def test_a_marked_site_with_a_file_added_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render("--out", "site") == 0
    (work / "site" / "CNAME").write_text("example.org")
    before = tree(work / "site")
    assert render("--out", "site") == 1
    assert "site/CNAME: was not written by reportgen" in one_error_line(capsys)
    assert tree(work / "site") == before


def test_a_site_is_replaced_and_lists_what_it_wrote(work: Path) -> None:
    assert render("--out", "site") == 0
    written = read_manifest(work / "site")
    assert written is not None
    assert "en/lenet.html" in written and "data/lenet.json" in written
    assert sorted(written) == sorted(p for p in tree(work / "site") if p != MANIFEST)
    (work / "site" / "en" / "lenet.html").write_text("edited by hand")  # ours: replaced
    assert render("--out", "site") == 0
    assert "edited by hand" not in (work / "site" / "en" / "lenet.html").read_text()
    assert sorted(p.name for p in work.iterdir()) == ["collected", "site"]  # no lock, no temp


def test_an_empty_folder_is_used(work: Path) -> None:
    (work / "site").mkdir()
    assert render("--out", "site") == 0
    assert (work / "site" / "index.html").is_file()


def test_a_symlinked_out_publishes_into_its_target(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = work.parent / "published"
    (work / "site").symlink_to(target)
    assert main(["render", "collected", "--out", "site"]) == 0
    assert "wrote site/ (the link's target" in capsys.readouterr().err
    assert (work / "site").is_symlink() and (work / "site").resolve() == target
    assert (target / "en" / "lenet.html").is_file()
    assert render("--out", "site") == 0  # again: replaces the target, keeps the link
    assert (work / "site").is_symlink() and (target / MANIFEST).is_file()
    # A link to a folder that is not a site is refused like the folder itself.
    (work / "other").mkdir()
    (work / "other" / "keep.txt").write_text("keep")
    (work / "site2").symlink_to(work / "other")
    assert render("--out", "site2") == 1
    assert "is not a site made by reportgen" in one_error_line(capsys)
    assert (work / "other" / "keep.txt").read_text() == "keep"


def test_a_mount_point_is_published_by_swapping_its_entries(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = work / "site"
    assert render("--out", "site") == 0
    (site / "en" / "stale.html").write_text("left over")
    manifest = read_manifest(site) or []
    (site / MANIFEST).write_text(publish_module.manifest_text([*manifest, "en/stale.html"]))
    inode = site.stat().st_ino
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == site or real_ismount(p))
    real_rename = os.rename

    def rename(src: object, dst: object) -> None:
        if Path(str(src)) == site or Path(str(dst)) == site:
            raise OSError(errno.EBUSY, "Device or resource busy", str(src))
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    assert render("--out", "site") == 0
    assert site.stat().st_ino == inode  # the same folder, new entries
    assert not (site / "en" / "stale.html").exists()
    assert (site / "en" / "lenet.html").is_file()
    assert not [p for p in site.iterdir() if p.name.startswith(".reportgen-") and p.is_dir()]


def test_a_failed_swap_inside_a_mount_point_puts_everything_back(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = work / "site"
    assert render("--out", "site") == 0
    before = tree(site)
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == site)
    real_rename = os.rename
    faults = {"left": 1}  # how many renames onto site/index.html fail

    def rename(src: object, dst: object) -> None:
        if Path(str(dst)) == site / "index.html" and faults["left"] > 0:
            faults["left"] -= 1
            raise OSError(errno.EIO, "Input/output error", str(dst))
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    assert render("--out", "site") == 1
    assert "site/index.html: cannot write (Input/output error)" in one_error_line(capsys)
    assert tree(site) == before
    # A swap that cannot even be undone (the old index.html cannot be moved back either)
    # leaves the old entries in a marked folder; the next build puts back what is missing.
    faults["left"] = 2
    assert render("--out", "site") == 1
    capsys.readouterr()
    assert not (site / "index.html").exists()
    monkeypatch.setattr(os, "rename", real_rename)
    publish_module.clean_leftovers(site)
    assert tree(site) == before


# --- every OSError is one line, the previous site stays ------------------------------------


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EACCES, "Permission denied"),
        (errno.EROFS, "Read-only file system"),
        (errno.ENAMETOOLONG, "File name too long"),
    ],
)
def test_write_errors_are_one_line_and_keep_the_site(
    work: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: int,
    cause: str,
) -> None:
    assert render("--out", "site") == 0
    before = tree(work / "site")
    real = Path.write_text

    def failing(self: Path, *args: object, **kwargs: object) -> int:
        if self.name == "lenet.html":
            raise OSError(code, os.strerror(code), str(self))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", failing)
    assert render("--out", "site") == 1
    line = one_error_line(capsys)
    assert line.startswith("reportgen: error: ")
    assert f"/site/en/lenet.html: cannot write ({cause}); the previous site is unchanged" in line
    assert tree(work / "site") == before
    assert sorted(p.name for p in work.iterdir()) == ["collected", "site"]


def test_a_failed_rename_restores_the_previous_site(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render("--out", "site") == 0
    before = tree(work / "site")
    real_rename = os.rename

    def rename(src: object, dst: object) -> None:
        if Path(str(dst)) == work / "site" and ".new-" in str(src):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real_rename(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    assert render("--out", "site") == 1
    assert "No space left on device" in one_error_line(capsys)
    assert tree(work / "site") == before
    assert sorted(p.name for p in work.iterdir()) == ["collected", "site"]


def test_a_name_too_long_for_the_file_system_is_one_line(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert render("--out", "x" * 300) == 1
    assert "File name too long" in one_error_line(capsys)
    assert sorted(p.name for p in work.iterdir()) == ["collected"]


def test_an_interrupt_while_writing_leaves_no_temporary_folder(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous_site(work / "site")

    def interrupted(tmp: Path) -> None:
        (tmp / "index.html").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish(work / "site", interrupted)
    assert (work / "site" / "index.html").read_text() == "the previous site"
    assert sorted(p.name for p in work.iterdir()) == ["collected", "site"]


# --- one publisher at a time, and what a killed one left ------------------------------------


def test_a_second_publisher_fails_naming_the_first(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with publishing_lock(work / "site", "build"):
        lock = work / ".site.reportgen-lock"
        assert f"pid {os.getpid()}" in lock.read_text()
        assert render("--out", "site") == 1
        line = one_error_line(capsys)
        assert f"another reportgen is publishing here (pid {os.getpid()} on " in line
        assert "`reportgen build` since" in line
    assert not (work / ".site.reportgen-lock").exists()
    assert render("--out", "site") == 0


def test_two_publishers_racing_one_wins_one_is_told(work: Path) -> None:
    """Two threads reach the lock together (a barrier); exactly one publishes."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def publisher(name: str) -> None:
        barrier.wait()
        try:
            with publishing_lock(work / "site", name):
                inside.set()
                release.wait(10)

                def build(tmp: Path) -> None:
                    (tmp / "index.html").write_text(name)

                publish(work / "site", build)
            outcomes.append(f"{name}: published")
        except ReportgenError as exc:
            outcomes.append(f"{name}: {exc}")
            release.set()

    threads = [threading.Thread(target=publisher, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    published = [o for o in outcomes if o.endswith(": published")]
    refused = [o for o in outcomes if "another reportgen is publishing here" in o]
    assert len(published) == 1 and len(refused) == 1, outcomes
    winner = published[0].split(":")[0]
    assert (work / "site" / "index.html").read_text() == winner
    assert sorted(p.name for p in work.iterdir()) == ["collected", "site"]


def test_a_held_lock_stops_a_build_in_another_process(work: Path) -> None:
    with publishing_lock(work / "site", "render"):
        result = subprocess.run(
            [sys.executable, "-m", "reportgen", "render", "collected", "--out", "site"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "another reportgen is publishing here" in lines[0]
    assert not (work / "site").exists()


def test_a_killed_builds_leftovers_are_cleaned_and_nothing_else(work: Path) -> None:
    previous_site(work / "site")
    ours_new = work / ".site.new-k1ll3d"
    ours_new.mkdir()
    (ours_new / PARTIAL).write_text("pid 1\n")
    (ours_new / "index.html").write_text("half")
    ours_old = work / ".site.old-k1ll3d"
    ours_old.mkdir()
    (ours_old / PARTIAL).write_text("pid 1\n")
    not_ours = work / ".site.new-mine"
    not_ours.mkdir()
    (not_ours / "keep.txt").write_text("keep")
    (work / ".site.reportgen-lock").write_text("pid 1 on gone, `reportgen build` since then\n")
    assert render("--out", "site") == 0
    assert sorted(p.name for p in work.iterdir()) == [".site.new-mine", "collected", "site"]
    assert (not_ours / "keep.txt").read_text() == "keep"


def test_a_build_killed_between_its_renames_gets_its_site_back(work: Path) -> None:
    """Killed after moving the old site aside and before moving the new one in."""
    old = work / ".site.old-k1ll3d"
    old.mkdir()
    (old / PARTIAL).write_text("pid 1\n")
    previous_site(old / "site")
    with publishing_lock(work / "site"):
        assert (work / "site" / "index.html").read_text() == "the previous site"
    assert sorted(p.name for p in work.iterdir()) == ["collected", "site"]


# --- collect replaces only its own folders --------------------------------------------------


def test_collect_refuses_a_folder_it_did_not_make(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = work / "out" / "lenet"
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("years of work")
    assert main(["collect", "--models", "lenet", "--out", "out"]) == 1
    assert "out/lenet: exists and was not made by `reportgen collect`" in one_error_line(capsys)
    assert (mine / "thesis.tex").read_text() == "years of work"
    (work / "out" / "link").symlink_to(work.parent / "home")
    from reportgen.collect import check_collect_out
    from reportgen.config import load_config

    spec = load_config().select(["lenet"])[0]
    with pytest.raises(ReportgenError, match="was not made by"):
        check_collect_out(work / "out", [spec.__class__(**{**spec.__dict__, "slug": "link"})])


def test_a_failed_write_that_names_no_file_is_named_for_it(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk fails ``write()``, whose error carries no file name: the site names it."""
    real = Path.write_text

    def failing(self: Path, *args: object, **kwargs: object) -> int:
        if self.name == "lenet.html":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", failing)
    assert render("--out", "site") == 1
    assert "site/en/lenet.html: cannot write (No space left on device)" in one_error_line(capsys)
    assert sorted(p.name for p in work.iterdir()) == ["collected"]
