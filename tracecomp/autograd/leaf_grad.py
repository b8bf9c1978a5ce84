"""How a gradient lands in a leaf's .grad (torch's AccumulateGrad), for the eager engine
(engine.py): kept without copying when nothing else holds its memory, added into an earlier
.grad, and a sparse gradient (embedding(sparse=True)) kept sparse as torch keeps it."""
from ..device_array import DeviceArray
from ..sparse_data import SparseData
from ..tensor import Tensor


def add_to_grad(leaf, g, create_graph, handed):
    """leaf.grad += g, as torch's AccumulateGrad: g itself the first time (copied when
    another leaf or an optimizer could share its memory), a new sum with create_graph."""
    held = leaf.grad
    if held is not None and not isinstance(held, Tensor):     # `w.grad = 0.` (torch refuses
        raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                        f"type {type(held).__name__} (the .grad of a leaf of shape "
                        f"{list(leaf.shape)}; set it to None to start from zero)")
    if create_graph:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    data = g._data
    if type(data) is SparseData or (held is not None and type(held._data) is SparseData):
        # a sparse gradient (embedding(sparse=True)) for a dense leaf, as torch keeps it:
        # sparse + sparse stays sparse (uncoalesced), a dense side makes the sum dense
        # (added as dense + sparse, the order sparse ops take)
        if held is not None:
            g = g + held if type(data) is not SparseData else held + g
        leaf.grad = g.detach()
        return
    if type(data) is DeviceArray:       # device memory is never written in place: a box of
        leaf.grad = Tensor._make(data.shares()) if leaf.grad is None else \
            (leaf.grad + g).detach()    # its own is all a .grad needs
        return
    if leaf.grad is not None:
        leaf.grad = Tensor._make(leaf.grad._data + data)
        return
    # A view is fine as long as nothing else handed out shares its base (a transposed
    # matmul result is the usual case, and copying it would cost a strided pass).
    owner = data if data.base is None else data.base
    if id(owner) in handed or not data.flags.writeable:
        data = data.copy()
        owner = data
    handed.add(id(owner))
    leaf.grad = Tensor._make(data)
