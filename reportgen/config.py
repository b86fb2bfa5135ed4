"""Configuration: which models to build, from ``reportgen.toml`` or ``[tool.reportgen]``.

Every key is checked: an unknown key or a wrong type is a :class:`ConfigError` that names
the file, the key and what was expected. With no configuration file, the built-in
reference models are used: they are listed in :data:`BUILTIN_CONFIG`, a configuration file
like any project's, read by the same :func:`load_config`.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reportgen.articles import LEADS_OUTSIDE, article_problem
from reportgen.budget import Budget, parse_budget
from reportgen.errors import ConfigError

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SOURCE_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
TENSOR_NAME_RE = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*:\d+$")
"""A graph tensor name: the op's node name, a colon, the output index (``fc2/Softmax:0``)."""

BUILTIN_CONFIG = Path(__file__).parent / "zoo" / "reportgen.toml"
"""reportgen's own configuration: the built-in reference models, their articles beside it."""

KERAS_FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
GRAPH_FILE_SUFFIXES = (".pb",)


def source_kind(source: str) -> str | None:
    """``"factory"``, ``"keras_file"``, ``"frozen_graph"``, or None for neither form."""
    if SOURCE_RE.match(source):
        return "factory"
    suffix = Path(source).suffix.lower()
    if suffix in KERAS_FILE_SUFFIXES:
        return "keras_file"
    if suffix in GRAPH_FILE_SUFFIXES:
        return "frozen_graph"
    return None


