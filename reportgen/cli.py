"""Command line: ``reportgen build|collect|render|list|serve``.

``main`` returns the exit status. A :class:`ReportgenError` (anything a user can cause)
is printed as one line, ``reportgen: error: <model>: <cause>``, without a traceback.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reportgen.budget import Budget, BudgetError, attach_budgets, budget_problems
from reportgen.collect import check_collect_out, collect_models, default_memory_limit
from reportgen.config import Config, ModelSpec, load_config
from reportgen.errors import ReportgenError
from reportgen.progress import collect_progress, current_verbosity, quiet_option, verbose_option
from reportgen.publish import Protected, check_out, protected_paths, publishing_lock, resolve_out
from reportgen.version import __version__

if TYPE_CHECKING:
    from reportgen.cache import CollectCache
    from reportgen.errors import CollectError
    from reportgen.history import HistoryPlan
    from reportgen.model import ModelReport


def _log(message: str) -> None:
    click.echo(message, err=True)


def _split_models(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [s.strip() for s in value.split(",") if s.strip()]


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Configuration file (reportgen.toml, or a pyproject.toml with [tool.reportgen]). "
    "Default: ./reportgen.toml, then ./pyproject.toml, then the built-in models.",
)
models_option = click.option(
    "--models",
    "models",
    metavar="SLUG,...",
    help="Only these models (comma-separated slugs, see `reportgen list`).",
)
jobs_option = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Models collected at the same time, each in its own worker process. Default: the "
    "CPUs available (cgroup quota included), at most one per 2 GiB of memory, at most the "
    "models to collect.",
)
no_profile_option = click.option(
    "--no-profile",
    is_flag=True,
    help="Skip the profiler (no per-layer time, no trace): faster and deterministic.",
)


def _check_base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise click.BadParameter(f"must be an absolute http(s) URL, got {value!r}")
    return value


base_url_option = click.option(
    "--base-url",
    default=None,
    callback=_check_base_url,
    metavar="URL",
    help="The site's absolute address (e.g. https://user.github.io/repo/), used only where "
    "a link must be absolute (the Perfetto deep link). Default: base_url in the config.",
)
keep_going_option = click.option(
    "--keep-going",
    is_flag=True,
    help="Build the other models when one fails; the index marks the failed one. "
    "The exit status is still non-zero.",
)
unsafe_load_option = click.option(
    "--unsafe-load",
    is_flag=True,
    help="Allow model files whose loading can run code (a Keras Lambda layer). "
    "Only for files you trust.",
)
memory_limit_option = click.option(
    "--memory-limit",
    "memory_limit_gib",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="GIB",
    help="Stop a collect worker that uses more memory than this. "
    "Default: 80% of the machine's memory divided by --jobs.",
)
cache_option = click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    metavar="DIR",
    help="Reuse collected facts from this folder (created when missing) when nothing that "
    "can change them changed; store what is collected.",
)
no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Collect every model even with --cache; what is collected still replaces the "
    "cache's entries.",
)
cache_max_option = click.option(
    "--cache-max-mib",
    type=click.IntRange(min=0),
    default=None,
    metavar="MIB",
    help="Cap on the --cache folder; the least recently used entries go first. [default: 1024]",
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=None,
    metavar="SECONDS",
    help="Give up on a model whose collection runs longer than this.",
)


def _check_history_from(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    from reportgen.history import check_history_from

    try:
        return None if value is None else check_history_from(value)
    except ReportgenError as exc:
        raise click.BadParameter(str(exc).removeprefix("--history-from ")) from None


history_from_option = click.option(
    "--history-from",
    default=None,
    callback=_check_history_from,
    metavar="URL_OR_DIR",
    help="The previous published site (its base URL, or its folder): each model's "
    "history/<slug>.json there is read and this build is added to it, for the trend "
    "charts and the index's change since the previous build. Unreachable or malformed: "
    "a warning, and a fresh history. Default: a history of this build alone.",
)


def _selected(config_path: Path | None, models: str | None) -> tuple[Config, tuple[ModelSpec, ...]]:
    config = load_config(config_path)
    return config, config.select(_split_models(models))


def _collect(
    specs: tuple[ModelSpec, ...],
    out: Path,
    jobs: int | None,
    timeout: float | None,
    profile: bool,
    *,
    unsafe_load: bool = False,
    memory_limit_gib: float | None = None,
    keep_going: bool = False,
    cache: CollectCache | None = None,
) -> dict[str, str]:
    """Collect every model; without ``keep_going`` any failure stops the command.

    Returns the failures (slug → message) that ``keep_going`` let through.
    """
    to_collect = cache.lookup(specs, out) if cache is not None else list(specs)
    jobs = _jobs(jobs, len(to_collect))
    memory_limit = int(memory_limit_gib * 2**30) if memory_limit_gib else default_memory_limit(jobs)
    failed: dict[str, CollectError] = {}
    if to_collect or cache is None:  # every model from the cache: no worker, no TensorFlow
        with collect_progress(to_collect, jobs, out) as progress:  # live on a terminal, else lines
            _, failed = collect_models(
                to_collect,
                out,
                jobs,
                timeout,
                profile,
                cache.storing(progress.on_done) if cache is not None else progress.on_done,
                unsafe_load=unsafe_load,
                memory_limit=memory_limit,
            )
    if cache is not None:
        cache.finish()
    failed_in_order = [failed[s.slug] for s in specs if s.slug in failed]
    if len(failed_in_order) == len(specs) and len(specs) == 1:
        raise failed_in_order[0]
    for error in failed_in_order:
        _log(f"reportgen: error: {error}")
    if failed_in_order and (not keep_going or len(failed_in_order) == len(specs)):
        raise ReportgenError(f"{len(failed_in_order)} of {len(specs)} models failed to collect")
    return {error.slug: error.message for error in failed_in_order}


def _jobs(jobs: int | None, models: int) -> int:
    """``--jobs`` as given, else what the machine allows, said in one line (unless --quiet;
    not for a single model, where there is nothing to choose)."""
    if jobs is not None:
        return jobs
    from reportgen.jobs import default_jobs, detect_machine, jobs_line

    machine = detect_machine()
    chosen = default_jobs(models, machine)
    if models > 1 and current_verbosity() != "quiet":
        _log(jobs_line(models, chosen, machine))
    return chosen


def _open_cache(
    cache_dir: Path | None,
    no_cache: bool,
    max_mib: int | None,
    config: Config | None,
    profile: bool,
    unsafe_load: bool,
) -> CollectCache | None:
    """The ``--cache`` folder, checked writable before anything is collected (or None)."""
    if cache_dir is None:
        return None
    from reportgen.cache import DEFAULT_MAX_MIB, Cache, CollectCache

    cache = Cache.open(cache_dir)
    project = [Path.cwd()]
    if config is not None and config.path is not None:
        project.insert(0, config.path.parent)
    verbosity = current_verbosity()
    return CollectCache(
        cache,
        profile=profile,
        unsafe_load=unsafe_load,
        project_dirs=tuple(project),
        max_bytes=(DEFAULT_MAX_MIB if max_mib is None else max_mib) * 2**20,
        read=not no_cache,
        log=_log if verbosity != "quiet" else _log_warnings,
        verbose=verbosity == "verbose",
    )


def _log_warnings(message: str) -> None:
    """--quiet: of the cache's lines, only the warnings."""
    if message.startswith("reportgen: warning:"):
        _log(message)


