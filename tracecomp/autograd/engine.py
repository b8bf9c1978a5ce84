"""The eager autograd engine: backward() and grad() over the tape that bind() records.

The tape is the graph of TapeNodes hanging off tensors' `_node`. The engine
  1. walks the nodes reachable from the roots, latest-created first (a max-heap on each
     node's creation number: a valid topological order with no recursion, so a
     10,000-op chain cannot hit Python's recursion limit), calling each VJP rule,
  2. sums the gradients a node receives from all its consumers before it runs,
  3. undoes broadcasting and dtype promotion once, here, not in every rule,
  4. accumulates into leaves' `.grad` (backward) or returns the gradients (grad).
Unless retain_graph is set, every visited node drops its saved values (operands, output),
as torch does, and keeps its edges, which grad_fn.next_functions still reports (free()).

A node recorded under saved_tensors_hooks hands its VJP unpack_hook's values for what it
packed (saved_hooks.py). Each backward()/grad() is one graph task (graph_task.py), which
register_multi_grad_hook asks what this walk computes.

Grouped primitives (tag "grouped": the outputs of one custom autograd.Function call, see
function.py) are one node per output on the tape but one backward: the first member the
walk reaches takes its siblings' gradients too (they are complete by then: the members
were recorded one after another, and every consumer of any of them came later) and calls
the VJP once with the list of gradients, as torch calls Function.backward once.

Tensors made while tracing carry TRACED as their `_node`: backward() and grad() of them
go to the trace that records this thread (context.current().backward / .grad), which
differentiates the graph; this engine does not import the trace side.
"""
import heapq
import re

import numpy as np

from .. import context, grad_mode, output_groups, saved_hooks
from ..device_array import DeviceArray
from ..dispatch import TapeNode, current_node
from ..errors import FREED, AutogradError, TraceError, fmt_shape
from ..grad_fn_names import AccumulateGrad, input_tensors
from ..ops.elementwise import cast, real
from ..ops.movement import sum_to
from ..output_groups import member as group_member
from ..tensor import Tensor
from ..user_code import user_stacklevel
from . import anomaly_mode as anomaly
from . import graph_task, profiler
from .freed_nodes import free, links, thaw
from .graph import GradientEdge
from .leaf_grad import add_to_grad


class _Traced:
    """The stand-in `_node` of a traced tensor that requires grad (tracer.wrap): it makes
    the tensor a non-leaf (so in-place ops on it follow torch's rules for intermediate
    values); the graph autodiff pass, not this engine, computes its gradient."""

    seq = -1
    args = ()
    edges = ()      # a tape walk (grad inside a vmap that is traced) stops here
    hooks = None
    retain = None

    def name(self):
        return "TracedBackward"


TRACED = _Traced()
_ndarray = np.ndarray