@dataclass(frozen=True)
class ModelSpec:
    """One model to report on."""

    slug: str
    source: str
    """As configured: ``package.module:function``, or a path to a .keras/.h5/.pb file."""
    title_en: str
    title_zh: str
    input_shape: tuple[int, ...] | None = None
    batch_size: int = 1
    article_en: str | None = None
    article_zh: str | None = None
    source_path: str | None = None
    """A file source resolved against the configuration file's directory (absolute)."""
    inputs: tuple[str, ...] | None = None
    """Input tensor names of a frozen graph (``x:0``)."""
    outputs: tuple[str, ...] | None = None
    """Output tensor names of a frozen graph (``fc2/Softmax:0``)."""
    article_root: str | None = None
    """The directory the articles must stay inside: the configuration file's (absolute)."""
    sequence_length: int | None = None
    """Fills every unknown non-batch dimension of every model input (a sequence model's
    length: keras-hub's ``token_ids`` are ``(None, None)``)."""
    input_shapes: dict[str, tuple[int, ...]] | None = None
    """Per input name, its shape without the batch (wins over ``sequence_length``)."""
    memory_budget_gib: float | None = None
    """The memory the reader has in mind, in GiB: the page says the largest batch that fits
    in it, beside the common sizes (8, 16, 24, 40, 80 GiB)."""
    budget: Budget | None = None
    """``[models.budget]``: limits checked after rendering (:mod:`reportgen.budget`). Not
    part of :meth:`to_dict`: a budget changes no collected fact."""
    previous_slugs: tuple[str, ...] = ()
    """Slugs this model was published under before: their history (``history/<slug>.json``
    of the previous site) is carried into this slug's. Not part of :meth:`to_dict`."""

    @property
    def kind(self) -> str:
        """``"factory"``, ``"keras_file"`` or ``"frozen_graph"``."""
        return source_kind(self.source) or "factory"

    def to_dict(self) -> dict[str, Any]:
        """What collecting the model depends on (a worker's request, the facts' cache key)."""
        data = asdict(self)
        del data["budget"]  # checked after rendering: it must not re-collect a model
        del data["previous_slugs"]  # read when rendering, like the budget
        for key in ("input_shape", "inputs", "outputs"):
            value = getattr(self, key)
            data[key] = list(value) if value else None
        if self.input_shapes is not None:
            data["input_shapes"] = {name: list(dims) for name, dims in self.input_shapes.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        fixed = dict(data)
        for key in ("input_shape", "inputs", "outputs"):
            value = fixed.get(key)
            fixed[key] = tuple(value) if value else None
        shapes = fixed.get("input_shapes")
        if shapes is not None:
            fixed["input_shapes"] = {str(k): tuple(int(d) for d in v) for k, v in shapes.items()}
        return cls(**fixed)


@dataclass(frozen=True)
class Config:
    models: tuple[ModelSpec, ...]
    path: Path | None = None
    out: str = "site"
    base_url: str | None = None
    repository_url: str | None = None
    """``https://github.com/owner/repo``: the model pages link each build's commit there."""

    @property
    def builtin(self) -> bool:
        """Whether this is :data:`BUILTIN_CONFIG`: its models are the built-in reference models.

        The one place that decides it; a page learns it from the configuration it is
        rendered with (:meth:`builtin_sources`), never from what a model's source looks like.
        """
        return self.path is not None and self.path.resolve() == BUILTIN_CONFIG.resolve()

    def builtin_sources(self) -> dict[str, str]:
        """Slug → source of each built-in reference model here; empty for any other file."""
        return {model.slug: model.source for model in self.models} if self.builtin else {}

    def select(self, slugs: list[str] | None) -> tuple[ModelSpec, ...]:
        """The models named by ``--models`` (in that order), or all of them."""
        if not slugs:
            return self.models
        by_slug = {m.slug: m for m in self.models}
        unknown = [s for s in slugs if s not in by_slug]
        if unknown:
            known = ", ".join(by_slug) or "none"
            raise ConfigError(f"unknown model {unknown[0]!r} in --models (known: {known})")
        return tuple(by_slug[s] for s in dict.fromkeys(slugs))


_MODEL_KEYS = {
    "slug": "a string of lowercase letters, digits, '-' or '_'",
    "source": "a string 'package.module:function' or a path to a .keras, .h5 or .pb file",
    "inputs": "a non-empty list of input tensor names such as 'x:0'",
    "outputs": "a non-empty list of output tensor names such as 'fc2/Softmax:0'",
    "input_shape": "a list of positive integers, without the batch dimension",
    "batch_size": "a positive integer",
    "sequence_length": "a positive integer: the length of every input dimension Keras leaves open",
    "input_shapes": (
        "a table of input name = list of positive integers, without the batch dimension"
    ),
    "memory_budget_gib": "a positive number of GiB (the memory to fit the model in)",
    "title": "a table with 'en' and 'zh' strings",
    "article": "a table with 'en' and 'zh' paths to Markdown files",
    "budget": "a table of limits (see reportgen.budget)",
    "previous_slugs": "a list of the slugs this model had before (each like 'slug')",
}
_TOP_KEYS = {"models", "out", "base_url", "repository_url"}


def _where(path: Path | None, key: str) -> str:
    return f"{path or '<config>'}: {key}"


def _expect(ok: bool, path: Path | None, key: str, expected: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{_where(path, key)} must be {expected}, got {value!r}")


def _parse_model(raw: Any, index: int, path: Path | None, prefix: str) -> ModelSpec:
    where = f"{prefix}[{index}]"
    _expect(isinstance(raw, dict), path, where, "a table", raw)
    for key in raw:
        if key not in _MODEL_KEYS:
            allowed = ", ".join(sorted(_MODEL_KEYS))
            raise ConfigError(f"{_where(path, f'{where}.{key}')} is not a known key ({allowed})")
    for key in ("slug", "source"):
        if key not in raw:
            raise ConfigError(f"{_where(path, where)} is missing the key {key!r}")
    slug = raw["slug"]
    _expect(
        isinstance(slug, str) and bool(SLUG_RE.match(slug)),
        path,
        f"{where}.slug",
        _MODEL_KEYS["slug"],
        slug,
    )
    source = raw["source"]
    kind = source_kind(source) if isinstance(source, str) else None
    _expect(kind is not None, path, f"{where}.source", _MODEL_KEYS["source"], source)
    tensors = {key: _tensor_names(raw, key, kind, path, where) for key in ("inputs", "outputs")}
    base = path.parent if path else Path.cwd()
    shape = raw.get("input_shape")
    if shape is not None:
        _expect(
            isinstance(shape, list)
            and bool(shape)
            and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape),
            path,
            f"{where}.input_shape",
            _MODEL_KEYS["input_shape"],
            shape,
        )
    batch = raw.get("batch_size", 1)
    _expect(
        isinstance(batch, int) and not isinstance(batch, bool) and batch > 0,
        path,
        f"{where}.batch_size",
        _MODEL_KEYS["batch_size"],
        batch,
    )
    length = raw.get("sequence_length")
    if length is not None:
        _expect(
            _positive_int(length),
            path,
            f"{where}.sequence_length",
            _MODEL_KEYS["sequence_length"],
            length,
        )
    input_shapes = _input_shapes(raw.get("input_shapes"), path, f"{where}.input_shapes")
    budget = raw.get("memory_budget_gib")
    if budget is not None:
        _expect(
            isinstance(budget, int | float)
            and not isinstance(budget, bool)
            and math.isfinite(budget)
            and 0 < budget <= 2**20,
            path,
            f"{where}.memory_budget_gib",
            _MODEL_KEYS["memory_budget_gib"],
            budget,
        )
    titles = _lang_table(raw.get("title", {}), path, f"{where}.title", "title")
    articles = {
        lang: _article_path(value, base, path, f"{where}.article.{lang}")
        for lang, value in _lang_table(
            raw.get("article", {}), path, f"{where}.article", "article"
        ).items()
    }
    return ModelSpec(
        slug=slug,
        source=source,
        title_en=titles.get("en", slug),
        title_zh=titles.get("zh", titles.get("en", slug)),
        input_shape=tuple(shape) if shape else None,
        batch_size=batch,
        article_en=articles.get("en"),
        article_zh=articles.get("zh"),
        article_root=str(base.resolve()) if articles else None,
        source_path=str((base / source).absolute()) if kind != "factory" else None,
        inputs=tensors["inputs"],
        outputs=tensors["outputs"],
        sequence_length=length,
        input_shapes=input_shapes,
        memory_budget_gib=float(budget) if budget is not None else None,
        budget=(
            parse_budget(raw["budget"], path, f"{where}.budget") if "budget" in raw else None
        ),
        previous_slugs=_previous_slugs(raw.get("previous_slugs", []), slug, path, where),
    )


def _previous_slugs(raw: Any, slug: str, path: Path | None, where: str) -> tuple[str, ...]:
    """``previous_slugs = ["old-name"]``: slugs (they name files read from the previous
    site), each once, none the model's own."""
    key = f"{where}.previous_slugs"
    _expect(
        isinstance(raw, list)
        and all(isinstance(s, str) and bool(SLUG_RE.match(s)) and s != slug for s in raw)
        and len(set(raw)) == len(raw),
        path,
        key,
        "a list of other slugs, each once, of lowercase letters, digits, '-' or '_'",
        raw,
    )
    return tuple(raw)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _input_shapes(raw: Any, path: Path | None, key: str) -> dict[str, tuple[int, ...]] | None:
    """``input_shapes = { token_ids = [128] }``: each input's shape without the batch.

    Whether each name is one of the model's inputs is known only once the model is built:
    the collect worker checks it.
    """
    if raw is None:
        return None
    _expect(isinstance(raw, dict) and bool(raw), path, key, _MODEL_KEYS["input_shapes"], raw)
    shapes: dict[str, tuple[int, ...]] = {}
    for name, dims in raw.items():
        _expect(
            isinstance(dims, list) and bool(dims) and all(_positive_int(d) for d in dims),
            path,
            f"{key}.{name}",
            "a non-empty list of positive integers, without the batch dimension",
            dims,
        )
        shapes[str(name)] = tuple(dims)
    return shapes


def _article_path(value: str, base: Path, path: Path | None, key: str) -> str:
    """An article's path: relative, a regular file inside the configuration's directory.

    Articles are published as they are: a path that leads elsewhere (``/etc/passwd``,
    ``../../secret``, a symbolic link) would publish that file.
    """
    root = base.resolve()
    candidate = base / value
    if Path(value).is_absolute():
        problem: str | None = "an absolute path; write it relative to the configuration file"
    else:
        problem = article_problem(candidate, root)
    if problem is None:
        return str(candidate)
    detail = "" if problem.startswith(LEADS_OUTSIDE) else f" ({problem})"
    raise ConfigError(
        f"{_where(path, key)} must be a Markdown file inside {root}, got {value!r}{detail}"
    )


def _tensor_names(
    raw: dict[str, Any], key: str, kind: str | None, path: Path | None, where: str
) -> tuple[str, ...] | None:
    """``inputs``/``outputs``: required for a frozen graph (.pb), refused for other sources."""
    value = raw.get(key)
    if kind != "frozen_graph":
        if value is not None:
            raise ConfigError(
                f"{_where(path, f'{where}.{key}')} is only for a frozen graph source (.pb); "
                "a Keras model names its own inputs and outputs"
            )
        return None
    if value is None:
        example = 'inputs = ["x:0"]' if key == "inputs" else 'outputs = ["fc2/Softmax:0"]'
        raise ConfigError(
            f"{_where(path, where)} is missing the key {key!r}: a frozen graph (.pb) needs "
            f"the names of its {key[:-1]} tensors, e.g. {example}"
        )
    _expect(
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, str) and bool(TENSOR_NAME_RE.match(v)) for v in value),
        path,
        f"{where}.{key}",
        _MODEL_KEYS[key],
        value,
    )
    if len(set(value)) != len(value):
        raise ConfigError(f"{_where(path, f'{where}.{key}')} names a tensor twice: {value!r}")
    return tuple(value)


