"""What symbolic tracing swaps in while it runs, and puts back after (torch.fx's _Patcher).

tracecomp's own functions and Tensor methods record Proxies through __torch_function__
(Proxy's, proxy.py), in a trace or not. What is left to swap is what torch swaps too: the
functions registered with fx.wrap and the autowrap functions (math's), which are not
tracecomp's, replaced in the globals of each forward that runs by wrappers that record a
call_function node when an argument is a Proxy (Module.__call__ and __getattr__ are the
tracer's own, tracer.py).
"""
import builtins

from .proxy import Proxy


def find_proxy(a):
    """The first Proxy inside a (nested tuples, lists, dicts), or None."""
    if isinstance(a, Proxy):
        return a
    if isinstance(a, (tuple, list)):
        items = a
    elif isinstance(a, dict):
        items = a.values()
    else:
        return None
    for x in items:
        found = find_proxy(x)
        if found is not None:
            return found
    return None


class recording:  # noqa: N801  (used like a decorator: recording(fn))
    """fn, recording a call_function node on fn when any argument is a Proxy. It compares
    and hashes equal to fn, so a Transformer's `if target == math.sqrt` still holds while
    math.sqrt is this wrapper. `wrapped`: fn is an fx.wrap or autowrap function, whose
    nodes torch marks meta['is_wrapped'] (the generated code re-registers them)."""

    __slots__ = ("__wrapped__", "wrapped")

    def __init__(self, fn, wrapped=False):
        self.__wrapped__, self.wrapped = fn, wrapped

    def __call__(self, *args, **kwargs):
        proxy = find_proxy(args)
        if proxy is None:
            proxy = find_proxy(kwargs)
        if proxy is not None:
            out = proxy.tracer.create_proxy("call_function", self.__wrapped__, args, kwargs)
            if self.wrapped:
                out.node.meta["is_wrapped"] = True
            return out
        return self.__wrapped__(*args, **kwargs)

    def __eq__(self, other):
        return other is self.__wrapped__ or other is self

    def __hash__(self):
        return hash(self.__wrapped__)

    def __getattr__(self, name):
        return getattr(self.__wrapped__, name)

    def __repr__(self):
        return repr(self.__wrapped__)


class Patcher:
    """Replacements made during one trace; `restore` undoes them in reverse order."""

    def __init__(self, autowrap=()):
        self._undo = []
        self._seen_globals = set()
        # functions (by id) recorded wherever a forward's globals name them (math's)
        self._autowrap = {id(f): f for f in autowrap}

    def set(self, owner, name, value, use_dict=False):
        if use_dict:
            old = owner.get(name, _MISSING)
            self._undo.append((owner, name, old, True))
            owner[name] = value
        else:
            old = owner.__dict__.get(name, _MISSING)
            self._undo.append((owner, name, old, False))
            setattr(owner, name, value)

    def patch_globals(self, fn_globals, extra=()):
        """Wrap, in one module's globals, the autowrap functions imported by name and the
        names in `extra` (registered with fx.wrap)."""
        for name in extra:
            value = fn_globals.get(name, getattr(builtins, name, None))
            if value is not None and not isinstance(value, recording):
                self.set(fn_globals, name, recording(value, wrapped=True), use_dict=True)
        if id(fn_globals) in self._seen_globals:
            return
        self._seen_globals.add(id(fn_globals))
        for name, value in list(fn_globals.items()):
            if self._autowrap.get(id(value)) is value:
                self.set(fn_globals, name, recording(value, wrapped=True), use_dict=True)

    def restore(self):
        while self._undo:
            owner, name, old, use_dict = self._undo.pop()
            if old is _MISSING:
                if use_dict:
                    owner.pop(name, None)
                else:
                    delattr(owner, name)
            elif use_dict:
                owner[name] = old
            else:
                setattr(owner, name, old)


_MISSING = object()
