"""SparseAdam: Adam for sparse gradients (nn.Embedding(sparse=True)). tracecomp has no
sparse tensors, so every gradient is dense: SparseAdam is built and checked as torch
builds it, and step() refuses a dense gradient with torch's own error, pointing at Adam."""
from ..grad_mode import enable_grad
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
        for group in self.param_groups:
            if any(p.grad is not None for p in group["params"]):
                raise RuntimeError("SparseAdam does not support dense gradients, please "
                                   "consider Adam instead")
        return loss
