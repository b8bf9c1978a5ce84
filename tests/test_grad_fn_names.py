"""grad_fn objects as torch's: each expression of a corpus runs once in torch and once in
tracecomp on the same inputs, and the two autograd graphs must agree node for node (the
class name of every node, torch's `type(fn).__name__`, and its next_functions down to the
AccumulateGrad of each leaf, with output numbers), or, where torch itself records several
nodes for what our one primitive does, in the name of the output's node."""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tracecomp as tc
import tracecomp.nn.functional as CF
from tracecomp import grad_fn_names
from tracecomp.autograd import Variable
from tracecomp.dispatch import NODE_MAKERS, TapeNode
from tracecomp.ops import movement as mv
from tracecomp.ops.registry import PRIMITIVES

SHAPES = {"a": (3, 4), "b": (3, 4), "c": (4, 3), "v": (4,), "x4": (1, 1, 4, 4),
          "w4": (2, 1, 3, 3), "k": (3, 4)}
NO_GRAD = {"k"}         # an input that takes no gradient: torch lists it as (None, 0)

# (expression over L = torch or tracecomp, F = its nn.functional, and the inputs),
# "graph" (whole graphs agree) or "name" (the output's node has torch's name: torch records
# more nodes than our one primitive, e.g. views around its batched matmul)
CASES = {
    "add": ("a + b", "graph"), "sub": ("a - b", "graph"), "mul": ("a * b", "graph"),
    "div": ("a / b", "graph"), "add_scalar": ("a + 2", "graph"), "radd": ("2 + a", "graph"),
    "mul_scalar": ("a * 2", "graph"), "rmul": ("2 * a", "graph"), "rsub": ("2 - a", "graph"),
    "div_scalar": ("a / 2", "graph"), "mul_nograd": ("a * k", "graph"),
    "add_alpha": ("L.add(a, b, alpha=2)", "name"), "neg": ("-a", "graph"),
    "mm": ("L.mm(a, c)", "graph"), "matmul": ("a @ c", "graph"), "mv": ("a @ v", "graph"),
    "dot": ("v @ v", "graph"), "vm": ("v @ c", "name"),
    "matmul_3d_2d": ("a.reshape(1, 3, 4) @ c", "name"),
    "matmul_3d_3d": ("a.reshape(1, 3, 4) @ c.reshape(1, 4, 3)", "name"),
    "linear_no_bias": ("F.linear(a, b)", "graph"), "relu": ("F.relu(a)", "graph"),
    "relu_method": ("a.relu()", "graph"), "sum": ("a.sum()", "graph"),
    "sum_dim": ("a.sum(1)", "graph"), "sum_keepdim": ("a.sum(1, keepdim=True)", "graph"),
    "view": ("a.view(12)", "graph"), "reshape": ("a.reshape(2, 6)", "graph"),
    "flatten": ("a.flatten()", "graph"), "unflatten": ("a.unflatten(1, (2, 2))", "graph"),
    "T": ("a.T", "graph"), "permute": ("a.permute(1, 0)", "graph"),
    "exp": ("a.exp()", "graph"), "log": ("a.log()", "graph"), "tanh": ("a.tanh()", "graph"),
    "sigmoid": ("a.sigmoid()", "graph"), "torch_sigmoid": ("L.sigmoid(a)", "graph"),
    "pow_scalar": ("a ** 2", "graph"), "pow_tensor": ("a ** b", "graph"),
    "rpow": ("2 ** a", "graph"), "sqrt": ("a.sqrt()", "graph"), "rsqrt": ("a.rsqrt()", "graph"),
    "abs": ("a.abs()", "graph"), "sin": ("a.sin()", "graph"), "erf": ("a.erf()", "graph"),
    "log1p": ("a.log1p()", "graph"), "expm1": ("a.expm1()", "graph"),
    "atan2": ("L.atan2(a, b)", "graph"), "maximum": ("L.maximum(a, b)", "graph"),
    "where": ("L.where(a > 1, a, b)", "graph"), "fmod": ("a.fmod(b)", "graph"),
    "fmod_scalar": ("a.fmod(2)", "graph"), "remainder": ("a.remainder(b)", "graph"),
    "copysign": ("a.copysign(b)", "graph"), "copysign_scalar": ("a.copysign(2)", "graph"),
    "softmax": ("F.softmax(a, 1)", "graph"), "log_softmax": ("F.log_softmax(a, 1)", "graph"),
    "nll_loss": ("F.nll_loss(a, L.tensor([0, 1, 2]))", "graph"),
    "cross_entropy": ("F.cross_entropy(a, L.tensor([0, 1, 2]))", "graph"),
    "cat": ("L.cat([a, b])", "graph"), "cat_dim1": ("L.cat([a, b, k], 1)", "graph"),
    "slice": ("a[1:]", "graph"), "slice_dim1": ("a[:, 1:3]", "graph"),
    "narrow": ("a.narrow(1, 0, 2)", "graph"), "index": ("a[L.tensor([0, 2])]", "graph"),
    "mask": ("a[a > 1]", "graph"), "gather": ("a.gather(1, L.tensor([[0], [1], [2]]))", "graph"),
    "expand": ("v.expand(3, 4)", "graph"), "clone": ("a.clone()", "graph"),
    "contiguous": ("a.T.contiguous()", "graph"), "to_double": ("a.double()", "graph"),
    "flip": ("a.flip(0)", "graph"), "pad": ("F.pad(a, (1, 1))", "graph"),
    "cumsum": ("a.cumsum(0)", "graph"), "prod": ("a.prod()", "graph"),
    "prod_dim": ("a.prod(0)", "graph"), "max": ("a.max()", "graph"), "amax": ("a.amax(1)", "graph"),
    "min": ("a.min()", "graph"), "unfold": ("F.unfold(x4, 2)", "graph"),
    "chain": ("((a * b).exp() + a).sum()", "graph"), "reuse": ("(a * a + a).tanh()", "graph"),
    "mlp": ("F.cross_entropy(F.relu(a @ c) @ b, L.tensor([0, 1, 2]))", "graph"),
    "linalg_inv": ("L.linalg.inv(a @ c + 3 * L.eye(3))", "name"),
    "linalg_det": ("L.linalg.det(a @ c)", "graph"),
    # public calls whose torch node needs the function to name it (grad_fn_names.renamed /
    # named), see WIRING below
    "t": ("a.t()", "graph"), "transpose": ("a.transpose(0, 1)", "graph"),
    "unsqueeze": ("a.unsqueeze(0)", "graph"), "squeeze": ("a.unsqueeze(0).squeeze(0)", "graph"),
    "select": ("a[0]", "graph"), "select_method": ("a.select(1, 2)", "graph"),
    "index_none": ("a[None]", "graph"),
    "mean": ("a.mean()", "graph"), "mean_dim": ("a.mean(0)", "graph"),
    "linear": ("F.linear(a, b, v[:3])", "graph"), "mse_loss": ("F.mse_loss(a, b)", "graph"),
    "conv2d": ("F.conv2d(x4, w4, v[:2])", "graph"), "max_pool2d": ("F.max_pool2d(x4, 2)", "graph"),
    "reshape_copy": ("a.T.reshape(12)", "graph"), "bmm": ("L.bmm(a[None], c[None])", "graph"),
    "addmm": ("L.addmm(v[:3], a, c)", "graph"),
    # what tutorials print
    "slice_select": ("a[1:, 0]", "graph"), "select_slice": ("a[0, 1:]", "graph"),
    "select_dim1": ("a[:, 1]", "graph"), "select_select": ("a[0, 1]", "graph"),
    "index_list": ("a[[0, 2]]", "graph"), "lone_full_slice": ("a[:]", "graph"),
    "slice_slice": ("a[1:, 1:]", "name"), "unsqueeze_select": ("a[None, 0]", "name"),
    "reshape_alias": ("a.T.reshape(2, 2, 3)", "graph"), "flatten_copy": ("a.T.flatten()", "graph"),
    "gelu": ("F.gelu(a)", "graph"), "gelu_tanh": ("F.gelu(a, approximate='tanh')", "graph"),
    "layer_norm": ("F.layer_norm(a, (4,))", "graph"),
    "layer_norm_affine": ("F.layer_norm(a, (4,), v, v)", "graph"),
    "batch_norm": ("L.nn.BatchNorm1d(4)(a)", "graph"),
    "batch_norm_eval": ("F.batch_norm(a, L.zeros(4), L.ones(4), v, v)", "graph"),
    "clamp": ("L.clamp(a, 0, 1)", "graph"), "clamp_tensor": ("L.clamp(a, min=b)", "graph"),
    "var": ("a.var()", "graph"), "var_dim": ("a.var(1)", "graph"), "std": ("a.std()", "graph"),
    "stack": ("L.stack([a, b])", "graph"), "stack_last": ("L.stack([a, b], 2)", "graph"),
    "view_infer": ("a.view(-1)", "graph"), "dropout": ("F.dropout(a, 0.5)", "graph"),
    "dropout_eval": ("F.dropout(a, training=False)", "graph"),
    "embedding": ("F.embedding(L.tensor([0, 2]), a)", "graph"),
    "masked_fill": ("a.masked_fill(a > 1, 0)", "graph"),
    "masked_fill_tensor": ("a.masked_fill(a > 1, L.tensor(0.0))", "graph"),
    "max_dim": ("a.max(1)[0]", "graph"), "min_dim": ("a.min(1, keepdim=True).values", "graph"),
    "norm": ("a.norm()", "graph"), "norm_dim": ("a.norm(dim=1)", "graph"),
    "torch_norm": ("L.norm(a)", "graph"),
    "addmv": ("L.addmv(v[:3], a, v)", "graph"), "addr": ("L.addr(a, v[:3], v)", "graph"),
    "baddbmm": ("L.baddbmm(a[None][:, :, :3], a[None], c[None])", "graph"),
    # torch records 2 / x as x.reciprocal() * 2: a node we have no primitive for
    "rdiv": ("2 / a", "graph"),
    # losses and activations torch records as one node (the tutorials print loss.grad_fn)
    "bce_logits": ("F.binary_cross_entropy_with_logits(a, k)", "graph"),
    "bce_logits_none": ("F.binary_cross_entropy_with_logits(a, k, reduction='none')",
                        "graph"),
    "bce": ("F.binary_cross_entropy(a / 9, k / 9)", "name"),
    "smooth_l1": ("F.smooth_l1_loss(a, b)", "graph"), "huber": ("F.huber_loss(a, b)", "graph"),
    "soft_margin": ("F.soft_margin_loss(a, k)", "graph"),
    "multi_margin": ("F.multi_margin_loss(a, L.tensor([0, 1, 2]))", "graph"),
    "silu": ("F.silu(a)", "graph"), "mish": ("F.mish(a)", "graph"),
    "softplus": ("F.softplus(a)", "graph"), "logsigmoid": ("F.logsigmoid(a)", "graph"),
    "leaky_relu": ("F.leaky_relu(a)", "graph"), "elu": ("F.elu(a)", "graph"),
    "selu": ("F.selu(a)", "graph"), "celu": ("F.celu(a)", "graph"),
    "hardtanh": ("F.hardtanh(a)", "graph"), "relu6": ("F.relu6(a)", "graph"),
    "leaky_relu_": ("F.leaky_relu(a * 1, inplace=True)", "name"),
    "elu_": ("F.elu(a * 1, inplace=True)", "name"),
    "celu_": ("F.celu(a * 1, inplace=True)", "name"),
    # copies torch records as one node of their own
    "repeat": ("a.repeat(2, 1)", "graph"), "repeat_ones": ("a.repeat(1, 1)", "graph"),
    "repeat_new_dim": ("a.repeat(2, 1, 1)", "graph"), "tile": ("a.tile(2)", "graph"),
    "tile_ones": ("a.tile(1)", "graph"), "roll": ("a.roll(1)", "graph"),
    "roll_zero": ("a.roll(0)", "graph"), "roll_dims": ("a.roll((1, 2), (0, 1))", "graph"),
    "roll_zero_dim": ("a.roll(0, 0)", "graph"), "roll_full": ("a.roll(3, 0)", "graph"),
    # one node for several outputs, numbered (output_groups.py)
    "unbind_row": ("a.unbind()[1]", "graph"), "stack_unbind": ("L.stack(a.unbind())", "graph"),
    "cat_split": ("L.cat(a.split([1, 2])[::-1])", "graph"),
    "chunk_sum": ("a.chunk(2, 1)[1] + a.chunk(2, 1)[0]", "graph"),
    "aminmax": ("L.aminmax(a, dim=0)[1] * L.aminmax(a, dim=0)[0]", "graph"),
    "topk": ("a.topk(2)[0]", "graph"), "sort": ("a.sort(1)[0]", "graph"),
    "kthvalue": ("a.kthvalue(2, 1)[0]", "graph"), "median_dim": ("a.median(1)[0]", "graph"),
}

