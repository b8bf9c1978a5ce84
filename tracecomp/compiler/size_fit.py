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

Cost: n symbols have 2^n monomials. Where the points determine every multilinear
polynomial (export's corners of a cube, export/capture.py), the one through them is solved
exactly, once per value. Else the supports of k terms are tried all at once: their
pseudo-inverses are computed once per set of points, so a value costs one batched product,
its integer rounding, and an exact check of the few supports that come close (in 4
symbols through 5 points, 4 terms: 40 ms; one support at a time it took 1 s).
"""
import itertools
from fractions import Fraction

import numpy as np

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
        self._inverse = None    # a left inverse of every monomial's column, False if none
        self._supports = {}     # number of terms -> _Supports

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
        fewer negative coefficients on symbols, then the smallest); NoFit if none. Where the
        points determine every multilinear polynomial (export's grid of sizes) that one
        polynomial is the answer, solved once; else each support of 1, 2, ... terms is
        tried, all supports of one size at once (`_Supports`)."""
        if self._inverse is None:
            self._inverse = _left_inverse(list(self.columns.values()))
        if self._inverse is not False:
            coeffs = [sum(r * v for r, v in zip(row, values)) for row in self._inverse]
            if any(c.denominator != 1 for c in coeffs):
                return NoFit
            terms = {m: int(c) for m, c in zip(self.monomials, coeffs) if c}
            if any(sum(c * self.columns[m][i] for m, c in terms.items()) != v
                   for i, v in enumerate(values)):
                return NoFit
            return Sym.make(terms, self.domain)
        for size in range(1, min(len(self.monomials), len(self.points)) + 1):
            supports = self._supports.get(size)
            if supports is None:
                supports = self._supports[size] = _Supports(self, size)
            found = supports.solutions(values)
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


class _Supports:
    """The supports of `size` terms among a Fit's monomials on which values have one
    solution at its points (their columns independent there), each with its pseudo-inverse,
    so that the solutions for any values are one batched product: rounded to integers, then
    checked exactly. Floats only propose; an exact check in ints decides."""

    def __init__(self, fit, size):
        self.fit = fit
        columns = np.array([fit.columns[m] for m in fit.monomials], dtype=float).T   # (P, M)
        scale = np.abs(columns).max(axis=0)
        scale[scale == 0] = 1.0
        combos = np.array(list(itertools.combinations(range(len(fit.monomials)), size)))
        stacks = np.transpose((columns / scale)[:, combos], (1, 0, 2))     # (C, P, size)
        singular = np.linalg.svd(stacks, compute_uv=False)
        independent = singular[:, -1] > 1e-9 * singular[:, 0]
        self.combos = combos[independent]
        self.pinv = np.linalg.pinv(stacks[independent]) / scale[self.combos][:, :, None]
        self.columns = np.transpose(columns[:, self.combos], (1, 0, 2))    # (C, P, size)

    def solutions(self, values):
        """[(negative coefficients on symbols, sum of |coefficients|, support, coefficients)]
        of every support that gives values exactly."""
        want = np.array(values, dtype=float)
        coeffs = np.rint(self.pinv @ want)
        close = np.all(np.abs(np.einsum("cps,cs->cp", self.columns, coeffs) - want) < 0.5,
                       axis=1)
        monomials, columns, found = self.fit.monomials, self.fit.columns, []
        for combo, cs in zip(self.combos[close], coeffs[close]):
            support, cs = tuple(monomials[j] for j in combo), [int(c) for c in cs]
            if all(sum(c * columns[m][i] for m, c in zip(support, cs)) == v
                   for i, v in enumerate(values)):
                negative = sum(c < 0 for m, c in zip(support, cs) if any(m))
                found.append((negative, sum(map(abs, cs)), support, cs))
        return found


def _left_inverse(columns):
    """Rows L (exact fractions) with L A = I for the matrix A of these columns (one per
    monomial, a value per point), or False where the columns are not independent at the
    points: then values do not determine one polynomial. L = (A^T A)^-1 A^T, by
    Gauss-Jordan elimination."""
    k, n = len(columns), len(columns[0])
    if n < k:
        return False
    rows = [[Fraction(sum(a * b for a, b in zip(ci, cj))) for cj in columns] +
            [Fraction(x) for x in ci] for ci in columns]
    for col in range(k):
        pivot = next((r for r in range(col, k) if rows[r][col] != 0), None)
        if pivot is None:
            return False
        rows[col], rows[pivot] = rows[pivot], rows[col]
        top = rows[col]
        top[:] = [x / top[col] for x in top]
        for r, row in enumerate(rows):
            if r != col and row[col] != 0:
                f = row[col]
                row[:] = [x - f * y for x, y in zip(row, top)]
    return [row[k:] for row in rows]


def _listed(values):
    return ", ".join(map(str, values))
