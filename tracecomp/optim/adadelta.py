"""Adadelta: torch's single-tensor update (torch.optim.adadelta._single_tensor_adadelta),
op for op, with the same state ('step', 'square_avg', 'acc_delta')."""
from ..creation import tensor, zeros_like
from .optimizer import Optimizer, real_views
from .options import capturable_error, check_lr, scalar


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "capturable": capturable, "foreach": foreach,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, rho, eps = scalar(group["lr"]), group["rho"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = tensor(0.0)
                state["square_avg"] = zeros_like(p)
                state["acc_delta"] = zeros_like(p)
        if params and group["capturable"]:     # torch checks all params before updating
            raise capturable_error(xla=False)
        for p in params:
            state = self.state[p]
            state["step"] += 1
            grad = -p.grad if maximize else p.grad
            if p.is_complex():      # torch updates the real and imaginary parts apart
                p, grad, state = real_views(p, grad, state)
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
            std = square_avg.add(eps).sqrt_()
            # torch: delta = acc_delta.add(eps).sqrt_(); delta.div_(std). Out of place here:
            # on the first step acc_delta is a fresh constant, and a tracer refuses an
            # in-place update of a constant by a traced value (same numbers either way)
            delta = acc_delta.add(eps).sqrt_().div(std).mul_(grad)
            acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
            p.add_(delta, alpha=-lr)
