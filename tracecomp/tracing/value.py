"""TracedValue: a graph node standing in for a tensor's numpy array while tracing.

A traced tensor's `_data` is the node that computes it, so `.shape`, `.dtype`, `.ndim` and
`.size` read as on an array; whatever needs the numbers (an `if` on a tensor, float(),
iteration, conversion to numpy, any other attribute of an array) raises a TraceError
naming the user's line (user_code.value_error). ir.Node stays plain data: only graphs
that a Tracer builds hold TracedValues (Graph.node_type), and passes and backends read
them as the Nodes they are.
"""
from ..ir import Node
from ..user_code import value_error


class TracedValue(Node):
    __slots__ = ()

    def _needs_values(self, what):
        raise value_error(what)

    def __array__(self, dtype=None, copy=None):
        self._needs_values("converting a traced tensor to a numpy array")

    def __bool__(self):  # noqa: PLE0304 - it never returns: it raises
        self._needs_values("using a traced tensor as a Python bool (an `if` or `while` on "
                           "tensor values)")

    def truth_of(self, tensor, frame):
        """bool(tensor) for the traced tensor holding this value, tested by `frame`: an
        assert's test records a run-time guard (tracing/asserts.py); any other raises."""
        from .asserts import assert_guard
        return assert_guard(tensor, frame)

    def __float__(self):
        self._needs_values("float() of a traced tensor")

    def __int__(self):
        self._needs_values("int() of a traced tensor")

    def __index__(self):  # noqa: PLE0305 - it never returns: it raises
        self._needs_values("using a traced tensor as a Python index")

    def __iter__(self):
        self._needs_values("iterating over a traced tensor's values")

    def item(self):
        self._needs_values(".item() on a traced tensor")

    def item_of(self, tensor):
        """tensor.item() of the traced tensor holding this value: a number computed in the
        graph (tracing/number.py), or for more than one element the TraceError."""
        if self.size != 1:
            self._needs_values(".item() on a traced tensor of more than one element")
        from .number import item_number
        return item_number(tensor)

    def tolist(self):
        self._needs_values(".tolist() on a traced tensor")

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._needs_values(f"reading `.{attr}` of a traced tensor's data (its values)")
