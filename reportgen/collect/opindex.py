"""Which layer made an op: graph node names to layer names. Pure Python, no TensorFlow.

Every measurement names ops as the graph does (``lenet_1/conv1_1/Relu``), and every report
row is a layer (``conv1``); :class:`OpIndex` is the one map between the two, used by the
memory and FLOPs run (:mod:`reportgen.collect.graph_run`), the profiler
(:mod:`reportgen.collect.profiler`) and graphs without Keras
(:mod:`reportgen.collect.graph_facts`). It knows a node's layer in one of three ways, the
first that applies:

1. node by node (``nodes``): a graph without Keras, whose layer for each op and weight read
   was worked out from the graph itself (a weight read lives outside the scope of the op
   that uses it), and whose input placeholders are its input layers;
2. by the name scope each layer call opened (``calls``, full scope → layer), recorded while
   tracing a Keras model, or a graph's top-level scopes: the innermost recorded scope
   holding the node wins, compared by whole path parts (``conv1_1`` never claims
   ``conv1_10/...``);
3. with nothing recorded, by reading the names as Keras 3 makes them (``model_scope``): the
   model's scope, then the top-level layer's (``lenet_1/conv1_1/Relu``).

A graph makes a repeated name scope unique with a ``_N`` suffix, and Keras 3 opens a layer's
scope twice per call (once to build, once to call), so in a graph layer ``conv1`` runs in
``conv1_1``, a shared layer's second call in ``conv1_3``, and the model itself in
``lenet_1``. A row's layer may sit inside another's scope: a layer of a nested model, or a
sub-layer of a composite layer (a transformer block, whose rows are named by path,
``transformer_layer_0/feedforward_intermediate_dense``); the innermost recorded scope wins,
so an op of the block itself outside every sub-layer (a residual add) is the block's. Ops of
a layer's sublayers that are not rows (MultiHeadAttention's projections) belong to the row
that holds them. Ops outside every layer (the function's ``Identity``, ops directly in the
model's scope) have no layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SCOPE_SUFFIX = re.compile(r"_\d+$")
"""The ``_N`` a graph appends to make a repeated name scope unique."""

INVALID_SCOPE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
"""Characters a layer's name may hold but a graph name scope may not. Python's scope check
would let ``>`` and ``\\`` through, but the C++ node-name check at import refuses them."""


def scope_name(layer_name: str) -> str:
    """The name scope a layer's name becomes in a graph (``d<1>'q`` → ``d_1__q``)."""
    return INVALID_SCOPE_CHARS.sub("_", layer_name)


def _is_scope_of(component: str, name: str) -> bool:
    """Whether one name-scope component is the scope of ``name`` (``name`` or ``name_N``)."""
    own = scope_name(name)
    return component == own or SCOPE_SUFFIX.sub("", component) == own


class _ScopeNames:
    """The layer whose name scope a scope component is, read from the layers' names.

    Keras 3 always suffixes (``conv1`` → ``conv1_1``), so the suffix-stripped reading wins:
    with layers ``d`` and ``d_1`` the scope ``d_1`` is ``d``'s (``d_1``'s is ``d_1_1``).
    The plain name is the fallback for graphs built by tf.keras 2, which did not suffix. A
    name with characters a scope may not hold is matched by the scope it becomes; a name
    itself wins over another name that only becomes it.
    """

    def __init__(self, layer_names: Iterable[str]) -> None:
        names = list(layer_names)
        self._by_scope = {name: name for name in names}
        for name in names:
            self._by_scope.setdefault(scope_name(name), name)

    def layer_of(self, component: str) -> str | None:
        base = SCOPE_SUFFIX.sub("", component)
        if base != component and base in self._by_scope:
            return self._by_scope[base]
        return self._by_scope.get(component)


@dataclass
class OpIndex:
    """Maps a graph node name to the layer call, and the top-level layer, that made it."""

    layer_names: Sequence[str]
    """Every layer, in the report's order (input layers first)."""
    calls: Mapping[str, str] = field(default_factory=dict)
    """Full name scope of each layer call → layer name, in call order."""
    nodes: Mapping[str, str] = field(default_factory=dict)
    """Node name → layer name, where that is known node by node."""
    model_scope: str | None = None
    """The Keras model's name, for reading scopes from names when no call was recorded; with
    neither, a node's top-level scope is its layer's."""
    _cache: dict[str, tuple[str | None, str] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _scope_names: _ScopeNames | None = field(default=None, init=False, repr=False, compare=False)

    def layer_of(self, node_name: str) -> str | None:
        """The top-level layer that made the node, or None (outside every layer)."""
        found = self._lookup(node_name)
        return found[1] if found else None

    def call_of(self, node_name: str) -> str | None:
        """The name scope of the layer call holding the node (one per call of a shared layer).

        Read from names, a layer stands for all its calls: its name is the call's key.
        """
        found = self._lookup(node_name)
        return found[0] if found else None

    def calls_of(self, layer: str) -> list[str]:
        """The layer's calls in call order (read from names: the layer as its only call)."""
        if not self.calls:
            return [layer]
        return [scope for scope, name in self.calls.items() if name == layer]

    def _lookup(self, node_name: str) -> tuple[str | None, str] | None:
        if node_name not in self._cache:
            self._cache[node_name] = self._find(node_name)
        return self._cache[node_name]

    def _find(self, node_name: str) -> tuple[str | None, str] | None:
        layer = self.nodes.get(node_name)
        if layer is not None:
            # A graph's layer has one scope; an input layer has none (it is a placeholder).
            calls = self.calls_of(layer) if self.calls else []
            return (calls[0] if calls else None), layer
        if self.calls:
            return self._by_recorded_scope(node_name)
        return self._by_names(node_name)

    def _by_recorded_scope(self, node_name: str) -> tuple[str, str] | None:
        # The longest recorded scope holding the node wins; whole path parts only, and never
        # the node's full name (an op named like a scope is not inside it). A nested model's
        # inner layers are not recorded, so their ops belong to the nested model.
        parts = node_name.split("/")
        for end in range(len(parts) - 1, 0, -1):
            scope = "/".join(parts[:end])
            layer = self.calls.get(scope)
            if layer is not None:
                return scope, layer
        return None

    def _by_names(self, node_name: str) -> tuple[str, str] | None:
        scopes = node_name.split("/")[:-1]  # the last part is the op itself
        if self.model_scope is not None:
            if not scopes or not _is_scope_of(scopes[0], self.model_scope):
                return None  # outside the model, or another model's
            scopes = scopes[1:]
        if not scopes:
            return None
        if self._scope_names is None:
            self._scope_names = _ScopeNames(self.layer_names)
        layer = self._scope_names.layer_of(scopes[0])
        return (layer, layer) if layer is not None else None
