"""Op name → layer (OpIndex), without TensorFlow: every naming case the measurements meet."""

from __future__ import annotations

import pytest

from reportgen.collect.opindex import OpIndex, scope_name

# ---------------------------------------------------------------------------------------------
# Read from names: Keras 3 scopes under the model's own (no call recorded while tracing)

NAMES = ["conv1", "conv10", "d", "d_1", "fc1", "block"]


@pytest.mark.parametrize(
    ("op", "layer"),
    [
        # Keras 3 in a graph: model and layer scopes get a _N suffix.
        ("lenet_1/conv1_1/Relu", "conv1"),
        ("lenet_1/conv1_1/convolution/ReadVariableOp", "conv1"),
        # The prefix trap: conv10's scope starts with "conv1".
        ("lenet_1/conv10_1/Relu", "conv10"),
        ("lenet_1/conv1_10/Relu", "conv1"),
        # A layer named like a suffixed scope: "d_1" is layer d's scope, d_1's is "d_1_1".
        ("m_1/d_1/MatMul", "d"),
        ("m_1/d_1_1/MatMul", "d_1"),
        # ...and when d_1 comes first, d's call scope skips the taken "d_1".
        ("m_1/d_2/MatMul", "d"),
        # A shared layer's second call.
        ("lenet_1/fc1_3/MatMul", "fc1"),
        # A nested model: its ops belong to the top-level layer that holds it.
        ("lenet_1/block_1/conv1_1/Relu", "block"),
        # tf.keras 2 graphs: no suffixes.
        ("lenet/conv1/Relu", "conv1"),
        # Not a layer's op: outside the model, directly in the model scope, or another model.
        ("Identity", None),
        ("lenet_1/Identity", None),
        ("other_1/conv1_1/Relu", None),
        ("lenet_1/unknown_1/Relu", None),
        # Only the scope right below the model's names the layer.
        ("lenet_1/wrapper/conv1_1/Relu", None),
    ],
)
def test_keras_scopes_read_from_names(op: str, layer: str | None) -> None:
    model = "m" if op.startswith("m_") else "lenet"
    index = OpIndex(NAMES, model_scope=model)
    assert index.layer_of(op) == layer
    # Read from names, a layer stands for all its calls.
    assert index.call_of(op) == layer
    if layer is not None:
        assert index.calls_of(layer) == [layer]


@pytest.mark.parametrize(
    ("op", "layer"),
    [
        ("sequential_1/dense_1/MatMul", "dense"),  # the first Dense, named "dense"
        ("sequential_1/dense_3/MatMul", "dense"),  # ...its second call
        ("sequential_1/dense_1_1/MatMul", "dense_1"),  # the second Dense, named "dense_1"
        ("sequential/dense_1/MatMul", "dense"),  # the model itself unsuffixed
        ("sequential_1/dense_1", None),  # an op named like a scope is not inside it
    ],
)
def test_keras_uniquified_names(op: str, layer: str | None) -> None:
    """Keras names a second Dense ``dense_1``; the graph suffixes every scope once more."""
    assert OpIndex(["dense", "dense_1"], model_scope="sequential").layer_of(op) == layer


@pytest.mark.parametrize(
    ("names", "op", "layer"),
    [
        # A name is matched as text, never as a pattern: "." is not "any character".
        (["a.b"], "m_1/a.b_1/Relu", "a.b"),
        (["a.b"], "m_1/aXb_1/Relu", None),
        (["x+"], "m_1/xx_1/Relu", None),
        (["(x)"], "m_1/x_1/Relu", None),
        # Characters a graph scope may not hold become "_" (Keras allows d<1>'q).
        (["d<1>'q"], "m_1/d_1__q_1/MatMul", "d<1>'q"),
        (["c+"], "m_1/c__1/Add", "c+"),
        # A name itself wins over one that only becomes it.
        (["c+", "c_"], "m_1/c__1/Add", "c_"),
        # The model's name is read the same way.
        (["conv1"], "my_model_1/conv1_1/Relu", "conv1"),
    ],
)
def test_names_with_special_characters(names: list[str], op: str, layer: str | None) -> None:
    model = "my model" if op.startswith("my_model") else "m"
    assert OpIndex(names, model_scope=model).layer_of(op) == layer


