"""Time chart rendering (and optionally all of it) on synthetic keras.applications-sized models.

No TensorFlow: each model is a chain of hand-made Conv2D / BatchNormalization / ReLU /
MaxPooling2D / Add layers (tests.handmade.layer) derived with reportgen.derive, with the
layer counts of the 40 models of keras.applications (16,323 layers in all). Measured bytes
and times are filled in on every other layer, so the memory chart has two series and
every model has a time chart, as in a profiled build.

    nice python benchmarks/render_charts.py                 # charts of all 40 models
    nice python benchmarks/render_charts.py --site          # and the whole render_site
    nice python benchmarks/render_charts.py --models 3      # the first 3 sizes only

Target (2 cores): render alone of the whole zoo within 30 s.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Layer counts of keras.applications models (Keras 3), largest last: 16,323 in all.
ZOO_SIZES: dict[str, int] = {
    "vgg16": 23,
    "vgg19": 26,
    "mobilenet": 91,
    "xception": 134,
    "convnexttiny": 151,
    "mobilenetv2": 156,
    "resnet50": 177,
    "resnet50v2": 192,
    "mobilenetv3small": 240,
    "efficientnetb0": 240,
    "mobilenetv3large": 265,
    "efficientnetv2b0": 270,
    "convnextsmall": 295,
    "convnextbase": 295,
    "convnextlarge": 295,
    "convnextxlarge": 295,
    "inceptionv3": 313,
    "efficientnetv2b1": 336,
    "efficientnetb1": 342,
    "efficientnetb2": 342,
    "resnet101": 347,
    "efficientnetv2b2": 351,
    "resnet101v2": 379,
    "efficientnetb3": 387,
    "efficientnetv2b3": 411,
    "densenet121": 429,
    "efficientnetb4": 477,
    "efficientnetv2s": 515,
    "resnet152": 517,
    "resnet152v2": 566,
    "efficientnetb5": 579,
    "densenet169": 597,
    "efficientnetb6": 669,
    "densenet201": 709,
    "efficientnetv2m": 742,
    "nasnetmobile": 771,
    "inceptionresnetv2": 782,
    "efficientnetb7": 816,
    "efficientnetv2l": 1031,
    "nasnetlarge": 1041,
}


def synthetic_facts(slug: str, count: int):  # type: ignore[no-untyped-def]
    from tests.handmade import layer, lenet_facts

    layers = [layer("input", "InputLayer", (None, 64, 64, 16), (None, 64, 64, 16))]
    side, channels = 64, 16
    for i in range(1, count):
        shape = (None, side, side, channels)
        kind = i % 5
        if kind == 0 and side > 2 and i % 15 == 0:
            out = (None, side // 2, side // 2, channels)
            layers.append(
                layer(
                    f"block{i // 15}_pool",
                    "MaxPooling2D",
                    shape,
                    out,
                    pool_size=[2, 2],
                    strides=[2, 2],
                    padding="valid",
                )
            )
            side //= 2
        elif kind in (0, 1):
            c_out = min(channels * 2, 512) if i % 30 == 1 else channels
            layers.append(
                layer(
                    f"block{i // 15}_conv{i % 15}",
                    "Conv2D",
                    shape,
                    (None, side, side, c_out),
                    (("kernel", (3, 3, channels, c_out)), ("bias", (c_out,))),
                    filters=c_out,
                    kernel_size=[3, 3],
                    padding="same",
                    use_bias=True,
                    groups=1,
                    activation="linear",
                    data_format="channels_last",
                    strides=[1, 1],
                )
            )
            channels = c_out
        elif kind == 2:
            weights = tuple((w, (channels,)) for w in ("gamma", "beta", "mean", "variance"))
            layers.append(
                layer(
                    f"block{i // 15}_bn{i % 15}",
                    "BatchNormalization",
                    shape,
                    shape,
                    weights,
                    axis=-1,
                    center=True,
                    scale=True,
                )
            )
        else:
            layers.append(
                layer(f"block{i // 15}_relu{i % 15}", "ReLU", shape, shape, activation="relu")
            )
    return lenet_facts(layers=tuple(layers), slug=slug, title_en=slug, title_zh=slug)


def synthetic_report(slug: str, count: int):  # type: ignore[no-untyped-def]
    from reportgen.derive import derive_model

    report = derive_model(synthetic_facts(slug, count))
    layers = tuple(
        replace(
            item,
            measured_bytes=item.activation.value if i % 2 else None,
            time_us=10.0 + (i * 37) % 500 if i % 3 else None,
        )
        for i, item in enumerate(report.layers)
    )
    return replace(report, layers=layers)


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (chart workers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=len(ZOO_SIZES), help="first N sizes")
    parser.add_argument("--site", action="store_true", help="also time render_site")
    parser.add_argument("--keep", type=Path, help="write the site here (with --site)")
    args = parser.parse_args()

    started = time.perf_counter()
    sizes = list(ZOO_SIZES.items())[: args.models]
    reports = [synthetic_report(slug, count) for slug, count in sizes]
    print(
        f"{len(reports)} models, {sum(len(r.layers) for r in reports):,} layers "
        f"(built in {time.perf_counter() - started:.1f} s)"
    )

    from reportgen.render import site

    started, cpu = time.perf_counter(), _cpu()
    charts: dict[str, str] = {}
    for report in reports:
        try:
            charts.update(site.gather_charts(report))
        except TypeError:  # before the charts lost their words: one language at a time
            for lang in ("en", "zh"):
                charts.update(site.gather_charts(report, lang))  # type: ignore[call-arg]
    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    layers = sum(len(r.layers) for r in reports)
    print(
        f"charts: {elapsed:.1f} s wall, {cpu:.1f} s CPU, for {len(charts)} SVG files "
        f"({1000 * elapsed / layers:.2f} ms per layer, "
        f"{sum(len(s) for s in charts.values()) / 2**20:.1f} MiB)"
    )

    if args.site:
        started, cpu = time.perf_counter(), _cpu()
        if args.keep:
            site.render_site(reports, args.keep)
        else:
            with tempfile.TemporaryDirectory() as out:
                site.render_site(reports, Path(out))
        elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
        print(f"render_site: {elapsed:.1f} s wall, {cpu:.1f} s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
