"""Sizes that depend on dynamic dimensions: integer polynomials in symbols s0, s1, ...

A graph compiled once for every size of its dynamic dimensions (compiler/dynamic.py) holds,
where a traced graph holds ints, `Sym`s: sums of integer multiples of products of the
symbols (one symbol prints as `s`; two, a text model's batch and length, as `s0`, `s1`). A
[s0, s1, 64] tensor's element count is 64 s0 s1, its reshape to rows [s0*s1, 64]; an
attention map's [s1, s1] is s1^2. A Sym computes like an int (arithmetic with ints and Syms
gives a Sym, or an int where the symbols cancel), gives its value at sizes
(`value(sizes)`, one per symbol), and answers a comparison only where the answer is the
same for every size it serves: `s + 1 > 1` is True, `s < 16` and `s0 == s1` are
undecided. An undecided question, int(), or use as an index raises `Undecided`: the code
that asked was about to bake one size into what serves them all, so the caller lowers that
part for each size instead (never a guess).

The sizes a graph serves are each symbol at least its domain's low (a box), where every
dynamic dim is at least 2 (as torch specializes sizes 0 and 1: a size-1 dim broadcasts, so
it is never dynamic). All Syms of one graph share its Domain.
"""
import itertools
import math

import numpy as np


class Undecided(Exception):
    """A question about a Sym whose answer depends on the size."""


class Domain:
    """The sizes one dynamic graph's Syms serve: symbol k at least lows[k]."""

    __slots__ = ("lows",)

    def __init__(self, lows):
        self.lows = tuple(lows)

    def names(self):
        """The symbols' names: `s` alone, else s0, s1, ..."""
        return ("s",) if len(self.lows) == 1 else tuple(f"s{k}" for k in range(len(self.lows)))

    def describe(self, sizes):
        """sizes in words: "s = 12", or "s0 = 3, s1 = 12"."""
        return ", ".join(f"{name} = {v}" for name, v in zip(self.names(), sizes))


class Sym:
    """sum of c * s0^p0 * s1^p1 * ...: `terms` maps powers (a tuple, one per symbol) to an
    integer c; at least one term holds a symbol."""

    __slots__ = ("terms", "domain")

    def __init__(self, terms, domain):
        self.terms, self.domain = terms, domain

    # --- construction ------------------------------------------------------------------------
    @staticmethod
    def make(terms, domain):
        """The polynomial with these terms ({powers: c}): an int when no symbol is left."""
        terms = {p: int(c) for p, c in terms.items() if c}
        constant = (0,) * len(domain.lows)
        if not terms.keys() - {constant}:
            return terms.get(constant, 0)
        return Sym(dict(sorted(terms.items())), domain)

    @staticmethod
    def symbol(domain, k=0):
        """Symbol k (the size of the k-th dynamic dim)."""
        return Sym({tuple(int(j == k) for j in range(len(domain.lows))): 1}, domain)

    def symbols(self):
        """The indices of the symbols that appear in it."""
        return sorted({k for p in self.terms for k, e in enumerate(p) if e})

    # --- values ------------------------------------------------------------------------------
    def value(self, sizes):
        return sum(c * math.prod(v ** e for v, e in zip(sizes, p)) for p, c in self.terms.items())

    def lowest(self, lows=None):
        """The least value over the sizes served (from `lows`, else the domain's), or None
        when it may fall as a size grows: written in t = s - low (every t >= 0), a negative
        coefficient above the constant."""
        lows = self.domain.lows if lows is None else lows
        shifted = self._shifted(lows)
        constant = (0,) * len(lows)
        if any(c < 0 for p, c in shifted.items() if p != constant):
            return None
        return shifted.get(constant, 0)

    def _shifted(self, lows):
        """The terms of this polynomial written in t_k = s_k - lows[k]."""
        out = {}
        for p, c in self.terms.items():
            # (low + t)^e = sum over j of comb(e, j) low^(e - j) t^j, for each symbol
            for js in itertools.product(*[range(e + 1) for e in p]):
                out[js] = out.get(js, 0) + c * math.prod(
                    math.comb(e, j) * low ** (e - j) for e, j, low in zip(p, js, lows))
        return out

    # --- arithmetic --------------------------------------------------------------------------
    def _parts(self, other):
        if isinstance(other, Sym):
            return other.terms
        if isinstance(other, int) and not isinstance(other, bool):
            return {(0,) * len(self.domain.lows): other}
        return None

    def __add__(self, other):
        theirs = self._parts(other)
        if theirs is None:
            return NotImplemented
        out = dict(self.terms)
        for p, c in theirs.items():
            out[p] = out.get(p, 0) + c
        return Sym.make(out, self.domain)

    __radd__ = __add__

    def __neg__(self):
        return Sym.make({p: -c for p, c in self.terms.items()}, self.domain)

    def __sub__(self, other):
        return NotImplemented if self._parts(other) is None else self + (-other)

    def __rsub__(self, other):
        return NotImplemented if self._parts(other) is None else (-self) + other

    def __mul__(self, other):
        theirs = self._parts(other)
        if theirs is None:
            return NotImplemented
        out = {}
        for (p, a), (q, b) in itertools.product(self.terms.items(), theirs.items()):
            pq = tuple(i + j for i, j in zip(p, q))
            out[pq] = out.get(pq, 0) + a * b
        return Sym.make(out, self.domain)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        """Exact division by an int that divides every coefficient (else undecided)."""
        if isinstance(other, int) and other and all(c % other == 0 for c in self.terms.values()):
            return Sym.make({p: c // other for p, c in self.terms.items()}, self.domain)
        raise Undecided(f"({self}) // {other} is not a polynomial in the sizes")

    def _not_polynomial(self, other):
        raise Undecided(f"({self}) with {other} is not a polynomial in the sizes")

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
        raise Undecided(f"whether {self} {_WORD[holds]} {other} depends on the sizes")

    def __eq__(self, other):
        if isinstance(other, Sym) and other.terms == self.terms:
            return True
        return self._parts(other) is not None and self._decide(other, _zero, _nonzero)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(("Sym", tuple(self.terms.items())))

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
        names, terms = self.domain.names(), []
        # highest degree first, then the symbols in order: s0*s1 + 2*s0 + s1 - 1
        for p, c in sorted(self.terms.items(), key=lambda pc: (-sum(pc[0]), [-e for e in pc[0]])):
            base = "*".join(name if e == 1 else f"{name}^{e}" for name, e in zip(names, p) if e)
            terms.append(str(c) if not base else base if c == 1 else f"-{base}" if c == -1
                         else f"{c}*{base}")
        return " + ".join(terms).replace("+ -", "- ")


class RuntimeNumber:
    """A float operand that no polynomial in the sizes gives (a mean's 1 / n, Bessel's n / (n - 1)
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


def value_at(x, sizes, numbers=()):
    """x with every Sym in it replaced by its value at `sizes` (one per symbol), and every
    RuntimeNumber by its entry in `numbers` (tuples, lists and dicts walked; anything else
    as it is)."""
    if isinstance(x, Sym):
        return x.value(sizes)
    if isinstance(x, RuntimeNumber):
        return numbers[x.index]
    if isinstance(x, tuple):
        return tuple(value_at(v, sizes, numbers) for v in x)
    if isinstance(x, list):
        return [value_at(v, sizes, numbers) for v in x]
    if isinstance(x, dict):
        return {k: value_at(v, sizes, numbers) for k, v in x.items()}
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
