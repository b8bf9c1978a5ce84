"""The tracer: runs model code once with tensors whose data are IR nodes, recording every
primitive that `bind` dispatches into a Graph.

While a `Tracer` is active it is installed as `dispatch.trace_hook`, so every primitive
call that touches a traced tensor (or draws random numbers) becomes a node instead of a
numpy call; calls on plain tensors still run eagerly (shapes and Python control flow
resolve at trace time, and a constant computed that way is folded in as a `constant`
node). Each node remembers the user's source line and the path of the module whose
forward made it (`fc1`, `features.0`).

Anything that needs a traced tensor's *values* (`.item()`, `if x > 0:`, `.numpy()`) raises
a TraceError naming the user's line and how to fix it.

Threads: one trace runs at a time in the process (a Tracer holds `trace_gate.GATE`
exclusively, since tracing swaps shared tensors' data for graph values), and it records
only its own thread's calls: the hook stays a process-wide global, so an eager op costs
nothing more when nobody traces, but `record` lets every other thread run eagerly. Code
that asks "is this thread tracing?" calls `context.current()` (Module.__call__ does, and
enters its module's scope on the trace it gets).
"""
import sys
import threading

import numpy as np

from .. import context, devices, dispatch, grad_mode, wide_uints
from ..autograd.engine import TRACED
from ..dtypes import BF16, np_kind, special_used
from ..errors import AutogradError, TraceError
from ..ir import INPUT, LITERAL_MAX_ELEMENTS, Graph, Node
from ..sparse_data import ON_SPARSE, SparseData
from ..sparse_data import used as sparse_used
from ..tensor import Tensor
from ..user_code import stale_error, user_frame
from . import gate as trace_gate
from .kept_history import KeptHistory
from .number import has_number, number_operands
from .value import TracedValue
from .view_writes import write_through

_get_ident = threading.get_ident
_getprofile, _setprofile = sys.getprofile, sys.setprofile


def _complex_error(prim, operands, dtype):
    """Compiled code computes complex values as pairs of reals (passes/complex_parts.py),
    for the primitives that say how (ops/complex_parts.py); any other op on a complex value
    is named, so that the graph breaks there (or fullgraph=True reports it)."""
    names = sorted({str(d) for d in [dtype] + [getattr(o, "dtype", None) for o in operands]
                    if d is not None and np.dtype(d).kind == "c"})
    return TraceError(f"{prim.name}: tracecomp.compile does not compile this op on complex "
                      f"tensors ({', '.join(names)}): {prim.name} has no compiled form for "
                      f"complex values; run this part eagerly (leave it outside the compiled "
                      f"function, or let the default fullgraph=False break the graph here)")


def _bf16_refusal(prim, operands, backend):
    """Why a node of prim on bfloat16 cannot be compiled, or None. Compiled graphs compute
    bfloat16 as eager does, in float32 rounded once per op (passes/widen_bf16.py); that
    needs the float32 form of the op: not there for an op that makes bfloat16 from no
    bfloat16 operand through a dtype= (the impl works in bfloat16 itself: sum(dtype=),
    randn(dtype=)); nothing for a `backend` (False) that computes no bfloat16."""
    bf16_in = any(getattr(o, "dtype", None) == BF16 for o in operands)
    if not backend:
        what = "the cuda backend has no bfloat16 kernels"
    elif not bf16_in and prim.name != "cast" and not prim.is_view:
        what = "it makes bfloat16 values from no bfloat16 operand"
    else:
        return None
    got = ", ".join(str(getattr(o, "dtype", type(o).__name__)) for o in operands)
    return (f"{prim.name}: bfloat16 result not supported in compiled mode ({what}; operand "
            f"dtypes: {got}); run it eagerly, or compute it in float32 and cast")


