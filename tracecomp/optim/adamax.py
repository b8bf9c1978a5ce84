"""Adamax (Adam with the infinity norm): torch's single-tensor update
(torch.optim.adamax._single_tensor_adamax), op for op, with the same state ('step',
'exp_avg', 'exp_inf')."""
from ..creation import tensor, zeros_like
from .optimizer import Optimizer, real_views, step_count
from .options import capturable_error, check_betas, check_lr, scalar


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, (beta1, beta2), eps = scalar(group["lr"]), group["betas"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = tensor(0.0)
                state["exp_avg"] = zeros_like(p)
                state["exp_inf"] = zeros_like(p)
        for p in group["params"]:
            if p.grad is None:
                continue
            if group["capturable"]:
                raise capturable_error()
            state = self.state[p]
            grad = -p.grad if maximize else p.grad
            if p.is_complex():      # torch updates the real and imaginary parts apart
                p, grad, state = real_views(p, grad, state)
            step_t = state["step"]
            step_t += 1
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_inf.mul_(beta2).maximum_(grad.abs().add_(eps))
            clr = lr / (1 - beta1 ** step_count(step_t))
            p.addcdiv_(exp_avg, exp_inf, value=-clr)
