"""What a backend tells the backend-neutral passes about the machine it compiles for.

Fusion asks its Target which nodes one kernel can compute (`supported`), whether a matmul
reads its operands transposed (a BLAS's trans flags), whether a kernel may store more than
its root (`multi_output`) and what an op costs inside a kernel:
an op that costs more than simple arithmetic is stored once rather than recomputed for
every overlapping window that reads it. A backend's code generators read the vector width
from the same object. Each backend builds its own (the llvm backend's comes from the host
CPU's features: codegen/llvm/target.py), so no pass holds a constant measured on one
machine.
"""
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple


def _every_node(node):
    return True


# a NamedTuple, not a frozen dataclass: made at the first compile, which a dataclass's
# generated methods slowed by ~2 ms (znver3)
class Target(NamedTuple):
    name: str
    supported: Callable = _every_node    # can one kernel compute node
    matmul_transposes: bool = True       # a matmul reads an operand transposed, no copy
    vector_bytes: int = 16               # the widest vector register
    op_costs: Mapping = MappingProxyType({})   # op -> cost(op), where not 0
    # an elementwise kernel may also store members that are graph outputs (fusion's
    # Group.stores): the backend's kernels take one output pointer per stored value
    multi_output: bool = False
    # a fold whose windows tile its output is computed at any index, as a movement op
    # (fusion.moving_fold): the backend's index maps have one for it
    tiling_folds_move: bool = False

    def cost(self, op):
        """What op costs in a kernel beyond simple arithmetic, in simple element operations
        (add, mul, a comparison: 0)."""
        return self.op_costs.get(op, 0)


# every node lowers and no op is costly: the graph as the passes see it with no backend
REFERENCE = Target("reference")
