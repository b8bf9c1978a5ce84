"""What a function's code names: the global names it loads and its closure cells, the
helper functions of the user's that it names (a trace reads their globals as its own), and
whether each still holds the very object it held (the fast paths' check that the modules,
optimizers and values a compiled graph read are still the ones bound there)."""
import dis
import functools
import types

from ..user_code import is_users

UNBOUND = object()      # a global name not bound (yet: the code may assign it)


class Bindings:
    """What a function's global names, closure cells and parameter defaults hold now, to
    tell later whether each still holds the very same object (a module or optimizer bound
    there since would be read by a new graph)."""

    __slots__ = ("cell_names", "cells", "defaults", "fn", "globals", "helper_names", "names",
                 "seen", "values")

    def __init__(self, fn, fed=()):
        """fed: (kind, name) of the global names ("global") and closure variables
        ("closure") whose tensors the call reads afresh (bound_tensors.py): not compared."""
        # the names it loads, and those it only assigns (`global out; out = x * 2`)
        self.names = tuple(n for n in dict.fromkeys(global_names(fn.__code__) +
                                                    global_names(fn.__code__, "STORE_GLOBAL"))
                           if ("global", n) not in fed)
        self.globals = fn.__globals__
        self.values = [self.globals.get(n, UNBOUND) for n in self.names]
        own = [(n, c) for n, c in zip(fn.__code__.co_freevars, fn.__closure__ or ())
               if filled(c) and ("closure", n) not in fed]
        self.cell_names = [n for n, _ in own]
        self.cells = [(c, c.cell_contents) for _, c in own]
        self.fn, self.defaults = fn, (fn.__defaults__, fn.__kwdefaults__)
        # the helpers' own names, those of fn's globals aside (`TEMP` a helper divides by)
        self.seen = {(id(self.globals), n) for n in global_names(fn.__code__) + self.names}
        self.helper_names = []
        for helper in helpers(fn):
            self.add(helper.__globals__, helper.__code__)
            self.cells += [(c, c.cell_contents) for c in helper.__closure__ or () if filled(c)]

    def add(self, names, code, assigned=False):
        """The global names `code` loads (and assigns: `assigned`), in its globals dict
        `names`, as they hold now: a helper's, or (ran_functions.py) those of a function
        the trace runs that no name leads to, as it starts."""
        for n in global_names(code) + (global_names(code, "STORE_GLOBAL") if assigned else ()):
            if (id(names), n) not in self.seen:
                self.seen.add((id(names), n))
                self.helper_names.append((names, n, names.get(n, UNBOUND)))

    def hold(self):
        fn = self.fn
        if fn.__defaults__ is not self.defaults[0] or fn.__kwdefaults__ is not self.defaults[1]:
            return False
        if self.names:
            look = self.globals.get
            for name, value in zip(self.names, self.values):
                if look(name, UNBOUND) is not value:
                    return False
        for names, name, value in self.helper_names:
            if names.get(name, UNBOUND) is not value:
                return False
        for cell, value in self.cells:
            if cell.cell_contents is not value:
                return False
        return True

    def rebound(self):
        """[(holder, how, key, object)] of the names (fn's and its helpers' globals, fn's
        closure variables) now bound to another object than when this was made: what the
        code assigned while traced, where kept_values.apply stores it again (a globals
        dict's item, a cell's cell_contents)."""
        return [(holder, how, key, new) for holder, how, key, old, new in self._changed()]

    def restore(self):
        """Put back what the names held when this was made (a trace's assignments are
        replayed by each call, or were refused: never left holding a graph value)."""
        for holder, how, key, old, _ in self._changed():
            if how == "item" and old is UNBOUND:
                holder.pop(key, None)
            elif how == "item":
                holder[key] = old
            else:
                holder.cell_contents = old

    def _changed(self):
        now = [(self.globals, n, v) for n, v in zip(self.names, self.values)]
        now += [(names, n, v) for names, n, v in self.helper_names]
        out = [(names, "item", n, old, names.get(n, UNBOUND)) for names, n, old in now
               if names.get(n, UNBOUND) is not old]
        return out + [(c, "attr", "cell_contents", old, c.cell_contents)
                      for c, old in self.cells[:len(self.cell_names)]
                      if filled(c) and c.cell_contents is not old]


