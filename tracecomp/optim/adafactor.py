"""Adafactor (torch.optim.Adafactor, new in torch 2.5): second moments kept factored, as a
row and a column average, for parameters with 2+ dims. torch's single-tensor update
(torch.optim._adafactor._single_tensor_adafactor), op for op, with the same state
('step', and 'row_var' + 'col_var' or 'variance').

Its step size and update clipping read norms as Python numbers (.item()) eagerly, as
torch does; in compiled code they stay tensors (max(a, b) becomes clamp), so the whole
step still traces into one graph."""

from .. import dtypes
from ..creation import tensor, zeros_like
from .optimizer import Optimizer
from .options import check_lr, is_traced, scalar


def _number(t):
    """t's value as a Python float eagerly; t itself (float64) when traced."""
    return t.double() if is_traced(t) else t.item()


def _at_least(value, floor):
    """max(floor, value) for a Python float or a traced tensor."""
    return value.clamp(min=floor) if not isinstance(value, float) else max(floor, value)


def _at_most(value, ceiling):
    """min(ceiling, value) for a Python float or a traced tensor."""
    return value.clamp(max=ceiling) if not isinstance(value, float) else min(ceiling, value)


class Adafactor(Optimizer):
    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
                 weight_decay=0.0, *, foreach=None, maximize=False):
        check_lr(lr, "Learning rate should be >= 0 but is: {}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d,
                    "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize}
        super().__init__(params, defaults)

    def _init_state(self, p):
        state = self.state[p]
        if len(state) != 0:
            return
        grad = p.grad
        state["step"] = tensor(0.0)
        if grad.dim() > 1:
            state["row_var"] = grad.new_zeros([*grad.shape[:-1], 1])
            state["col_var"] = grad.new_zeros([*grad.shape[:-2], 1, grad.shape[-1]])
        else:
            state["variance"] = zeros_like(grad)

    def _update_group(self, group):
        lr, (eps1, eps2), d = scalar(group["lr"]), group["eps"], group["d"]
        beta2_decay, weight_decay = group["beta2_decay"], group["weight_decay"]
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            if p.is_complex():
                raise RuntimeError("Adafactor does not support complex parameters")
            self._init_state(p)
        for p in params:
            state = self.state[p]
            grad = -p.grad if group["maximize"] else p.grad
            eps1_p = dtypes.finfo_np(p.dtype.np).eps.item() if eps1 is None else eps1
            step_t = state["step"]
            step_t += 1
            step = _number(step_t)
            one_minus_beta2_t = step ** beta2_decay
            rho_t = _at_most(1 / (step ** 0.5), lr)
            alpha = _at_least(_number(p.norm(2)) / (p.numel() ** 0.5), eps2) * rho_t
            if weight_decay != 0:
                p.mul_(1 - lr * weight_decay)
            if grad.dim() > 1:
                row_var, col_var = state["row_var"], state["col_var"]
                row_mean = grad.norm(dim=-1, keepdim=True).square().div_(grad.size(-1))
                row_var.lerp_(row_mean, one_minus_beta2_t)
                col_mean = grad.norm(dim=-2, keepdim=True).square().div_(grad.size(-2))
                col_var.lerp_(col_mean, one_minus_beta2_t)
                var_estimate = row_var @ col_var
                var_estimate.div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1_p))
            else:
                variance = state["variance"]
                variance.lerp_(grad * grad, one_minus_beta2_t)
                var_estimate = variance.clone()
            update = var_estimate.clamp_(min=eps1_p * eps1_p).rsqrt()
            update.mul_(grad)
            denom = _at_least(_number(update.norm(2)) / ((update.numel() ** 0.5) * d), 1.0)
            if is_traced(p):    # add_'s alpha is a Python number: scale by the traced factor
                p.add_(update * (-alpha / denom))
            else:
                p.add_(update, alpha=-alpha / denom)