# Set while a vmap runs (func/batching.py's arm puts its fit here): a gradient batched by a
# vmap that has ended, for a tensor that vmap did not batch, summed over that batch (each
# sample's contribution to the one tensor: grad(vmap(f)) of a weight f closes over).
fit_batched = None      # backward() on a tensor whose _node is this runs in the trace


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             grad_variables=None, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's .grad (torch.autograd.backward)."""
    if grad_variables is not None:      # torch's deprecated name for grad_tensors
        grad_tensors = grad_variables if grad_tensors is None else grad_tensors
    if any(t._node is TRACED for t in as_tuple(tensors)):      # inside compiled code
        return _trace_of("backward()").backward(
            as_tuple(tensors), grad_tensors, None if inputs is None else as_tuple(inputs),
            create_graph)
    tensors, grads = root_grads(tensors, grad_tensors, "backward")
    only = None if inputs is None else as_tuple(inputs)
    task = graph_task.begin()
    try:
        results = _run(tensors, grads, retain_graph, create_graph, task, capture=only)
        if only is not None:
            handed = set()
            for t, g in zip(only, results):
                if g is not None:
                    _accumulate_leaf(t, g, create_graph, handed)
    finally:
        graph_task.end()


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False,
         materialize_grads=False):
    """Return d(outputs)/d(inputs) without touching any .grad (torch.autograd.grad)."""
    if is_grads_batched:
        raise NotImplementedError("autograd.grad(is_grads_batched=True) is not supported by "
                                  "tracecomp (it needs vmap); loop over the batch of "
                                  "grad_outputs with retain_graph=True instead")
    if not only_inputs:
        import warnings
        warnings.warn("only_inputs argument is deprecated and is ignored now (defaults to "
                      "True). To accumulate gradient for other parts of the graph, please use "
                      "torch.autograd.backward.", FutureWarning, stacklevel=user_stacklevel())
    if materialize_grads:
        if allow_unused is False:
            raise ValueError("Expected allow_unused to be True or not passed when "
                             "materialize_grads=True, but got: allow_unused=False.")
        allow_unused = True
    inputs = tuple(map(_edge_tensor, (inputs,) if isinstance(inputs, GradientEdge)
                       else as_tuple(inputs)))
    for t in inputs:
        if not t._requires_grad:
            raise AutogradError("One of the differentiated Tensors does not require grad")
    if any(t._node is TRACED for t in as_tuple(outputs)):      # inside compiled code
        return _trace_of("autograd.grad()").grad(as_tuple(outputs), inputs, grad_outputs,
                                                 create_graph, allow_unused, materialize_grads)
    outputs, grads = root_grads(outputs, grad_outputs, "grad")
    task = graph_task.begin(grad=True)
    try:
        results = _run(outputs, grads, retain_graph, create_graph, task, capture=inputs,
                       hook_leaves=True)
    finally:
        graph_task.end()
    return finish_grads(inputs, results, allow_unused, materialize_grads)


def _edge_tensor(x):
    """An input of grad(): a tensor, or a GradientEdge (get_gradient_edge), which stands
    for the tensor its node makes (its node's output, or an AccumulateGrad's leaf)."""
    if not isinstance(x, GradientEdge):
        return x
    node = x.node
    if isinstance(node, AccumulateGrad):
        return node.variable
    made = group_member(node, x.output_nr)    # the output's own tape node (output_groups.py)
    if made is None:
        raise RuntimeError(f"GradientEdge: output {x.output_nr} of {node.name()} is gone")
    return made.out()


def finish_grads(inputs, results, allow_unused, materialize_grads):
    """grad()'s results, eager or traced: None for an unused input becomes zeros
    (materialize_grads) or torch's error (unless allow_unused)."""
    out = []
    for k, (t, g) in enumerate(zip(inputs, results)):
        if g is None and materialize_grads:
            from ..creation import zeros_like
            g = zeros_like(t)
        if g is None and not allow_unused:
            raise AutogradError(f"The differentiated Tensor at index {k} appears to not have "
                                f"been used in the graph. Set allow_unused=True if this is the "
                                f"desired behavior.")
        out.append(g)
    return tuple(out)


def as_tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _trace_of(what):
    """The trace that records this thread, which differentiates its own traced tensors."""
    trace = context.current()
    if trace is None:
        raise TraceError(f"{what} on a traced tensor outside the compiled call that made it: "
                         f"return the tensor from the compiled function and differentiate "
                         f"the result instead")
    return trace


def root_grads(tensors, grads, op):
    """The roots as a tuple and their starting gradients (ones for scalars), with torch's
    checks; shared with the in-trace backward (tracing/backward.py)."""
    tensors = as_tuple(tensors)
    if grads is None:
        grads = (None,) * len(tensors)
    elif isinstance(grads, Tensor):
        grads = (grads,)
    out = []
    for t, g in zip(tensors, grads):
        if not t._requires_grad:
            raise AutogradError("element 0 of tensors does not require grad and does not have "
                                "a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise AutogradError(f"grad can be implicitly created only for scalar outputs; "
                                    f"this output has shape {fmt_shape(t.shape)}. Pass a "
                                    f"gradient of that shape: {op}(gradient=...)")
            if t._data.dtype.kind == "c":
                raise AutogradError(f"grad can be implicitly created only for real scalar "
                                    f"outputs but got {t.dtype}; take .real, .abs() or a "
                                    f"real function of it first")
            # a plain array's ones directly: ones_like's placement and layout checks cost
            # ~9 us of each training step's backward (a 0-d loss has no layout to copy)
            if type(t._data) is np.ndarray:
                g = Tensor._make(np.ones(t._data.shape, t._data.dtype))
            else:       # (imported here: an import statement costs every backward ~1 us)
                from ..creation import ones_like
                g = ones_like(t)
        elif tuple(g.shape) != tuple(t.shape):
            raise AutogradError(f"Mismatch in shape: grad_output[0] has a shape of "
                                f"{fmt_shape(g.shape)} and output[0] has a shape of "
                                f"{fmt_shape(t.shape)}.")
        out.append(g)
    return tensors, out


