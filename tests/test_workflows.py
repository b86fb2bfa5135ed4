"""The GitHub Actions workflows: valid YAML, pinned actions, least privilege, the right steps.

actionlint runs too when it is on PATH (it cannot be installed from PyPI without a
download at build time, so the test is skipped where it is missing).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
PAGES = WORKFLOWS / "pages.yml"
MATRIX = WORKFLOWS / "matrix-example.yml"
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", re.MULTILINE)
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+# v\d+(\.\d+)*\b")


def load(path: Path) -> dict[str, Any]:
    # BaseLoader keeps every scalar a string, and "on" a key (YAML 1.1 reads it as True).
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    assert isinstance(data, dict)
    return data


def all_workflows() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def step_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]


def runs(job: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def test_there_are_workflows() -> None:
    assert [p.name for p in all_workflows()] == ["matrix-example.yml", "pages.yml"]


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_every_action_is_pinned_by_sha_with_its_version(path: Path) -> None:
    uses = USES.findall(path.read_text(encoding="utf-8"))
    assert uses
    for ref, rest in uses:
        assert PINNED.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
        assert VERSION_COMMENT.match(rest), f"{path.name}: {ref} lacks a '# vX.Y.Z' comment"


def test_one_sha_per_action_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in all_workflows():
        for ref, rest in USES.findall(path.read_text(encoding="utf-8")):
            action, sha = ref.split("@")
            pins.setdefault(action, set()).add(f"{sha}{rest}")
    assert {action: len(shas) for action, shas in pins.items()} == dict.fromkeys(pins, 1)


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_read_only_by_default_and_writes_only_to_deploy_and_comment(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        writes = {scope for scope, level in granted.items() if level == "write"}
        if name == "deploy":
            assert granted == {"pages": "write", "id-token": "write"}
        elif name == "comment" and path == PAGES:
            assert granted == {"pull-requests": "write"}  # nothing else, not even contents
        else:
            assert not writes, f"{name} may write {writes}"


def test_pull_requests_write_only_in_the_comment_job() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in all_workflows())
    assert text.count("pull-requests: write") == 1
    assert "issues: write" not in text
    jobs = load(PAGES)["jobs"]
    writers = [n for n, j in jobs.items() if j.get("permissions", {}).get("pull-requests")]
    assert writers == ["comment"]


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_deploy_job_follows_the_pages_recipe(path: Path) -> None:
    deploy = load(path)["jobs"]["deploy"]
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    assert deploy["concurrency"] == {"group": "pages", "cancel-in-progress": "false"}
    (step,) = step_using(deploy, "actions/deploy-pages")
    assert step["id"] == "deployment"


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_checkout_keeps_no_credentials_and_pip_is_cached(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        for step in step_using(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] == "false", name
        for step in step_using(job, "actions/setup-python"):
            assert step["with"]["cache"] == "pip", name
            assert step["with"]["cache-dependency-path"] == "pyproject.toml", name


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_run_scripts_are_valid_bash(path: Path, tmp_path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        for index, step in enumerate(steps(job)):
            if "run" not in step:
                continue
            script = re.sub(r"\$\{\{.*?\}\}", "EXPR", step["run"])
            file = tmp_path / f"{name}-{index}.sh"
            file.write_text(script, encoding="utf-8")
            result = subprocess.run(["bash", "-n", str(file)], capture_output=True, text=True)
            assert result.returncode == 0, f"{path.name} {name} step {index}: {result.stderr}"


def test_pages_builds_on_push_and_pull_request() -> None:
    workflow = load(PAGES)
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert "pull_request" in workflow["on"]
    build = workflow["jobs"]["build"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -e ." in readme
    assert "pip install -e ." in runs(build)  # installed as the README says
    assert "reportgen build --jobs 2 --out site" in runs(build)
    (pages_upload,) = step_using(build, "actions/upload-pages-artifact")
    assert pages_upload["if"] == "github.event_name != 'pull_request'"
    assert pages_upload["with"]["path"] == "site"
    previews = [
        s for s in step_using(build, "actions/upload-artifact") if s["with"]["name"] == "site"
    ]
    # Uploaded when a site was written, even by a build that failed its budgets.
    assert [s["if"] for s in previews] == [
        "github.event_name == 'pull_request' && !cancelled() && hashFiles('site/index.html') != ''"
    ]
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert "github.event_name != 'pull_request'" in deploy["if"]


def test_pull_requests_get_the_diff() -> None:
    build = load(PAGES)["jobs"]["build"]
    (compare,) = [s for s in steps(build) if "reportgen diff" in s.get("run", "")]
    assert compare["if"].startswith("github.event_name == 'pull_request' && !cancelled()")
    assert "--fail-on" in compare["run"] and "GITHUB_STEP_SUMMARY" in compare["run"]
    assert "--output diff.md" in compare["run"]  # breaches first: reportgen diff puts them there
    assert build["permissions"]["actions"] == "read"  # to download the published data
    (kept,) = [
        s
        for s in step_using(build, "actions/upload-artifact")
        if s["with"]["name"] == "reportgen-data"
    ]
    assert kept["with"]["path"] == "site/data"
    uploads = [s["with"]["name"] for s in step_using(build, "actions/upload-artifact")]
    assert "reportgen-diff" in uploads


def comment_job() -> dict[str, Any]:
    return dict(load(PAGES)["jobs"]["comment"])


def test_the_comment_job_never_runs_for_a_fork() -> None:
    job = comment_job()
    condition = " ".join(job["if"].split())
    assert "github.event_name == 'pull_request'" in condition
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert "||" not in condition  # every clause must hold
    assert job["needs"] == "build"


def test_the_comment_job_runs_no_code_of_the_pull_request() -> None:
    """It holds the only write token: it downloads diff.md and posts it, nothing else."""
    job = comment_job()
    used = [s["uses"].split("@")[0] for s in steps(job) if "uses" in s]
    assert used == ["actions/download-artifact"]
    (download,) = step_using(job, "actions/download-artifact")
    assert download["with"]["name"] == "reportgen-diff"
    script = runs(job)
    commands = re.findall(r"^\s*(pip|reportgen|python\S*|git|bash|sh)\b", script, re.MULTILINE)
    assert commands == []


def test_one_sticky_comment_found_by_its_marker() -> None:
    script = runs(comment_job())
    assert "marker='<!-- reportgen-diff -->'" in script
    assert 'echo "$marker"' in script  # the comment opens with it
    assert 'startswith(\\"$marker\\")' in script and "github-actions[bot]" in script
    assert "--method PATCH" in script and "issues/comments/$id" in script  # edits it
    assert "--method POST" in script and "issues/$PR/comments" in script  # or makes it
    assert "comparison/diff.md" in script  # breaches first: diff.md opens with them
    assert "$PREVIEW_URL" in script and "$RUN_URL" in script  # links the preview
    env = comment_job()["steps"][-1]["env"]
    assert env["PREVIEW_URL"] == "${{ needs.build.outputs.preview-url }}"
    build = load(PAGES)["jobs"]["build"]
    assert build["outputs"]["preview-url"] == "${{ steps.preview.outputs.artifact-url }}"
    (preview,) = [s for s in steps(build) if s.get("id") == "preview"]
    assert preview["with"]["name"] == "site"


def test_a_fork_gets_the_summary_without_a_write_token() -> None:
    build = load(PAGES)["jobs"]["build"]
    (compare,) = [s for s in steps(build) if "reportgen diff" in s.get("run", "")]
    assert compare["env"]["FROM_FORK"] == (
        "${{ github.event.pull_request.head.repo.full_name != github.repository }}"
    )
    assert '"$FROM_FORK" = true' in compare["run"]
    assert "comes from a fork" in compare["run"] and "GITHUB_STEP_SUMMARY" in compare["run"]
    # The job that writes the summary holds no write permission at all.
    assert "write" not in build["permissions"].values()


def test_collected_facts_are_cached() -> None:
    build = load(PAGES)["jobs"]["build"]
    (cache,) = step_using(build, "actions/cache")
    assert cache["with"]["path"] == ".reportgen-cache"
    key = cache["with"]["key"]
    # An exact hit is never saved again: each run needs its own key to keep what it added.
    for part in ("runner.os", "steps.python.outputs.python-version", "hashFiles(", "run_id"):
        assert part in key, part
    assert "pyproject.toml" in key
    for source in ("reportgen.toml", "reportgen/zoo/"):  # the configuration, the models
        assert source in key, source
    restore = cache["with"]["restore-keys"].strip()
    assert "\n" not in restore
    assert key.startswith(restore) and restore.endswith("-")
    (python,) = step_using(build, "actions/setup-python")
    assert python["id"] == "python"
    names = [s.get("name", s.get("uses", "")) for s in steps(build)]
    assert names.index("Restore the collected facts") < names.index("Build the site")


def test_the_build_uses_the_cache_and_the_published_history() -> None:
    build = load(PAGES)["jobs"]["build"]
    (step,) = [s for s in steps(build) if s.get("name") == "Build the site"]
    assert "reportgen build --jobs 2 --out site --cache .reportgen-cache" in step["run"]
    assert 'published+=(--history-from "$BASE_URL/")' in step["run"]
    assert "if:" not in step  # main and pull requests alike
    (pages,) = step_using(build, "actions/configure-pages")
    assert "if" not in pages  # pull requests read the site's address too, for its history
    assert pages["continue-on-error"] == "${{ github.event_name == 'pull_request' }}"


def test_matrix_collects_per_model_and_renders_once() -> None:
    workflow = load(MATRIX)
    jobs = workflow["jobs"]
    assert list(workflow["on"]) == ["workflow_dispatch"]  # an example: it runs by hand
    assert "reportgen list" in runs(jobs["plan"])
    collect = jobs["collect"]
    assert collect["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.plan.outputs.include) }}"
    assert 'reportgen collect --models "$MODEL" --out collected' in runs(collect)
    (upload,) = step_using(collect, "actions/upload-artifact")
    assert upload["with"]["name"] == "collected-${{ matrix.model }}"
    render = jobs["render"]
    assert render["needs"] == "collect"
    (download,) = step_using(render, "actions/download-artifact")
    assert download["with"]["pattern"] == "collected-*"
    assert download["with"]["merge-multiple"] == "true"
    assert "reportgen render collected/* --out site" in runs(render)
    assert jobs["deploy"]["needs"] == "render"


@pytest.mark.skipif(shutil.which("actionlint") is None, reason="actionlint is not installed")
def test_actionlint() -> None:
    result = subprocess.run(
        ["actionlint", *map(str, all_workflows())], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
