"""SGD with momentum, dampening, Nesterov, weight decay and maximize: torch's single-tensor
update (torch.optim.sgd._single_tensor_sgd), op for op. lr and weight_decay may be
1-element tensors; foreach and fused select torch kernels with the same numbers."""
from ..tensor import Tensor
from .optimizer import Optimizer
from .options import add_scaled, check_fused, scalar, setting


class SGD(Optimizer):
    sparse_refusal = None       # torch's SGD updates with a sparse gradient

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        check_fused(fused, foreach, differentiable)

    fed_settings = ("lr", "momentum")
    zero_tested = ("momentum",)

    def _update_group(self, group):
        lr, momentum = setting(group, "lr"), setting(group, "momentum")
        dampening = group["dampening"]
        weight_decay = scalar(group["weight_decay"], "weight_decay")
        nesterov, maximize = group["nesterov"], group["maximize"]
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if maximize:
                grad = -grad
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            if group["momentum"] != 0:      # the number, also where momentum is fed
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = grad.detach().clone()
                else:
                    buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                grad = add_scaled(grad, buf, momentum) if nesterov else buf
            add_scaled(p, grad, -lr, inplace=True)
