"""Adagrad: torch's single-tensor update (torch.optim.adagrad._single_tensor_adagrad), op
for op, dense or for a sparse gradient (embedding(sparse=True)). As in torch, state ('step',
'sum') exists from construction on; lr may be a 1-element tensor."""
from ..creation import full_like, tensor
from .optimizer import Optimizer, real_views, step_count
from .options import check_fused, check_lr, setting


class Adagrad(Optimizer):
    sparse_refusal = None       # _sparse_update: torch's sparse branch

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        check_fused(fused, foreach, differentiable)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            state = self.state[p]
            state["step"] = tensor(0.0)
            state["sum"] = full_like(p, group["initial_accumulator_value"])

    fed_settings = ("lr",)

    def _update_group(self, group):
        lr, lr_decay, eps = setting(group, "lr"), group["lr_decay"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = self.state[p]
            step_t = state["step"]
            step_t += 1
            step = step_count(step_t)
            if maximize:
                grad = -grad
            if weight_decay != 0 and grad.is_sparse:
                raise RuntimeError("weight_decay option is not compatible with sparse "
                                   "gradients")
            if p.is_complex():      # torch updates the real and imaginary parts apart
                p, grad, state = real_views(p, grad, state)
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            clr = lr / (1 + (step - 1) * lr_decay)
            state_sum = state["sum"]
            if grad.is_sparse:
                _sparse_update(p, grad, state_sum, clr, eps)
                continue
            state_sum.addcmul_(grad, grad, value=1)
            std = state_sum.sqrt().add_(eps)
            p.addcdiv_(grad, std, value=-clr)


def _sparse_update(p, grad, state_sum, clr, eps):
    """torch's sparse branch: the sum and the parameter change only at the gradient's
    positions, each listed once (the update is not linear in the gradient)."""
    grad = grad.coalesce()
    at, values = grad._indices(), grad._values()
    state_sum.add_(grad.new(at, values.pow(2), grad.shape))
    std = state_sum.sparse_mask(grad)._values().sqrt().add_(eps)
    p.add_(grad.new(at, values / std, grad.shape), alpha=-clr)
