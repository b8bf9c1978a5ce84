"""Sizes that depend on a dynamic dimension: integer polynomials in one symbol, `s`.

A graph compiled once for every size of one dimension (compiler/dynamic.py) holds, where a
traced graph holds ints, `Sym`s: c0 + c1 s + c2 s^2 + ... A [s, 64] tensor's element count
is 64 s, an attention map's [s, s] is s^2. A Sym computes like an int (arithmetic with
ints and Syms gives a Sym, or an int where s cancels), gives its value at a size
(`value(s)`), and answers a comparison only where the answer is the same for every size it
serves: `s + 1 > 1` is True, `s < 16` is undecided. An undecided question, int(), or use
as an index raises `Undecided`: the code that asked was about to bake one size into what
serves them all, so the caller lowers that part for each size instead (never a guess).

The sizes a graph serves are s >= domain.low, where every dynamic dim is at least 2 (as
torch specializes sizes 0 and 1: a size-1 dim broadcasts, so it is never dynamic). All
Syms of one graph share its Domain.
"""
import numpy as np


class Undecided(Exception):
    """A question about a Sym whose answer depends on the size."""


class Domain:
    """The sizes s >= low that one dynamic graph's Syms serve."""

    __slots__ = ("low",)

    def __init__(self, low=0):
        self.low = low