# cases whose public function does not name its node yet (grad_fn_names.renamed: one
# primitive shared with another function; .named: several primitives): where to call it
WIRING = {}
# cases where torch records nodes no naming of our primitives can give
TORCH_ONLY = {}


def _inputs(lib):
    rng = np.random.default_rng(0)
    return {name: lib.tensor(np.abs(rng.standard_normal(shape)).astype(np.float32) + 0.5,
                             requires_grad=name not in NO_GRAD)
            for name, shape in SHAPES.items()}


def signature(fn, leaves):
    """A graph as nested tuples: (class name, ((input's signature, output_nr), ...));
    an AccumulateGrad is ("AccumulateGrad", the name of its leaf), or of its shape for a
    leaf the expression made (a module's parameter)."""
    if fn is None:
        return None
    if type(fn).__name__ == "AccumulateGrad":
        leaf = fn.variable
        return ("AccumulateGrad", leaves.get(id(leaf)) or f"leaf{list(leaf.shape)}")
    return (type(fn).__name__,
            tuple((signature(f, leaves), nr) for f, nr in fn.next_functions))


def _graphs(expr):
    got = []
    for lib, functional in ((torch, TF), (tc, CF)):
        inputs = _inputs(lib)
        leaves = {id(t): name for name, t in inputs.items()}
        out = eval(expr, {"L": lib, "F": functional}, dict(inputs))
        got.append(signature(out.grad_fn, leaves))
    return got


