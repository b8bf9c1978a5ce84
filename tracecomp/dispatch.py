"""bind(): the single dispatch point of every primitive, eager or traced.

Eagerly, `bind` runs the primitive's numpy impl, casts the result to the dtype rule's
answer (numpy and torch promote differently), and, when grad mode is on and an input
requires grad, records one `TapeNode` on the autograd tape. While tracing, the tracer
installs `trace_hook`, which records a graph node instead.

On a device: when an operand is a tensor on 'cuda' (its data a DeviceArray), `bind` asks
that device's backend to run the primitive (a cached one-node kernel, codegen/cuda/
device.py), or runs the impl on the host with the operands copied over where no kernel
computes it; the result stays on the device and goes on the tape as a CPU result would.
Operands on two devices raise torch's error (a 0-d CPU tensor goes with any device).

Inside torch.func.vmap an operand's data is a Batched (func/batching_value.py): `bind` hands
the call to the batching interpreter (`batching`, set while a vmap runs), which computes
the batched result, and the result goes on the tape as a computed one would. While a vmap
runs inside traced code the batching hook comes before the tracer's: a call on batched
operands is handed to its rule, and the primitives the rule calls on the physical (traced)
tensors reach bind again and are recorded, so the graph holds the batched computation once
instead of one copy per sample.

Shape rules run only when the impl fails (to turn numpy's message into one in the user's
terms), or on every call when TRACECOMP_CHECK_SHAPES=1 (the test suite sets it, so every
rule is checked against its impl on every op the tests run).

`needs(x)` tells a VJP rule whether argument x wants a gradient (it sits here, beside the
tape it reads, not among the shape rules). `current_node(x)` is x's node (x.grad_fn) with a
view's history replayed on its base's when the base changed in place since (chain and
replay walk a view back to its base; inplace_view.py writes through views with them).

Inference tensors: a result made while inference_mode is on gets an InferenceCounter as its
version counter, the mark grad_mode.py describes (a view keeps its base's); a tape node
that would save one for backward is torch's error (refuse_saved_inference). Both checks
wait for the first inference_mode (grad_mode.seen): other programs pay one list read.

`plain_arrays` tells the eager fast paths of stack and cat when their result may be made
straight with numpy: when bind would record nothing (basic indexing and iteration make the
same check inline, for one tensor).
"""
import itertools
import os

import numpy as np

from . import devices, grad_mode, saved_hooks, wide_uints
from .device_array import DeviceArray
from .device_array import devices_used as _devices_used
from .dtypes import BF16, REDUCED, WIDE_UINTS, np_kind, special_used
from .errors import AutogradError, ShapeError, TracecompError, fmt_shape, foreign_operand
from .sparse_data import ON_SPARSE, SparseData
from .sparse_data import used as sparse_used
from .tensor import Tensor, made_in_grad, no_grad_view

CHECK_SHAPES = os.environ.get("TRACECOMP_CHECK_SHAPES", "0") == "1"

# Set by the tracer while model code is being traced: hook(prim, args, params) -> Tensor,
# or NotImplemented when no argument is a traced value or the call comes from another
# thread than the traced one. One process-wide slot (one trace at a time, tracing/gate.py):
# an eager op pays one global read when nobody traces, where a per-thread hook would cost a
# threading.local read on every op.
trace_hook = None

# Set while a vmap runs (func/batching.py's arm puts its apply here and takes it away when
# the last vmap ends): apply(prim, args, arrays, params) -> the batched result, or
# NotImplemented when no operand is batched. Other ops pay one global read.
batching = None
# Set with it: in_vmap() -> whether a vmap runs in this thread (batching stays armed after
# one ends while a backward may still bring cotangents into its batch)
in_vmap = None

_grad = grad_mode.state
_inference_seen = grad_mode.seen
InferenceCounter = grad_mode.InferenceCounter
_make = Tensor._make
_new = object.__new__
_ndarray = np.ndarray     # a global name is quicker to look up than a module attribute
_sequence = itertools.count()
_hooks_active = saved_hooks.active


