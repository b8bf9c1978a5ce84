"""The edges of a compiled graph whose complex values became real parts
(passes/complex_parts.py): its complex inputs go in as their (..., 2) real views and its
(..., 2) outputs that stand for complex values come back as complex arrays, both views of
the same memory (a complex element is its real part followed by its imaginary part), so
crossing costs no copy. The callers (the driver, the fast paths, the autograd bridge) keep
seeing the graph they traced: complex arrays in and out.
"""
import numpy as np

from ..errors import TracecompError
from ..ops.complex import _as_real


def sides(graph):
    """(positions of complex inputs, [(position, dtype)] of complex outputs) of a graph
    before the rewrite, or None when it has no complex edge."""
    inputs = [k for k, n in enumerate(graph.inputs) if n.dtype.kind == "c"]
    outputs = [(k, o.dtype) for k, o in enumerate(graph.outputs)
               if getattr(o, "dtype", None) is not None and o.dtype.kind == "c"]
    return (inputs, outputs) if inputs or outputs else None


class ComplexSides:
    """A runner of the rewritten graph, called with and returning complex arrays where the
    traced graph had them. Everything else (its logs, memory plan, fast flags) is the
    runner's own."""

    def __init__(self, runner, edges):
        self.runner = runner
        self.inputs, self.outputs = edges

    def __call__(self, arrays):
        arrays, parts = list(arrays), {}
        originals = {}
        for k in self.inputs:
            originals[k] = arrays[k]
            arrays[k] = parts[k] = _input_parts(arrays[k])
        results = list(self.runner(arrays))
        for k, dtype in self.outputs:
            r = results[k]
            # an input handed back (simplification made the output that input, or an
            # update was written over it): the caller's own array, which it checks for
            same = next((j for j, v in parts.items() if v is r), None)
            results[k] = originals[same] if same is not None else _as_complex(r, dtype)
        return results

    def quick(self, arrays):
        """The fast paths' call (Runner.quick) through these edges: left to __getattr__, it
        was the runner's own, which took the complex arrays as the graph's real parts (an
        FNO's compile(model) forward after its first steps: wrong losses)."""
        return self(arrays)

    def __getattr__(self, name):
        return getattr(self.runner, name)


def _input_parts(a):
    if not isinstance(a, np.ndarray):
        raise TracecompError(f"compiled code: a complex input on {type(a).__name__} "
                             f"(not a numpy array): complex values compile for the CPU "
                             f"backends only; run this part eagerly")
    return _as_real(a)


def _as_complex(r, dtype):
    """r, a (..., 2) real array, as the complex array its memory holds."""
    item = r.itemsize
    if r.strides[-1] != item or any(s % (2 * item) for s in r.strides[:-1]):
        r = np.ascontiguousarray(r)
    return r.view(dtype)[..., 0]