def _case(name):
    reason = WIRING.get(name) or TORCH_ONLY.get(name)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_case(name) for name in CASES])
def test_grad_fn_graph_is_torchs(name):
    expr, level = CASES[name]
    want, got = _graphs(expr)
    if level == "name":
        want, got = want[0], got[0]
    assert got == want, f"{expr}: tracecomp={got} | torch={want}"


# cases whose graphs are compared again after backward (without retain_graph)
AFTER_BACKWARD = ["chain", "reuse", "mlp", "linear", "conv2d", "max_pool2d", "select",
                  "slice_select", "index_none", "bmm", "addmm", "reshape_copy", "layer_norm",
                  "batch_norm", "stack", "embedding", "max_dim", "mse_loss", "where"]


@pytest.mark.parametrize("name", AFTER_BACKWARD)
def test_backward_frees_values_but_keeps_torchs_edges(name):
    """torch frees a node's saved tensors in backward and keeps its next_functions."""
    expr, level = CASES[name]
    got = []
    for lib, functional in ((torch, TF), (tc, CF)):
        inputs = _inputs(lib)
        leaves = {id(t): name for name, t in inputs.items()}
        loss = eval(expr, {"L": lib, "F": functional}, dict(inputs)).sum()
        before = signature(loss.grad_fn, leaves)
        loss.backward()
        got.append((before, signature(loss.grad_fn, leaves)))
    (want_before, want), (ours_before, ours) = got
    assert want == want_before, "torch's graph changed in backward"
    assert ours == ours_before, f"{expr}: after backward={ours} | before={ours_before}"
    if level == "graph":
        assert ours == want, f"{expr}: tracecomp={ours} | torch={want}"