def test_scope_name() -> None:
    assert scope_name("conv1") == "conv1"
    assert scope_name("d<1>'q") == "d_1__q"
    assert scope_name("a.b-c_d") == "a.b-c_d"
    assert scope_name("x/y z\\w") == "x_y_z_w"


def test_a_graph_without_keras_read_from_names() -> None:
    """No model scope: a node's top-level scope is its layer's."""
    index = OpIndex(["x", "conv1", "fc1"])
    assert index.layer_of("conv1/Conv2D") == "conv1"
    assert index.layer_of("fc1/MatMul/ReadVariableOp") == "fc1"
    assert index.layer_of("Identity") is None
    assert index.layer_of("other/Relu") is None


# ---------------------------------------------------------------------------------------------
# Recorded while tracing: the scope each layer call opened

LENET_CALLS = {
    "lenet_1/conv1_1": "conv1",
    "lenet_1/pool1_1": "pool1",
    "lenet_1/conv1_1_2": "conv1_1",  # a layer named conv1_1, after conv1 took "conv1_1"
    "lenet_1/fc1_1": "fc1",
    "lenet_1/fc1_3": "fc1",  # fc1 shared: its second call
    "lenet_1/block_1": "block",  # a nested model
    "lenet_1/block_1/shared_1": "shared",  # a top-level layer called inside it
}
LENET_INDEX_NAMES = ["image", "conv1", "pool1", "conv1_1", "fc1", "block", "shared"]


@pytest.mark.parametrize(
    ("op", "call", "layer"),
    [
        ("lenet_1/conv1_1/Relu", "lenet_1/conv1_1", "conv1"),
        ("lenet_1/conv1_1/convolution/ReadVariableOp", "lenet_1/conv1_1", "conv1"),
        # Whole path parts: "conv1_1" never claims "conv1_1_2/...".
        ("lenet_1/conv1_1_2/Relu", "lenet_1/conv1_1_2", "conv1_1"),
        # A shared layer: one layer, one call per scope.
        ("lenet_1/fc1_1/MatMul", "lenet_1/fc1_1", "fc1"),
        ("lenet_1/fc1_3/MatMul", "lenet_1/fc1_3", "fc1"),
        # A nested model's inner layers were not recorded: their ops are the nested model's...
        ("lenet_1/block_1/conv_1/Relu", "lenet_1/block_1", "block"),
        # ...but the innermost recorded scope wins.
        ("lenet_1/block_1/shared_1/MatMul", "lenet_1/block_1/shared_1", "shared"),
        # Outside every layer call.
        ("Identity", None, None),
        ("lenet_1/Identity", None, None),
        ("lenet_1/conv1_10/Relu", None, None),
        # An op named like a recorded scope is not inside it.
        ("lenet_1/conv1_1", None, None),
    ],
)
def test_recorded_calls(op: str, call: str | None, layer: str | None) -> None:
    index = OpIndex(LENET_INDEX_NAMES, calls=LENET_CALLS, model_scope="lenet")
    assert (index.call_of(op), index.layer_of(op)) == (call, layer)
    # Asked again, the same answer (from the cache).
    assert (index.call_of(op), index.layer_of(op)) == (call, layer)


def test_recorded_calls_win_over_names() -> None:
    """With calls recorded, names are not read: d_1 is whatever the trace said it was."""
    index = OpIndex(["d", "d_1"], calls={"m_1/d_1_1": "d", "m_1/d_1": "d_1"}, model_scope="m")
    assert index.layer_of("m_1/d_1/MatMul") == "d_1"
    assert index.layer_of("m_1/d_1_1/MatMul") == "d"


def test_calls_of_a_layer_in_call_order() -> None:
    index = OpIndex(LENET_INDEX_NAMES, calls=LENET_CALLS)
    assert index.calls_of("fc1") == ["lenet_1/fc1_1", "lenet_1/fc1_3"]
    assert index.calls_of("conv1") == ["lenet_1/conv1_1"]
    assert index.calls_of("image") == []  # an InputLayer is never called


def test_a_sanitised_scope_recorded_while_tracing() -> None:
    index = OpIndex(["d<1>'q"], calls={"m_1/d_1__q_1": "d<1>'q"})
    assert index.layer_of("m_1/d_1__q_1/MatMul") == "d<1>'q"


# ---------------------------------------------------------------------------------------------
# A graph without Keras: top-level scopes, and nodes known one by one (GraphLayout.index)


