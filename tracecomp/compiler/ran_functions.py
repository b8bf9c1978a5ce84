"""The user's functions a trace runs that no name leads to: a function stored on an object
(`ns.draw = lambda x: Q.pop(0)`), on a class (`Holder.draw`, a plain object's method), or a
library function monkeypatched (`torch.randn_like = lambda x: ...`). The guards and the
side-effect replay find the functions a trace runs by name (code_names.traced_functions:
the compiled function, its modules' methods, the helpers those name), so what such a
function read (a list it pops, a global tensor or number) was baked into the graph, and
what it stored (`LOG.append(y)`) happened once, at the trace.

While a trace runs, its profile hook (clock_reads.ClockWatch) hands `RanFunctions.called`
each Python call as it starts. A function of the user's whose code traced_functions did not
find is noted then, before its body runs: the containers its global names and closure
variables hold are watched from there (kept_values.KeptWatch.add: appends and item stores
replayed each call, a pop warned of, as a named helper's), and so are the global names it
loads or assigns (code_names.Bindings.add: an assignment replayed). After the trace,
`functions` finds the function objects (gc.get_referrers of their code, one walk of the
heap for all of them), which the guards (value_reads.ReadWatch.guards) and the outside
tensors' places (outside_tensors.outside_reads) then look at as at a named helper: a change
compiles again. Nothing is added to a compiled call where no such function ran.

Not seen: such a function's class attribute reads (value_reads.class_reads is taken before
the trace), the attributes it stores on plain objects only it reaches (object_stores.py),
and any of it where another profiler holds the hook (cProfile): there the trace is as
before.
"""
import gc
import types

from ..user_code import is_users
from .code_names import filled, global_names, traced_functions


class RanFunctions:
    """Notes the user's functions a trace of fn runs that traced_functions(fn, modules) does
    not name; `stores` (a KeptWatch) and `bindings` (a code_names.Bindings, or None) learn
    what each reaches as it starts."""

    def __init__(self, fn, modules, stores, bindings):
        # the codes named, and the code defined inside them; the modules' forward hooks,
        # whose containers KeptWatch watches already (kept_values.places) and whose dict
        # stores (`ACTIVATION["fc1"] = o.detach()`) compile once, not once again guarded
        self.known = set()
        hooks = [getattr(h, "__func__", h) for root in modules for m in root.modules()
                 for h in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())]
        for f in (*traced_functions(fn, modules), *hooks):
            code = getattr(f, "__code__", None)
            if code is not None:
                self.known |= _codes(code)
        self.stores, self.bindings = stores, bindings
        self.ran = {}       # code -> (its globals, {closure variable: value at the call})
        self.seen = set()

    def called(self, frame):
        """A Python call as it starts (the profile hook's 'call' event)."""
        code = frame.f_code
        if code in self.seen:
            return
        self.seen.add(code)
        if code in self.known or not is_users(code):
            return
        self.known |= _codes(code)      # what it defines is named by it: not its own
        names, local = frame.f_globals, frame.f_locals
        free = {n: local[n] for n in code.co_freevars if n in local}
        self.ran[code] = (names, free)
        values = [names[n] for n in global_names(code) if n in names] + list(free.values())
        self.stores.add([(("ran",), v) for v in values])
        if self.bindings is not None:
            self.bindings.add(names, code, assigned=True)

    def functions(self):
        """The function objects of the codes noted: those with the globals and closure
        values the call saw (a factory's closures share one code), or all with that code
        and globals where none matches (a closure variable the trace rebound)."""
        if not self.ran:
            return []
        found = {}
        for f in gc.get_referrers(*self.ran):
            if type(f) is types.FunctionType and f.__code__ in self.ran and \
                    f.__globals__ is self.ran[f.__code__][0]:
                found.setdefault(f.__code__, []).append(f)
        out = []
        for code, candidates in found.items():
            free = self.ran[code][1]
            same = [f for f in candidates if all(
                filled(c) and c.cell_contents is free[n]
                for n, c in zip(code.co_freevars, f.__closure__ or ()) if n in free)]
            out += same or candidates
        return out


def _codes(code):
    """code and the code objects defined in it (lambdas, inner functions, comprehensions)."""
    found = {code}
    for inner in code.co_consts:
        if isinstance(inner, types.CodeType):
            found |= _codes(inner)
    return found
