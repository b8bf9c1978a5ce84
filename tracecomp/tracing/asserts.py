"""Python asserts on traced tensors: `assert (mask == expected).all(), "bad mask"` inside
compiled code.

A traced tensor's truth value is not known while tracing, so an `if` on one is a
TraceError. An assert is different: its truth test only decides whether to raise. As
torch.compile does (it turns such an assert into torch._assert_async), the trace records a
guard that raises RuntimeError(message) whenever the condition fails at run time, and the
trace goes on past the assert. The assert is recognized from the bytecode of the frame
doing the truth test: a conditional jump whose next instruction is LOAD_ASSERTION_ERROR.
The message is the assert's own when it is a constant string; any other (an f-string of
values) is not evaluated, and the guard's message names the assert's line instead.
"""
import dis

from ..ops.elementwise import eq, ne
from ..ops.indexing import check_range
from ..user_code import user_line, value_error

_INSTRUCTIONS = {}      # code object -> {offset: position}, [instructions]


def _instructions(code):
    found = _INSTRUCTIONS.get(code)
    if found is None:
        listing = list(dis.get_instructions(code))
        found = _INSTRUCTIONS[code] = ({ins.offset: k for k, ins in enumerate(listing)},
                                       listing)
    return found


def assert_test(frame):
    """(whether the assert holds when the value is true, its constant message or None) when
    `frame` is running an assert's truth test; None when it is any other truth test."""
    positions, listing = _instructions(frame.f_code)
    k = positions.get(frame.f_lasti)
    if k is None or k + 1 >= len(listing) or \
            listing[k + 1].opname != "LOAD_ASSERTION_ERROR":
        return None
    jump = listing[k].opname
    if not jump.startswith("POP_JUMP") or "NONE" in jump:
        return None
    after = listing[k + 2:k + 4]
    constant = (len(after) == 2 and after[0].opname == "LOAD_CONST"
                and isinstance(after[0].argval, str) and after[1].opname in ("PRECALL", "CALL"))
    return "IF_TRUE" in jump, after[0].argval if constant else None


def assert_guard(tensor, frame):
    """The truth value a traced tensor's assert takes in the trace, after recording the
    guard that checks it at run time; the usual TraceError for any other truth test."""
    found = None if frame is None else assert_test(frame)
    if found is None:
        raise value_error("using a traced tensor as a Python bool (an `if` or `while` on "
                          "tensor values)")
    if tensor.numel() != 1:     # eager code raises this before asserting anything
        raise RuntimeError(f"Boolean value of a Tensor with {tensor.numel()} elements is "
                           f"ambiguous; it needs exactly one element")
    holds_if_true, message = found
    text = message if message is not None else f"assertion failed{user_line()}"
    cond = ne(tensor, 0) if holds_if_true else eq(tensor, 0)
    # the guard's message is a format string ({value}, {low}, {high}): the text is taken
    # as it is
    check_range(cond, 1, 2, text.replace("{", "{{").replace("}", "}}"), error="RuntimeError")
    return holds_if_true