class _Walk:
    """The state of one backward run."""

    def __init__(self, capture, retain_graph, create_graph):
        # id(node) -> (node, gradient of that node's output, made here), summed by _add
        self.pending = {}
        self.leaf_grads = {}        # id(leaf) -> (leaf, gradient, made here), over all uses
        self.ready = []             # max-heap of (-seq, node): latest-created node first
        self.retain_graph, self.create_graph = retain_graph, create_graph
        self.in_place = not create_graph    # sums may be made in place (_add)
        # non-leaf tensors asked for (grad(y, [hidden])) are captured at their node
        self.capture_nodes = {id(t._node): i for i, t in enumerate(capture or ())
                              if t._node is not None}
        self.captured = [None] * len(capture or ())
        # a hooked node's own walk stops at its inputs: id -> position, and what each got
        self.stop, self.held = None, None

    def arrive(self, node, g):
        """g is node's complete gradient: run the tensor hooks, retain_grad, capture."""
        for hook in node.hooks or ():
            new = hook(g)
            g = new if new is not None else g
        if node.retain is not None:
            t = node.retain()
            if t is not None:
                t.grad = g if self.create_graph else g.detach()
        i = self.capture_nodes.get(id(node))
        if i is not None:
            self.captured[i] = g if self.captured[i] is None else self.captured[i] + g
        return g


def _run(roots, root_grads_, retain_graph, create_graph, task, capture=None,
         hook_leaves=False):
    """Propagate gradients from roots; returns the gradients of `capture` (or None), a
    captured leaf's after its hooks with hook_leaves (grad(); backward(inputs=...) runs
    them as it accumulates). task: this backward's graph_task.Task."""
    if retain_graph is None:
        retain_graph = create_graph
    walk = _Walk(capture, retain_graph, create_graph)
    capture_ids = {id(t): i for i, t in enumerate(capture)} if capture is not None else {}
    for t, g in zip(roots, root_grads_):
        node = current_node(t)
        if node is None:
            _add(walk.leaf_grads, id(t), t, g, walk.in_place)
        else:
            if id(node) not in walk.pending:
                heapq.heappush(walk.ready, (-node.seq, node))
            _add(walk.pending, id(node), node, g, walk.in_place)

    needed = None if capture is None else _reaching([n for _, n in walk.ready], capture_ids,
                                                     walk.capture_nodes)
    graph_task.record(task, [n for _, n in walk.ready], walk.leaf_grads, needed, capture_ids)
    with grad_mode.set_grad_enabled(create_graph):
        _drain(walk, needed)
    results, handed = walk.captured, set()
    for leaf, g, _ in walk.leaf_grads.values():
        if id(leaf) in capture_ids:
            i = capture_ids[id(leaf)]
            if hook_leaves:
                g = hooked_grad(leaf, g)
            results[i] = g if results[i] is None else results[i] + g
        elif capture is None and not getattr(leaf, "_transform_input", False):
            # a grad/jacrev/jvp transform's own input (func/level.py) is no user's leaf:
            # torch.func's wrapper gets no .grad (under vmap it holds a batch, no array)
            _accumulate_leaf(leaf, g, create_graph, handed)
    return results