def _cache_protected(cache_dir: Path | None) -> list[Protected]:
    """The ``--cache`` folder: publishing ``--out`` over it would delete it."""
    return [Protected(cache_dir, f"the cache folder {cache_dir}")] if cache_dir else []


def _protected(config: Config, specs: tuple[ModelSpec, ...]) -> list[Protected]:
    """What ``--out`` may never be nor contain: the user's folders, models and articles."""
    paths: list[tuple[str, str | None]] = []
    for spec in specs:
        paths += [
            (f"the source of model {spec.slug!r}", spec.source_path),
            (f"the English article of model {spec.slug!r}", spec.article_en),
            (f"the Chinese article of model {spec.slug!r}", spec.article_zh),
        ]
    return protected_paths(config.path, paths)


def _render(
    model_dirs: list[Path],
    out: Path,
    strict: bool,
    order: list[str] | None,
    base_url: str | None = None,
    failures: dict[str, str] | None = None,
    builtin: dict[str, str] | None = None,
    budgets: dict[str, Budget | None] | None = None,
    history: HistoryPlan | None = None,
) -> None:
    from reportgen.pipeline import check_reports, load_reports, publish_site

    _matplotlib_cache()
    reports, dirs_by_slug = load_reports(model_dirs, order, builtin)
    reports = attach_budgets(reports, budgets or {})
    kept: dict[str, str] = {}  # the failed models' histories, carried unchanged
    if history is not None:
        from reportgen.history import attach_histories

        histories = attach_histories(reports, history, failures or {})
        reports, kept = histories.reports, histories.kept
        for line in histories.warnings:
            _log(f"reportgen: warning: {line}")
    for problem in check_reports(reports, strict):
        _log(f"reportgen: warning: {problem}")
    publish_site(reports, dirs_by_slug, out, base_url, failures, kept)
    if current_verbosity() != "quiet":
        target = resolve_out(out)
        into = f" (the link's target {target}/)" if target != out.absolute() else ""
        count = f"{len(reports)} model{'s' if len(reports) != 1 else ''}"
        _log(f"wrote {out}/{into} ({count}, en + zh)")
    _check_budgets(reports, out)


