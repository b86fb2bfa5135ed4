"""The facts cache (``--cache DIR``): keys, hits and misses, untrusted entries, the cap.

No TensorFlow: collect_one is replaced by a fake that writes handmade facts for the spec
and counts its calls, so a test sees exactly which models a run collected.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from reportgen import cache as cache_module
from reportgen.cache import (
    ENTRIES,
    KEY_FILE,
    Cache,
    CacheKey,
    Environment,
    factory_files,
    framework_versions,
    key_material,
    package_digest,
)
from reportgen.cli import main
from reportgen.collect import COLLECTED_MARKER
from reportgen.config import ModelSpec, load_config
from tests.handmade import lenet_facts

ENV = Environment(
    reportgen={"version": "0.1.0", "source": "abc"},
    frameworks={"tensorflow": "tensorflow==2.21.0", "keras": "keras==3.15.1"},
    host={"python": "3.11", "platform": "linux"},
)

CONFIG = """
[[models]]
slug = "lenet"
source = "models.net:build"
title.en = "LeNet"
title.zh = "LeNet 网络"
article.en = "lenet.en.md"

[[models]]
slug = "other"
source = "models.other:build"
title.en = "Other"
"""


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project: two factory models, one importing a helper, and the current directory."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "net.py").write_text(
        "from .helpers import block\nimport numpy\n\ndef build():\n    return block()\n"
    )
    (tmp_path / "models" / "helpers.py").write_text("def block():\n    return 1\n")
    (tmp_path / "models" / "other.py").write_text("def build():\n    return 2\n")
    (tmp_path / "lenet.en.md").write_text("The LeNet.\n")
    (tmp_path / "reportgen.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclasses.dataclass
class FakeCollect:
    """Stands in for the collect worker: handmade facts of the spec; counts calls."""

    calls: list[str] = dataclasses.field(default_factory=list)
    profiled: list[bool] = dataclasses.field(default_factory=list)

    def __call__(self, spec: ModelSpec, out: Path, timeout: Any, profile: bool, **_: Any) -> Path:
        from reportgen.collect import _copy_articles

        self.calls.append(spec.slug)
        self.profiled.append(profile)
        dest = out / spec.slug
        dest.mkdir(parents=True, exist_ok=True)
        (dest / COLLECTED_MARKER).write_text("made by reportgen collect\n")
        facts = lenet_facts(
            slug=spec.slug,
            title_en=spec.title_en,
            title_zh=spec.title_zh,
            source=spec.source,
            batch_size=spec.batch_size,
        )
        (dest / "facts.json").write_text(facts.to_json(), encoding="utf-8")
        _copy_articles(spec, dest)
        return dest


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeCollect:
    fake = FakeCollect()
    monkeypatch.setattr("reportgen.collect.collect_one", fake)
    return fake


def collect(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    status = main(["collect", "--no-profile", "--jobs", "1", "--cache", "cache", *args])
    return status, capsys.readouterr().err.splitlines()


def spec(**changes: Any) -> ModelSpec:
    base = load_config(Path("reportgen.toml")).models[0]
    return dataclasses.replace(base, **changes)


def key(
    s: ModelSpec | None = None,
    env: Environment = ENV,
    profile: bool = False,
    unsafe_load: bool = False,
) -> str:
    material = key_material(
        s or spec(),
        profile=profile,
        unsafe_load=unsafe_load,
        environment=env,
        project_dirs=[Path.cwd()],
        search_path=[Path.cwd()],
    )
    return CacheKey(material).digest


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def entries(root: Path = Path("cache")) -> list[Path]:
    return sorted((root / ENTRIES).iterdir())


# --- the key: each part once ----------------------------------------------------------


def test_the_key_is_stable(project: Path) -> None:
    assert key() == key()
    assert len(key()) == 64


@pytest.mark.parametrize(
    "changes",
    [
        {"batch_size": 2},
        {"title_en": "LeNet-5"},
        {"sequence_length": 64},
        {"input_shape": (32, 32, 1)},
        {"input_shapes": {"token_ids": (16,)}},
        {"memory_budget_gib": 8.0},
        {"source": "models.other:build"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_configuration_value_changes_the_key(project: Path, changes: dict[str, Any]) -> None:
    assert key(spec(**changes)) != key()


def test_articles_and_absolute_paths_are_not_in_the_key(project: Path) -> None:
    # Articles are copied from the configuration on every build; paths differ per checkout.
    moved = spec(article_en="/elsewhere/lenet.en.md", article_root="/elsewhere")
    assert key(moved) == key()


def test_the_factory_module_changes_the_key(project: Path) -> None:
    before = key()
    (project / "models" / "net.py").write_text("def build():\n    return 3\n")
    assert key() != before


def test_a_file_the_factory_imports_changes_the_key(project: Path) -> None:
    before = key()
    (project / "models" / "helpers.py").write_text("def block():\n    return 4\n")
    assert key() != before


def test_an_unrelated_project_file_does_not_change_the_key(project: Path) -> None:
    before = key()
    (project / "models" / "other.py").write_text("def build():\n    return 5\n")
    assert key() == before


def test_imports_are_followed_transitively_inside_the_project_only(project: Path) -> None:
    (project / "models" / "helpers.py").write_text("import models.deep\nimport json\n")
    (project / "models" / "deep.py").write_text("from . import deeper\n")
    (project / "models" / "deeper.py").write_text("")
    (project / "outside.py").write_text("")
    files = factory_files("models.net", [project], [project / "models"])
    assert [label for label, _ in files] == [
        "models/__init__.py",
        "models/deep.py",
        "models/deeper.py",
        "models/helpers.py",
        "models/net.py",
    ]
    before = key()
    (project / "models" / "deeper.py").write_text("X = 1\n")
    assert key() != before


def test_imports_inside_functions_count(project: Path) -> None:
    (project / "models" / "net.py").write_text("def build():\n    from models import lazy\n")
    (project / "models" / "lazy.py").write_text("")
    labels = [label for label, _ in factory_files("models.net", [project], [project])]
    assert "models/lazy.py" in labels


def test_an_installed_library_is_not_followed(project: Path) -> None:
    # numpy (imported by net.py) lives in the environment: its version is in the key.
    labels = [label for label, _ in factory_files("models.net", [project], [project])]
    assert not any("numpy" in label for label in labels)


def test_a_virtual_environment_inside_the_project_is_not_followed(project: Path) -> None:
    packages = project / ".venv" / "lib" / "python3.11" / "site-packages"
    (packages / "fakelib").mkdir(parents=True)
    (packages / "fakelib" / "__init__.py").write_text("import fakelib.core\n")
    (packages / "fakelib" / "core.py").write_text("")
    (project / "models" / "net.py").write_text("import fakelib\n")
    labels = [label for label, _ in factory_files("models.net", [project, packages], [project])]
    assert labels == ["models/__init__.py", "models/net.py"]


def test_the_builtin_zoo_module_is_in_the_key() -> None:
    from reportgen.config import builtin_config

    config = builtin_config()
    lenet = next(m for m in config.models if m.slug == "lenet")
    assert config.path is not None
    files = factory_files("reportgen.zoo.lenet", cache_module.import_roots(), [config.path.parent])
    assert "reportgen/zoo/lenet.py" in [label for label, _ in files]
    assert lenet.source.startswith("reportgen.zoo.lenet:")


def test_model_file_bytes_change_the_key(project: Path) -> None:
    model = project / "net.keras"
    model.write_bytes(b"PK-one")
    s = spec(source="net.keras", source_path=str(model))
    before = key(s)
    model.write_bytes(b"PK-two")
    assert key(s) != before


def test_a_model_folder_is_hashed_file_by_file(project: Path) -> None:
    folder = project / "saved"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"graph")
    (folder / "variables" / "v.data").write_bytes(b"one")
    s = spec(source="saved.keras", source_path=str(folder))
    before = key(s)
    (folder / "variables" / "v.data").write_bytes(b"two")
    assert key(s) != before


@pytest.mark.parametrize(
    "env",
    [
        dataclasses.replace(ENV, reportgen={"version": "0.2.0", "source": "abc"}),
        dataclasses.replace(ENV, reportgen={"version": "0.1.0", "source": "abd"}),
        dataclasses.replace(
            ENV, frameworks={"tensorflow": "tensorflow==2.22.0", "keras": "keras==3.15.1"}
        ),
        dataclasses.replace(
            ENV, frameworks={"tensorflow": "tensorflow==2.21.0", "keras": "keras==3.16.0"}
        ),
    ],
    ids=["reportgen-version", "reportgen-source", "tensorflow", "keras"],
)
def test_versions_and_reportgen_source_change_the_key(project: Path, env: Environment) -> None:
    assert key(env=env) != key()


@pytest.mark.parametrize("option", ["profile", "unsafe_load"])
def test_collect_options_change_the_key(project: Path, option: str) -> None:
    changed = key(profile=True) if option == "profile" else key(unsafe_load=True)
    assert changed != key()


def test_versions_are_read_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    versions = {"tensorflow": "2.21.0", "keras": "3.15.1"}

    def version(name: str) -> str:
        if name in versions:
            return versions[name]
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", version)
    before = framework_versions()
    assert before["tensorflow"] == "tensorflow==2.21.0" and before["keras-hub"] is None
    versions["tensorflow"] = "2.22.0"
    assert framework_versions() != before
    versions["keras"] = "3.16.0"
    assert framework_versions()["keras"] == "keras==3.16.0"


def test_the_package_digest_sees_every_source_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("A = 1\n")
    (tmp_path / "sub" / "b.py").write_text("B = 1\n")
    before = package_digest(tmp_path)
    (tmp_path / "sub" / "b.py").write_text("B = 2\n")
    assert package_digest(tmp_path) != before
    assert len(cache_module.reportgen_source_digest()) == 64


# --- hits and misses through the command line ------------------------------------------


def test_a_second_run_collects_nothing_and_gives_the_same_folders(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = collect(capsys, "--out", "one")
    assert status == 0
    assert fake.calls == ["lenet", "other"]
    assert "cache miss: lenet" in lines and "cache miss: other" in lines
    status, lines = collect(capsys, "--out", "two")
    assert status == 0
    assert fake.calls == ["lenet", "other"]  # no worker the second time
    assert lines == ["cache hit: lenet", "cache hit: other"]
    one, two = tree(project / "one"), tree(project / "two")
    assert one == two
    assert "lenet/article.en.md" in two and KEY_FILE not in "".join(two)


def test_articles_come_from_the_configuration_not_the_cache(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    (project / "lenet.en.md").write_text("A better article.\n")
    collect(capsys, "--out", "two")
    assert fake.calls == ["lenet", "other"]
    assert (project / "two" / "lenet" / "article.en.md").read_text() == "A better article.\n"


def test_one_changed_model_is_the_only_one_collected(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    (project / "models" / "helpers.py").write_text("def block():\n    return 9\n")
    status, lines = collect(capsys, "--out", "two")
    assert status == 0
    assert fake.calls == ["lenet", "other", "lenet"]
    assert lines[:2] == ["cache miss: lenet", "cache hit: other"]


def test_a_hit_never_serves_another_option_set(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    assert main(["collect", "--jobs", "1", "--cache", "cache", "--out", "two"]) == 0
    assert fake.profiled == [False, False, True, True]
    assert len(entries()) == 4


def test_quiet_prints_no_cache_lines(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    status, lines = collect(capsys, "--out", "two", "--quiet")
    assert status == 0 and lines == []


def test_verbose_names_the_key(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    status, lines = collect(capsys, "--out", "two", "--verbose")
    assert status == 0
    assert lines[0].startswith("cache hit: lenet (key ") and len(lines[0]) == len(
        "cache hit: lenet (key 0123456789ab)"
    )


def test_no_cache_reads_nothing_and_refreshes_the_entries(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    stored = entries()
    for entry in stored:
        (entry / "worker.log").write_text("old run\n")
    status, lines = collect(capsys, "--out", "two", "--no-cache")
    assert status == 0
    assert fake.calls == ["lenet", "other", "lenet", "other"]
    assert lines[0] == "cache not read (--no-cache): 2 models to collect, then stored"
    assert entries() == stored
    assert not any((entry / "worker.log").exists() for entry in entries())


# --- untrusted entries ---------------------------------------------------------------


def _only_entry_of(slug: str) -> Path:
    for entry in entries():
        if json.loads((entry / KEY_FILE).read_text())["spec"]["slug"] == slug:
            return entry
    raise AssertionError(slug)


def _corrupt_bad_json(entry: Path) -> str:
    (entry / "facts.json").write_text("{not json")
    return "facts.json: not a readable collected-facts file"


def _corrupt_wrong_slug(entry: Path) -> str:
    (entry / "facts.json").write_text(lenet_facts(slug="other").to_json())
    return "it holds the model 'other'"


def _corrupt_symlink_out(entry: Path) -> str:
    (entry / "trace.json.gz").symlink_to("/etc/passwd")
    return "trace.json.gz is a symbolic link"


def _corrupt_missing_facts(entry: Path) -> str:
    (entry / "facts.json").unlink()
    return "facts.json: cannot read the collected-facts file"


def _corrupt_foreign_key(entry: Path) -> str:
    material = json.loads((entry / KEY_FILE).read_text())
    material["options"]["profile"] = True
    (entry / KEY_FILE).write_text(json.dumps(material))
    return "it was stored under another key"


def _corrupt_other_title(entry: Path) -> str:
    (entry / "facts.json").write_text(lenet_facts(title_en="Someone else's").to_json())
    return "its facts are of another configuration of the model"


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_bad_json,
        _corrupt_wrong_slug,
        _corrupt_symlink_out,
        _corrupt_missing_facts,
        _corrupt_foreign_key,
        _corrupt_other_title,
    ],
    ids=lambda f: f.__name__.removeprefix("_corrupt_"),
)
def test_a_bad_entry_is_one_warning_then_collected_again(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str], corrupt: Any
) -> None:
    collect(capsys, "--out", "one")
    cause = corrupt(_only_entry_of("lenet"))
    status, lines = collect(capsys, "--out", "two")
    assert status == 0
    warnings = [line for line in lines if "warning" in line]
    assert len(warnings) == 1, lines
    assert warnings[0].startswith("reportgen: warning: cache entry for lenet was unreadable (")
    assert warnings[0].endswith("); collecting it again")
    assert cause in warnings[0]
    assert fake.calls == ["lenet", "other", "lenet"]
    # The bad entry was replaced by the fresh one, which the next run uses.
    assert json.loads((project / "two" / "lenet" / "facts.json").read_text())["slug"] == "lenet"
    status, lines = collect(capsys, "--out", "three")
    assert lines == ["cache hit: lenet", "cache hit: other"]


def test_an_entry_moved_under_another_models_key_is_refused(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    lenet, other = _only_entry_of("lenet"), _only_entry_of("other")
    other.rename(other.with_name("x"))
    lenet.rename(other)  # lenet's folder now sits where other's key points
    status, lines = collect(capsys, "--out", "two")
    assert status == 0
    assert any("cache entry for other was unreadable" in line for line in lines)
    assert json.loads((project / "two" / "other" / "facts.json").read_text())["slug"] == "other"


# --- the cache folder ---------------------------------------------------------------


def test_an_unwritable_cache_is_one_line_before_anything_is_collected(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "a-file").write_text("")
    status = main(["collect", "--no-profile", "--cache", "a-file/cache", "--out", "one"])
    lines = capsys.readouterr().err.splitlines()
    assert status == 1
    assert len(lines) == 1
    assert lines[0].startswith("reportgen: error: the cache folder a-file/cache cannot be written")
    assert fake.calls == []
    assert not (project / "one").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_cache_is_one_line(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "ro").mkdir(mode=0o500)
    status = main(["collect", "--no-profile", "--cache", "ro", "--out", "one"])
    lines = capsys.readouterr().err.splitlines()
    assert status == 1 and len(lines) == 1 and "cannot be written" in lines[0]
    assert fake.calls == []


def test_a_folder_with_other_files_is_not_taken_for_a_cache(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "home").mkdir()
    (project / "home" / "notes.txt").write_text("mine")
    status = main(["collect", "--no-profile", "--cache", "home", "--out", "one"])
    err = capsys.readouterr().err
    assert status == 1 and "is no reportgen cache" in err
    assert fake.calls == [] and (project / "home" / "notes.txt").exists()


def test_build_refuses_an_out_that_would_replace_the_cache(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["build", "--no-profile", "--cache", "site/cache", "--out", "site"])
    assert status == 1
    assert "the cache folder site/cache" in capsys.readouterr().err
    assert fake.calls == []


def _store(cache: Cache, name: str, size: int, used: float) -> None:
    entry = cache.entries / name
    entry.mkdir()
    (entry / "facts.json").write_bytes(b"x" * size)
    os.utime(entry, (used, used))


def test_prune_removes_the_least_recently_used_first(tmp_path: Path) -> None:
    cache = Cache.open(tmp_path / "c")
    for i, name in enumerate(["old", "middle", "new"]):
        _store(cache, name, 400_000, 1_000_000 + i)
    result = cache.prune(1_000_000)
    assert sorted(p.name for p in cache.entries.iterdir()) == ["middle", "new"]
    assert (result.removed, result.kept) == (1, 2)
    assert result.kept_bytes == 800_000


def test_prune_keeps_what_this_build_used(tmp_path: Path) -> None:
    cache = Cache.open(tmp_path / "c")
    for i, name in enumerate(["used-old", "unused", "used-new"]):
        _store(cache, name, 400_000, 1_000_000 + i)
    cache.prune(0, frozenset({"used-old", "used-new"}))
    assert sorted(p.name for p in cache.entries.iterdir()) == ["used-new", "used-old"]


def test_a_hit_counts_as_a_use(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    for entry in entries():
        os.utime(entry, (1_000_000, 1_000_000))
    collect(capsys, "--out", "two", "--models", "lenet")
    assert _only_entry_of("lenet").stat().st_mtime > 1_000_000
    assert _only_entry_of("other").stat().st_mtime == 1_000_000


def test_the_cap_applies_after_a_build(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one", "--models", "other")
    collect(capsys, "--out", "two", "--models", "lenet", "--cache-max-mib", "0")
    # Only what the last build used stays: the cap is 0 MiB.
    remaining = [json.loads((e / KEY_FILE).read_text())["spec"]["slug"] for e in entries()]
    assert remaining == ["lenet"]


def test_the_prune_command(
    project: Path, fake: FakeCollect, capsys: pytest.CaptureFixture[str]
) -> None:
    collect(capsys, "--out", "one")
    assert main(["cache", "prune", "cache", "--max-mib", "0"]) == 0
    assert capsys.readouterr().err.startswith("pruned cache/: removed 2 entries (")
    assert entries() == []
    assert main(["cache", "prune", "models"]) == 1
    assert "is no reportgen cache" in capsys.readouterr().err
    assert main(["cache", "prune", "nowhere"]) == 1
    assert capsys.readouterr().err == "reportgen: error: the cache folder nowhere does not exist\n"


def test_prune_removes_half_written_entries_of_dead_builds(tmp_path: Path) -> None:
    cache = Cache.open(tmp_path / "c")
    stale, fresh = cache.tmp / "store-dead", cache.tmp / "store-running"
    stale.mkdir()
    fresh.mkdir()
    os.utime(stale, (1_000_000, 1_000_000))
    cache.prune(2**30)
    assert not stale.exists() and fresh.exists()


def test_two_builds_storing_the_same_key_leave_one_good_entry(tmp_path: Path) -> None:
    cache = Cache.open(tmp_path / "c")
    collected = tmp_path / "collected"
    collected.mkdir()
    (collected / COLLECTED_MARKER).write_text("made by reportgen collect\n")
    (collected / "facts.json").write_text(lenet_facts().to_json())
    k = CacheKey({"any": "material"})
    threads = [threading.Thread(target=cache.store, args=(k, collected)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.name for p in cache.entries.iterdir()] == [k.digest]
    assert list(cache.tmp.iterdir()) == []
    assert tree(cache.entries / k.digest)["facts.json"] == (collected / "facts.json").read_bytes()


@pytest.mark.parametrize("name", [ENTRIES, "lock"])
def test_a_cache_is_never_written_through_a_link(tmp_path: Path, name: str) -> None:
    from reportgen.errors import ReportgenError

    Cache.open(tmp_path / "c")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "c" / name
    if target.is_dir():
        target.rmdir()
    else:
        target.unlink()
    target.symlink_to(elsewhere)
    with pytest.raises(ReportgenError, match="is a symbolic link"):
        Cache.open(tmp_path / "c")
