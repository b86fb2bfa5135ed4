"""The training-memory estimate against Keras: the optimizer state it derives is what a
compiled Keras optimizer allocates."""

from __future__ import annotations

import pytest

from reportgen.derive import derive_model

pytestmark = pytest.mark.tf


def test_optimizer_state_equals_what_keras_allocates() -> None:
    import keras

    from reportgen.collect.keras_facts import model_facts

    inputs = keras.Input((6,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(5)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    spec = type("Spec", (), {"slug": "t", "title_en": "t", "title_zh": "t", "source": "t"})()
    spec.batch_size = 4
    for optimizer in (keras.optimizers.Adam(), keras.optimizers.SGD(momentum=0.9)):
        model.compile(optimizer=optimizer, loss="mse")
        optimizer.build(model.trainable_variables)
        allocated = sum(int(v.numpy().size) * v.numpy().dtype.itemsize for v in optimizer.variables)
        facts = model_facts(model, spec)
        assert facts.optimizer is not None
        est = derive_model(facts).training
        assert est is not None and not est.optimizer_assumed
        assert est.part("optimizer_state").bytes.value == allocated, type(optimizer).__name__