def _history_plan(config: Config, history_from: str | None) -> HistoryPlan:
    """This build's commit and dates, and where the previous histories are
    (:mod:`reportgen.history`)."""
    from reportgen.history import plan_history

    return plan_history(config, history_from)


def _check_budgets(reports: list[ModelReport], out: Path) -> None:
    """Fail on a budget exceeded or unknown, after publishing: the pages show why."""
    problems = budget_problems(reports)
    for problem in problems:
        _log(f"reportgen: error: {problem}")
    if problems:
        raise BudgetError(
            f"{len(problems)} budget limit{'s' if len(problems) != 1 else ''} not met; {out}/ was "
            "published all the same, so its pages show why"
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reportgen")
def cli() -> None:
    """Derive, verify and publish every number about Keras/TensorFlow models."""


@cli.command()
@config_option
@models_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Site directory, replaced in one step when the build succeeds; an existing folder "
    "must be empty or a site reportgen made. A symbolic link publishes into its target. "
    "[default: site]",
)
@click.option("--strict", is_flag=True, help="Fail when any derived number disagrees with Keras.")
@jobs_option
@timeout_option
@no_profile_option
@base_url_option
@history_from_option
@keep_going_option
@unsafe_load_option
@memory_limit_option
@cache_option
@no_cache_option
@cache_max_option
@quiet_option
@verbose_option
def build(
    config_path: Path | None,
    models: str | None,
    out: Path | None,
    strict: bool,
    jobs: int,
    timeout: float | None,
    no_profile: bool,
    base_url: str | None,
    keep_going: bool,
    unsafe_load: bool,
    memory_limit_gib: float | None,
    cache_dir: Path | None,
    no_cache: bool,
    cache_max_mib: int | None,
    history_from: str | None = None,
) -> None:
    """Collect, derive, render and publish the site (the built-in models by default)."""
    config, specs = _selected(config_path, models)
    history = _history_plan(config, history_from)
    out = out or Path(config.out)
    check_out(out, [*_protected(config, specs), *_cache_protected(cache_dir)])
    cache = _open_cache(cache_dir, no_cache, cache_max_mib, config, not no_profile, unsafe_load)
    with (
        publishing_lock(out, "build"),
        tempfile.TemporaryDirectory(prefix="reportgen-collect-") as tmp,
    ):
        failures = _collect(
            specs,
            Path(tmp),
            jobs,
            timeout,
            not no_profile,
            unsafe_load=unsafe_load,
            memory_limit_gib=memory_limit_gib,
            keep_going=keep_going,
            cache=cache,
        )
        from reportgen.pipeline import find_collected

        _render(
            find_collected([Path(tmp)]),
            out,
            strict,
            [s.slug for s in specs],
            base_url or config.base_url,
            failures,
            config.builtin_sources(),
            budgets={spec.slug: spec.budget for spec in specs},
            history=history,
        )
    if failures:
        raise ReportgenError(
            f"{len(failures)} of {len(specs)} models failed; {out}/ was published without "
            "them (--keep-going)"
        )


