"""RAdam (Adam with a variance-rectification term): torch's single-tensor update
(torch.optim.radam._single_tensor_radam), op for op, with the same state ('step',
'exp_avg', 'exp_avg_sq'). Eagerly the rectification switch (rho_t > 5) is a Python branch
on the step count, as in torch; in compiled code, where the step count is a tensor, it is
torch's capturable form, a `where` that the graph evaluates each step."""
from ..creation import tensor, zeros_like
from ..ops.elementwise import where
from .adam import decay_and_moments
from .optimizer import Optimizer, real_views, step_count
from .options import capturable_error, check_betas, check_lr, is_traced, scalar


class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, (beta1, beta2), eps = scalar(group["lr"]), group["betas"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = tensor(0.0)
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
        rho_inf = 2 / (1 - beta2) - 1
        for p in params:
            state = self.state[p]
            grad = -p.grad if maximize else p.grad
            if group["capturable"]:
                raise capturable_error()
            if p.is_complex():      # torch updates the real and imaginary parts apart
                p, grad, state = real_views(p, grad, state)

            step_t = state["step"]
            step_t += 1
            step = step_count(step_t)
            grad = decay_and_moments(p, grad, state, lr, weight_decay, decoupled, beta1, beta2)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            bias_corrected_exp_avg = exp_avg / bias_correction1
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2

            def rect(rho_t=rho_t):
                return ((rho_t - 4) * (rho_t - 2) * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5

            def adaptive_lr(exp_avg_sq=exp_avg_sq, bias_correction2=bias_correction2):
                return (bias_correction2 ** 0.5) / exp_avg_sq.sqrt().add_(eps)

            if is_traced(step_t):
                # rect() of rho_t <= 4 is a NaN that `where` drops: clamp to keep it real
                update = where(rho_t > 5.0, rect(rho_t.clamp(min=5.0)) * adaptive_lr(), 1.0)
                p.add_(bias_corrected_exp_avg * lr * update, alpha=-1.0)
            elif rho_t > 5.0:
                p.add_(bias_corrected_exp_avg * lr * adaptive_lr() * rect(), alpha=-1.0)
            else:
                p.add_(bias_corrected_exp_avg * lr, alpha=-1.0)
