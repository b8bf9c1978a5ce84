"""torch.compiler.set_stance: how every compiled function behaves for a while, without
compiling anything again. A function, a context manager or a decorator, as torch's:

    tracecomp.compiler.set_stance("force_eager")      # from now on
    with tracecomp.compiler.set_stance("fail_on_recompile"): ...
    @tracecomp.compiler.set_stance("force_eager")     # while the function runs

The stances (`current`), as the driver applies them (driver.CompiledFunction, api.py):
  default                  compile on a miss, as always
  force_eager              compiled functions and modules run their Python eagerly, and
                           optimizers their parameter loop
  eager_on_recompile       a call that a compiled version serves runs it; one that would
                           compile runs eagerly instead
  fail_on_recompile        a call that would compile raises RuntimeError, saying why
  eager_then_compile       each function's first call runs eagerly, later ones compile
  aot_eager_then_compile   the same here (there is no AOT-eager mode apart from compiling)
Optimizers' compiled updates (fused_step.py) compile only in the default stance.

The stance cannot change while compiled code is traced (torch's RuntimeError): it would
hold on the first call only. skip_guard_eval_unsafe is accepted and has no effect: every
call's signature is still checked, which is the safe side of what it trades away.
"""
import functools

from .. import context

STANCES = ("default", "force_eager", "eager_on_recompile", "fail_on_recompile",
           "eager_then_compile", "aot_eager_then_compile")
EAGER_FIRST = ("eager_then_compile", "aot_eager_then_compile")
current = "default"


def _set(stance):
    """Make `stance` current; returns the one before."""
    global current
    if context.current() is not None:
        raise RuntimeError("attempted to set_stance in a torch.compile region")
    before, current = current, stance
    return before


class set_stance:  # noqa: N801 - torch's name: a function, context manager and decorator
    def __init__(self, stance="default", *, skip_guard_eval_unsafe=False, force_backend=None):
        if not (type(stance) is str and stance in STANCES):
            raise RuntimeError(f"invalid torch.compile stance {stance!r}: one of "
                               f"{', '.join(STANCES)}")
        if force_backend is not None:
            raise RuntimeError("non-default stance cannot have force_backend set"
                               if stance != "default" else
                               "set_stance: force_backend is not supported; choose the "
                               "backend with tracecomp.compile(..., backend=...)")
        self.stance = stance
        self.prev = _set(stance)

    def __enter__(self):
        _set(self.stance)

    def __exit__(self, *exc):
        _set(self.prev)

    def __call__(self, fn):
        """As a decorator: the stance holds while fn runs, not from now on."""
        _set(self.prev)

        @functools.wraps(fn)
        def with_stance(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return with_stance


def miss(name, reason, first_call):
    """What a call that would compile does under the current stance: "compile", "eager",
    or raise (fail_on_recompile). reason() says why it missed; first_call: the function
    has not run yet under eager_then_compile."""
    if current == "fail_on_recompile":
        raise RuntimeError(f"Detected recompile when torch.compile stance is "
                           f"'fail_on_recompile'. function name: '{name}', triggered by: "
                           f"{reason()}")
    if current == "eager_on_recompile" or current in EAGER_FIRST and first_call:
        return "eager"
    return "compile"
