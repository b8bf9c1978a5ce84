"""torch._dynamo's user-facing calls: which dims of a tensor a compiled call treats as
dynamic (mark_dynamic), reset, which makes every compiled function compile again, and
config, the defaults of later compile() calls, and eval_frame.OptimizedModule, the class
of compile(model).

    tracecomp._dynamo.mark_dynamic(ids, 1)     # the length of a batch of token ids

A compiled function's first call with a marked tensor compiles one graph for every size of
the marked dims, where an unmarked call compiles its own sizes first and generalizes when
a size changes (compiler/dynamic.py). Marked dims of one size are one symbol (a batch's
length in its ids and its targets), marked dims of another size another, as torch's duck
sizing: mark a batch and a length, and one graph serves every pair of them (at most four
symbols; a later call where dims of one symbol differ compiles once more, with them
apart); `min=` and `max=` bound a marked dim's symbol. The mark is the tensor's, as in
torch (`_dynamo_dynamic_indices`).
"""

import sys
import warnings

from .user_code import user_stacklevel


def reset():
    """Every compiled function and module compiles again on its next call, its recompile
    count from zero (compiler/api.py). Nothing has compiled while the compiler is unloaded."""
    if "tracecomp.compiler.driver" in sys.modules:
        import importlib
        importlib.import_module("tracecomp.compiler.api").reset()


def mark_dynamic(t, index, *, min=None, max=None):  # noqa: A002 - torch's keywords
    """Mark dim `index` (an int or a list of them) of tensor t dynamic for compiled calls.
    min and max bound its symbol, as torch's: the graph compiled for it serves the sizes in
    [min, max] (a later size outside compiles for itself), and a call whose marked dim is
    outside them raises ConstraintViolationError."""
    if min is not None and max is not None and min > max:
        raise ValueError(f"mark_dynamic: min={min} is greater than max={max}")
    dims = index if isinstance(index, (list, tuple)) else [index]
    marks = getattr(t, "_dynamo_dynamic_indices", set())
    ranges = getattr(t, "_tracecomp_dim_ranges", {})
    for d in dims:
        if not -t.ndim <= d < t.ndim:
            raise IndexError(f"mark_dynamic: dim {d} is out of range for a tensor of shape "
                             f"{list(t.shape)}")
        marks.add(d % t.ndim)
        ranges[d % t.ndim] = (min, max)
    t._dynamo_dynamic_indices = marks
    t._tracecomp_dim_ranges = ranges


def maybe_mark_dynamic(t, index):
    """torch's hint that dim `index` may be dynamic, without a range. tracecomp never errors
    where code fixes a marked size (it compiles for that size, and says so in the debug
    log), so the hint is the same as the mark."""
    mark_dynamic(t, index)


RECOMPILE_LIMIT = 8     # compiles of one function after which each further one warns


class _Config:
    """torch._dynamo.config: the options tracecomp.compile reads when a call does not give
    its own: recompile_limit (torch's old name cache_size_limit too), compiles after which
    each further one warns; suppress_errors, a failed trace runs the call eagerly (with the
    warning fallback='eager' gives). torch's other options have no counterpart here:
    setting one is kept and warned about once, never silently ignored."""

    _EFFECTIVE = {"recompile_limit": RECOMPILE_LIMIT, "suppress_errors": False}
    _ALIASES = {"cache_size_limit": "recompile_limit"}

    def __init__(self):
        object.__setattr__(self, "_values", dict(self._EFFECTIVE))
        object.__setattr__(self, "_warned", set())

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        name = self._ALIASES.get(name, name)
        if name in values:
            return values[name]
        raise AttributeError(f"torch._dynamo.config has no option {name!r} that tracecomp "
                             f"knows of; it reads {', '.join(sorted(self._EFFECTIVE))}")

    def __setattr__(self, name, value):
        name = self._ALIASES.get(name, name)
        if name not in self._EFFECTIVE and name not in self._warned:
            self._warned.add(name)
            warnings.warn(f"torch._dynamo.config.{name} has no effect in tracecomp (it reads "
                          f"{', '.join(sorted(self._EFFECTIVE))})", stacklevel=user_stacklevel())
        self._values[name] = value


config = _Config()
sys.modules[__name__ + ".config"] = config     # `import torch._dynamo.config` (gpt-fast)


def __getattr__(name):
    """torch._dynamo.eval_frame.OptimizedModule, the class of compile(model) (programs test
    `isinstance(model, torch._dynamo.eval_frame.OptimizedModule)` to unwrap `_orig_mod`);
    loaded on first use, as the compiler is."""
    if name == "eval_frame":
        import importlib
        import types
        compiled = importlib.import_module("tracecomp.compiler.compiled_module")
        return types.SimpleNamespace(OptimizedModule=compiled.OptimizedModule)
    raise AttributeError(f"module 'tracecomp._dynamo' has no attribute {name!r}")
