"""NAdam (Adam with Nesterov momentum and a momentum-decay schedule): torch's single-tensor
update (torch.optim.nadam._single_tensor_nadam), op for op, with the same state ('step',
'mu_product' as float32 0-d tensors, 'exp_avg', 'exp_avg_sq'). decoupled_weight_decay
gives NAdamW."""
from ..creation import tensor, zeros_like
from .adam import decay_and_moments
from .optimizer import Optimizer, real_views, step_count
from .options import capturable_error, check_betas, check_lr, is_traced, scalar


class NAdam(Optimizer):
    _scalar_state = ("step", "mu_product")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, (beta1, beta2), eps = scalar(group["lr"]), group["betas"], group["eps"]
        weight_decay, momentum_decay = group["weight_decay"], group["momentum_decay"]
        decoupled, maximize = group["decoupled_weight_decay"], group["maximize"]
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = tensor(0.0)
                state["mu_product"] = tensor(1.0)
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
        for p in params:
            state = self.state[p]
            grad = -p.grad if maximize else p.grad
            if group["capturable"]:
                raise capturable_error("params, mu_products and state_steps")
            if p.is_complex():      # torch updates the real and imaginary parts apart
                p, grad, state = real_views(p, grad, state)

            step_t, mu_product = state["step"], state["mu_product"]
            step_t += 1
            step = step_count(step_t)
            bias_correction2 = 1 - beta2 ** step
            grad = decay_and_moments(p, grad, state, lr, weight_decay, decoupled, beta1, beta2)
            # the momentum schedule: mu_t and mu_{t+1}, and their running product
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
            mu_product *= mu
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            denom = exp_avg_sq.div(bias_correction2).sqrt().add_(eps)
            # torch reads the float32 product back as a Python float (double)
            product = mu_product.double() if is_traced(mu_product) else mu_product.item()
            mu_product_next = product * mu_next
            p.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - product))
            p.addcdiv_(exp_avg, denom, value=(-lr * mu_next) / (1.0 - mu_product_next))