@cli.command()
@config_option
@models_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("collected"),
    show_default=True,
    help="Directory for the collected facts, one folder per model.",
)
@jobs_option
@timeout_option
@no_profile_option
@keep_going_option
@unsafe_load_option
@memory_limit_option
@cache_option
@no_cache_option
@cache_max_option
@quiet_option
@verbose_option
def collect(
    config_path: Path | None,
    models: str | None,
    out: Path,
    jobs: int,
    timeout: float | None,
    no_profile: bool,
    keep_going: bool,
    unsafe_load: bool,
    memory_limit_gib: float | None,
    cache_dir: Path | None,
    no_cache: bool,
    cache_max_mib: int | None,
) -> None:
    """Collect facts from the models (TensorFlow runs here), for `reportgen render`."""
    config, specs = _selected(config_path, models)
    check_collect_out(out, specs)
    cache = _open_cache(cache_dir, no_cache, cache_max_mib, config, not no_profile, unsafe_load)
    failures = _collect(
        specs,
        out,
        jobs,
        timeout,
        not no_profile,
        unsafe_load=unsafe_load,
        memory_limit_gib=memory_limit_gib,
        keep_going=keep_going,
        cache=cache,
    )
    if failures:
        raise ReportgenError(f"{len(failures)} of {len(specs)} models failed to collect")


@cli.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("site"),
    show_default=True,
    help="Site directory, replaced in one step on success; an existing folder must be empty "
    "or a site reportgen made. A symbolic link publishes into its target.",
)
@click.option("--strict", is_flag=True, help="Fail when any derived number disagrees with Keras.")
@base_url_option
@history_from_option
@config_option
@quiet_option
@verbose_option
def render(
    dirs: tuple[Path, ...],
    out: Path,
    strict: bool,
    base_url: str | None,
    config_path: Path | None,
    history_from: str | None = None,
) -> None:
    """Render a site from collected directories, without TensorFlow.

    Models are listed in the order of the configuration (as `build` lists them), then any
    others by name.
    """
    from reportgen.pipeline import find_collected

    config = load_config(config_path)
    model_dirs = find_collected(dirs)
    inputs = [Protected(d, f"the collected folder {d}") for d in model_dirs]
    check_out(out, [*_protected(config, config.models), *inputs])
    with publishing_lock(out, "render"):
        _render(
            model_dirs,
            out,
            strict,
            [spec.slug for spec in config.models],
            base_url or config.base_url,
            builtin=config.builtin_sources(),
            budgets={spec.slug: spec.budget for spec in config.models},
            history=_history_plan(config, history_from),
        )


@cli.group(name="cache")
def cache_group() -> None:
    """Manage a --cache folder of collected facts."""


@cache_group.command(name="prune")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--max-mib",
    type=click.IntRange(min=0),
    default=None,
    metavar="MIB",
    help="Keep at most this much; the least recently used entries go first (0 empties "
    "the cache). [default: 1024]",
)
def cache_prune(directory: Path, max_mib: int | None) -> None:
    """Remove the least recently used entries of a cache folder past the cap."""
    from reportgen.cache import DEFAULT_MAX_MIB, Cache
    from reportgen.units import fmt_bytes

    if not directory.is_dir():
        raise ReportgenError(f"the cache folder {directory} does not exist")
    cache = Cache.open(directory, create=False)
    result = cache.prune((DEFAULT_MAX_MIB if max_mib is None else max_mib) * 2**20)
    removed, kept = fmt_bytes(result.removed_bytes), fmt_bytes(result.kept_bytes)
    _log(
        f"pruned {directory}/: removed {result.removed} entries ({removed}), "
        f"kept {result.kept} ({kept})"
    )


