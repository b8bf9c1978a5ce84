"""torch computes log(0) = -inf, 0 / 0 = nan and overflows to inf without a word; numpy
warns (RuntimeWarning: divide by zero encountered in log). tracecomp's eager ops run on
numpy, so its floating-point warnings are silenced where they come from tracecomp's own
code, and only there: numpy code of the user's keeps its warnings.

A warnings filter costs nothing until a warning is raised; an np.errstate around every op
would cost about 2 us per op.
"""
import warnings

warnings.filterwarnings("ignore", r"(divide by zero|invalid value|overflow|underflow) "
                        r"encountered", RuntimeWarning, r"tracecomp(\.|$)")