class TapeNode:
    """One recorded primitive call: enough to run its VJP later.

    The output is kept as its array, not as a Tensor, so a tensor and its node do not form
    a reference cycle; `out()` rebuilds a tensor whose grad_fn is this node (what torch's
    SavedVariable does), which keeps higher-order gradients right.

    A node is what `y.grad_fn` returns, so it looks like torch's: its class is named as
    torch names the op's node (SumBackward0; one subclass per name, made by
    grad_fn_names.py, which also answers next_functions).
    """

    __slots__ = ("prim", "args", "params", "out_data", "out_vc", "out_version", "versions",
                 "edges", "hooks", "fn_hooks", "retain", "seq", "inputs", "saved",
                 "presented", "again", "__weakref__")

    def __init__(self, prim, args, params, out_data, out_vc):
        self.prim = prim
        self.args = args
        self.params = params
        self.out_data = out_data
        self.out_vc = out_vc
        self.out_version = out_vc[0]
        # Each operand's version and producer now, as torch's edges: an in-place op on an
        # operand later gives the tensor a new node, and this op's gradient must still go
        # to the node that made the value it read (one loop: cheaper than two tuples)
        self.versions = versions = []
        self.edges = edges = []
        for a in args:
            if isinstance(a, Tensor):
                versions.append(a._vc[0])
                node = a._node
                if a._view is not None:
                    if node is not None and \
                            getattr(node, "out_version", a._vc[0]) != a._vc[0]:  # (traced)
                        node = current_node(a)      # a view whose base changed since
                    elif a._no_grad_version is not None:
                        stale_no_grad_view(a)
                edges.append(node)
            else:
                versions.append(None)
                edges.append(None)
        if _inference_seen[0]:
            refuse_saved_inference(self)
        # Creation order, after any node the loop made: a node's inputs always come from
        # earlier nodes, so walking nodes by decreasing seq is a topological order for
        # backward (torch's sequence_nr).
        self.seq = next(_sequence)
        self.hooks = None           # the output tensor's hooks (tensor.register_hook)
        self.fn_hooks = None        # the node's own (register_hook / _prehook, node_hooks.py)
        self.retain = None
        # torch's inputs where a public function names them (grad_fn_names.named), then the
        # frozen edges once backward frees the node; None, not unset: reading an unset
        # slot raises (getattr's default costs ~2K instructions, in every backward)
        self.inputs = None
        # (unpack_hook, {operand position or "out": what pack_hook returned}) when the node
        # was recorded under saved_tensors_hooks (saved_hooks.py)
        self.saved = None
        self.again = None           # what a freed node runs again with (autograd/freed_nodes.py)
        # (`presented`, unset: the inner node a chained primitive's node shows torch's
        # graph through, made when asked for; grad_fn_names.CHAINS)

    # a node of one torch node's several outputs (output_groups.py), which are views of
    # one tensor (x.unbind()) with multi_view; set by its class
    group_member = multi_view = False

    def name(self) -> str:
        return type(self).__name__

    def __getattr__(self, attr):
        # only reached for names the node lacks: torch's `_saved_self`, `_saved_result`, ...
        from .saved_fields import saved_field
        return saved_field(self, attr)

    @property
    def next_functions(self):
        from .grad_fn_names import next_functions
        return next_functions(self)

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) -> None or new grad_inputs, when this node's
        backward has run (node_hooks.py)."""
        from .node_hooks import register
        return register(self, fn, pre=False)

    def register_prehook(self, fn):
        """fn(grad_outputs) -> None or new grad_outputs, before this node's backward runs."""
        from .node_hooks import register
        return register(self, fn, pre=True)

    def out(self) -> Tensor:
        return Tensor._make(self.out_data, True, self, self.out_vc)

    def share_counter(self, vc):
        """The output is now a tensor with version counter vc (an in-place shape change's,
        a custom Function's dirty input): the check at backward starts from its version."""
        self.out_vc = vc
        self.out_version = vc[0]


SAVED_INFERENCE = ("Inference tensors cannot be saved for backward. Please do not use Tensors "
                   "created in inference mode in computation tracked by autograd. To work "
                   "around this, you can make a clone to get a normal tensor and use it in "
                   "autograd, or use `torch.no_grad()` instead of `torch.inference_mode()`.")


def refuse_saved_inference(node):
    """torch's error when the op a node records saves an inference tensor (its VJP reads the
    value: `a * w` does, `a + w` does not)."""
    for k, a in enumerate(node.args):
        if isinstance(a, Tensor) and isinstance(a._vc, InferenceCounter) and \
                node.prim.reads(k, node):
            raise RuntimeError(SAVED_INFERENCE)


