"""Index expressions in a CUDA kernel's Python source: index_maps' IndexOps printing
Python integer arithmetic (numba types it int64), and the C-order digits of a flat index.

    ix = HoistedIndexOps(kernel)    # kernel: source._Kernel (its emit and memo)
    ix.add("i", "1") -> "v3", after `v3 = (i + 1)` was emitted; ix.add("i", "0") -> "i"
    digits("i", (4, 5)) -> ["((i) // 5)", "((i) % 5)"]
"""


# (op, which operand, its value) -> the result without computing: an identity operand
# gives the other one ("a"/"b"), an absorbing one a constant
_IDENTITIES = {("add", 1, "0"): "a", ("add", 0, "0"): "b", ("sub", 1, "0"): "a",
               ("mul", 1, "1"): "a", ("mul", 0, "1"): "b", ("mul", 1, "0"): "0",
               ("mul", 0, "0"): "0", ("div", 1, "1"): "a", ("rem", 1, "1"): "0"}


class HoistedIndexOps:
    """index_maps' IndexOps printing Python integer expressions (numba types them int64)
    for one kernel, each compound expression a variable of the kernel, written once and
    named where it recurs; x + 0, x * 1 and the like are not computed. Why: a convolution's
    unfold repeats its window test inside each of its indices, and numba's typing of one
    such kernel took 1.4 s (of 2-6 s for a whole training step's kernels). The names live
    in the kernel's memo, so that a loop's (argmax's, fold's) are forgotten after it, as
    its values are."""

    def __init__(self, kernel):
        self.kernel = kernel

    def const(self, n):
        return str(int(n))

    def add(self, a, b):
        return self._op("add", a, b, f"({a} + {b})")

    def sub(self, a, b):
        return self._op("sub", a, b, f"({a} - {b})")

    def mul(self, a, b):
        return self._op("mul", a, b, f"({a} * {b})")

    def div(self, a, b):
        return self._op("div", a, b, f"({a} // {b})")

    def rem(self, a, b):
        return self._op("rem", a, b, f"({a} % {b})")

    def lt(self, a, b):
        return self._named(f"({a} < {b})")

    def ge(self, a, b):
        return self._named(f"({a} >= {b})")

    def eq(self, a, b):
        return self._named(f"({a} == {b})")

    def and_(self, p, q):
        return self._named(f"({p} and {q})")

    def select(self, p, a, b):
        return self._named(f"({a} if {p} else {b})")

    def _op(self, op, a, b, text):
        for k, operand in enumerate((a, b)):
            rule = _IDENTITIES.get((op, k, operand))
            if rule is not None:
                return {"a": a, "b": b}.get(rule, rule)
        return self._named(text)

    def _named(self, text):
        key = ("index", text)
        memo = self.kernel.memo
        if key not in memo:
            memo[key] = self.kernel.emit(text)
        return memo[key]


def digits(flat, sizes, ix=None):
    """Expressions of the C-order index over `sizes` of the flat index expression (through
    IndexOps `ix`, where given)."""
    out, rest = [], flat
    for d in range(len(sizes) - 1, -1, -1):
        if d == 0:
            out.append(rest)
        elif ix is None:
            out.append(f"(({rest}) % {sizes[d]})")
            rest = f"(({rest}) // {sizes[d]})"
        else:
            out.append(ix.rem(rest, str(sizes[d])))
            rest = ix.div(rest, str(sizes[d]))
    return out[::-1]