def _lang_table(raw: Any, path: Path | None, where: str, key: str) -> dict[str, str]:
    _expect(isinstance(raw, dict), path, where, _MODEL_KEYS[key], raw)
    for lang, value in raw.items():
        if lang not in ("en", "zh"):
            raise ConfigError(f"{_where(path, f'{where}.{lang}')} is not a known key (en, zh)")
        _expect(
            isinstance(value, str) and bool(value),
            path,
            f"{where}.{lang}",
            "a non-empty string",
            value,
        )
    return dict(raw)


def parse_config(data: dict[str, Any], path: Path | None, prefix: str = "") -> Config:
    for key in data:
        if key not in _TOP_KEYS:
            allowed = ", ".join(sorted(_TOP_KEYS))
            raise ConfigError(f"{_where(path, prefix + key)} is not a known key ({allowed})")
    raw_models = data.get("models", [])
    _expect(
        isinstance(raw_models, list),
        path,
        prefix + "models",
        "an array of tables ([[models]])",
        raw_models,
    )
    models = tuple(
        _parse_model(raw, i, path, prefix + "models") for i, raw in enumerate(raw_models)
    )
    seen: set[str] = set()
    for model in models:
        if model.slug in seen:
            raise ConfigError(
                f"{_where(path, prefix + 'models')} has the slug "
                f"{model.slug!r} twice; slugs name output files and must differ"
            )
        seen.add(model.slug)
    if not models:
        raise ConfigError(f"{_where(path, prefix + 'models')} lists no models")
    out = data.get("out", "site")
    _expect(isinstance(out, str) and bool(out), path, prefix + "out", "a non-empty string", out)
    base_url = data.get("base_url")
    if base_url is not None:
        _expect(
            isinstance(base_url, str) and base_url.startswith(("https://", "http://")),
            path,
            prefix + "base_url",
            "an absolute http(s) URL",
            base_url,
        )
    repository_url = data.get("repository_url")
    if repository_url is not None:
        _expect(
            isinstance(repository_url, str) and _plain_http_url(repository_url),
            path,
            prefix + "repository_url",
            "an absolute http(s) URL such as 'https://github.com/owner/repo'",
            repository_url,
        )
    return Config(
        models=models, path=path, out=out, base_url=base_url, repository_url=repository_url
    )


