"""The ops defined elsewhere that programs call with out= (torch.cat(..., out=buf),
torch.add(a, b, out=c), torch.maximum(v_max, v, out=v_max) in an AMSGrad step, ...): the
same functions, wrapped by torch_args.with_out. Ops of this area take out= where they are
defined (composite_reduce.py, composite_sort.py, ...). Only the torch.* functions take out=;
the Tensor methods of the same names do not (as torch's)."""
from . import composite as C
from . import composite_index, composite_math
from .ops import elementwise as ew
from .ops import float_parts, special
from .ops.linalg import matmul as _matmul
from .tensor_methods import add as _add
from .tensor_methods import div as _div
from .tensor_methods import sub as _sub
from .torch_args import with_out

cat = with_out(C.cat, "cat")
concat = concatenate = cat
stack = with_out(C.stack, "stack")
matmul = with_out(_matmul, "matmul")
mm = with_out(C.mm, "mm")
bmm = with_out(C.bmm, "bmm")
add = with_out(_add, "add", overlap=True)
sub = subtract = with_out(_sub, "sub", overlap=True)
mul = multiply = with_out(ew.mul, "mul", overlap=True)
div = divide = true_divide = with_out(_div, "div", overlap=True)

# torch.<name>(..., out=t) for the elementwise functions, by the module that defines each
# (tracecomp/__init__.py rebinds these names to the wrapped functions).
_ELEMENTWISE = (
    (ew, "abs absolute neg negative exp log sqrt rsqrt sigmoid tanh sin cos tan asin acos "
         "atan arcsin arccos arctan sinh cosh asinh acosh atanh floor ceil round sign trunc "
         "expm1 log1p erf relu maximum minimum pow atan2 fmod remainder hypot copysign "
         "floor_divide eq ne lt le gt ge logical_and logical_or logical_xor "
         "logical_not bitwise_and bitwise_or bitwise_xor bitwise_not isnan isinf isfinite"),
    (C, "reciprocal square lerp"),
    (composite_math, "exp2 log2 log10 frac sgn fmax fmin logaddexp addcmul addcdiv clamp_min "
                     "clamp_max xlogy heaviside float_power logit nan_to_num deg2rad rad2deg "
                     "sinc"),
    (special, "erfc erfinv lgamma digamma i0 igamma igammac polygamma"),
    (float_parts, "nextafter"),
    (composite_index, "where"),
)
ELEMENTWISE_OUT = {name: with_out(getattr(module, name), name, overlap=True)
                   for module, names in _ELEMENTWISE for name in names.split()
                   if hasattr(module, name)}
