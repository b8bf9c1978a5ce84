"""torch's names for the eager tape's nodes: what `y.grad_fn` is called and what its
`next_functions` are.

torch gives each backward node a class named after the op and overload that made it
(`SumBackward0` for x.sum(), `SumBackward1` for x.sum(dim)); a leaf's gradient goes into an
`AccumulateGrad` node holding the leaf as `.variable`; `next_functions` lists one
(node, output_nr) pair per differentiable input of the op, (None, 0) for an input that
takes no gradient. Our tape records primitives, so:

  NAMES       primitive -> torch's class name, or a small function of the operands and
              params where torch's overload depends on them (pow's scalar or tensor
              exponent, matmul's ranks)
  INPUTS      primitive -> the operands torch lists: operand positions, or a function;
              default every operand (a Python number is an input that takes no gradient:
              `a * 2` lists (fn, 0), (None, 0), as torch's wrapped number does)
  node_maker  what bind() calls to make a primitive's tape node: one TapeNode subclass per
              name, made on first use and cached, so the tape pays one dict lookup per op
              (dispatch.NODE_MAKERS); the few primitives named by their operands pay one
              Python call more (about 0.2 us on a 4 us op)
  renamed()   for a public function whose primitive another one records too: x.t(),
              x.transpose(0, 1) and x.permute(1, 0) all record permute; the function names
              the node it made as torch does
  named()     for a public function that records several primitives where torch records
              one node: F.linear records permute, matmul and add where torch records
              AddmmBackward0(bias, input, TBackward0); it names its last node and gives
              it torch's inputs
  chained()   for a public function whose primitives torch records as a chain of other
              nodes: x[1:, 0] is slice + reshape to us, SliceBackward0 then SelectBackward0
              to torch

Guards (primitives tagged "guard": identity checks such as check_range) are not torch ops:
next_functions looks through them. The outputs of one custom Function call (or one
compiled call) are one node per output on our tape but one node in torch's: an edge to any
of them names the group's first node, with the output's index as output_nr. When backward
frees a node (without retain_graph) it drops the node's operands and output, as torch frees
saved tensors, and keeps its edges (freeze()), so next_functions still answers as torch's.

It sits beside dispatch.py, not in autograd/, because public functions (composite.py,
nn.functional) import renamed()/named(), and the autograd package imports them.
"""
import functools
import weakref

from . import output_groups
from .dispatch import TapeNode
from .tensor import Tensor

# torch's C++ nodes are builtins: `<SumBackward0 object at 0x...>`, type(fn).__module__
BUILTIN = "builtins"
# a custom Function's node class lives where torch makes it: <...function.RoundBackward ...>
FUNCTION_MODULE = "tracecomp.autograd.function"


# --- names -----------------------------------------------------------------------------
def _is_scalar(x):
    return not isinstance(x, Tensor)


def _ndim(x):
    return x._data.ndim if isinstance(x, Tensor) else 0


def _overload(tensor_name, scalar_name):
    """torch's overload for a binary op by its second operand: tensor or Python number."""
    return lambda args, params: scalar_name if _is_scalar(args[1]) else tensor_name


def _full_or_dim(full_name, dim_name):
    """x.sum() (every dim, no keepdim) is overload 0; x.sum(dim) overload 1."""
    def name(args, params):
        full = len(params["dims"]) == args[0]._data.ndim and not params.get("keepdim")
        return full_name if full else dim_name
    return name


def _pow(args, params):
    if _is_scalar(args[0]):
        return "PowBackward2"       # 2 ** x
    return "PowBackward0" if _is_scalar(args[1]) else "PowBackward1"


def _sub(args, params):
    return "RsubBackward1" if _is_scalar(args[0]) else "SubBackward0"    # 2 - x


# what torch's matmul records for operand ranks (an N-d operand counts as 3): it folds
# batches into mm/mv and views the result back (torch/_decomp matmul)
_MATMUL_BY_RANKS = {(1, 1): "DotBackward0", (2, 1): "MvBackward0", (1, 2): "SqueezeBackward4",
                    (2, 2): "MmBackward0", (2, 3): "CloneBackward0"}


