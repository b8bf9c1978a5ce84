"""The config namespaces of torch's other compiler layers, torch._inductor.config and
torch._functorch.config, as programs set them before compiling (gpt-fast's generate.py:
`torch._inductor.config.coordinate_descent_tuning = True`, `.triton.unique_kernel_names`,
`.fx_graph_cache`, `torch._functorch.config.enable_autograd_cache`).

tracecomp.compile lowers through its own passes and backends, not Inductor or AOTAutograd,
so none of their options changes what it does: a setting is kept (read back as set, and
undone by `patch`) and warned about once per option, never silently ignored. An option the
program never set has no value here (torch's defaults are torch's): reading it is an
AttributeError that says so. torch._dynamo.config, whose options tracecomp does read, is
_dynamo.py's.
"""
import contextlib
import warnings

from .user_code import user_stacklevel

_WARNED = set()     # the options warned about, once per process each


class NoEffectConfig:
    """One namespace of options (`path`: torch's name for it), holding the nested ones
    named in `nested` (Inductor's `triton`, `cpp`, ...)."""

    def __init__(self, path, nested=()):
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_values",
                           {n: NoEffectConfig(f"{path}.{n}") for n in nested})

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(
            f"{self._path}.{name} has no value in tracecomp: its compiler is its own, not "
            f"torch's, so it holds only the options a program sets (and ignores them)")

    def __setattr__(self, name, value):
        self._set(name, value)

    def _set(self, name, value):
        if isinstance(self._values.get(name), NoEffectConfig):
            raise AttributeError(f"{self._path}.{name} is a namespace of options; set "
                                 f"its options ({self._path}.{name}.<option> = ...)")
        option = f"{self._path}.{name}"
        if option not in _WARNED:
            _WARNED.add(option)
            warnings.warn(f"{option} has no effect in tracecomp: tracecomp.compile lowers "
                          f"through its own backends, not torch's",
                          stacklevel=user_stacklevel())
        self._values[name] = value

    def _namespace_of(self, dotted):
        """(namespace, option) for `triton.cudagraphs`-style names."""
        *inner, name = dotted.split(".")
        space = self
        for part in inner:
            space = getattr(space, part)
        return space, name

    @contextlib.contextmanager
    def patch(self, changes=None, **options):
        """torch's config.patch: set the options (a dict with dotted names, or keywords)
        for the block or the decorated function, then put back what was there."""
        options = {**(changes or {}), **options}
        saved = []
        for dotted, value in options.items():
            space, name = self._namespace_of(dotted)
            saved.append((space, name, space._values.get(name, _UNSET)))
            space._set(name, value)
        try:
            yield self
        finally:
            for space, name, old in reversed(saved):
                if old is _UNSET:
                    del space._values[name]
                else:
                    space._values[name] = old


_UNSET = object()
