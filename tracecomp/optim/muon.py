"""Muon (torch.optim.Muon, new in torch 2.9): momentum SGD whose update is orthogonalized by
a few Newton-Schulz iterations before it is applied, for the 2-D weights of hidden layers
(embeddings, biases and heads go to AdamW beside it, as torch's docs say).

torch's single-tensor update, op for op: the momentum buffer moves by lerp, nesterov takes
grad.lerp(buf, momentum); the update is cast to bfloat16, transposed to be wide, scaled by
its norm (clamped at eps), then each iteration is X <- a X + (b G + c G G) X with G = X X^T,
written as torch writes it (two addmm calls) so that the bfloat16 roundings fall where
torch's do; then decoupled weight decay and the step scaled for the matrix's shape
(`adjust_lr_fn`: "original", sqrt(max(1, rows / cols)); "match_rms_adamw",
0.2 sqrt(max(rows, cols))).
"""
import math

from .. import dtypes
from .optimizer import Optimizer
from .options import check_lr, scalar

_LR_SCALES = {      # adjust_lr_fn -> the step's scale for a (rows, cols) matrix
    None: lambda rows, cols: math.sqrt(max(1, rows / cols)),
    "original": lambda rows, cols: math.sqrt(max(1, rows / cols)),
    "match_rms_adamw": lambda rows, cols: 0.2 * math.sqrt(max(rows, cols)),
}


def orthogonalized(update, coefficients, steps, eps):
    """Newton-Schulz's quintic iteration towards U V^T of update's SVD, in bfloat16."""
    if steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if update.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = coefficients
    tall = update.shape[0] > update.shape[1]
    x = update.to(dtypes.bfloat16)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(steps):
        gram = x @ x.T
        x = x.addmm(gram.addmm(gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


class Muon(Optimizer):
    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5,
                 adjust_lr_fn=None):
        check_lr(lr, "Learning rate should be >= 0 but is: {}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn not in _LR_SCALES:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                    "nesterov": nesterov, "ns_coefficients": ns_coefficients, "eps": eps,
                    "ns_steps": ns_steps, "adjust_lr_fn": adjust_lr_fn}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError("Muon only supports 2D parameters whereas we found a "
                                     f"parameter with size: {p.size()}")

    def _update_group(self, group):
        lr = scalar(group["lr"])
        momentum = group["momentum"]
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if p.is_complex():
                raise RuntimeError("Muon does not support complex parameters")
            if grad.is_sparse:
                raise RuntimeError("Muon does not support sparse gradients")
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.new_zeros(grad.shape)
            buf.lerp_(grad, 1 - momentum)
            update = grad.lerp(buf, momentum) if group["nesterov"] else buf
            update = orthogonalized(update, group["ns_coefficients"], group["ns_steps"],
                                    group["eps"])
            scale = _LR_SCALES[group["adjust_lr_fn"]](*p.shape[:2])
            p.mul_(1 - lr * group["weight_decay"])
            p.add_(update, alpha=-lr * scale)
