"""Batched: what a tensor inside vmap holds as its `_data` (functorch's BatchedTensor).

A batched tensor is an ordinary Tensor whose `_data` is a `Batched`: the physical tensor
`value` (one more dim than the function sees), the dim of it that is the batch (`bdim`),
and the vmap `level` it belongs to (nested vmaps: the inner one has the higher level).
`.shape`, `.dtype`, `.ndim` and `.size` read as the logical, per-sample array's, so model
code sees the shapes it would see on one sample, and every primitive it calls reaches
`bind`, which hands it to the batching interpreter (batching.py) instead of numpy.

Layers are kept in level order: a Batched of level L holds only values of lower levels
(JAX's rule). `wrap` sinks a new layer below higher ones where needed (a cotangent of an
outer vmap flowing back through the unwrap of an inner vmap that has ended: jacrev of a
vmapped function), so each batch axis is handled exactly once, by its own level.

Whatever needs the values (`.item()`, `if x > 0:`, `.numpy()`) raises torch's error: a
batched tensor has no single value to give.
"""
from .. import context, dispatch, grad_mode
from ..tensor import Tensor

ITEM = ("vmap: It looks like you're calling .item() on a Tensor. We don't support vmap over "
        "calling .item() on a Tensor, please try to rewrite what you're doing with other "
        "operations. If error is occurring somewhere inside PyTorch internals, please file a "
        "bug report.")
CONTROL_FLOW = ("vmap: It looks like you're attempting to use a Tensor in some data-dependent "
                "control flow. We don't support that yet, please file an issue at "
                "https://github.com/pytorch/pytorch/issues .")
NO_STORAGE = "Cannot access data pointer of Tensor that doesn't have storage"


class Batched:
    """The `_data` of a tensor inside vmap: `value` with its batch at dim `bdim`."""

    __slots__ = ("value", "bdim", "level", "shape", "dtype")
    requires_grad = False       # Tensor.requires_grad_ asks a non-numpy `_data` this
    batched = True              # what inplace.py asks

    def __init__(self, value, bdim, level):
        self.value, self.bdim, self.level = value, bdim, level
        physical = value._data.shape
        self.shape = physical[:bdim] + physical[bdim + 1:]
        self.dtype = value._data.dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def strides(self):
        """The physical strides without the batch dim's (torch's view of a BatchedTensor)."""
        s = self.value._data.strides
        return s[:self.bdim] + s[self.bdim + 1:]

    @property
    def flags(self):
        """What Tensor.is_contiguous reads: whether those strides are a row-major array's."""
        return _Layout(self.shape, self.strides, self.dtype.itemsize)

    @property
    def batch_size(self):
        return self.value._data.shape[self.bdim]

    def copied(self):
        """A Batched of a copy of the values (in-place ops keep the old ones for a VJP)."""
        with grad_mode.no_grad():
            return Batched(self.value.clone(), self.bdim, self.level)

    def write(self, result):
        """An in-place op's result (a tensor of this logical shape) written into the physical
        memory, so the views that share it see it, as a BatchedTensor's storage; returns
        self. A result batched by a vmap this one is not batched by cannot fit (inplace.py
        raises torch's error when the tensor is not batched at all)."""
        if level_of(result._data) > self.level:
            from ..inplace import _vmapped_into_unbatched
            _vmapped_into_unbatched()
        with grad_mode.no_grad():
            self.value.copy_(unwrap(result, self.level, self.bdim, self.batch_size))
        return self

    def item_of(self, tensor):
        raise RuntimeError(ITEM)

    def truth_of(self, tensor, frame):
        raise RuntimeError(CONTROL_FLOW)

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError(NO_STORAGE)

    def __repr__(self):
        inner = "\n".join("    " + line for line in repr(self.value).splitlines())
        return f"BatchedTensor(lvl={self.level}, bdim={self.bdim}, value=\n{inner}\n)"


class _Layout:
    def __init__(self, shape, strides, itemsize):
        self.c_contiguous = _dense(shape, strides, itemsize)
        self.f_contiguous = _dense(shape[::-1], strides[::-1], itemsize)
        self.forc = self.c_contiguous or self.f_contiguous


def _dense(shape, strides, itemsize):
    want = itemsize
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1 and s != want:
            return False
        want *= n
    return True


