"""check_range (ops/indexing.py), the guard on cross_entropy's targets and gather's
indices: its quick path for integers from 0 reads them as unsigned, so a negative value
must still be refused, an ignored one let through, and the error name the first bad
value, for every integer width; compared against the plain definition."""
import numpy as np
import pytest

from tracecomp.ops.indexing import _check_range_impl


def _first_bad(x, low, high, ignore):
    for v in x.ravel():
        if not low <= v < high and v != ignore:
            return int(v)
    return None


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
@pytest.mark.parametrize("values", [[0, 3, 9], [0, -1, 5], [9, 10], [-100, 2, 3],
                                    [-100, -3, 2], [-128, 0], [4]])
@pytest.mark.parametrize("ignore", [None, -100])
def test_the_quick_path_refuses_what_the_definition_refuses(dtype, values, ignore):
    x = np.array(values).astype(dtype)[::-1]        # (a strided view, too)
    info = np.iinfo(dtype)
    if ignore is not None and not info.min <= ignore <= info.max:
        ignore = None
    bad = _first_bad(x, 0, 10, ignore)
    if bad is None:
        assert _check_range_impl(x, 0, 10, ignore, "bad {value}", "IndexError") is x
    else:
        with pytest.raises(IndexError, match=f"^bad {bad}$"):
            _check_range_impl(x, 0, 10, ignore, "bad {value}", "IndexError")
