"""Rprop (resilient backpropagation: per-element step sizes grown or shrunk by the sign
of successive gradients): torch's single-tensor update
(torch.optim.rprop._single_tensor_rprop) with the same state ('step', 'prev',
'step_size'). torch's masked assignments (sign[sign > 0] = etaplus) are written as
`where`, which gives the same numbers eagerly and traces into a graph."""
from ..creation import full_like, tensor, zeros_like
from ..ops.elementwise import where
from .optimizer import Optimizer, real_views
from .options import capturable_error, check_lr, scalar


class Rprop(Optimizer):
    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {"lr": lr, "etas": etas, "step_sizes": step_sizes, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        super().__init__(params, defaults)

    def _update_group(self, group):
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        maximize = group["maximize"]
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = tensor(0.0)
                state["prev"] = zeros_like(p)
                lr = scalar(group["lr"])     # both parts of a complex one step: lr + lr i
                state["step_size"] = full_like(p.grad, complex(lr, lr) if p.is_complex()
                                               else lr)
        for p in params:
            state = self.state[p]
            grad = -p.grad if maximize else p.grad
            if group["capturable"]:
                raise capturable_error()
            if p.is_complex():      # torch updates the real and imaginary parts apart
                p, grad, state = real_views(p, grad, state)

            state["step"] += 1
            prev, step_size = state["prev"], state["step_size"]
            sign = grad.mul(prev).sign()
            sign = where(sign > 0, etaplus, where(sign < 0, etaminus, 1.0)).to(sign.dtype)
            step_size.mul_(sign).clamp_(step_size_min, step_size_max)
            grad = where(sign == etaminus, 0.0, grad).to(grad.dtype)
            p.addcmul_(grad.sign(), step_size, value=-1)
            prev.copy_(grad)