def chain(x):
    """x's views back to the tensor that owns the memory: [(view, parent, prim, params,
    made_in_grad_mode)] from x inward, and that base (x itself when x is not a view)."""
    links = []
    while x._view is not None:
        links.append((x,) + x._view)
        x = x._view[0]
    return links, x


def replay(link, parent):
    """The link's view op again, on `parent` (prim None: an eager indexing fast path's
    view, `parent[key]`)."""
    _, _, prim, params, _ = link
    if prim is None:
        return parent[params]
    return bind(prim, parent, **params)


NO_GRAD_BASE = ("A view was created in no_grad mode and its base or another view of its base "
                "has been modified inplace with grad mode enabled. Given that this use case is "
                "ambiguous and error-prone, it is forbidden. You can clarify your code by "
                "moving both the view and the inplace either both inside the no_grad block (if "
                "you don't want the inplace to be tracked) or both outside (if you want the "
                "inplace to be tracked).")


def current_node(x):
    """x's tape node (x.grad_fn), brought up to date first when x is a view whose base
    changed in place since that node was recorded (`y = x[1]; x.mul_(3)`): y's values are
    the new ones, so its history must be too, as torch regenerates a view's grad_fn. Ops
    recorded before the change keep the node they read (their edges)."""
    node = x._node
    if x._view is None:
        return node
    if node is None:
        if x._no_grad_version is not None:
            stale_no_grad_view(x)
        if not regained(x):
            return None
    elif getattr(node, "out_version", x._vc[0]) == x._vc[0]:
        return node         # a traced one's stand-in, or current
    links, base = chain(x)
    parent = base
    with grad_mode.enable_grad():
        for link in reversed(links):
            view = link[0]
            again = replay(link, parent)
            view._node, view._requires_grad = again._node, again._requires_grad
            parent = view
    return x._node


# torch's words for a view made under inference_mode, in its no_grad messages' places
_INFERENCE_WORDS = (("no_grad mode", "inference mode"), ("with grad mode enabled",
                    "in normal mode"), ("the no_grad block", "the inference_mode block"))


def view_mode_message(message, view):
    """message, about a view made under no_grad, in inference_mode's words for a view made
    there."""
    if view._view_mode == "inference":
        for old, new in _INFERENCE_WORDS:
            message = message.replace(old, new)
    return message


def stale_no_grad_view(x):
    """torch's error for a view made under no_grad (of a tensor that requires grad) that is
    used, or whose grad_fn is read, after it or its base changed in place."""
    if x._vc[0] != x._no_grad_version:
        raise AutogradError(view_mode_message(NO_GRAD_BASE, x))


def regained(x, check=True):
    """Whether x, a view without history, was made (in grad mode) of a tensor that took
    history in place since: `v = buf[:2]; buf.add_(w)`. v's values depend on w now, so v
    requires grad, as in torch, its history replayed on its base's (current_node). A view
    made under no_grad of a tensor without history, which has history now, is torch's
    error in grad mode (with check)."""
    if np_kind(x._data.dtype) not in "fc":
        return False
    link = x._view
    while link is not None:
        parent, mode = link[0], link[3]
        if not mode:    # made under no_grad: None when parent had no history then
            if mode is None and parent._node is not None:
                if check and grad_mode.state.enabled:
                    raise AutogradError(NO_GRAD_BASE)
                return not check
            return False
        if parent._node is not None:
            return True
        link = parent._view
    return False


# Set once a tensor without history took history in place (history_taken): until then no
# view can have regained any, and bind skips looking (most programs never do it)
regains = False


def history_taken(old_node):
    """A tensor whose node was old_node took history in place; views of it made before may
    have regained history (regained)."""
    global regains
    if old_node is None:
        regains = True


def tracked(x) -> bool:
    """x requires grad, a view whose base took history since it was made included (its
    history is replayed now, by current_node)."""
    if x._requires_grad:
        return True
    if x._view is None or x._node is not None:
        return False
    current_node(x)
    return x._requires_grad