class Sym:
    """c[0] + c[1] s + c[2] s^2 + ..., with integer c and at least one power of s."""

    __slots__ = ("coeffs", "domain")

    def __init__(self, coeffs, domain):
        self.coeffs, self.domain = coeffs, domain

    # --- construction ------------------------------------------------------------------------
    @staticmethod
    def make(coeffs, domain):
        """The polynomial with these coefficients (lowest power first): an int when no
        power of s is left."""
        coeffs = list(coeffs)
        while len(coeffs) > 1 and coeffs[-1] == 0:
            coeffs.pop()
        if len(coeffs) == 1:
            return int(coeffs[0])
        return Sym(tuple(int(c) for c in coeffs), domain)

    @staticmethod
    def symbol(domain):
        return Sym((0, 1), domain)

    # --- values ------------------------------------------------------------------------------
    def value(self, s):
        out = 0
        for c in reversed(self.coeffs):
            out = out * s + c
        return out

    def lowest(self):
        """The least value over the sizes served, or None when it may fall as s grows (a
        negative coefficient above the constant one)."""
        if any(c < 0 for c in self.coeffs[1:]):
            return None
        return self.value(self.domain.low)

    # --- arithmetic --------------------------------------------------------------------------
    def _parts(self, other):
        if isinstance(other, Sym):
            domain = self.domain if self.domain.low >= other.domain.low else other.domain
            return other.coeffs, domain
        if isinstance(other, int) and not isinstance(other, bool):
            return (other,), self.domain
        return None, None

    def __add__(self, other):
        theirs, domain = self._parts(other)
        if theirs is None:
            return NotImplemented
        n = max(len(self.coeffs), len(theirs))
        pad = (0,) * n
        return Sym.make([a + b for a, b in zip((self.coeffs + pad)[:n], (theirs + pad)[:n])],
                        domain)

    __radd__ = __add__

    def __neg__(self):
        return Sym.make([-c for c in self.coeffs], self.domain)

    def __sub__(self, other):
        theirs, _ = self._parts(other)
        return NotImplemented if theirs is None else self + (-other)

    def __rsub__(self, other):
        theirs, _ = self._parts(other)
        return NotImplemented if theirs is None else (-self) + other

    def __mul__(self, other):
        theirs, domain = self._parts(other)
        if theirs is None:
            return NotImplemented
        out = [0] * (len(self.coeffs) + len(theirs) - 1)
        for i, a in enumerate(self.coeffs):
            for j, b in enumerate(theirs):
                out[i + j] += a * b
        return Sym.make(out, domain)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        """Exact division by an int that divides every coefficient (else undecided)."""
        if isinstance(other, int) and other and all(c % other == 0 for c in self.coeffs):
            return Sym.make([c // other for c in self.coeffs], self.domain)
        raise Undecided(f"({self}) // {other} is not a polynomial in s")

    def _not_polynomial(self, other):
        raise Undecided(f"({self}) with {other} is not a polynomial in s")

    __mod__ = __rmod__ = __truediv__ = __rtruediv__ = __rfloordiv__ = __pow__ = _not_polynomial

    # --- questions ---------------------------------------------------------------------------
    def _bounds(self):
        """(least, greatest) over the sizes served, either None where not known."""
        low, high = self.lowest(), (-self).lowest()
        return low, None if high is None else -high

    def _decide(self, other, holds, fails):
        """Whether self - other has the property: holds(least, greatest) says it does for
        every size, fails(least, greatest) that it does for none; else Undecided."""
        diff = self - other
        if isinstance(diff, int):
            return holds(diff, diff)
        low, high = diff._bounds()
        if holds(low, high):
            return True
        if fails(low, high):
            return False
        raise Undecided(f"whether {self} {_WORD[holds]} {other} depends on s")

    def __eq__(self, other):
        if isinstance(other, Sym) and other.coeffs == self.coeffs:
            return True
        theirs, _ = self._parts(other)
        return theirs is not None and self._decide(other, _zero, _nonzero)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(("Sym", self.coeffs))

    def __lt__(self, other):
        return self._decide(other, _negative, _nonnegative)

    def __le__(self, other):
        return self._decide(other, _nonpositive, _positive)

    def __gt__(self, other):
        return self._decide(other, _positive, _nonpositive)

    def __ge__(self, other):
        return self._decide(other, _nonnegative, _negative)

    def __bool__(self):
        return self != 0

    def __int__(self):
        raise Undecided(f"{self} is no single number")

    __index__ = __int__

    def __repr__(self):
        terms = []
        for power, c in enumerate(self.coeffs):
            if c == 0:
                continue
            base = "" if power == 0 else "s" if power == 1 else f"s^{power}"
            terms.append(str(c) if not base else base if c == 1 else f"{c}*{base}")
        return " + ".join(reversed(terms)).replace("+ -", "- ")


class RuntimeNumber:
    """A float operand that no polynomial in s gives (a mean's 1 / n, Bessel's n / (n - 1)
    in batch norm): each size's value is read from that size's own trace (compiler/
    dynamic.py) into a table, `numbers[index]`, that the kernels read at run time."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __repr__(self):
        return f"number{self.index}"


# properties of a difference, from its (least, greatest) values (None: not known)
def _positive(lo, hi):
    return lo is not None and lo > 0


def _nonnegative(lo, hi):
    return lo is not None and lo >= 0


def _negative(lo, hi):
    return hi is not None and hi < 0


def _nonpositive(lo, hi):
    return hi is not None and hi <= 0


def _zero(lo, hi):
    return lo == hi == 0


def _nonzero(lo, hi):
    return _positive(lo, hi) or _negative(lo, hi)


_WORD = {_positive: ">", _nonnegative: ">=", _negative: "<", _nonpositive: "<=", _zero: "=="}


def value_at(x, s, numbers=()):
    """x with every Sym in it replaced by its value at size s, and every RuntimeNumber by
    its entry in `numbers` (tuples, lists and dicts walked; anything else as it is)."""
    if isinstance(x, Sym):
        return x.value(s)
    if isinstance(x, RuntimeNumber):
        return numbers[x.index]
    if isinstance(x, tuple):
        return tuple(value_at(v, s, numbers) for v in x)
    if isinstance(x, list):
        return [value_at(v, s, numbers) for v in x]
    if isinstance(x, dict):
        return {k: value_at(v, s, numbers) for k, v in x.items()}
    return x


def is_static(x):
    """Whether x (an int, a Sym, or tuples, lists and dicts of them) holds no Sym (and
    no RuntimeNumber)."""
    if isinstance(x, (Sym, RuntimeNumber)):
        return False
    if isinstance(x, (tuple, list)):
        return all(is_static(v) for v in x)
    if isinstance(x, dict):
        return all(is_static(v) for v in x.values())
    return True


# --- constants of a dynamic shape ----------------------------------------------------------------
# A dynamic graph's constant whose shape holds s is described, not stored: each kind here
# makes the array at a size from its params (compiler/dynamic.py finds the description).
def _filled(shape, dtype, fill):
    return np.full(shape, fill, dtype)


def _counting(shape, dtype, start, step):
    """A count along the one dim of shape that is not 1."""
    return (start + step * np.arange(int(np.prod(shape)))).astype(dtype).reshape(shape)


def _triangle(shape, dtype, lower, diagonal, inside, outside):
    i, j = np.arange(shape[-2])[:, None], np.arange(shape[-1])[None, :]
    mask = j - i <= diagonal if lower else j - i >= diagonal
    return np.where(mask, inside, outside).astype(dtype).reshape(shape)


GENERATED = {"fill": _filled,           # every element one value (zeros to scatter into)
             "arange": _counting,       # start, start + step, ...: 1-D, or under dims of 1
#                                         (positions 0..T-1)
             "triangle": _triangle}     # one value on and below (or above) a diagonal,
#                                         another off it: 2-D, or 2-D under dims of 1 (a
#                                         causal mask)


def generated(params, shape, dtype):
    """The array of a described constant (params {kind: args}) of `shape`."""
    (kind, args), = params.items()
    return GENERATED[kind](shape, dtype, *args)