def test_a_freed_graph_holds_nodes_not_values():
    import gc
    import weakref
    x = tc.ones(1000, requires_grad=True)
    hidden = (x * 2).exp()
    array, node = weakref.ref(hidden._data), hidden.grad_fn
    loss = hidden.sin().sum()
    del hidden
    loss.backward()
    gc.collect()
    assert array() is None, "backward kept an intermediate value alive"
    (sin, _), = loss.grad_fn.next_functions
    assert sin.next_functions[0][0] is node and node.args is None and node.out_data is None
    assert type(node.next_functions[0][0]).__name__ == "MulBackward0"
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_a_custom_function_frees_what_it_saved():
    class Square(tc.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    x = tc.ones(3, requires_grad=True)
    y = Square.apply(x * 1)
    ctx = y.grad_fn.params["call"].ctx
    y.sum().backward()
    assert ctx.to_save == ()
    (square, _), = y.sum().grad_fn.next_functions
    assert type(square.next_functions[0][0]).__name__ == "MulBackward0"
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_every_differentiable_primitive_has_torchs_name():
    """A new primitive gets its torch name in grad_fn_names.NAMES, not the fallback."""
    missing = sorted(name for name, prim in PRIMITIVES.items()
                     if prim.vjp is not None and name not in grad_fn_names.NAMES
                     and name not in grad_fn_names._MAKERS)
    assert not missing, f"add torch's node names for {missing} to grad_fn_names.NAMES"


def test_a_node_prints_and_hashes_as_torchs():
    x, xt = tc.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    fn, fnt = (x * 2).sum().grad_fn, (xt * 2).sum().grad_fn
    pattern = r"<SumBackward0 object at 0x[0-9a-f]+>"
    assert re.fullmatch(pattern, repr(fn)) and re.fullmatch(pattern, repr(fnt))
    assert fn.name() == fnt.name() == type(fn).__name__ == "SumBackward0"
    assert type(fn).__module__ == type(fnt).__module__ == "builtins"
    assert isinstance(fn, TapeNode)
    assert {fn: 1}[fn] == 1 and len({fn, fn, fn.next_functions[0][0]}) == 2
    assert repr(x * 2).endswith("grad_fn=<MulBackward0>)")
    assert repr(xt * 2).endswith("grad_fn=<MulBackward0>)")


def test_a_leaf_is_reached_through_one_accumulate_grad():
    x = tc.ones(3, requires_grad=True)
    (acc, nr), (number, _) = (x * 2).grad_fn.next_functions     # 2 takes no gradient
    assert re.fullmatch(r"<AccumulateGrad object at 0x[0-9a-f]+>", repr(acc)) and nr == 0
    assert number is None
    assert acc.variable is x and acc.next_functions == ()
    assert acc.name() == torch.ones(1, requires_grad=True).mul(2).grad_fn \
        .next_functions[0][0].name() == "torch::autograd::AccumulateGrad"
    assert (x + 1).grad_fn.next_functions[0][0] is acc      # one per leaf while held


def test_plain_primitives_pay_only_a_class_lookup():
    """bind makes most nodes by calling their class straight from NODE_MAKERS; only the
    primitives whose torch name depends on their operands go through a chooser."""
    from tracecomp.ops.elementwise import mul_p
    x = tc.ones(3, requires_grad=True)
    x * 2
    assert NODE_MAKERS[mul_p] is type((x * 2).grad_fn)
    choosers = {name for name, entry in grad_fn_names.NAMES.items() if not isinstance(entry, str)}
    assert choosers <= {"copysign", "fmod", "pow", "remainder", "sub", "reduce_sum",
                        "reduce_prod", "reduce_max", "reduce_min", "matmul", "no_derivative",
                        "sign",     # sign of a complex tensor is torch's sgn
                        "zeta"}     # SpecialZetaBackward1 when x is a number


def test_a_custom_function_node_is_named_after_it():
    class Scale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, k, y):
            return x * k + y

        @staticmethod
        def backward(ctx, g):
            return g, None, g

    ours = type("Scale", (tc.autograd.Function,), {"forward": Scale.forward,
                                                     "backward": Scale.backward})
    got, want = [], []
    for lib, cls, out in ((tc, ours, got), (torch, Scale, want)):
        x, y = lib.ones(3, requires_grad=True), lib.ones(3)
        fn = cls.apply(x, 2.0, y).grad_fn
        out += [fn.name(), type(fn).__name__, [type(f).__name__ for f, _ in fn.next_functions],
                re.sub(r"0x[0-9a-f]+", "0x", repr(fn)).replace("tracecomp", "torch")]
    assert got == want, f"tracecomp={got} | torch={want}"