class _NodeMakers(dict):
    """prim -> what makes its tape nodes (grad_fn_names.node_maker: the TapeNode subclass
    named as torch names the op's node, or a function choosing one by the operands),
    filled on a primitive's first taped call (grad_fn_names subclasses TapeNode, so it
    imports this module, and this one imports it late)."""

    def __missing__(self, prim):
        from .grad_fn_names import node_maker
        maker = self[prim] = node_maker(prim)
        return maker


NODE_MAKERS = _NodeMakers()


def tape_node(prim, args, params, out_data, out_vc):
    """A new tape node for a primitive call that bind() does not make (the compiled-call
    bridge's), of the class its primitive's name gives."""
    return NODE_MAKERS[prim](prim, args, params, out_data, out_vc)


def needs(x) -> bool:
    """Does argument x want a gradient? VJP rules skip the work for those that don't."""
    return isinstance(x, Tensor) and x._requires_grad


def bind(prim, *args, **params):
    """Apply primitive `prim` to tensors and Python scalars."""
    if trace_hook is not None and batching is None:
        out = trace_hook(prim, args, params)
        if out is not NotImplemented:
            return out
    n = len(args)
    if n == 2:              # binary and unary ops: no comprehension (a call of its own)
        a, b = args
        arrays = (a._data if isinstance(a, Tensor) else a, b._data if isinstance(b, Tensor)
                  else b)
    elif n == 1:
        arrays = (args[0]._data,) if isinstance(args[0], Tensor) else args
    else:
        arrays = [a._data if isinstance(a, Tensor) else a for a in args]
    if batching is not None and (out := batching(prim, args, arrays, params)) is not \
            NotImplemented:
        dtype = out.dtype       # a Batched: computed by the rules, on the tape as any result
        view = False
        vc = [0]
    elif batching is not None and trace_hook is not None and \
            (out := trace_hook(prim, args, params)) is not NotImplemented:
        # vmap inside traced code (docstring): the autograd of the tensors the vmapped code
        # sees is the tape, so that grad inside it (per-sample gradients) runs the VJPs on
        # the batch; the graph's nodes keep their requires_grad for a gradient of the vmap
        if out._requires_grad and in_vmap():
            out._node = NODE_MAKERS[prim](prim, args, params, out._data, out._vc)
        return out
    elif _devices_used[0] and any(type(a) is DeviceArray for a in arrays):
        out = _on_device(prim, arrays, params)
        dtype = out.dtype
        # a device view is a copy of its part: an in-place update of it is written back
        # into its base (inplace.commit), so it shares the base's version count
        view = prim.is_view
        vc = args[0]._vc if view else [0]
    else:
        if CHECK_SHAPES:
            _check_rule(prim, arrays, params)
        try:
            if special_used[0]:
                out = _special_call(prim, arrays, params)
            else:
                out = prim.impl(*arrays, **params)
            dtype = prim.dtype(*arrays, **params)
        except Exception as exc:
            if sparse_used[0] and any(type(a) is SparseData for a in arrays):
                # the impl cannot read a sparse tensor: its sparse op (or torch's error)
                return ON_SPARSE[0](prim, args, params)
            if isinstance(exc, (TracecompError, IndexError)):
                raise   # our own errors, and index errors (which torch raises as IndexError)
            if "guard" in prim.tags:
                raise   # a guard's error is the message it was asked to raise, as is
            raise (foreign_operand(prim.name, arrays) or
                   explain_failure(prim, arrays, params, exc)) from exc
        if type(out) is not _ndarray or (out.dtype is not dtype and out.dtype != dtype):
            out = prim.as_dtype(out, arrays, params, dtype)
        view = prim.is_view and _aliases(out, arrays[0])
        vc = args[0]._vc if view else [0]
    if _grad.enabled:
        if prim.vjp is not None and (dtype.kind in "fc" or dtype == BF16):
            for a in args:
                if isinstance(a, Tensor) and (a._requires_grad or regains and a._view is not
                                              None and a._node is None and tracked(a)):
                    t = _make(out, True, NODE_MAKERS[prim](prim, args, params, out, vc), vc)
                    if view:
                        t._view_of_grad = True
                        t._view = (args[0], prim, params, True)
                    if _hooks_active[0]:    # torch.autograd.graph.saved_tensors_hooks
                        saved_hooks.pack(t._node, t)
                    return t
    elif _inference_seen[0] and _grad.inference and not view:
        vc = InferenceCounter((0,))     # an inference tensor (a view shares its base's mark)
    t = _new(Tensor)        # Tensor._make, inlined: this line runs once per eager op
    t._data = out
    t._requires_grad = False
    t._node = None
    t._vc = vc
    if view:                # how to replay the view, for in-place updates (inplace_view.py)
        t._view = (args[0], prim, params, made_in_grad(args[0]))
        if args[0]._requires_grad and not _grad.enabled and (dtype.kind in "fc" or
                                                             dtype == BF16):
            no_grad_view(t)     # torch's view made under no_grad: it requires grad
    return t


