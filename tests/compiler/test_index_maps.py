"""The shared index maps (codegen/index_maps.py), evaluated with Python ints for every
output element and checked against numpy's own movement ops: each map must name the
operand element numpy puts there. The operands hold their own flat positions (arange),
so a wrong index shows as a wrong value. The llvm backend runs the same maps as IR (the
compiled op-table tests); this checks the maps themselves, whatever backend emits them.
"""
import itertools

import numpy as np
import pytest

from tracecomp.codegen import index_maps as im
from tracecomp.ops.movement import pad_p

ix = im.PYTHON


def _positions(shape):
    return np.arange(int(np.prod(shape))).reshape(shape)


def _check(want, x, source):
    """Every element of `want` is x at source(index)."""
    for index in itertools.product(*map(range, want.shape)):
        assert x[tuple(source(list(index)))] == want[index], index


@pytest.mark.parametrize("shape,dims", [((2, 3, 4), (2, 0, 1)), ((5,), (0,)),
                                        ((2, 1, 3), (1, 2, 0))])
def test_permute(shape, dims):
    x = _positions(shape)
    _check(np.transpose(x, dims), x, lambda i: im.permute(ix, i, dims))


@pytest.mark.parametrize("shape,starts,stops,steps", [
    ((7, 5), (1, 0), (6, 5), (2, 1)), ((9,), (8,), (9,), (1,)), ((4, 6), (0, 1), (4, 6), (3, 2))])
def test_slice(shape, starts, stops, steps):
    x = _positions(shape)
    want = x[tuple(slice(a, b, s) for a, b, s in zip(starts, stops, steps))]
    _check(want, x, lambda i: im.slice_(ix, i, starts, steps))


@pytest.mark.parametrize("shape,dims", [((3, 4), (0,)), ((3, 4), (0, 1)), ((2, 3, 2), (1,))])
def test_flip(shape, dims):
    x = _positions(shape)
    _check(np.flip(x, dims), x, lambda i: im.flip(ix, i, shape, dims))


@pytest.mark.parametrize("shape,target", [((2, 3), (4, 2, 3)), ((1, 3), (5, 3)),
                                          ((3, 1, 2), (3, 4, 2))])
def test_broadcast(shape, target):
    x = _positions(shape)
    _check(np.broadcast_to(x, target), x, lambda i: im.broadcast(ix, i, target, shape))


@pytest.mark.parametrize("shape,target", [
    ((24,), (2, 3, 4)), ((2, 3, 4), (6, 4)), ((2, 3, 4), (4, 6)), ((6, 4), (3, 8)),
    ((2, 1, 6), (3, 1, 4)), ((1, 5), (5,)), ((4, 3), (2, 2, 3, 1)), ((7,), (7, 1, 1))])
def test_reshape(shape, target):
    x = _positions(shape)
    _check(x.reshape(target), x, lambda i: im.reshape(ix, i, target, shape))


@pytest.mark.parametrize("shape,config", [
    ((3, 4), ((1, 2, 0), (0, 1, 0))), ((3,), ((2, 1, 2),)), ((2, 3), ((-1, 1, 0), (1, -1, 1))),
    ((4, 2), ((0, 0, 1), (3, 0, 0)))])
def test_pad(shape, config):
    x = _positions(shape)
    want = pad_p.impl(x, config=config, value=-1)

    def element(index):
        src, inside = im.pad(ix, index, shape, config)
        return x[tuple(src)] if inside else -1
    for index in itertools.product(*map(range, want.shape)):
        assert element(list(index)) == want[index], index


@pytest.mark.parametrize("sizes,dim", [((2, 3, 1), 0), ((4, 0, 2), 1), ((1,), 0)])
def test_concat(sizes, dim):
    shapes = [tuple(n if d == dim else 3 for d in range(2)) for n in sizes]
    pieces, start = [], 0
    for shape in shapes:
        pieces.append(_positions(shape) + start)
        start += pieces[-1].size
    want = np.concatenate(pieces, dim)
    for index in itertools.product(*map(range, want.shape)):
        got = None
        for k, at, starts in im.concat(ix, list(index), dim, sizes):
            v = pieces[k][tuple(at)]
            got = v if got is None else ix.select(starts, v, got)
        assert got == want[index], index


@pytest.mark.parametrize("shape,kernel,dilation,padding,stride", [
    ((2, 3, 5, 6), (2, 3), (1, 1), (0, 0), (1, 1)),
    ((1, 2, 7, 7), (3, 3), (2, 1), (1, 2), (2, 3)),
    ((1, 1, 4, 4), (2, 2), (1, 1), (1, 1), (2, 2))])
def test_unfold(shape, kernel, dilation, padding, stride):
    from tracecomp.ops.conv import unfold_p
    x = _positions(shape) + 1            # 0 is the padding
    want = unfold_p.impl(x, kernel=kernel, dilation=dilation, padding=padding, stride=stride)

    def element(index):
        src, inside = im.unfold(ix, index, shape, kernel, dilation, padding, stride)
        return x[tuple(src)] if inside else 0
    for index in itertools.product(*map(range, want.shape)):
        assert element(list(index)) == want[index], index
