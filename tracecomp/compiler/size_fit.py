"""Integers seen at several sizes -> the polynomial in the symbols that gives them all.

compiler/dynamic.py makes one dynamic graph of graphs traced at several sizes (points: the
dynamic input dims' sizes in each graph). A size in such a graph is, in the code that made
it, a sum of products of input sizes and constants: B, T - 2 (a convolution without
padding), 64 B (im2col rows), B*T (a reshape of [B, T, H] to rows). So each integer that
differs between the graphs is fitted by the sparsest multilinear polynomial in the symbols
(its terms are products of distinct symbols, and 1) with integer coefficients that gives
its value at every point: one term where one does, then two, and so on. B*T is found from
any three points, where the affine T0 B + B0 T - B0 T0 gives the same values at the points
(B0, T0), (B0, T), (B, T0) and at no others.

    fit = Fit([(4, 12), (4, 20), (7, 12)], domain)
    fit((48, 80, 84), "a shape")     # -> s0*s1

A guess from few points may be wrong at others: the match of every later graph against
the template (dynamic.match) finds that, and those sizes compile for themselves.
"""
import itertools
from fractions import Fraction

from ..symbolic import Sym


class NoFit(Exception):
    """No polynomial in the symbols gives the values; the message says which."""


class Fit:
    """Polynomials through values at `points` (tuples of sizes, one per symbol)."""

    def __init__(self, points, domain):
        self.points, self.domain = points, domain
        n = len(domain.lows)
        # the multilinear monomials, as powers: 1, s0, s1, s0*s1, ...
        self.monomials = sorted(itertools.product((0, 1), repeat=n), key=lambda p: (sum(p), p))
        self.columns = {m: [_power(point, m) for point in points] for m in self.monomials}
        self.known = {}     # values -> their polynomial (a graph repeats its sizes)

    def __call__(self, values, what):
        """The int or Sym that gives values[i] at points[i]; NoFit where none does."""
        if all(v == values[0] for v in values):
            return values[0]
        found = self.known.get(values)
        if found is None:
            found = self.known[values] = self._sparsest(values)
        if found is NoFit:
            raise NoFit(f"{what}: {_listed(values)} at {self._where()} is no polynomial in "
                        f"{', '.join(self.domain.names())} with integer coefficients")
        return found

    def follows(self, values):
        """Whether values are another dim that follows the symbols: a multiple k m of one of
        their products m (the rows of [B, T, H] reshaped, B * 64 im2col columns) or one
        shifted, m + c (T - 1 targets); the symbol itself where they are equal. From three
        points on, k m + c too (a transposed convolution's 2 T - 1): through two, any two
        sizes that change are that, by chance."""
        for m in self.monomials[1:]:
            column = self.columns[m]
            j = next((j for j, x in enumerate(column) if x != column[0]), None)
            if j is None:
                continue
            k, r = divmod(values[j] - values[0], column[j] - column[0])
            c = values[0] - k * column[0]
            if not r and k >= 1 and (c == 0 or k == 1 or len(self.points) >= 3) and \
                    all(k * x + c == v for x, v in zip(column, values)):
                return True
        return False

    def _sparsest(self, values):
        """The fewest terms that give values, with integer coefficients (among equally few:
        fewer negative coefficients on symbols, then the smallest); NoFit if none."""
        for size in range(1, min(len(self.monomials), len(self.points)) + 1):
            found = []
            for support in itertools.combinations(self.monomials, size):
                coeffs = _solve([self.columns[m] for m in support], values)
                if coeffs is not None and all(c.denominator == 1 for c in coeffs):
                    coeffs = [int(c) for c in coeffs]
                    negative = sum(c < 0 for m, c in zip(support, coeffs) if any(m))
                    found.append((negative, sum(map(abs, coeffs)), support, coeffs))
            if found:
                _, _, support, coeffs = min(found)
                return Sym.make(dict(zip(support, coeffs)), self.domain)
        return NoFit

    def _where(self):
        names = self.domain.names()
        return "; ".join(", ".join(f"{name} = {v}" for name, v in zip(names, point))
                         for point in self.points)


def _power(point, powers):
    out = 1
    for v, e in zip(point, powers):
        out *= v ** e
    return out


def _solve(columns, values):
    """The one x with sum(x[j] * columns[j][i]) = values[i] for every i (exact fractions),
    or None where there is none, or more than one."""
    k = len(columns)
    rows = [[Fraction(c[i]) for c in columns] + [Fraction(v)] for i, v in enumerate(values)]
    pivot_rows = 0
    for col in range(k):
        pivot = next((r for r in range(pivot_rows, len(rows)) if rows[r][col] != 0), None)
        if pivot is None:
            return None             # a free coefficient: not one solution
        rows[pivot_rows], rows[pivot] = rows[pivot], rows[pivot_rows]
        top = rows[pivot_rows]
        top[:] = [x / top[col] for x in top]
        for r, row in enumerate(rows):
            if r != pivot_rows and row[col] != 0:
                f = row[col]
                row[:] = [x - f * y for x, y in zip(row, top)]
        pivot_rows += 1
    if any(row[k] != 0 for row in rows[pivot_rows:]):
        return None                 # inconsistent: the values are not on these terms
    return [rows[j][k] for j in range(k)]


def _listed(values):
    return ", ".join(map(str, values))