def widen_reduced(arrays):
    """The operands with each bfloat16 or float16 array as float32: torch's CPU kernels
    compute a bfloat16 or float16 op in float32 (sums, cumulative sums and products and
    matmuls accumulate there) and round the result once, which bind's cast to the dtype
    rule's answer then does. (numpy's float16 loops would round each step of a sum over a
    leading dim or a cumsum, and 1 / sqrt(x) twice.)"""
    return [a.astype(np.float32) if type(a) is _ndarray and a.dtype in REDUCED else a
            for a in arrays]


# Where torch's CPU kernel reads a Python number operand of a bfloat16 or float16 op unrounded
# (mul, and the divisor of div and floor division, take original_scalar_value in opmath):
# positions kept. Everywhere else torch wraps the number into a tensor of the op's dtype
# first, so x + 0.3 adds 0.30078125 in bfloat16 and x > 0.3 compares with it.
SCALAR_UNROUNDED = {"mul": (0, 1), "div": (1,), "floor_divide": (1,)}


def round_scalars(prim, arrays):
    """arrays with each Python number operand rounded to the bfloat16 or float16 of an
    array operand of prim, as torch's wrapped number is (but see SCALAR_UNROUNDED)."""
    low = next((a.dtype for a in arrays if getattr(a, "dtype", None) in REDUCED), None)
    if low is None:
        return arrays
    kept = SCALAR_UNROUNDED.get(prim.name, ())
    return [float(np.float32(a).astype(low)) if type(a) in (float, int) and k not in kept
            else a for k, a in enumerate(arrays)]


def _special_call(prim, arrays, params):
    """prim's impl once bfloat16, float16 or uint16/32/64 is in use: the ops torch refuses
    on uint16/32/64 refused, a bfloat16 or float16 op computed in float32 (views as they
    are)."""
    low = wide_uint = number = None
    for a in arrays:        # one look at the operands (a loop: no call per operand)
        kind = getattr(a, "dtype", None)
        if kind in REDUCED:
            low = kind
        elif kind in WIDE_UINTS:
            wide_uint = kind
        elif kind is None and type(a) in (float, int):
            number = a
    if wide_uint is not None or params.get("dtype") in WIDE_UINTS:
        wide_uints.check(prim, arrays, params)
    if low is None or prim.is_view or "own_rounding" in prim.tags:  # (prod rounds each step)
        return prim.impl(*arrays, **params)
    if prim.bf16 is not None:
        # its reduced-precision kernel in tensor ops (Primitive.bf16), on the operands
        with grad_mode.no_grad():
            return prim.bf16(*[_make(a) if type(a) is _ndarray else a for a in arrays],
                             **params)._data
    return prim.impl(*widen_reduced(arrays if number is None else round_scalars(prim, arrays)),
                     **params)


def _on_device(prim, arrays, params):
    """prim's result (a DeviceArray) for operands on a device: the device backend's kernel,
    or bind again on host copies of the operands (the CPU's path and errors) where no
    kernel computes prim, the result copied over."""
    if "grad_marker" in prim.tags:
        return arrays[0]    # a custom Function's output, wherever its inputs live (.to())
    where = next(a.device for a in arrays if type(a) is DeviceArray)
    if special_used[0] and (params.get("dtype") == BF16 or
                            any(getattr(a, "dtype", None) == BF16 for a in arrays)):
        raise devices.no_bfloat16_on(where)
    operands = [_on(where, prim, a, arrays, k) for k, a in enumerate(arrays)]
    out = devices.backend(where.type).run_primitive(prim, operands, params, where)
    if out is NotImplemented:
        with grad_mode.no_grad():
            host = bind(prim, *[_make(devices.to_host(a)) if type(a) is DeviceArray else a
                                for a in operands], **params)
        out = devices.to_device(host._data, where)
    return out


