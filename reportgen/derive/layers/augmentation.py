"""Random data augmentation (``keras/src/layers/preprocessing/image_preprocessing/``).

These layers change their input only while training; a collected forward pass is inference,
where each either passes its input through (0 FLOPs, checked against the profiler) or still
draws its random settings, a few scalar operations the profiler counts and no rule covers.
"""

from __future__ import annotations

from reportgen.derive.layers.convention import passes_through
from reportgen.derive.layers.registry import NotDerived, Zero, declare
from reportgen.model import msg

FAMILY = "augmentation"
_HERE = __name__


def _no_weights(kind: str) -> Zero:
    return Zero(
        msg(
            "%(kind)s is random data augmentation: it changes the input while training and "
            "passes it through at inference; it has no weights.",
            kind=kind,
        )
    )


for _kind in (
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomContrast",
    "RandomTranslation",
    "RandomBrightness",
    "AugMix",
    "CutMix",
    "RandAugment",
    "RandomColorJitter",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomGaussianBlur",
    "RandomInvert",
    "RandomPerspective",
    "RandomShear",
    "Solarization",
):
    declare(
        _kind,
        family=FAMILY,
        params=_no_weights(_kind),
        flops=Zero(passes_through(_kind)),
        module=_HERE,
    )
declare(
    "RandomCrop",
    family=FAMILY,
    params=_no_weights("RandomCrop"),
    flops=Zero(
        msg(
            "At inference RandomCrop takes the middle of the image (slicing, or a Resize op for "
            "an image smaller than the target), which the profiler counts 0."
        )
    ),
    module=_HERE,
)
for _kind in (
    "MixUp",
    "RandomColorDegeneration",
    "RandomGrayscale",
    "RandomHue",
    "RandomPosterization",
    "RandomSaturation",
    "RandomSharpness",
):
    declare(
        _kind,
        family=FAMILY,
        params=_no_weights(_kind),
        flops=NotDerived(
            msg(
                "At inference %(kind)s passes its input through, but Keras still draws its "
                "random settings, a few scalar operations the profiler counts; reportgen has no "
                "rule for them.",
                kind=_kind,
            )
        ),
        module=_HERE,
    )
