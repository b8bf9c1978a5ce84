"""codegen/index_maps.py's integer arithmetic as LLVM IR, for the kernels that map indices
through movement ops (kernels.py, window.py, select.py)."""
from llvmlite import ir


class IndexOps:
    """codegen/index_maps.py's integer arithmetic as LLVM IR: i64 values, i1 conditions.
    Its div/rem are unsigned: the maps divide only values they also check to be >= 0."""

    def __init__(self, builder, size=None):
        self.b = builder
        self.size = size    # KernelBuilder.int in a dynamic graph's kernel: Syms too

    def const(self, n):
        return self.size(n) if self.size is not None else ir.Constant(ir.IntType(64), int(n))

    def add(self, a, b):
        return self.b.add(a, b)

    def sub(self, a, b):
        return self.b.sub(a, b)

    def mul(self, a, b):
        return self.b.mul(a, b)

    def div(self, a, b):
        return self.b.udiv(a, b)

    def rem(self, a, b):
        return self.b.urem(a, b)

    def lt(self, a, b):
        return self.b.icmp_signed("<", a, b)

    def ge(self, a, b):
        return self.b.icmp_signed(">=", a, b)

    def eq(self, a, b):
        return self.b.icmp_signed("==", a, b)

    def and_(self, p, q):
        return self.b.and_(p, q)

    def select(self, p, a, b):
        return self.b.select(p, a, b)