# primitives whose operands after the first are indices, which torch takes from the CPU
# for a tensor on a device (x_cuda[cpu_index], x_cuda[cpu_mask] = v)
_HOST_INDICES = {"index": 1, "index_put": 2}


def _on(where, prim, a, arrays, k):
    """Operand k, a, of an op computed on device `where`: device data there, Python scalars
    as they are, a CPU tensor's data moved over when it is 0-d or an index (as torch
    allows)."""
    if type(a) is DeviceArray:
        if a.device != where:
            raise _two_devices(prim, where, a.device, arrays)
        return a
    if isinstance(a, _ndarray):
        if a.ndim and k < _HOST_INDICES.get(prim.name, len(arrays)):
            raise _two_devices(prim, where, "cpu", arrays)
        return devices.to_device(a, where)
    return a


def _two_devices(prim, first, second, arrays):
    if "meta" in (str(first), str(second)):
        # torch's meta kernels word it from the first tensor operand's device
        where = [getattr(a, "device", "cpu") for a in arrays if hasattr(a, "shape")]
        other = next(str(w) for w in where if str(w) != str(where[0]))
        return RuntimeError(f"Tensor on device {other} is not on the expected device "
                            f"{where[0]}!")
    described = ", ".join(f"{fmt_shape(a.shape)} on {getattr(a, 'device', 'cpu')}"
                          for a in arrays if hasattr(a, "shape"))
    return devices.two_devices_error(first, second, f"{prim.name} got {described}")


def _aliases(out, x):
    """Whether a view primitive's result shares x's memory. numpy's reshape copies an input
    it cannot view (torch's reshape does too): that copy is a new tensor, with its own
    version counter, which in-place ops may update without touching x. A view's .base is
    x or x's own base (numpy collapses base chains); anything else is checked for overlap."""
    base = out.base
    return base is x or (base is not None and base is x.base) or np.may_share_memory(out, x)


def plain_arrays(tensors, same_shape=False):
    """The tensors' numpy arrays when ops on them record nothing and they share one dtype
    (and, with same_shape, one shape); else None. Recording nothing: none is being traced
    and no tape node would be made (grad mode is off, or none requires grad). A view or a
    copy of them may then be made straight with numpy, as the primitives would make it.
    One loop, every check in it: stack and cat in Python loops call this per call."""
    taping = _grad.enabled
    first = tensors[0]._data
    shape, dtype = first.shape, first.dtype
    arrays = []
    for t in tensors:
        data = t._data
        if type(data) is not _ndarray or data.dtype is not dtype or (
                same_shape and data.shape != shape) or (taping and (
                    t._requires_grad or regains and tracked(t))):
            return None
        arrays.append(data)
    return arrays


def shapes_of(arrays):
    return [a.shape if hasattr(a, "shape") else () for a in arrays]


def explain_failure(prim, arrays, params, exc):
    """The impl raised: let the shape rule, then the dtype rule (floor of a complex tensor),
    say what is wrong in the user's terms. If the rules accept the input, the op still
    failed: say which op, with the operands."""
    try:
        prim.shape(*shapes_of(arrays), **params)
        prim.dtype(*arrays, **params)
    except TracecompError as rule_error:
        return rule_error
    described = ", ".join(f"{fmt_shape(a.shape)} {a.dtype}" if hasattr(a, "shape") else repr(a)
                          for a in arrays)
    return ShapeError(f"{prim.name}: failed on operands ({described}) with params {params}: "
                      f"{type(exc).__name__}: {exc}")


def _check_rule(prim, arrays, params):
    """Debug mode: the rule must agree with the impl (runs the impl twice, so never for
    random primitives: a second draw would shift the random stream)."""
    if "random" in prim.tags:
        return
    want = tuple(prim.shape(*shapes_of(arrays), **params))
    try:
        got = np.shape(prim.impl(*arrays, **params))
    except Exception:
        return  # the real call below reports it
    assert tuple(got) == want, f"{prim.name}: shape rule says {want}, impl gave {got}"