def _matmul(args, params):
    ranks = (min(_ndim(args[0]), 3), min(_ndim(args[1]), 3))
    return _MATMUL_BY_RANKS.get(ranks, "UnsafeViewBackward0")


def _no_derivative(args, params):
    """torch names the node of an op it cannot differentiate after the op (torch.unique
    calls _unique2), or NotImplemented for an aten op with no derivative formula."""
    if params["op"].startswith("aten::"):
        return "NotImplemented"
    op = params["op"].lstrip("_")
    return "".join(p.capitalize() for p in op.split("_")) + "Backward0"


def _extremum(reduce_name, all_name):
    """reduce_max with masked=True is torch's x.max() (MaxBackward1); else amax."""
    return lambda args, params: all_name if params.get("masked") else reduce_name


NAMES = {
    # elementwise
    "frexp_mantissa": "FrexpBackward0", "igammac": "IgammacBackward0",
    "nextafter": "NextafterBackward0", "as_strided": "AsStridedBackward0",
    "abs": "AbsBackward0", "acos": "AcosBackward0", "acosh": "AcoshBackward0",
    "add": "AddBackward0", "asin": "AsinBackward0", "asinh": "AsinhBackward0",
    "atan": "AtanBackward0", "atan2": "Atan2Backward0", "atanh": "AtanhBackward0",
    "cast": "ToCopyBackward0", "ceil": "CeilBackward0", "copy": "CloneBackward0",
    "copysign": _overload("CopysignBackward0", "CopysignBackward1"),
    "cos": "CosBackward0", "cosh": "CoshBackward0", "div": "DivBackward0",
    "erf": "ErfBackward0", "erfc": "ErfcBackward0", "erfinv": "ErfinvBackward0",
    "exp": "ExpBackward0", "expm1": "Expm1Backward0", "floor": "FloorBackward0",
    "fmod": _overload("FmodBackward1", "FmodBackward0"), "hypot": "HypotBackward0",
    "i0": "I0Backward0", "i1": "SpecialI1Backward0", "igamma": "IgammaBackward0",
    "lgamma": "LgammaBackward0",
    "erfcx": "SpecialErfcxBackward0", "ndtri": "SpecialNdtriBackward0",
    "log_ndtr": "SpecialLogNdtrBackward0", "i0e": "SpecialI0EBackward0",
    "i1e": "SpecialI1EBackward0",
    # zeta's overload is by its first operand (only q, the second, takes a gradient)
    "zeta": lambda args, params: "SpecialZetaBackward1" if _is_scalar(args[0])
    else "SpecialZetaBackward0",
    # reparameterized Gamma and Dirichlet draws (torch's native op; its autograd Function)
    "standard_gamma": "StandardGammaBackward0", "sample_dirichlet": "_DirichletBackward",
    "log": "LogBackward0", "log1p": "Log1PBackward0", "maximum": "MaximumBackward0",
    "minimum": "MinimumBackward0", "mul": "MulBackward0", "neg": "NegBackward0",
    "polygamma": "PolygammaBackward0", "pow": _pow, "relu": "ReluBackward0",
    "remainder": _overload("RemainderBackward1", "RemainderBackward0"),
    "round": "RoundBackward0", "rsqrt": "RsqrtBackward0", "sigmoid": "SigmoidBackward0",
    "sign": lambda args, params: "SgnBackward0" if args[0]._data.dtype.kind == "c" else
    "SignBackward0", "sin": "SinBackward0", "sinh": "SinhBackward0",
    "sqrt": "SqrtBackward0", "sub": _sub, "tan": "TanBackward0", "tanh": "TanhBackward0",
    "trunc": "TruncBackward0", "where": "WhereBackward0",
    # complex numbers (torch takes real and imag as a select of view_as_real) and FFTs
    "real": "SelectBackward0", "imag": "SelectBackward0", "conj": "ConjBackward0",
    "angle": "AngleBackward0", "complex": "ComplexBackward0",
    "view_as_real": "ViewAsRealBackward0", "view_as_complex": "ViewAsComplexBackward0",
    "fft_c2c": "FftC2CBackward0", "fft_r2c": "FftR2CBackward0", "fft_c2r": "FftC2RBackward0",
    # reductions and scans
    "reduce_sum": _full_or_dim("SumBackward0", "SumBackward1"),
    "reduce_prod": _full_or_dim("ProdBackward0", "ProdBackward1"),
    "reduce_max": _extremum("AmaxBackward0", "MaxBackward1"),
    "reduce_min": _extremum("AminBackward0", "MinBackward1"),
    "cumsum": "CumsumBackward0", "cumprod": "CumprodBackward0",
    "logcumsumexp": "LogcumsumexpBackward0", "logaddexp_complex": "LogaddexpBackward0",
    "softmax": "SoftmaxBackward0", "log_softmax": "LogSoftmaxBackward0",
    "log_softmax_backward": "LogSoftmaxBackwardDataBackward0",
    "nll_loss": "NllLossBackward0", "nll_loss_backward": "NllLossBackwardBackward0",
    "mse_loss": "MseLossBackward0", "mse_loss_backward": "MseLossBackwardBackward0",
    # cross_entropy's one node: torch's nll_loss node over log_softmax's (CHAINS); its
    # backward's last step is log_softmax's backward
    "cross_entropy": "NllLossBackward0",
    "cross_entropy_backward": "LogSoftmaxBackwardDataBackward0",
    "ctc_loss": "CtcLossBackward0",
    "rnn_scan": "MkldnnRnnLayerBackward0",      # torch's fused CPU recurrent layer
    # movement: the name a plain x.view / x.permute / x[1:] gets (see named() for the rest)
    "reshape": "ViewBackward0", "permute": "PermuteBackward0", "expand": "ExpandBackward0",
    "slice": "SliceBackward0", "pad": "ConstantPadNdBackward0", "concat": "CatBackward0",
    "flip": "FlipBackward0", "unfold": "Im2ColBackward0", "fold": "Col2ImBackward0",
    # indexing
    "gather": "GatherBackward0", "index": "IndexBackward0", "index_put": "IndexPutBackward0",
    "scatter_add": "ScatterAddBackward0", "scatter_reduce": "ScatterReduceBackward0",
    # linear algebra
    "matmul": _matmul, "linalg_inv": "LinalgInvExBackward0",
    "linalg_det": "LinalgDetBackward0", "linalg_adjugate": "LinalgDetBackward0",
    "linalg_logabsdet": "LinalgSlogdetBackward0", "linalg_slogdet_sign": "LinalgSlogdetBackward0",
    "linalg_solve": "LinalgSolveExBackward0", "linalg_cholesky": "LinalgCholeskyExBackward0",
    "linalg_eigh_values": "LinalgEighBackward0", "linalg_eigh_vectors": "LinalgEighBackward0",
    "linalg_eig_values": "LinalgEigBackward0", "linalg_eig_vectors": "LinalgEigBackward0",
    "linalg_qr_q": "LinalgQrBackward0", "linalg_qr_r": "LinalgQrBackward0",
    "linalg_svd_u": "LinalgSvdBackward0", "linalg_svd_s": "LinalgSvdBackward0",
    "linalg_svd_vh": "LinalgSvdBackward0", "linalg_pinv": "LinalgPinvBackward0",
    "linalg_solve_triangular": "LinalgSolveTriangularBackward0",
    "linalg_lu_factor": "LinalgLuFactorExBackward0", "cholesky_solve": "CholeskySolveBackward0",
    "linalg_matrix_exp": "LinalgMatrixExpBackward0",
    # an op torch does not differentiate (unique): backward through it raises
    "no_derivative": _no_derivative,
    # the compiled-call bridge (compiler/bridge.py): torch.compile's node
    "compiled": "CompiledFunctionBackward",
    # not a torch op: next_functions looks through a guard's node
    "check_range": "CheckRangeBackward0",
    # torch.distributed.nn.functional.all_reduce, the differentiable collective (a custom
    # Function in torch, named as its class)
    "all_reduce": "_AllReduceBackward",
}