@cli.command(name="list")
@config_option
def list_models(config_path: Path | None) -> None:
    """List the configured models (slug, source, title)."""
    config = load_config(config_path)
    origin = "built-in reference models" if config.builtin else str(config.path)
    click.echo(f"# {origin}")
    for spec in config.models:
        click.echo(f"{spec.slug}\t{spec.source}\t{spec.title_en}")


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("site"),
    show_default=True,
    help="Site directory to serve.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--bind", default="127.0.0.1", show_default=True)
def serve(directory: Path, port: int, bind: str) -> None:
    """Preview a built site at http://BIND:PORT/ (Ctrl-C stops)."""
    import functools
    import http.server

    if not (directory / "index.html").is_file():
        raise ReportgenError(f"{directory}: no site here; run `reportgen build` first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer((bind, port), handler) as server:
        host, real_port = str(server.server_address[0]), server.server_address[1]
        _log(f"serving {directory}/ at http://{host}:{real_port}/ (Ctrl-C stops)")
        server.serve_forever()


@cli.command()
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option(
    "--fail-on",
    metavar="KIND,...",
    help="Exit non-zero when such a change appears: params, bytes, flops (derived, exact) "
    "or models (added or removed). Profiled time never fails: it is noisy. A budget the "
    "new build carries ([models.budget], max_increase too) fails without this option.",
)
@click.option(
    "--time-threshold",
    type=click.FloatRange(min=0),
    default=0.25,
    show_default=True,
    metavar="FRACTION",
    help="A profiled time that changed by less than this fraction is taken for noise.",
)
@click.option(
    "--time-floor",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="MICROSECONDS",
    help="A profiled time that changed by less than this is taken for noise.",
)
@click.option(
    "--max-layers",
    type=click.IntRange(min=0),
    default=40,
    show_default=True,
    help="Changed layers listed per model; the others are counted.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the Markdown to this file.",
)
def diff(
    old: Path,
    new: Path,
    fail_on: str | None,
    time_threshold: float,
    time_floor: float,
    max_layers: int,
    output: Path | None,
) -> None:
    """Compare two sites or data directories: a Markdown table of what changed."""
    from reportgen.diff import TimeNoise, check_output_path, compare, write_markdown

    if output is not None:
        check_output_path(output)  # before any work
    noise = TimeNoise(relative=time_threshold, floor_us=time_floor)
    outcome = compare(old, new, fail_on, noise, max_layers)
    click.echo(outcome.markdown, nl=False)
    if output is not None:
        write_markdown(output, outcome.markdown)
    for breach in outcome.budget_breaches:  # the budgets the new build carries
        _log(f"reportgen: error: {breach}")
    if outcome.gate_failures:
        failures = "; ".join(outcome.gate_failures)
        raise ReportgenError(f"diff: {failures} (--fail-on {fail_on})")
    if outcome.budget_breaches:
        count = len(outcome.budget_breaches)
        raise BudgetError(f"diff: {count} budget limit{'s' if count != 1 else ''} not met")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # one path for Ctrl-C and SIGTERM: stop workers, keep the old site


def _matplotlib_cache() -> None:
    """Keep matplotlib's font cache out of the user's home: in a private temp folder.

    reportgen writes only inside ``--out`` and the temporary directory, so a read-only or
    missing home works. The folder is kept between runs (the cache saves seconds) and is
    used only when it is a real directory of this user's that nobody else can write.
    """
    if "MPLCONFIGDIR" in os.environ:
        return
    folder = Path(tempfile.gettempdir()) / f"reportgen-{os.getuid()}" / "matplotlib"
    try:
        for path in (folder.parent, folder):
            path.mkdir(mode=0o700, exist_ok=True)
            info = path.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
                raise OSError(f"{path} is not a private directory")
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="reportgen-matplotlib-"))
    os.environ["MPLCONFIGDIR"] = str(folder)


def main(argv: list[str] | None = None) -> int:
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    try:
        result = cli.main(args=argv, prog_name="reportgen", standalone_mode=False)
    except click.exceptions.Abort:
        _log("reportgen: interrupted")
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except ReportgenError as exc:
        _log(f"reportgen: error: {exc}")
        return 1
    except KeyboardInterrupt:
        _log("reportgen: interrupted")
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