def helpers(fn):
    """The user's plain functions that fn names (global names, closure cells), and those
    they name, HELPER_DEPTH levels down (at most HELPER_MAX, nearest first): the helpers it
    calls, whose own globals a trace of fn reads as fn's (`def outer(x): return inner(x)`,
    inner reading a global SCALE: one level missed it, and the graph kept the old SCALE)."""
    out, level = {id(fn): fn}, [fn]
    for _ in range(HELPER_DEPTH):
        deeper = []
        for f in level:
            for *_, h in named_values(f):
                if type(h) is types.FunctionType and id(h) not in out and \
                        is_users(h.__code__) and len(out) <= HELPER_MAX:
                    out[id(h)] = h
                    deeper.append(h)
        level = deeper
    del out[id(fn)]
    return list(out.values())


HELPER_DEPTH = 4    # step -> loss_fn -> criterion -> smooth: a chain of the user's helpers
HELPER_MAX = 32


def named_values(fn):
    """(holder, how, name, value) of what fn's code names: each bound global name it
    loads (holder its globals, how "item") and each filled closure variable (holder the
    cell, how "cell"), as state.follow reads them again."""
    names = fn.__globals__
    found = [(names, "item", n, names[n]) for n in global_names(fn.__code__) if n in names]
    found += [(c, "cell", n, c.cell_contents) for n, c in zip(fn.__code__.co_freevars,
                                                              fn.__closure__ or ())
              if filled(c)]
    return found


@functools.lru_cache(maxsize=1024)
def global_names(code, how="LOAD_GLOBAL"):
    """The global names `code` loads (or assigns: how="STORE_GLOBAL"), and the functions,
    lambdas and comprehensions defined in it load (not co_names, which holds attribute
    names too: a script's loop variable `step` is not what `opt.step()` reads)."""
    names = dict.fromkeys(i.argval for i in dis.get_instructions(code) if i.opname == how)
    for inner in code.co_consts:
        if isinstance(inner, types.CodeType):
            names.update(dict.fromkeys(global_names(inner, how)))
    return tuple(names)


@functools.lru_cache(maxsize=1024)
def read_names(code):
    """The names `code` (and the code defined in it) loads, as a global, a closure variable
    or an attribute, for anything but appending to what it holds (`log.append(x)`,
    `self.outs.append(y)` only store; `hist[k].append(v)`, k a constant or a local, only
    stores into the list the dict holds there): a list the code appends to is read when
    its name is in here too (`len(log)`, `log[-1]`, a loop over it), and its value then
    guarded."""
    found, ins = set(), list(dis.get_instructions(code))
    for k, i in enumerate(ins):
        if i.opname in _LOADS and not (_appends(ins[k + 1:k + 2]) or
                                       _subscript(ins[k + 1:k + 3]) and _appends(ins[k + 3:k + 4])):
            found.add(i.argval)
    for inner in code.co_consts:
        if isinstance(inner, types.CodeType):
            found |= read_names(inner)
    return frozenset(found)


def _appends(after):
    """Whether the instructions `after` (one or none) load an `append` method."""
    return bool(after) and after[0].argval == "append" and \
        after[0].opname in ("LOAD_METHOD", "LOAD_ATTR")


def _subscript(pair):
    """Whether the two instructions `pair` take `[k]`, k a constant or a local."""
    return len(pair) == 2 and pair[0].opname in ("LOAD_CONST", "LOAD_FAST") and \
        pair[1].opname == "BINARY_SUBSCR"


_LOADS = frozenset(("LOAD_GLOBAL", "LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_NAME", "LOAD_ATTR",
                    "LOAD_METHOD"))


def filled(cell):
    """Whether a closure cell holds a value (one read before assignment does not)."""
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
        return True
    except ValueError:
        return False


def module_functions(modules):
    """The user's functions defined in the classes of `modules` and their submodules
    (forward, and the methods, static methods and properties it may call): a trace of
    the model reads their globals as forward's own."""
    out, classes = {}, {}
    for root in modules:
        for module in root.modules():
            for cls in type(module).__mro__:
                classes.setdefault(id(cls), cls)
    for cls in classes.values():
        for member in vars(cls).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            elif isinstance(member, property):
                member = member.fget
            if type(member) is types.FunctionType and is_users(member.__code__):
                out.setdefault(id(member), member)
    return list(out.values())


def traced_functions(fn, modules, ran=()):
    """fn, the user's methods of its modules' classes and the user's helpers each of
    those names: the functions a trace of fn runs whose global names and closure
    variables the guards look at (value_reads.py, outside_tensors.py). ran: those a trace
    ran that no name leads to (ran_functions.py), and their helpers, after it."""
    found = [fn] if getattr(fn, "__code__", None) is not None else []
    found += module_functions(modules)
    found += ran
    out = {}
    for f in found:
        for g in (f, *helpers(f)):
            out.setdefault(id(g), g)
    return list(out.values())