def default_name(prim_name):
    """A primitive missing from NAMES: its name in torch's style (reduce_sum ->
    ReduceSumBackward0); tests/test_grad_fn_names.py keeps NAMES complete."""
    return "".join(p.capitalize() for p in prim_name.split("_")) + "Backward0"


@functools.cache
def node_class(name, module=BUILTIN, group_member=False, multi_view=False):
    """The TapeNode subclass named `name`, made once. No slots of its own, so a node's
    class can be swapped for another name's (named()). With group_member: the class of
    the nodes of one torch node's several outputs (output_groups.py), which edge() names
    by their group's head and output number; with multi_view, those outputs are views
    that torch refuses to update in place (inplace_view.py)."""
    return type(name, (TapeNode,), {"__slots__": (), "__module__": module,
                                    "__qualname__": name, "group_member": group_member,
                                    "multi_view": multi_view})


def grouped(outs, name, x, views=False):
    """The outputs `outs` of one call on x, in order, as the outputs 0..n-1 of one torch
    node named `name` (x.unbind(): UnbindBackward0); returns outs (output_groups.py).
    views: they are views of x (unbind, split, chunk), which torch does not let an
    in-place op with autograd change."""
    return output_groups.group(outs, node_class(name, BUILTIN, True, views), x)


def _function_node(prim, args, params, out, vc):
    """A custom Function's output: its class is `<Function name>Backward`, as torch's."""
    cls = node_class(params["call"].name(), FUNCTION_MODULE)
    return cls(prim, args, params, out, vc)