class Tracer:
    """Records primitives into `graph`. Use as a context manager around the model call."""

    def __init__(self, graph=None, module_names=None):
        self.graph = graph if graph is not None else Graph()
        self.graph.node_type = TracedValue      # its values stand in for tensors' arrays
        self.module_names = module_names or {}      # id(module) -> path
        self.module_stack = []
        self.constants = {}     # id(eager tensor) -> (tensor, constant node)
        # whether the backend compiles bfloat16 (passes/widen_bf16.py + llvm or interp): the
        # cuda one has no bfloat16 kernels, so there every bfloat16 op is a graph break
        self.bf16_backend = True
        self.captured = []      # (tensor, input node) for parameters reached from outside
        self.read_outside = {}  # id -> (tensor, its version): values from outside, folded in
        self.read_arrays = {}   # id -> numpy array whose values were folded in
        self.source_override = None     # set by autodiff: backward nodes keep forward lines
        self.holders = {}       # input node -> the tensor standing for it (its .grad target)
        self.outside_history = set()    # input nodes of tensors with a history before the
        #                                 call (an argument or a capture: backward.py refuses)
        self.leaves = {}        # id(leaf) -> (its updated value, the node standing for it)
        self.did_backward = False       # backward() ran inside the traced code
        self.differentiated = True      # graph autodiff may run over it (export's: never)
        self.rebound = []       # (real tensor, its array) updated in place with traced values
        self.data_assigned = set()  # ids of the tensors given a traced value by `t.data = y`
        self.aliases = {}       # id(tensor) -> [tensor, its views and bases...] (view ops)
        self.twins = {}         # id(tensor) -> [tensors holding all its memory: .detach()]
        self.stale = {}         # id -> (tensor that missed an alias's in-place update, {causes})
        # id -> a view made under no_grad of a tensor that requires grad, changed in place
        # since: torch refuses to record an op on it (dispatch.stale_no_grad_view)
        self.changed_no_grad_views = {}
        self.multi_views = {}   # id -> (output of unbind/split, its number, its node class)
        self.indexed = {}       # id(view) -> (view, base, key): views made by base[key]
        self.created = {}       # id -> eager tensor made inside the traced code (_eager)
        self.from_numpy = {}    # id -> tensor from_numpy made inside it (an array's memory)
        self._running_eager = False
        self._replaying = False     # _replay_views at work
        self._saved = None
        self.thread = None      # the thread being traced, while active
        # compiled code's trace: the optimizers whose state is an input (None elsewhere)
        self.optimizers = None
        self.settings = {}      # (id(group), name, index) -> (fed input, held): options.setting
        self.defer_scheduler = None     # scheduler.step() inside the code: recorded by this
        # the compiled code's profile hook (compiler/clock_reads.ClockWatch), off while an op
        # is recorded: only the user's code has what it looks for, and an op's own Python
        # was most of its events (~0.6 us each: a ResNet-18 step's trace took 0.6 s, not 0.15)
        self.watch_hook = None

    # --- context ---------------------------------------------------------------------------
    def __enter__(self):
        if context.current() is not None:
            raise TraceError("tracecomp.compile: compiled code called inside code that is "
                             "itself being traced; nesting compiled functions is not "
                             "supported yet: compile the outer function only")
        trace_gate.GATE.acquire()       # another thread's trace finishes first
        self.thread = _get_ident()
        self._saved = context.activate(self)
        # (a profiler's hook, when one records: back after the trace)
        self._outer_hook, dispatch.trace_hook = dispatch.trace_hook, self.record
        return self

    def __exit__(self, *exc):
        context.restore(self._saved)
        dispatch.trace_hook = self._outer_hook
        self.thread = None      # a hook another thread fetched just before now runs eagerly
        trace_gate.GATE.release()
        return False

    def enter_module(self, module):
        """Module.__call__ while tracing: nodes made until exit_module carry the module's
        path (`fc1`, `features.0`)."""
        self.module_stack.append(self.module_names.get(id(module), ""))

    def exit_module(self):
        self.module_stack.pop()

    # --- autograd inside the traced code: autograd.engine hands traced tensors over ---------
    def backward(self, tensors, grad_tensors, inputs, create_graph):
        """loss.backward() (inputs=None) or backward(inputs=...) on traced tensors."""
        if inputs is not None:
            from .grad import backward_into
            return backward_into(self, tensors, grad_tensors, inputs, create_graph)
        from .backward import backward
        return backward(self, tensors, grad_tensors)

    def grad(self, outputs, inputs, grad_outputs, create_graph, allow_unused,
             materialize_grads):
        """autograd.grad on traced tensors (its argument checks have run)."""
        from .grad import grad
        return grad(self, outputs, inputs, grad_outputs, create_graph, allow_unused,
                    materialize_grads)

    # --- inputs ----------------------------------------------------------------------------
    def input(self, name, like, requires_grad=None):
        """A graph input shaped like `like` (a tensor or array); returns its node."""
        data = like._data if isinstance(like, Tensor) else np.asarray(like)
        rg = like._requires_grad if requires_grad is None else requires_grad
        return self.graph.add_input(name, data.shape, data.dtype, rg)

    def source(self):
        if self.source_override is not None:
            return self.source_override
        frame = user_frame()
        module = next((m for m in reversed(self.module_stack) if m), "")
        if frame is None:
            return None
        return (frame.f_code.co_filename, frame.f_lineno, module)

    # --- recording -------------------------------------------------------------------------
    def record(self, prim, args, params):
        """dispatch.trace_hook: a node for prim(*args), or NotImplemented to run eagerly."""
        if self.thread != _get_ident():     # another thread's op: not part of this trace
            return NotImplemented
        hook = self.watch_hook
        if hook is None or _getprofile() is not hook:
            return self._record(prim, args, params)
        _setprofile(None)       # a primitive is tracecomp's code: nothing the hook watches
        try:
            return self._record(prim, args, params)
        finally:
            _setprofile(hook)

    def _record(self, prim, args, params):
        if sparse_used[0] and any(isinstance(a, Tensor) and type(a._data) is SparseData
                                  for a in args):
            # its sparse op, traced as the dense ops it is made of
            return ON_SPARSE[0](prim, args, params)
        if has_number(args):        # a number argument fed as an input (number.py)
            args = number_operands(args)
        # a traced value, or a tensor that requires grad reached from outside (it becomes
        # a captured input, so its gradient flows: `w.t()` on a closure's weight, the PINN's
        # cat of `self.x = leaf.float()` that autograd.grad then differentiates by)
        grad_on = grad_mode.state.enabled
        traced = any(isinstance(a, Tensor) and (isinstance(a._data, Node) or (
            a._requires_grad and (a._node is None or grad_on))) for a in args)
        if not traced and "random" not in prim.tags:
            return self._eager(prim, args, params)
        operands = [self.lift(a) for a in args]
        shapes = [o.shape if isinstance(o, Node) else () for o in operands]
        shape = prim.shape(*shapes, **params)
        if special_used[0]:
            wide_uints.check(prim, operands, params)     # what eager refuses, refused here
        dtype = np.dtype(prim.dtype(*operands, **params))
        if prim.complex_rule is None and (
                dtype.kind == "c" or any(getattr(o, "dtype", dtype).kind == "c" for o in operands)):
            raise _complex_error(prim, operands, dtype)
        if dtype == BF16 or any(getattr(o, "dtype", None) == BF16 for o in operands):
            why = _bf16_refusal(prim, operands, self.bf16_backend)
            if why is not None:
                raise TraceError(why)
        if self.changed_no_grad_views and grad_mode.state.enabled:
            self._refuse_changed_no_grad_views(args)
        requires_grad = (grad_mode.state.enabled and prim.vjp is not None
                         and np_kind(dtype) in "fc"
                         and any(isinstance(a, Tensor) and a._requires_grad for a in args))
        node = self.graph.add(prim.name, operands, params, shape, dtype, requires_grad,
                              self.source())
        out = wrap(node, requires_grad)
        if prim.is_view and isinstance(args[0], Tensor):
            self.alias(args[0], out)
            out._view = (args[0], prim, params, grad_mode.state.enabled)    # its replay
        return out

    def _eager(self, prim, args, params):
        """Run an op on plain tensors eagerly (as bind would) and remember that its result
        was made inside the traced code: a temporary the code may then update in place with
        traced values (`y = zeros(n); y[i] = x`), unlike a tensor from outside, whose update
        would be lost. A view is such a temporary only when its base is one."""
        if self._running_eager:
            return NotImplemented
        for a in args:
            if isinstance(a, Tensor) and not self.made_here(a):
                self.read_from_outside(a)
        self._running_eager = True
        try:
            out = dispatch.bind(prim, *args, **params)
        finally:
            self._running_eager = False
        if not prim.is_view or id(args[0]) in self.created:
            self.created[id(out)] = out         # kept alive: its id stays its own
        if out._view is not None:       # a numpy view of args[0]: the base's update shows
            self.alias(args[0], out)
        return out

    def read_from_outside(self, t):
        """The traced code used tensor t's value, t from outside it (a global, a closure):
        the graph holds that value as a constant, so the call must check that t is still
        what it was (compiler/outside_tensors.py)."""
        if id(t) not in self.read_outside:
            self.read_outside[id(t)] = (t, t._vc[0])

    def made(self, t, source=None):
        """t was made inside the traced code from `source` (tensor() of data): a temporary,
        whose value the graph may hold; when source is a tensor from outside, that is a
        value read from outside."""
        self.created[id(t)] = t
        if isinstance(source, Tensor) and not self.made_here(source):
            self.read_from_outside(source)
        elif isinstance(source, np.ndarray):
            self.read_arrays[id(source)] = source

    def made_here(self, t):
        """Was tensor t made by eager ops inside the traced code (a temporary)?"""
        return self.created.get(id(t)) is t

    def alias(self, base, view):
        """view shares base's memory eagerly (a view op, .detach())."""
        if self._replaying:
            return      # a replay's result: kept by no one, so never updated or stale
        self.aliases.setdefault(id(base), [base]).append(view)
        self.aliases.setdefault(id(view), [view]).append(base)

    def same_memory(self, t, twin):
        """twin holds all of t's memory (t.detach(), t.data): each takes the other's in-place
        updates (`p.data.sub_(lr * g)`, `p.grad.detach().zero_()`)."""
        if self._replaying:
            return
        if self.made_here(t):   # a temporary's twin is one too (`zeros(n).detach()`)
            self.created[id(twin)] = twin
        group = self.twins.get(id(t))
        if group is None:
            group = self.twins[id(t)] = [t]
        group.append(twin)
        self.twins[id(twin)] = group

    def updated_in_place(self, t):
        """t took a new value in place. Traced values do not share memory, so the tensors
        that would see the update must be told: t's twins (same_memory) take t's value; a
        view made from t (or from such a view) takes its view op replayed on t's new value,
        as its memory would show it; t's base takes the write when t is a view of it
        (view_writes.py), and then the base's views are replayed; where that cannot be
        done, the others (t's bases, their other views) keep the old value and are marked,
        and reading one later is a TraceError, never a stale number."""
        for twin in self.twins.get(id(t), ()):
            if twin is not t:
                if type(twin._data) is np.ndarray:      # a real tensor takes a traced value
                    self.rebound.append((twin, twin._data))
                twin._data = self.kept_history(twin._data, t._data)
                self._updated(twin)
        self._updated(t)

    def kept_history(self, old, new):
        """The value a twin takes when its memory is updated in place through another
        tensor, and a non-leaf's value when it is updated in place under no_grad (inplace.
        commit). Sharing memory shares values, never gradients, as in torch: through
        y.detach() (or y.data) of a y computed here that requires grad, y's values change
        and its gradient path does not (kept_history.py: the backward still reaches what y
        was made from; `y.detach().clamp_(...)` dropped y's gradient), and a twin
        that did not require grad does not start to. A leaf's update (`p.data.sub_(...)`)
        takes the new value: graph inputs and updated parameters keep their own rules."""
        if not (isinstance(old, Node) and isinstance(new, Node)):
            return new
        with grad_mode.enable_grad():
            if not old.requires_grad:
                return wrap(new, new.requires_grad).detach()._data if new.requires_grad \
                    else new
            if old.op == INPUT or old in self.holders:
                return new
            return KeptHistory.apply(wrap(new, new.requires_grad).detach(), wrap(old, True))._data

    def _updated(self, t):
        if t._view is not None:
            self._changed(t)
        base = None if t._view is None else write_through(self, t)
        if base is not None:        # a view's write is its base's (view_writes.py)
            self.updated_in_place(base)
            return
        seen = self._replay_views(t)
        seen.add(id(t))
        work = [t]
        while work:
            for alias in self.aliases.get(id(work.pop()), [None])[1:]:
                # the alias, and what holds all of its memory (p.data[0].zero_() misses p)
                for other in self.twins.get(id(alias), (alias,)):
                    if id(other) not in seen:
                        seen.add(id(other))
                        causes = self.stale.get(id(other), (other, frozenset()))[1]
                        self.stale[id(other)] = (other, causes | {id(t)})
                        work.append(other)
        self.stale.pop(id(t), None)             # t itself holds the new value

    def _changed(self, view):
        """view, made by a view op, took a new value in place or from its base."""
        if not view._view[3] and dispatch.chain(view)[1]._requires_grad:
            self.changed_no_grad_views[id(view)] = view

    def _refuse_changed_no_grad_views(self, args):
        for a in args:
            if isinstance(a, Tensor) and self.changed_no_grad_views.get(id(a)) is a:
                raise AutogradError(dispatch.view_mode_message(dispatch.NO_GRAD_BASE, a))

    def _replay_views(self, t):
        """Give every view made from t, and from those, its view op again on t's new value
        (y = x[1] after x[0] = v: y is x's new row 1; eager or traced before, it is traced
        now). Returns their ids. Under no_grad a non-leaf keeps its gradient path
        (kept_history), and so do its views made in grad mode, as torch regenerates their
        grad_fn on its; a leaf's (a parameter an optimizer updates) are replayed without."""
        keeps = not grad_mode.state.enabled and t._requires_grad and t._node is not None \
            and not self.holds(t)
        done, work = set(), [t]
        while work:
            base = work.pop()
            for view in self.aliases.get(id(base), [None])[1:]:
                link = view._view
                if id(view) in done or link is None or link[0] is not base:
                    continue
                self._replaying = True      # the replay's tensors are no one's views
                try:
                    with grad_mode.set_grad_enabled(keeps and bool(link[3])
                                                    or grad_mode.state.enabled):
                        again = dispatch.replay((view,) + link, base)
                finally:
                    self._replaying = False
                view._data, view._requires_grad = again._data, again._requires_grad
                view._node = again._node
                self._changed(view)
                self.stale.pop(id(view), None)
                done.add(id(view))
                work.append(view)
        return done

    def written_back(self, base, view):
        """`base[key] = view` where view came from `base[key]` (`y[k] += v` in Python):
        base now holds view's update, so view no longer makes base stale."""
        hit = self.stale.get(id(base))
        if hit is not None and hit[0] is base:
            causes = hit[1] - {id(view)}
            if causes:
                self.stale[id(base)] = (base, causes)
            else:
                del self.stale[id(base)]

    def multi_view(self, view):
        """(output number, node class name) of view when unbind/split/chunk made it."""
        hit = self.multi_views.get(id(view))
        return hit[1:] if hit is not None and hit[0] is view else None

    def holds(self, t):
        """Whether t stands for a graph input: an argument, a parameter or buffer, or a
        leaf reached from outside (and not a value computed here)."""
        return any(h is t for h in self.holders.values())

    def is_stale(self, t):
        hit = self.stale.get(id(t))
        return hit is not None and hit[0] is t

    def lift(self, a):
        """An operand as the graph sees it: a node, or a Python scalar."""
        if isinstance(a, Tensor):
            if id(a) in self.stale and self.is_stale(a):
                raise stale_error()
            data = a._data
            if isinstance(data, Node):
                if data.requires_grad and not a._requires_grad:
                    return self._detach(data)
                # a leaf holding a value computed here: updated in place, or given one
                # with history by `p.data = y` (ActNorm's data-dependent init), where the
                # backward must stop at the leaf as eagerly, not go on into y's. A value
                # with history swapped in by tracecomp itself (DDP's averaged parameters,
                # distributed/traced.py) is read through, its backward included. An
                # argument's stand-in is one too (its node is TRACED): `w[1:].zero_()` under
                # no_grad, then `w * x`, gave w no gradient, silently.
                if (a._requires_grad and grad_mode.state.enabled and data.op != INPUT
                        and (not data.requires_grad or id(a) in self.data_assigned)
                        and (a._node is None or self.holds(a))):
                    return self._updated_leaf(a, data)
                return data
            if a._requires_grad and (a._node is None or grad_mode.state.enabled):
                return self.capture(a)      # (with history: its gradient goes on there)
            return self.constant(a)
        if isinstance(a, np.generic):
            return a.item()
        if isinstance(a, np.ndarray):
            self.read_arrays[id(a)] = a
            return self.graph.add_constant(a, self.source())
        return a

    def made_leaf(self, t):
        """`t.requires_grad_()` on a traced tensor that holds a value requiring grad without
        requiring it itself (`z = y.detach()` shares y's node until a use detaches it): t
        becomes a leaf, so it holds a stopped copy from now on, and its uses are an updated
        leaf's (_updated_leaf), whose gradient goes to t.grad, not on to y."""
        t._data = self._detach(t._data)

    def _detach(self, node):
        """A use of a value through .detach() or under no_grad: no gradient flows back."""
        from ..ops.registry import PRIMITIVES
        return self.graph.add(PRIMITIVES["detach"].name, (node,), {}, node.shape, node.dtype,
                              False, self.source())

    def _updated_leaf(self, leaf, value):
        """A leaf that requires grad (a parameter) updated in place under no_grad (by
        `opt.step()`, `p.data.clamp_()`) and then used again: a GAN step's second backward
        reaches the discriminator through its updated weights. Eagerly the leaf stays a
        leaf and that backward adds to its `.grad`; here its new value is read through a
        node that requires grad and has no VJP, so the backward stops there and hands the
        gradient to the leaf (tracing/backward.py), as it does for a graph input. An input
        that only got `requires_grad_()` keeps its input node (grad.py's requiring_grad); the
        node's flag is cleared when tracing ends (compiler/state.py: settle_updated_leaves),
        as the graph's invariant wants of an op without a VJP."""
        from ..ops.registry import PRIMITIVES
        hit = self.leaves.get(id(leaf))
        if hit is not None and hit[0] is value:
            return hit[1]
        node = self.graph.add(PRIMITIVES["detach"].name, (value,), {}, value.shape,
                              value.dtype, True, self.source())
        self.leaves[id(leaf)] = (value, node)
        self.holders[node] = leaf
        return node

    def constant(self, t):
        if not self.made_here(t):
            self.read_from_outside(t)
            if type(t._data) is np.ndarray:     # from_numpy(array): the array's values
                self.read_arrays[id(t._data)] = t._data
        hit = self.constants.get(id(t))
        if hit is None:
            # the tensor is kept alive with its node, so its id cannot be reused mid-trace
            # a tensor on a GPU: its value, copied to the host once (the backend uploads
            # the graph's constants once; the version check above re-traces on a change)
            data = devices.to_host(t._data)
            node = self._one_value(data)
            if node is None:
                node = self.graph.add_constant(data, self.source())
            hit = self.constants[id(t)] = (t, node)
        return hit[1]

    def _one_value(self, data):
        """A large constant whose elements are one value, bit for bit (the zeros a gather's
        gradient scatters into: LeNet's pools made 1.6 MB of them), as that value broadcast
        to its shape: the graph then holds, copies and hashes one number for the disk
        cache's key, and a kernel reads one; None for any other constant."""
        bits = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}.get(data.dtype.itemsize)
        if data.size <= LITERAL_MAX_ELEMENTS or bits is None or np_kind(data.dtype) == "O":
            return None
        flat = np.ascontiguousarray(data).reshape(-1).view(bits)
        if flat[-1] != flat[0] or not (flat == flat[0]).all():
            return None
        value = self.graph.add_constant(data.reshape(-1)[:1].reshape(()), self.source())
        return self.graph.add("expand", (value,), {"shape": tuple(data.shape)}, data.shape,
                              data.dtype, False, self.source())

    def capture(self, t):
        """A tensor that requires grad, reached from outside the arguments (a global or a
        closure): it becomes a graph input, so its current value and gradient are used."""
        for held, node in self.captured:
            if held is t:
                return node
        node = self.input(f"captured.{len(self.captured)}", t)
        self.captured.append((t, node))
        self.holders[node] = t
        if t._node is not None:
            self.outside_history.add(node)
        return node


def wrap(node, requires_grad=False):
    """A tensor standing for a graph value while tracing."""
    assert isinstance(node, TracedValue), f"{node} is not a value of a traced graph"
    return Tensor._make(node, requires_grad, TRACED if requires_grad else None)


def trace(fn, *example_inputs, names=None):
    """Trace fn on example tensors into a standalone Graph (inputs in argument order,
    outputs as fn returns them: one tensor or a tuple). Parameters reached through
    closures become `captured.k` inputs. A convenience for tests and tools; compile() does
    the full job (modules' parameters and buffers as named inputs, caching, autodiff)."""
    tracer = Tracer()
    names = names or [f"arg{k}" for k in range(len(example_inputs))]
    with tracer:
        args = [wrap(tracer.input(n, x), x._requires_grad)
                for n, x in zip(names, example_inputs)]
        result = fn(*args)
    results = result if isinstance(result, (tuple, list)) else (result,)
    tracer.graph.outputs = [tracer.lift(r) if isinstance(r._data, Node) else
                            tracer.graph.add_constant(r._data) for r in results]
    return tracer.graph