def _reaching(starts, capture_ids, capture_nodes):
    """The ids of the nodes from which one of grad()'s inputs is reached (torch's
    exec_info): grad() runs only those, so it computes no gradient past its inputs (the
    history of an input is not walked, nor its hooks run). An explicit-stack DFS,
    post-order: a node is marked once all its producers are. A freed node that can run
    again (freed_nodes.free: `n = x + c` met by a second grad() with retain_graph=False,
    as torch allows where the node saves nothing) still leads to its inputs."""
    needed, seen = set(), set()
    stack = [(n, False) for n in starts]
    while stack:
        node, done = stack.pop()
        args, edges = links(node)
        if done:
            if id(node) in capture_nodes or any(
                    id(a) in capture_ids if e is None else id(e) in needed
                    for a, e in zip(args, edges)):
                needed.add(id(node))
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((e, False) for e in edges if e is not None and id(e) not in seen)
    return needed


def _drain(walk, needed=None):
    """Run the walk's ready nodes, latest-created first, until none is left (of `needed`'s
    ids only, when given: _reaching)."""
    pending, ready, watched = walk.pending, walk.ready, walk.capture_nodes
    retain_graph = walk.retain_graph
    while ready:
        node = heapq.heappop(ready)[1]
        hit = pending.pop(id(node), None)
        if hit is None or (needed is not None and id(node) not in needed):
            continue            # a grouped node, already run with its group; or one
                                # that leads to none of grad()'s inputs
        g = hit[1]
        if node.hooks is not None or node.retain is not None or watched:
            g = walk.arrive(node, g)
        if profiler._active:      # a profile records: the node is one event
            with profiler.record_function(
                    f"autograd::engine::evaluate_function: {node.name()}"):
                _evaluate(node, g, walk)
        else:
            _evaluate(node, g, walk)
        if not retain_graph:
            free(node)


def _add(table, key, owner, g, in_place):
    """Add g to table[key], (owner, the sum of its gradients so far, whether this walk made
    that sum): the first sum is a new tensor only this walk holds, and later gradients are
    added into its array in place when no graph is being built (in_place): a weight used at
    every step of a loop then costs one numpy add per use and no new array (the same float
    adds, in the same order). A gradient the walk did not make may be shared (add's VJP
    hands one g to both operands): it is never written."""
    hit = table.get(key)
    if hit is None:
        table[key] = (owner, g, False)
        return
    held = hit[1]
    if hit[2] and in_place and not held._requires_grad:
        a, b = held._data, g._data
        if type(a) is _ndarray and type(b) is _ndarray and a.dtype == b.dtype and \
                a.dtype.kind in "fc" and a.shape == b.shape:
            np.add(a, b, out=a)
            return
    table[key] = (owner, held + g, True)


def _check_saved(node):
    """The values node's VJP reads (its primitive's `saves`) must not have changed since
    it was recorded (torch's version check). An operand it reads only the shape of may
    have: its gradient goes to the node that made the value the op read (node.edges),
    unless its shape changed in place since (x.t_()), which the VJP would see."""
    if node.args is None:
        thaw(node)
    args = node.args
    for a, v in zip(args, node.versions):
        if v is not None and a._vc[0] != v:
            _check_changed(node)
            break
    if node.out_vc[0] != node.out_version and node.prim.reads("out", node) and (
            node.saved is None or "out" not in node.saved[1]):     # packed: not checked
        raise AutogradError(_modified(node.out(), node.out_vc[0], node.out_version, node))
    return args


def _check_changed(node):
    """Some operand of node changed in place: refused if the VJP reads it, or its shape
    (unless saved_tensors_hooks packed it: torch cannot check a version through them)."""
    packed = () if node.saved is None else node.saved[1]
    for k, (a, v) in enumerate(zip(node.args, node.versions)):
        if v is not None and a._vc[0] != v and k not in packed and (
                node.prim.reads(k, node) or getattr(a, "_reshaped_at", -1) > v):
            raise AutogradError(_modified(a, a._vc[0], v, a._node))


_HINTS = {   # torch's, by whether anomaly detection is on
    False: "enable anomaly detection to find the operation that failed to compute its "
           "gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).",
    True: "the backtrace further above shows the operation that failed to compute its "
          "gradient. The variable in question was changed in there or anywhere later. Good "
          "luck!",
}


