"""Modules as functions of their state: torch.func.functional_call (nn/utils/
functional_call.py, which torch.nn.utils.stateless shares), stack_module_state and
replace_all_batch_norm_modules_.

stack_module_state stacks the same-named parameters and buffers of several models of one
class along a new dim 0, for vmap over an ensemble. replace_all_batch_norm_modules_ stops
every batch norm in a model from tracking running statistics (under vmap each sample would
update one shared set), as torch's.
"""
from ..composite import stack
from ..nn.modules.batchnorm import _BatchNorm
from ..nn.utils.functional_call import functional_call  # noqa: F401  (torch.func's name)


def stack_module_state(models):
    """(params, buffers): each name's tensors from every model stacked along dim 0; the
    stacked parameters are new leaves that require grad when the models' do."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same "
                           "training/eval mode.")
    if any(type(m) is not type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    params = _stacked([dict(m.named_parameters()) for m in models])
    buffers = _stacked([dict(m.named_buffers()) for m in models])
    return params, buffers


def _stacked(dicts):
    out = {}
    for name in dicts[0]:
        tensors = [d[name] for d in dicts]
        wants = {t.requires_grad for t in tensors}
        if len(wants) > 1:
            raise RuntimeError(f"Expected {name} from each model to have the same "
                               f".requires_grad")
        out[name] = stack(tensors).detach().requires_grad_(wants.pop())
    return out


def replace_all_batch_norm_modules_(root):
    """Every batch norm in root (root included) in place without running statistics:
    running_mean, running_var and num_batches_tracked become None and track_running_stats
    False, so it normalizes with the batch's own statistics in training and in eval."""
    for module in root.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root
