"""ASGD (averaged SGD): torch's single-tensor update (torch.optim.asgd._single_tensor_asgd),
op for op, with the same state ('step', 'eta', 'mu' as 0-d tensors, 'ax' the average).
The average's `mu == 1` shortcut (a copy) is a Python branch on a tensor's value; compiled
code takes torch's capturable form (ax += (p - ax) * mu) and the schedule's eta and mu are
computed from the step tensor, so every call uses the current values."""
from ..creation import tensor, zeros_like
from .optimizer import Optimizer, real_views, step_count
from .options import capturable_error, check_lr, is_traced, scalar


class ASGD(Optimizer):
    _scalar_state = ("step", "eta", "mu")

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False):
        check_lr(lr)
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                    "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _update_group(self, group):
        lr, lambd, alpha, t0 = scalar(group["lr"]), group["lambd"], group["alpha"], group["t0"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = tensor(0.0)
                state["eta"] = tensor(float(lr))
                state["mu"] = tensor(1.0)
                state["ax"] = zeros_like(p)
        for p in params:
            state = self.state[p]
            grad = -p.grad if maximize else p.grad
            if group["capturable"]:
                raise capturable_error("params, mus, etas, and state_steps")
            if p.is_complex():      # torch updates the real and imaginary parts apart
                p, grad, state = real_views(p, grad, state)

            step_t, eta, mu, ax = state["step"], state["eta"], state["mu"], state["ax"]
            step_t += 1
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            traced = is_traced(step_t)
            eta_value = eta.double() if traced else eta.item()
            p.mul_(1 - lambd * eta_value)                        # decay term
            if traced:          # add_'s alpha is a Python number: scale by the traced eta
                p.add_(grad * eta_value, alpha=-1)
            else:
                p.add_(grad, alpha=-eta_value)
            if traced or mu.item() != 1:
                ax.add_(p.sub(ax).mul_(mu))
            else:
                ax.copy_(p)
            step = step_count(step_t)
            new_eta = lr / ((1 + lambd * lr * step) ** alpha)
            if traced:
                eta.copy_(new_eta)
                mu.copy_(1 / (step - t0).clamp(min=1))
            else:
                eta.fill_(new_eta)
                mu.fill_(1 / max(1, step - t0))