def _plain_http_url(value: str) -> bool:
    """An http(s) URL with a host, without spaces, quotes or angle brackets."""
    from urllib.parse import urlsplit

    if any(c.isspace() or not c.isprintable() or c in "\"'<>`\\" for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such configuration file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc


def load_config(explicit: Path | None = None, cwd: Path | None = None) -> Config:
    """``--config FILE``, else ``./reportgen.toml``, else ``[tool.reportgen]``, else built-ins.

    The built-ins are :data:`BUILTIN_CONFIG`, read exactly as a project's file is.
    """
    if explicit is not None:
        data = _read_toml(explicit)
        if explicit.name == "pyproject.toml":
            return parse_config(_tool_table(data, explicit), explicit, "tool.reportgen.")
        return parse_config(data, explicit)
    cwd = cwd or Path.cwd()
    own = cwd / "reportgen.toml"
    if own.is_file():
        return parse_config(_read_toml(own), own)
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        data = _read_toml(pyproject)
        if "reportgen" in data.get("tool", {}):
            return parse_config(_tool_table(data, pyproject), pyproject, "tool.reportgen.")
    return builtin_config()


def builtin_config() -> Config:
    """The built-in reference models (what ``reportgen build`` builds with no configuration)."""
    return load_config(BUILTIN_CONFIG)


def _tool_table(data: dict[str, Any], path: Path) -> dict[str, Any]:
    table = data.get("tool", {}).get("reportgen")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: has no [tool.reportgen] table")
    return table