def _modified(t, version, expected, made_by):
    """torch's version-counter error for saved tensor t, naming the node that made its
    current value (an input's grad_fn now, or the node whose saved output it is)."""
    whose = ""
    if isinstance(made_by, TapeNode):
        op = re.sub(r"Backward\d*$", "", type(made_by).__name__)
        whose = f", which is output {output_groups.output_nr(made_by)} of {op},"
    return (f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: [{t.type()} {list(t.shape)}]{whose} is at version {version}; "
            f"expected version {expected} instead. Hint: {_HINTS[anomaly.state.enabled]}")


def _evaluate(node, g, walk):
    if node.fn_hooks is None and "grouped" not in node.prim.tags:
        _step(node, g, walk)            # the usual node, tested first
    elif "grouped" in node.prim.tags:   # a member's own hooks run with the group's
        _step_group(node, g, walk)
    else:
        _step_hooked(node, g, walk)


def _step_hooked(node, g, walk):
    """A node with hooks of its own (y.grad_fn.register_hook, node_hooks.py): the
    pre-hooks may replace g; the node's primitives run in a walk of their own that stops
    at the inputs torch's node lists (a named node's primitives in between run there too);
    the hooks see and may replace those inputs' gradients, which then go on in `walk`."""
    hooks = node.fn_hooks
    g = hooks.before((g,))[0]
    inputs = input_tensors(node)
    inner = _Walk(None, walk.retain_graph, walk.create_graph)
    inner.leaf_grads = walk.leaf_grads      # a leaf reached on the way is walk's leaf too
    inner.capture_nodes, inner.captured = walk.capture_nodes, walk.captured
    inner.stop = {id(t): k for k, t in enumerate(inputs) if isinstance(t, Tensor)}
    inner.held = [None] * len(inputs)
    _step(node, g, inner)
    _drain(inner)
    grads = hooks.after(tuple(None if h is None else h[1] for h in inner.held), (g,))
    for t, h, ga in zip(inputs, inner.held, grads):
        if ga is not None and isinstance(t, Tensor):
            _route((t,), (None if h is None else h[0],), (ga,), walk)


def _step(node, g, walk):
    """Run one node's VJP and route each input's gradient to its producer or leaf."""
    args = read = _check_saved(node)
    data = node.out_data
    out = node.out()
    if node.saved is not None:      # recorded under saved_tensors_hooks: unpack_hook's values
        read, out = saved_hooks.unpack(node, args, out)
    if type(data) is DeviceArray:   # tensors the rule makes go where g is, as torch's
        with data.device:
            grads = node.prim.vjp(g, out, *read, **node.params)
    else:
        grads = node.prim.vjp(g, out, *read, **node.params)
    if anomaly.state.check_nan:
        anomaly.check_nan(node.name(), grads)
    _route(args, node.edges, grads, walk)


def _step_group(node, g, walk):
    """Run a grouped node's VJP once for all members of its group (the outputs of one
    custom Function call): members' gradients and outputs are lists by output index."""
    args, edges = _check_saved(node), node.edges    # taken before the group is freed
    params = node.params
    call = params["call"]
    grads, outs = [None] * call.n_outputs, [None] * call.n_outputs
    members = call.tape_members()
    for k, member in enumerate(members):
        if member is node:
            grads[k] = g
        elif member is not None:
            hit = walk.pending.pop(id(member), None)
            if hit is not None:
                grads[k] = walk.arrive(member, hit[1])
        if member is not None:
            outs[k] = member.out()
    # hooks on any output's node are the call's (torch's call is one node): pre-hooks see
    # every output's gradient, hooks the call's inputs'
    hooked = [m.fn_hooks for m in members if m is not None and m.fn_hooks is not None]
    for hooks in hooked:
        grads = list(hooks.before(tuple(grads)))
    at = _positions(input_tensors(node), args) if hooked else ()
    # a backward that is the call's last may overwrite what the call saved (a compiled
    # call's runner writes a gradient over its residuals, bridge.py); a Function's ignores it
    call.final = not walk.retain_graph
    result = node.prim.vjp(grads, outs, *args, **params)
    if hooked:
        result = list(result)
        grads_in = tuple(None if j is None else result[j] for j in at)
        for hooks in hooked:
            grads_in = hooks.after(grads_in, tuple(grads))
        for j, gi in zip(at, grads_in):
            if j is not None:
                result[j] = gi
    if anomaly.state.check_nan:
        anomaly.check_nan(call.name(), result)
    if not walk.retain_graph:
        for member in members:
            if member is not None:
                free(member)
        # what the group's call holds besides its members' operands goes with them
        # (torch frees it too): each kind of call says what that is
        call.release()
    _route(args, edges, result, walk)