# primitives whose node class is not one of torch's builtin nodes
_MAKERS = {"custom_vjp": _function_node}


class _Classes(dict):
    """name -> node_class(name): a plain dict lookup where an op's class is chosen per call."""

    def __missing__(self, name):
        cls = self[name] = node_class(name)
        return cls


_CLASSES = _Classes()


def node_maker(prim):
    """What makes prim's tape nodes: called as maker(prim, args, params, out, vc). A class
    where the name is fixed; else a function that names the node by its operands (the one
    Python call the tape pays beyond the class lookup, on those few primitives)."""
    if prim.name in _MAKERS:
        return _MAKERS[prim.name]
    name = NAMES.get(prim.name) or default_name(prim.name)
    if isinstance(name, str):
        return node_class(name)

    def make(prim, args, params, out, vc):
        return _CLASSES[name(args, params)](prim, args, params, out, vc)
    return make


def renamed(out, x, name):
    """Give the tape node that made `out` from `x` torch's class `name`; returns out.

    For a public function whose one primitive another public function records too:
    `return renamed(mv.permute(x, (1, 0)), x, "TBackward0")` (x.t(), x.transpose() and
    x.permute() all record permute). Nothing happens when out is x (a no-op call returned
    its input) or has no tape node (grad off, tracing)."""
    node = out._node
    if out is not x and isinstance(node, TapeNode):
        node.__class__ = _CLASSES[name]
    return out


def named(out, name, inputs):
    """renamed() for a public function that records several primitives: `out`'s node
    also takes torch's node's `inputs` (tensors, in torch's order; None for an absent
    optional one), which next_functions lists instead of the primitives in between:
    `named(out + bias, "AddmmBackward0", (bias, input, wt))` for F.linear."""
    node = out._node
    if isinstance(node, TapeNode) and not any(out is t for t in inputs):
        node.__class__ = _CLASSES[name]
        # weakly: the primitives in between hold the inputs until backward frees them
        node.inputs = tuple(weakref.ref(t) if isinstance(t, Tensor) and t._requires_grad
                            else None for t in inputs)
    return out


def chained(x, mid, out, names):
    """Name what a public function recorded as x -> mid -> out (mid is x or out where a
    step had nothing to do) as torch's chain of nodes `names`, the first applied to x:
    x[1:, 0] records slice and reshape where torch records SliceBackward0, then
    SelectBackward0. Two names go on the two nodes where both were recorded; otherwise
    out's node takes the last name over x (a chain longer than our steps: its name only)."""
    if len(names) == 2 and x is not mid and mid is not out:
        renamed(mid, x, names[0])
        return renamed(out, mid, names[1])
    return named(out, names[-1], (x,)) if names else out


