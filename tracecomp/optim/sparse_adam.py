"""SparseAdam: Adam for sparse gradients (nn.Embedding(sparse=True), nn.EmbeddingBag(
sparse=True)), torch's masked update (torch.optim._functional.sparse_adam) op for op: the
moments and the parameter change only at the positions the gradient lists. A dense gradient
is refused with torch's own error, pointing at Adam."""
import math

from ..creation import zeros_like
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor
from .optimizer import Optimizer
from .options import check_betas, scalar


class SparseAdam(Optimizer):
    _scalar_state = ()          # torch keeps SparseAdam's step a Python int

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {scalar(lr)}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)
        complex_params = [[g, i] for g, group in enumerate(self.param_groups)
                          for i, p in enumerate(group["params"]) if p.dtype.name.startswith(
                              "complex")]
        if complex_params:
            raise ValueError(f"Complex params at indices {complex_params}: SparseAdam does "
                             f"not support complex parameters")

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update_param(p, group)
        return loss

    def _update_param(self, p, group):
        if not p.grad.is_sparse:
            raise RuntimeError("SparseAdam does not support dense gradients, please consider "
                               "Adam instead")
        state = self.state[p]
        if len(state) == 0:
            state["step"] = 0
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        state["step"] += 1
        _update(p, -p.grad if group["maximize"] else p.grad, state, group)


def _update(p, grad, state, group):
    grad = grad.coalesce()      # the update is not linear: each position once
    at, values = grad._indices(), grad._values()
    if values.numel() == 0:
        return
    beta1, beta2 = group["betas"]
    exp_avg, exp_avg_sq, step = state["exp_avg"], state["exp_avg_sq"], state["step"]
    # old <- b * old + (1 - b) * new, written old += (1 - b) * (new - old) at the positions
    old_avg = exp_avg.sparse_mask(grad)._values()
    avg_step = (values - old_avg) * (1 - beta1)
    exp_avg.add_(grad.new(at, avg_step, grad.shape))
    old_sq = exp_avg_sq.sparse_mask(grad)._values()
    sq_step = (values.pow(2) - old_sq) * (1 - beta2)
    exp_avg_sq.add_(grad.new(at, sq_step, grad.shape))
    numer = avg_step + old_avg
    denom = (sq_step + old_sq).sqrt() + group["eps"]
    step_size = scalar(group["lr"]) * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
    p.add_(grad.new(at, -step_size * (numer / denom), grad.shape))