def _positions(inputs, args):
    """Where each of torch's inputs of a node sits among its operands (None: absent)."""
    return [next((j for j, a in enumerate(args) if a is t), None) if isinstance(t, Tensor)
            else None for t in inputs]


def _route(args, edges, grads, walk):
    """Hand each operand its gradient: to the pending sum of its producer when the op
    read it (a producer seen for the first time joins the heap), or to its leaf's."""
    pending, stop = walk.pending, walk.stop
    for a, ga, producer in zip(args, grads, edges):
        if ga is None or not isinstance(a, Tensor) or not a._requires_grad:
            continue
        if fit_batched is not None or ga._data.shape != a._data.shape or \
                ga._data.dtype != a._data.dtype:    # (most gradients fit: no call)
            ga = fit_grad(ga, a)
        if stop is not None and id(a) in stop:      # an input of a hooked node (_step_hooked)
            k = stop[id(a)]
            held = walk.held[k]
            walk.held[k] = (producer, ga if held is None else held[1] + ga)
            continue
        if producer is None:
            # a leaf (a tensor given a history since took none then); a view made under
            # no_grad is none: torch gives it no gradient accumulator
            if a._node is None and a._no_grad_version is None:
                _add(walk.leaf_grads, id(a), a, ga, walk.in_place)
            continue
        if producer.args is None and producer.again is None:
            raise AutogradError(FREED)
        key = id(producer)
        if key not in pending:
            heapq.heappush(walk.ready, (-producer.seq, producer))
        _add(pending, key, producer, ga, walk.in_place)


def fit_grad(g, like):
    """Undo broadcasting and promotion: sum g down to `like`'s shape and cast to its dtype
    (a real operand of a complex op takes the real part of its gradient, as torch's)."""
    gd, ld = g._data, like._data
    if fit_batched is not None and (type(gd) is not _ndarray or type(ld) is not _ndarray):
        g = fit_batched(g, like)
        gd = g._data
    if gd.shape != ld.shape:
        g = sum_to(g, ld.shape)
    if gd.dtype != ld.dtype:
        g = cast(real(g) if gd.dtype.kind == "c" and ld.dtype.kind != "c" else g, ld.dtype)
    return g


def hooked_grad(leaf, g):
    """g after the leaf's own hooks (`p.register_hook`), each given the last one's result;
    the eager engine and a traced backward (tracing/backward.py) both ask here."""
    for hook in leaf._hooks or ():
        new = hook(g)
        g = new if new is not None else g
    return g


def after_accumulating(leaf):
    """Run the leaf's post-accumulate-grad hooks (`hook(leaf)`, once its .grad holds this
    backward's gradient: an optimizer step fused into the backward); they return None."""
    for hook in leaf._post_accumulate_hooks or ():
        if hook(leaf) is not None:
            raise RuntimeError("Tensor post accumulate grad hooks should return None. (It may "
                               "change the tensor's .grad or data in place instead.)")


def _accumulate_leaf(leaf, g, create_graph, handed):
    """Add g into leaf.grad, then run its post-accumulate hooks. `handed` holds the arrays
    already given to a leaf in this run: add's VJP returns the same g for both operands,
    and optimizers update .grad in place, so no two .grad tensors may share memory."""
    g = hooked_grad(leaf, g) if leaf._hooks else g
    add_to_grad(leaf, g, create_graph, handed)
    if leaf._post_accumulate_hooks:
        after_accumulating(leaf)


def tape_node_of(t: Tensor):
    """The TapeNode that produced t (None for leaves); for debugging and tests."""
    return t._node if isinstance(t._node, TapeNode) else None
