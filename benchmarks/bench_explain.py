"""How long ``reportgen.explain(model)`` takes once the model is built (issue 16's budget:
LeNet 0.5 s, ResNet50 2 s), and its notebook HTML and text table.

Each model is built first (not timed), then ``explain`` runs ``--repeat`` times: the first
call also imports what reportgen needs (derive, render), later calls show the steady cost.
No graph is traced without ``--measure``. Run: ``python -m benchmarks.bench_explain``
(``--models lenet,resnet50``; ``--measure`` adds the in-process measurement).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

BUDGET_S = {"lenet": 0.5, "resnet50": 2.0}


def _builders() -> dict[str, Callable[[], Any]]:
    from reportgen.zoo.applications import build_resnet50
    from reportgen.zoo.lenet import build_lenet

    return {"lenet": build_lenet, "resnet50": build_resnet50}


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def bench(name: str, build: Callable[[], Any], repeat: int, measure: bool) -> None:
    import reportgen

    model, built_s = _timed(build)
    times = []
    report = None
    for _ in range(repeat):
        report, seconds = _timed(lambda: reportgen.explain(model, measure=measure))
        times.append(seconds)
    _, html_s = _timed(report._repr_html_)
    _, text_s = _timed(lambda: str(report))
    budget = BUDGET_S.get(name)
    verdict = "" if budget is None or measure else f" (budget {budget} s: "
    verdict += "" if budget is None or measure else ("ok)" if times[0] <= budget else "OVER)")
    print(
        f"{name}: build {built_s:.2f} s; explain{' (measure)' if measure else ''} first "
        f"{times[0]:.3f} s{verdict}, then {min(times[1:] or times):.3f} s; "
        f"HTML {html_s:.2f} s, text {text_s:.2f} s; {len(report.layers)} rows"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lenet,resnet50")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", action="store_true")
    args = parser.parse_args()
    import tensorflow  # noqa: F401  (a notebook has it loaded before explain runs)

    builders = _builders()
    for name in args.models.split(","):
        bench(name, builders[name], args.repeat, args.measure)


if __name__ == "__main__":
    main()