# --- next_functions --------------------------------------------------------------------
def _tensors(args, params):
    return [a for a in args if isinstance(a, Tensor)]


def _tensor_first(args, params):
    """2 * x is x.mul(2) to torch: the tensor, then the number."""
    return args[::-1] if _is_scalar(args[0]) else args


def _rsub(args, params):
    return _tensors(args, params) if _is_scalar(args[0]) else args


def _function_inputs(args, params):
    """A custom Function lists its tensor arguments (operands 1..; operand 0 is y_k); a
    sparse one that needs no gradient is no operand (None: no edge)."""
    return [args[j] if type(j) is int else None for j in params["call"].arg_kinds
            if j is not None]


INPUTS = {
    # add, sub, mul, div wrap a Python number into a tensor; ops with a Scalar overload
    # (x ** 2, x.fmod(2)) list only their tensors
    "add": _tensor_first, "mul": _tensor_first, "sub": _rsub, "pow": _tensors,
    "fmod": _tensors, "remainder": _tensors, "copysign": _tensors,
    "where": (1, 2),                    # the condition takes no gradient
    "gather": (0,), "index": (0,), "nll_loss": (0,),      # indices, targets
    "cross_entropy": (0,), "cross_entropy_backward": (0, 2),
    "index_put": (0, 1), "scatter_add": (0, 2), "scatter_reduce": (0, 2),
    "custom_vjp": _function_inputs,
}


def torch_inputs(node):
    """The node's operands that torch's node lists, in torch's order."""
    args = node.args
    rule = INPUTS.get(node.prim.name)
    if rule is None:
        return args
    if isinstance(rule, tuple):
        return [args[k] for k in rule if k < len(args)]
    return rule(args, node.params)


def next_functions(node):
    """torch's next_functions for a tape node (its frozen edges once backward freed it)."""
    inner = CHAINS.get(node.prim.name)
    if inner is not None:
        return ((presented(node, inner), 0),)
    return own_next_functions(node)


# primitives whose one node torch records as a chain of two: the inner node's name, shown
# between the node and its operands (ops/cross_entropy.py: NllLossBackward0 over
# LogSoftmaxBackward0)
CHAINS = {"cross_entropy": "LogSoftmaxBackward0"}


def presented(node, name):
    """The inner node of the chain `node` stands for: one object per node, made when first
    asked for (a slot of the node: it lives as long as the node does)."""
    try:
        return node.presented
    except AttributeError:
        inner = node.presented = _presented_class(name)(node)
        return inner