def graph_index(**extra_nodes: str) -> OpIndex:
    """The raw-TensorFlow LeNet as graph_facts lays it out (variables fed as placeholders)."""
    nodes = {
        "x": "x",  # the input placeholder is the input layer
        "conv1/Conv2D": "conv1",
        "conv1/add": "conv1",
        "conv1/Relu": "conv1",
        # A weight read lives where the variable was made, not where it is used.
        "weights/conv1/ReadVariableOp": "conv1",
        "fc1/MatMul": "fc1",
        **extra_nodes,
    }
    return OpIndex(
        ["x", "conv1", "fc1", "x (a/x)"],
        calls={"conv1": "conv1", "fc1": "fc1", "a/x": "x (a/x)"},
        nodes=nodes,
    )


@pytest.mark.parametrize(
    ("op", "call", "layer"),
    [
        ("conv1/Conv2D", "conv1", "conv1"),
        ("weights/conv1/ReadVariableOp", "conv1", "conv1"),
        # The input layer has no call: it is a placeholder, not a scope.
        ("x", None, "x"),
        # An op the optimizer renamed or added inside a scope: the scope names it.
        ("conv1/Relu_fused", "conv1", "conv1"),
        ("fc1/MatMul/_0__cf__0", "fc1", "fc1"),
        # A layer renamed to stay unique (a scope a/x beside an input x): "/" in its name.
        ("a/x/Relu", "a/x", "x (a/x)"),
        # Outside every scope.
        ("Identity", None, None),
        ("weights/fc1/ReadVariableOp", None, None),
    ],
)
def test_graph_layers(op: str, call: str | None, layer: str | None) -> None:
    index = graph_index()
    assert (index.call_of(op), index.layer_of(op)) == (call, layer)


def test_nodes_win_over_scopes() -> None:
    """An op inside conv1's scope that graph_facts counted with fc1 (first use) is fc1's."""
    index = graph_index(**{"conv1/shared_bias": "fc1"})
    assert (index.call_of("conv1/shared_bias"), index.layer_of("conv1/shared_bias")) == (
        "fc1",
        "fc1",
    )


def test_a_frozen_keras_model_under_its_own_scope() -> None:
    """A Keras model frozen to a .pb: its layers are the scopes below the model's."""
    index = OpIndex(
        ["t", "conv_1", "bn_1"],
        calls={"small_1/conv_1": "conv_1", "small_1/bn_1": "bn_1"},
        nodes={"t": "t", "small_1/conv_1/convolution": "conv_1"},
    )
    assert index.layer_of("small_1/conv_1/convolution") == "conv_1"
    assert index.layer_of("small_1/bn_1/batchnorm/mul") == "bn_1"
    assert index.layer_of("small_1/Identity") is None
    assert index.layer_of("t") == "t"


BLOCK_CALLS = {
    "gpt2_1/transformer_layer_0_1": "transformer_layer_0",
    "gpt2_1/transformer_layer_0_1/self_attention_1": "transformer_layer_0/self_attention",
    "gpt2_1/transformer_layer_0_1/self_attention_1/query_1": (
        "transformer_layer_0/self_attention/query"
    ),
    "gpt2_1/transformer_layer_0_1/feedforward_intermediate_dense_1": (
        "transformer_layer_0/feedforward_intermediate_dense"
    ),
}


@pytest.mark.parametrize(
    ("op", "row"),
    [
        (
            "gpt2_1/transformer_layer_0_1/feedforward_intermediate_dense_1/MatMul",
            "transformer_layer_0/feedforward_intermediate_dense",
        ),
        (
            "gpt2_1/transformer_layer_0_1/self_attention_1/query_1/einsum/Einsum",
            "transformer_layer_0/self_attention/query",
        ),
        # The attention's own ops (scores, softmax) belong to the attention row.
        (
            "gpt2_1/transformer_layer_0_1/self_attention_1/MatMul",
            "transformer_layer_0/self_attention",
        ),
        # A residual add in the block's scope, outside every sub-layer, is the block's.
        ("gpt2_1/transformer_layer_0_1/add_1", "transformer_layer_0"),
        ("gpt2_1/layer_norm_1/add", None),
    ],
)
def test_a_sub_layer_op_belongs_to_the_innermost_row(op: str, row: str | None) -> None:
    index = OpIndex(layer_names=list(BLOCK_CALLS.values()), calls=BLOCK_CALLS)
    assert index.layer_of(op) == row