def level_of(data):
    """The vmap level of a tensor's data; 0 when it is batched by no vmap."""
    return data.level if type(data) is Batched else 0


def wrap(value, bdim, level):
    """A Tensor holding `value` (a Tensor) batched along `bdim` at `level`. When `value` is
    already batched by a higher level, the new layer goes below that one (module docstring):
    `bdim` counts in value's logical dims, so it is moved past the outer batch dim."""
    data = value._data
    if type(data) is Batched and data.level > level:
        inner_dim = bdim if bdim < data.bdim else bdim + 1
        inner = wrap(data.value, inner_dim, level)
        outer_dim = data.bdim if data.bdim < inner_dim else data.bdim - 1
        return Tensor._make(Batched(inner, outer_dim, data.level))
    return Tensor._make(Batched(value, bdim, level))


def unwrap(t, level, out_dim, batch):
    """t without its `level` layer: a tensor whose (logical) dim `out_dim` is that level's
    batch of size `batch`, broadcast there when t does not depend on it. Layers of higher
    levels stay outside (wrap's order), their batch dims moved to keep the logical shape."""
    data = t._data
    if type(data) is Batched and data.level == level:
        return _movedim(data.value, data.bdim, out_dim)
    if type(data) is Batched and data.level > level:
        b = data.bdim
        inner_dim, outer_dim = (out_dim, b + 1) if out_dim <= b else (out_dim + 1, b)
        inner = unwrap(data.value, level, inner_dim, batch)
        return Tensor._make(Batched(inner, outer_dim, data.level))
    shape = tuple(t.shape)
    grown = t.reshape(shape[:out_dim] + (1,) + shape[out_dim:])
    return grown.expand(shape[:out_dim] + (batch,) + shape[out_dim:])


def _movedim(t, source, dest):
    if source == dest:
        return t
    return t.movedim(source, dest)


# --- the tape across a vmap's boundary ------------------------------------------------------
# A tensor that requires grad going into vmap (grad(vmap(f))) and a result coming out are
# joined to the tape by one node each, whose VJPs are each other: the cotangent of a result
# re-enters the batch it came from, and the one of an input leaves it.
def _in_vjp(g, out, x, bdim, level, batch):
    return (leave(g, level, bdim, batch),)


def _out_vjp(g, out, y, bdim, level, batch):
    return (enter(g, bdim, level),)


def _tape_prim(name, vjp):
    # not registered with defprim: these never reach bind or a graph (while tracing the
    # graph holds the ops that move the batch), they only label tape nodes
    from ..ops.registry import Primitive
    return Primitive(name, None, None, None, vjp, frozenset(), saves=())


VMAP_IN = _tape_prim("vmap_in", _in_vjp)
VMAP_OUT = _tape_prim("vmap_out", _out_vjp)


def taped(prim, made, source, **params):
    """`made` (computed under no_grad) joined to the tape as prim applied to `source`, when
    source requires grad and grad mode is on."""
    if grad_mode.state.enabled and source._requires_grad:
        node = dispatch.tape_node(prim, (source,), params, made._data, made._vc)
        return Tensor._make(made._data, True, node, made._vc)
    return made


def enter(x, bdim, level):
    """vmap's input x as the function sees it: batched along bdim at level."""
    from . import batching
    if dispatch.batching is None:       # a cotangent entering an ended vmap's batch
        batching.arm()
    with grad_mode.no_grad():
        made = wrap(x, bdim, level)
    return taped(VMAP_IN, made, x, bdim=bdim, level=level, batch=x.shape[bdim])


def leave(y, level, out_dim, batch):
    """vmap's result y as the caller sees it: the level's batch at out_dim. While tracing,
    the ops that take the batch out are recorded with grad mode as it is, so the graph's
    autodiff reaches through them; a result batched by no other vmap is then the traced
    tensor itself (the graph computes its gradient), one still batched by an outer vmap
    joins that vmap's tape."""
    if context.current() is not None:
        made = unwrap(y, level, out_dim, batch)
        if type(made._data) is not Batched:
            return made
        made = Tensor._make(made._data)
    else:
        with grad_mode.no_grad():
            made = unwrap(y, level, out_dim, batch)
    return taped(VMAP_OUT, made, y, bdim=out_dim, level=level, batch=batch)