class PresentedNode:
    """The inner node of a chain that one tape node computes: torch's name, the tape node's
    operands as its next_functions. Its gradient is never computed on its own (the outer
    node computes the chain's), so its hooks are refused, not left uncalled."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node

    def name(self):
        return type(self).__name__

    @property
    def next_functions(self):
        return own_next_functions(self.node)

    def register_hook(self, fn):
        raise NotImplementedError(chain_hook_refused(self.node, self.name(), "register_hook"))

    def register_prehook(self, fn):
        raise NotImplementedError(chain_hook_refused(self.node, self.name(),
                                                     "register_prehook"))


@functools.cache
def _presented_class(name):
    return type(name, (PresentedNode,), {"__slots__": (), "__module__": BUILTIN,
                                         "__qualname__": name})


def chain_hook_refused(node, name, kind):
    """Why a hook on a node of a chain that one tape node computes is refused."""
    return (f"{name}.{kind}: F.cross_entropy records its log_softmax and nll_loss as one "
            f"node here ({node.name()}), so this hook would see the logits' gradient where "
            f"torch's sees the log-probabilities'; compute F.nll_loss(F.log_softmax(x, 1), "
            f"target) to hook those nodes, or hook the logits (x.register_hook)")


def own_next_functions(node):
    """next_functions of the node's own operands (a chained node: its innermost one's)."""
    if node.args is None or node.again is not None:     # frozen (and maybe run again)
        return tuple((accumulate_grad(e), 0) if isinstance(e, Tensor) else e
                     for e in node.inputs or ())
    moved = _moved(node)
    return tuple(edge(t, moved) for t in input_tensors(node))


def _moved(node):
    """{id(operand): the node that made it when the op read it} for the operands that
    changed in place since (and may have taken a new node: node.edges keeps the one the
    gradient goes to, as torch's edge); None, the usual case, when none did."""
    args, versions = node.args, node.versions
    for a, v in zip(args, versions):     # a loop, not any(): this runs once per node freed
        if v is not None and a._vc[0] != v:
            return {id(a): e for a, e, v in zip(args, node.edges, versions) if v is not None}
    return None


def input_tensors(node):
    """What torch's node takes as inputs, in its order: the tensors named() gave (None for
    an absent one), or the operands torch lists (a Python number stands for itself)."""
    refs = node.inputs      # set by named()
    if refs is None:
        return torch_inputs(node)
    return [None if ref is None else ref() for ref in refs]


def freeze(node):
    """Keep node's edges before backward frees its operands: torch's node keeps its
    next_functions (strong references to the next nodes) while its saved tensors go. Each
    next node is frozen in turn when the walk reaches it, so the graph keeps nodes and
    leaves alive, not values. A leaf is kept as itself, its AccumulateGrad made when asked
    for: a weak-dict lookup per leaf would cost backward more than the rest of freezing."""
    if node.args is None or node.again is not None:
        return                      # frozen already
    held = []
    moved = _moved(node)
    for t in input_tensors(node):
        if not isinstance(t, Tensor) or not t._requires_grad or (
                t._node is None and t._no_grad_version is not None):
            held.append(_NO_EDGE)
        elif t._node is None:
            held.append(t)
        else:
            held.append(edge(t, moved))
    node.inputs = tuple(held)


_NO_EDGE = (None, 0)


def edge(t, moved=None):
    """(node, output_nr) for an input t: its producer (the one in `moved` where t changed
    in place since the op read it), its AccumulateGrad, or None."""
    if not isinstance(t, Tensor) or not t._requires_grad:
        return (None, 0)
    node = t._node if moved is None else moved.get(id(t), t._node)
    if node is None and t._node is not None:
        return (None, 0)        # took a history after the op read it without one
    if node is None:        # a leaf's accumulator; a view made under no_grad has none
        return (accumulate_grad(t), 0) if t._no_grad_version is None else (None, 0)
    if not isinstance(node, TapeNode):
        return (node, 0)        # a traced tensor's stand-in
    while "guard" in node.prim.tags:
        if node.args is None:       # frozen: its one edge is where it looked through to
            return next_functions(node)[0] if node.inputs else (None, 0)
        inner = node.args[0]
        if not isinstance(inner, Tensor) or not inner._requires_grad:
            return (None, 0)
        if inner._node is None:
            return (accumulate_grad(inner), 0)
        node = inner._node
    if node.group_member or "grouped" in node.prim.tags:
        return (output_groups.head(node), output_groups.output_nr(node))
    return (node, 0)


class AccumulateGrad:
    """torch's node for a leaf that requires grad: where its gradient is accumulated.
    One per leaf while anyone holds it (as torch's, which the leaf holds weakly), so a
    graph walk meets the same object from every use of the leaf."""

    __slots__ = ("variable", "__weakref__")
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"


AccumulateGrad.__module__ = BUILTIN     # torch's repr: <AccumulateGrad object at 0x...>

# id(leaf) -> its AccumulateGrad; an entry lives as long as the node, which holds the leaf,
# so the id cannot be reused while the entry is there
_ACCUMULATORS = weakref.WeakValueDictionary()


def accumulate_grad(leaf):
    node = _ACCUMULATORS.get(id(leaf))
    if node is None:
        node = _ACCUMULATORS[id(leaf)] = AccumulateGrad(leaf)
    return node
