"""The ops defined elsewhere that programs commonly call with out= (torch.cat(..., out=buf),
torch.add(a, b, out=c), ...): the same functions, wrapped by torch_args.with_out. Ops of
this area take out= where they are defined (composite_reduce.py, composite_sort.py, ...)."""
from . import composite as C
from .ops import elementwise as ew
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
add = with_out(_add, "add")
sub = subtract = with_out(_sub, "sub")
mul = multiply = with_out(ew.mul, "mul")
div = divide = with_out(_div, "div")
