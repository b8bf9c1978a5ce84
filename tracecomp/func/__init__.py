"""torch.func: composable function transforms (grad, vjp, jvp, jacrev, jacfwd, hessian,
linearize, vmap) and modules as functions of their state (functional_call,
stack_module_state).

    pytree.py        flatten/unflatten nested tuples, lists and dicts (torch's pytrees)
    level.py         one differentiating transform on the eager tape: fresh inputs, results
    reverse.py       vjp, grad, grad_and_value, jacrev (autograd.grad)
    forward.py       jvp, linearize, jacfwd, hessian (the double-VJP trick: no forward AD)
    vmap.py          vmap: inputs in as batched tensors, results out at their out_dims
    batching*.py     batched tensors, the batching interpreter at bind, the rules by kind,
                     custom Functions' rule (torch's generate_vmap_rule)
    randomness.py    vmap's randomness modes
    module_state.py  functional_call, stack_module_state, replace_all_batch_norm_modules_
    functionalize.py functionalize: in-place updates of the inputs applied on return

Inside tracecomp.compile the transforms trace like any other code (a vmap records its
batching rules' primitives: one copy of the function whatever the batch size, vmap.py);
what cannot be traced is a graph break with a warning, never a different answer
(tests/func/test_func_compiled.py, test_vmap_compiled.py).
"""
from .forward import hessian, jacfwd, jvp, linearize
from .functionalize import functionalize
from .module_state import functional_call, replace_all_batch_norm_modules_, stack_module_state
from .reverse import grad, grad_and_value, jacrev, vjp
from .vmap import vmap

__all__ = ["functional_call", "functionalize", "grad", "grad_and_value", "hessian", "jacfwd",
           "jacrev", "jvp", "linearize", "replace_all_batch_norm_modules_",
           "stack_module_state", "vjp", "vmap"]

from ..support import missing_in as _missing_in  # noqa: E402

__getattr__ = _missing_in("torch.func")