def test_a_compiled_call_is_one_node_named_as_torch_compiles():
    x = tc.ones(3, requires_grad=True)
    y = tc.compile(lambda x: (x * 2).sin())(x)
    assert y.grad_fn.name() == type(y.grad_fn).__name__ == "CompiledFunctionBackward"
    (acc, _), = y.grad_fn.next_functions
    assert acc.variable is x
    y.sum().backward()          # frees the saved residuals, keeps the edge
    assert y.grad_fn.params["call"].saved is None
    assert y.grad_fn.next_functions == ((acc, 0),)


def test_next_functions_look_through_a_guard():
    """check_range is an identity check with no torch counterpart."""
    from tracecomp.ops.indexing import check_range
    x = tc.ones(3, requires_grad=True)
    y = check_range(x.exp(), 0, 10, "out of range {value}") * 2
    (fn, _), (none, _) = y.grad_fn.next_functions
    assert type(fn).__name__ == "ExpBackward0" and none is None


def test_renamed_and_named_give_a_public_call_torchs_node():
    x, xt = tc.ones(3, 4, requires_grad=True), torch.ones(3, 4, requires_grad=True)
    y = grad_fn_names.renamed(mv.permute(x, (1, 0)), x, "TBackward0")
    assert type(y.grad_fn).__name__ == type(xt.t().grad_fn).__name__ == "TBackward0"
    assert grad_fn_names.renamed(x, x, "TBackward0") is x and x.grad_fn is None
    with tc.no_grad():
        assert grad_fn_names.renamed(mv.permute(x, (1, 0)), x, "TBackward0").grad_fn is None
    # a mean made of two primitives shows as torch's one node over x
    z = grad_fn_names.named(x.sum() / 12, "MeanBackward0", (x,))
    assert signature(z.grad_fn, {id(x): "x"}) == ("MeanBackward0", ((("AccumulateGrad", "x"), 0),))
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 1 / 12, np.float32))


def test_variable_is_torchs_deprecated_alias_of_tensor():
    for lib in (tc, torch):
        t = lib.ones(2)
        v = lib.autograd.Variable(t, requires_grad=True)
        assert isinstance(v, lib.Tensor) and isinstance(t, lib.autograd.Variable)
        assert v.requires_grad and v.is_leaf and not t.requires_grad
    assert Variable is tc.autograd.Variable
